import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request as httpRequest } from 'node:http';
import { createInterface } from 'node:readline';
import { afterAll, expect, it } from 'vitest';
import { bundledModels, post, removeDir, repoRoot, request, tempRepository } from './helpers.ts';

/** Every server this file starts: a failed test must not leave one running. */
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

interface LogLine {
  msg: string;
  port?: number;
  metricsUrl?: string;
  [key: string]: unknown;
}

/** The real CLI in a child process (node --import tsx, one process so the signal reaches the server). */
function startCli(args: string[], env: Record<string, string> = {}) {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts', ...args], {
    cwd: repoRoot,
    // GRPC_PORT 0: no gRPC service (its default 8001 is one port for every test process).
    env: { ...process.env, LOG_LEVEL: 'info', GRPC_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(proc);
  const logs: LogLine[] = [];
  let metricsUrl = '';
  const listening = new Promise<number>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      try {
        const entry = JSON.parse(line) as LogLine;
        logs.push(entry);
        if (entry.msg.startsWith('listening on')) {
          metricsUrl = entry.metricsUrl!;
          resolve(entry.port!);
        }
      } catch {
        // onnxruntime writes plain text for the CUDA provider it cannot load
      }
    });
    proc.once('exit', (code) => reject(new Error(`server exited with ${code} before listening`)));
  });
  listening.catch(() => undefined); // awaited by the tests that expect it
  // 'close': after the exit and after stdout has been read to its end.
  const exited = new Promise<number | null>((resolve) => proc.once('close', (code) => resolve(code)));
  return { proc, logs, listening, exited, metricsUrl: () => metricsUrl };
}

interface InferResponse {
  outputs: { shape: number[]; data: number[] }[];
}

/** GETs on one keep-alive connection, opened by the first call. */
function keptAlive(url: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  return {
    get: (path: string) =>
      new Promise<{ status: number; body: string; connection?: string }>((resolve, reject) => {
        httpRequest(`${url}${path}`, { agent }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode!, body, connection: res.headers.connection }));
        })
          .once('error', reject)
          .end();
      }),
  };
}

/** POSTs JSON on a new connection; `written` resolves once the whole body is handed to the socket. */
function sendJson(url: string, text: string) {
  const req = httpRequest(url, {
    method: 'POST',
    agent: false,
    headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
  });
  const written = new Promise<void>((resolve, reject) => {
    req.once('finish', () => resolve());
    req.once('error', reject);
  });
  const response = new Promise<{ status: number; body: InferResponse }>((resolve, reject) => {
    req.once('response', (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(data) }));
    });
    req.once('error', reject);
  });
  written.catch(() => undefined);
  req.end(text);
  return { written, response };
}

