/**
 * The server-side findings of the hostile test (issue #13) that need real sockets: slow and idle
 * clients, the body budget, the metrics port, strict readiness and the startup load of explicit
 * model control. Each case failed on the server before the fix (the closing note lists how).
 */
import { connect, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunningServer, ServerOptions } from '../../server/server.ts';
import { post, removeDir, request, startTestServer, tempRepository } from './helpers.ts';

const cleanup: (() => Promise<unknown> | void)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function serve(models: string[], options: Partial<ServerOptions> = {}): Promise<RunningServer> {
  const repo = tempRepository(models);
  const server = await startTestServer(repo, options);
  cleanup.push(
    () => removeDir(repo),
    () => server.shutdown(),
  );
  return server;
}

/** A raw connection that sends `head` and keeps the socket open; `received` collects the reply. */
function rawClient(url: string, head: string) {
  const { hostname, port } = new URL(url);
  const socket: Socket = connect(Number(port), hostname);
  let received = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (received += d));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(head);
  cleanup.push(() => void socket.destroy());
  return { socket, closed, received: () => received };
}

const gauge = async (server: RunningServer, series: string): Promise<number> => {
  const text = (await request(`${server.metricsUrl}/metrics`)).body as string;
  const m = new RegExp(`^${series.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`no series ${series} in the metrics`);
  return Number(m[1]);
};

const inferHead = (length: number) =>
  `POST /v2/models/mlp/infer HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\n\r\n`;

describe('slow and idle clients (hardening #6)', () => {
  it('does not count a request whose body has not arrived as in flight', async () => {
    const server = await serve(['mlp']);
    // 50 sockets that sent their headers and one byte of a 1,000-byte body, then went quiet.
    const idle = Array.from({ length: 50 }, () => rawClient(server.url, `${inferHead(1000)}{`));
    await new Promise((r) => setTimeout(r, 300));
    expect(await gauge(server, 'inference_inflight_requests{model="mlp",version="1",protocol="http"}')).toBe(
      0,
    );
    for (const c of idle) c.socket.destroy();
  });

  it('answers 408 and closes a connection that stalls in its headers or its body', async () => {
    const server = await serve(['mlp'], { timeouts: { headersSeconds: 1, requestSeconds: 2 } });
    const started = Date.now();
    const inHeaders = rawClient(server.url, 'POST /v2/models/mlp/infer HTTP/1.1\r\nhost: x\r\n');
    const inBody = rawClient(server.url, `${inferHead(1000)}{"inputs":`);
    await inHeaders.closed;
    const headersSeconds = (Date.now() - started) / 1000;
    await inBody.closed;
    const bodySeconds = (Date.now() - started) / 1000;
    expect(inHeaders.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(inBody.received()).toMatch(/^HTTP\/1\.1 408 /);
    // Node checks the timeouts once a second here: within a second and a half of each.
    expect(headersSeconds).toBeGreaterThanOrEqual(1);
    expect(headersSeconds).toBeLessThan(2.5);
    expect(bodySeconds).toBeGreaterThanOrEqual(2);
    expect(bodySeconds).toBeLessThan(3.5);
    expect((await request(`${server.url}/v2/health/ready`)).status).toBe(200);
  });

  it('holds the bodies being received to a total: 503 with Retry-After beyond it, served again after', async () => {
    const server = await serve(['mlp'], { maxBodyBytes: 1 << 20, maxPendingBodyBytes: 3 << 20 });
    // Three uploads of 1 MiB each, stalled after their headers: the budget is full.
    const slow = Array.from({ length: 3 }, () => rawClient(server.url, `${inferHead(1 << 20)}{`));
    await new Promise((r) => setTimeout(r, 300));
    const row = {
      inputs: [{ name: 'input', shape: [1, 16], datatype: 'FP32', data: new Array(16).fill(1) }],
    };
    const refused = await post(`${server.url}/v2/models/mlp/infer`, row);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.body.error).toMatch(
      /^the server is receiving \d+ bytes of request bodies and accepts at most 3145728 at once \(--max-pending-body-bytes\); retry$/,
    );
    for (const c of slow) c.socket.destroy();
    await Promise.all(slow.map((c) => c.closed));
    await new Promise((r) => setTimeout(r, 100));
    expect((await post(`${server.url}/v2/models/mlp/infer`, row)).status).toBe(200);
  });
});

describe('the metrics port (hardening #5, server side)', () => {
  it('serves /metrics on its own port only', async () => {
    const server = await serve(['mlp']);
    expect(new URL(server.metricsUrl).port).not.toBe(new URL(server.url).port);
    expect((await request(`${server.url}/metrics`)).status).toBe(404);
    const metrics = await request(`${server.metricsUrl}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('# TYPE inference_requests_total counter');
    // ... and nothing else there: no inference, no repository API.
    expect((await request(`${server.metricsUrl}/v2/health/ready`)).status).toBe(404);
    expect((await post(`${server.metricsUrl}/v2/repository/index`, '')).status).toBe(404);
  });
});

describe('readiness and the startup load (hardening #12, #1)', () => {
  it('is not ready with no model loaded, by default (strict readiness, as Triton)', async () => {
    const server = await serve([], { strictReadiness: undefined });
    const ready = await request(`${server.url}/v2/health/ready`);
    expect(ready).toMatchObject({ status: 503, body: { error: 'not ready: no model is loaded' } });
    expect((await request(`${server.url}/v2/health/live`)).status).toBe(200);
  });

  it('loads only the --load-model models in explicit mode, and bounds each model to one loaded copy', async () => {
    const server = await serve(['mlp', 'squeezenet1_1'], {
      strictReadiness: undefined,
      modelControl: 'explicit',
      loadModels: ['mlp'],
    });
    const index = await post(`${server.url}/v2/repository/index`, '');
    expect(index.body).toEqual([
      { name: 'mlp', version: '1', state: 'READY', reason: '' },
      { name: 'squeezenet1_1', state: 'UNAVAILABLE', reason: 'not loaded' },
    ]);
    expect((await request(`${server.url}/v2/health/ready`)).status).toBe(200);
    // Twenty loads at once, under aliases too: one copy of the model stays loaded.
    const loads = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        post(`${server.url}/v2/repository/models/${i % 2 ? 'mlp' : 'mlp%2F.'}/load`, {}),
      ),
    );
    expect(loads.map((l) => l.status).sort()).toEqual([...Array(10).fill(200), ...Array(10).fill(400)]);
    expect(server.repository.versions('mlp')).toHaveLength(1);
    const ready = (await request(`${server.metricsUrl}/metrics`)).body as string;
    expect(ready.match(/^inference_model_ready\{model="mlp".*$/gm)).toEqual([
      'inference_model_ready{model="mlp",version="1",provider="cpu"} 1',
    ]);
  });

  it('refuses --load-model without explicit mode, and a name not in the repository', async () => {
    await expect(serve(['mlp'], { loadModels: ['mlp'] })).rejects.toThrow(
      '--load-model is "mlp"; allowed only with --model-control-mode explicit (with none every model is loaded)',
    );
    await expect(serve(['mlp'], { modelControl: 'explicit', loadModels: ['nope', '../x'] })).rejects.toThrow(
      '--load-model names "nope", "../x", not in the model repository; allowed: mlp or *',
    );
  });
});