async function until(check: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

it('drains on SIGTERM: readiness 503 at once, every accepted request answered 200, exit code 0', async () => {
  const cli = startCli([
    '--model-repository',
    bundledModels,
    '--port',
    '0',
    '--host',
    '127.0.0.1',
    '--drain-seconds',
    '30',
    '--metrics-port',
    '0',
  ]);
  const url = `http://127.0.0.1:${await cli.listening}`;
  await until(async () => (await request(`${url}/v2/health/ready`)).status === 200, 'readiness');

  // Ten squeezenet requests of 8 images each queue behind the one session: about a second of work.
  const requests = 10;
  const batch = 8;
  const body = {
    inputs: [
      {
        name: 'input',
        shape: [batch, 3, 224, 224],
        datatype: 'FP32',
        data: new Array(batch * 3 * 224 * 224).fill(0.5),
      },
    ],
  };
  const text = JSON.stringify(body);
  // Each request on its own connection, written whole before the signal: the listener stops
  // accepting at SIGTERM, and what was sent on an accepted connection must be answered.
  const sent = Array.from({ length: requests }, () => sendJson(`${url}/v2/models/squeezenet1_1/infer`, text));
  const inflight = sent.map((s) => s.response);
  await Promise.all(sent.map((s) => s.written));
  await until(async () => {
    const metrics = (await request(`${cli.metricsUrl()}/metrics`)).body as string;
    const m = /inference_inflight_requests\{model="squeezenet1_1",version="1",protocol="http"\} (\d+)/.exec(
      metrics,
    );
    return Number(m?.[1]) >= 1;
  }, 'a request queued for compute');

  let answered = 0;
  for (const p of inflight) void p.then(() => answered++);
  // Probes on connections opened before the signal: after it the listener accepts no new one.
  const probes = { ready: keptAlive(url), live: keptAlive(url) };
  expect((await probes.ready.get('/v2/health/ready')).status).toBe(200);
  expect((await probes.live.get('/v2/health/live')).status).toBe(200);
  const signalled = Date.now();
  cli.proc.kill('SIGTERM');
  // The signal reaches the server's event loop asynchronously: the first probe may still see 200.
  let readiness = await probes.ready.get('/v2/health/ready');
  while (readiness.status === 200 && Date.now() - signalled < 2000)
    readiness = await probes.ready.get('/v2/health/ready');
  expect(readiness.status).toBe(503);
  expect(JSON.parse(readiness.body)).toEqual({ error: 'not ready: server is shutting down' });
  expect(readiness.connection).toBe('close');
  expect(answered).toBeLessThan(requests); // ... while accepted requests were still being computed
  expect((await probes.live.get('/v2/health/live')).status).toBe(200);
  // A new connection (a kubelet probe, a client that has not heard yet) is refused.
  await expect(
    new Promise((resolve, reject) =>
      httpRequest(`${url}/v2/health/live`, { agent: false }, resolve).once('error', reject).end(),
    ),
  ).rejects.toThrow('ECONNREFUSED');

  const answers = await Promise.all(inflight);
  expect(answers.map((a) => a.status)).toEqual(new Array(requests).fill(200));
  for (const a of answers) expect(a.body.outputs[0].shape).toEqual([batch, 1000]);
  // All got identical images: identical answers.
  expect(new Set(answers.map((a) => JSON.stringify(a.body.outputs[0].data))).size).toBe(1);

  expect(await cli.exited).toBe(0);
  expect(Date.now() - signalled).toBeLessThan(30_000);
  const messages = cli.logs.map((l) => l.msg);
  expect(messages).toContain('draining');
  expect(cli.logs.find((l) => l.msg === 'stopped')).toMatchObject({ drained: true });
  // Every log line is JSON with a level and time; request logs carry a request id.
  const requestLogs = cli.logs.filter((l) => l.msg === 'request');
  expect(requestLogs.filter((l) => l.path === '/v2/models/squeezenet1_1/infer')).toHaveLength(requests);
  expect(requestLogs.every((l) => typeof l.reqId === 'string' && l.status === 200)).toBe(true);
});

it('rejects a bad flag with the value and what is allowed, exit code 2', async () => {
  const cli = startCli(['--port', 'eighty']);
  const stderr: string[] = [];
  cli.proc.stderr!.on('data', (d) => stderr.push(String(d)));
  expect(await cli.exited).toBe(2);
  expect(stderr.join('')).toContain('--port is "eighty"; allowed: an integer from 0 to 65535');
});

it('exits 1 naming a model repository that does not exist', async () => {
  const cli = startCli(['--model-repository', '/nonexistent/models', '--port', '0']);
  expect(await cli.exited).toBe(1);
  expect(cli.logs.find((l) => l.msg === 'cannot start the server')).toMatchObject({
    err: "model repository /nonexistent/models cannot be read: ENOENT: no such file or directory, scandir '/nonexistent/models'",
  });
});

it('reads MODEL_REPOSITORY, PORT and HOST from the environment, as the container does', async () => {
  const repo = tempRepository(['mlp']);
  const cli = startCli([], { MODEL_REPOSITORY: repo, PORT: '0', METRICS_PORT: '0', HOST: '127.0.0.1' });
  const url = `http://127.0.0.1:${await cli.listening}`;
  await until(async () => (await request(`${url}/v2/health/ready`)).status === 200, 'readiness');
  const index = await post(`${url}/v2/repository/index`, '');
  expect(index.body).toEqual([{ name: 'mlp', version: '1', state: 'READY', reason: '' }]);
  cli.proc.kill('SIGTERM');
  expect(await cli.exited).toBe(0);
  removeDir(repo);
});

it('`npm run serve` serves the bundled models', async () => {
  const proc = spawn(
    'npm',
    [
      'run',
      '--silent',
      'serve',
      '--',
      '--port',
      '0',
      '--metrics-port',
      '0',
      '--grpc-port',
      '0',
      '--host',
      '127.0.0.1',
    ],
    {
      cwd: repoRoot,
      env: { ...process.env, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'ignore'],
      detached: true, // its own process group: npm, tsx and the server stop together
    },
  );
  try {
    const port = await new Promise<number>((resolve, reject) => {
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        if (!line.startsWith('{')) return;
        const entry = JSON.parse(line) as LogLine;
        if (entry.msg.startsWith('listening on')) resolve(entry.port!);
      });
      proc.once('exit', (code) => reject(new Error(`npm run serve exited with ${code}`)));
    });
    const url = `http://127.0.0.1:${port}`;
    await until(async () => (await request(`${url}/v2/health/ready`)).status === 200, 'readiness');
    const index = await post(`${url}/v2/repository/index`, { ready: true });
    expect(index.body.map((r: { name: string }) => r.name)).toEqual(['mlp', 'squeezenet1_1']);
  } finally {
    process.kill(-proc.pid!, 'SIGTERM');
  }
});

it('`npm run serve`: SIGTERM to its process group is one drain (npm and tsx forwarding it are not a second signal)', async () => {
  const proc = spawn(
    'npm',
    [
      'run',
      '--silent',
      'serve',
      '--',
      '--port',
      '0',
      '--metrics-port',
      '0',
      '--grpc-port',
      '0',
      '--host',
      '127.0.0.1',
    ],
    {
      cwd: repoRoot,
      env: { ...process.env, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, as a terminal's Ctrl-C or a supervisor signals it
    },
  );
  children.push(proc);
  const logs: LogLine[] = [];
  const exited = new Promise<void>((resolve) => proc.once('close', () => resolve()));
  try {
    const listening = new Promise<LogLine>((resolve, reject) => {
      createInterface({ input: proc.stdout! }).on('line', (line) => {
        if (!line.startsWith('{')) return;
        const entry = JSON.parse(line) as LogLine;
        logs.push(entry);
        if (entry.msg.startsWith('listening on')) resolve(entry);
      });
      proc.once('exit', (code) => reject(new Error(`npm run serve exited with ${code}`)));
    });
    const { port, metricsUrl } = await listening;
    const url = `http://127.0.0.1:${port}`;
    await until(async () => (await request(`${url}/v2/health/ready`)).status === 200, 'readiness');
    // Squeezenet requests of 8 images: their JSON bodies keep the server's event loop busy for tens
    // of milliseconds at a time, longer than tsx's CLI waits before relaying a signal again.
    const batch = 8;
    const text = JSON.stringify({
      inputs: [
        {
          name: 'input',
          shape: [batch, 3, 224, 224],
          datatype: 'FP32',
          data: new Array(batch * 3 * 224 * 224).fill(0.5),
        },
      ],
    });
    // Written whole on accepted connections before the signal (the listener closes at SIGTERM).
    const sent = Array.from({ length: 10 }, () => sendJson(`${url}/v2/models/squeezenet1_1/infer`, text));
    const inflight = sent.map((x) => x.response);
    await Promise.all(sent.map((x) => x.written));
    await until(async () => {
      const metrics = (await request(`${metricsUrl}/metrics`)).body as string;
      const m = /inference_inflight_requests\{model="squeezenet1_1",version="1",protocol="http"\} (\d+)/.exec(
        metrics,
      );
      return Number(m?.[1]) >= 1;
    }, 'a request queued for compute');
    process.kill(-proc.pid!, 'SIGTERM');
    const answers = await Promise.all(inflight);
    expect(answers.map((a) => a.status)).toEqual(new Array(10).fill(200));
    await exited;
  } finally {
    try {
      process.kill(-proc.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  const messages = logs.map((l) => l.msg);
  expect(messages).not.toContain('second signal: exiting without waiting');
  expect(messages.filter((m) => m === 'shutting down')).toHaveLength(1);
  expect(messages.filter((m) => m === 'draining')).toHaveLength(1);
  expect(logs.find((l) => l.msg === 'stopped')).toMatchObject({ drained: true });
});

/** One keep-alive connection sending MLP requests back to back until `stop()`; errors by code. */
function trafficLoop(url: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const body = JSON.stringify({
    inputs: [{ name: 'input', shape: [1, 16], datatype: 'FP32', data: new Array(16).fill(0.5) }],
  });
  const result = { ok: 0, other: [] as number[], errors: [] as string[] };
  let running = true;
  const once = () =>
    new Promise<void>((resolve) => {
      const req = httpRequest(`${url}/v2/models/mlp/infer`, {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      });
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) result.ok++;
          else result.other.push(res.statusCode!);
          resolve();
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        result.errors.push(err.code ?? err.message);
        resolve();
      });
      req.end(body);
    });
  const done = (async () => {
    while (running) await once();
    agent.destroy();
  })();
  return { result, stop: () => ((running = false), done) };
}

it('drains under traffic that outlasts the grace period: no request lost, no new connection, exit code 0 (hardening #7)', async () => {
  const cli = startCli([
    '--model-repository',
    bundledModels,
    '--port',
    '0',
    '--metrics-port',
    '0',
    '--host',
    '127.0.0.1',
    '--drain-seconds',
    '3',
  ]);
  const url = `http://127.0.0.1:${await cli.listening}`;
  await until(async () => (await request(`${url}/v2/health/ready`)).status === 200, 'readiness');
  const loops = Array.from({ length: 8 }, () => trafficLoop(url));
  await until(async () => loops.every((l) => l.result.ok > 5), 'traffic on every connection');
  const before = loops.map((l) => l.result.ok);
  cli.proc.kill('SIGTERM');
  // Traffic goes on for twice the grace period: each loop reconnects when its connection closes.
  await new Promise((r) => setTimeout(r, 6000));
  await Promise.all(loops.map((l) => l.stop()));

  const errors = loops.flatMap((l) => l.result.errors);
  // Refused is the only failure allowed: a request sent on an accepted connection is answered.
  expect(errors.filter((e) => e !== 'ECONNREFUSED')).toEqual([]);
  expect(errors.length).toBeGreaterThan(0); // the loops did try new connections after SIGTERM
  expect(loops.flatMap((l) => l.result.other)).toEqual([]);
  // Each connection answered its last request(s) after SIGTERM, then closed.
  expect(loops.some((l, i) => l.result.ok > before[i]!)).toBe(true);
  expect(await cli.exited).toBe(0);
  expect(cli.logs.find((l) => l.msg === 'stopped')).toMatchObject({ drained: true });
});
