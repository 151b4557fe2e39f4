import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { processCpus } from '../../server/cpus.ts';
import { startServer, type RunningServer, type ServerOptions } from '../../server/server.ts';
import {
  bundledModels,
  fp32Request,
  post,
  removeDir,
  request,
  startTestServer,
  tempRepository,
  testServerOptions,
  writeFile,
} from './helpers.ts';

const MLP_ROW = Array.from({ length: 16 }, (_, i) => Math.sin(i));
const cleanup: (() => Promise<void> | void)[] = [];

afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

async function serve(
  repo: string,
  strictReadiness = false,
  options: Partial<ServerOptions> = { modelControl: 'explicit', loadModels: ['*'] },
): Promise<RunningServer> {
  const server = await startTestServer(repo, { strictReadiness, ...options });
  cleanup.push(
    () => server.shutdown().then(() => undefined),
    () => removeDir(repo),
  );
  return server;
}

const inferMlp = (url: string, model = 'mlp') =>
  post(`${url}/v2/models/${model}/infer`, fp32Request('input', [1, 16], MLP_ROW));

/** A repository with the MLP and models that cannot load, each for a different reason. */
function brokenRepository(): string {
  const repo = tempRepository(['mlp']);
  writeFile(join(repo, 'garbage', '1', 'model.onnx'), 'this is not an onnx file');
  cpSync(join(bundledModels, 'mlp', '1'), join(repo, 'badconfig', '1'), { recursive: true });
  writeFile(join(repo, 'badconfig', 'config.json'), JSON.stringify({ instances: 0 }));
  cpSync(join(bundledModels, 'mlp', '1'), join(repo, 'badjson', '1'), { recursive: true });
  writeFile(join(repo, 'badjson', 'config.json'), '{"max_batch_size": ');
  writeFile(join(repo, 'noversion', 'README'), 'no version directory here');
  cpSync(join(bundledModels, 'mlp', '1'), join(repo, 'cudaonly', '1'), { recursive: true });
  writeFile(join(repo, 'cudaonly', 'config.json'), JSON.stringify({ execution_providers: ['cuda'] }));
  return repo;
}

describe('a broken model', () => {
  it('fails loudly at load and leaves the other models serving', async () => {
    const repo = brokenRepository();
    const logged: { model?: string; err?: string; msg: string }[] = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    const server = await serve(repo, false, { modelControl: 'explicit', loadModels: ['*'], logger });
    const index = await post(`${server.url}/v2/repository/index`, {});
    const byName = Object.fromEntries(index.body.map((r: { name: string }) => [r.name, r]));
    expect(byName.mlp).toEqual({ name: 'mlp', version: '1', state: 'READY', reason: '' });
    for (const name of ['garbage', 'badconfig', 'badjson', 'noversion', 'cudaonly']) {
      expect(byName[name].state, name).toBe('UNAVAILABLE');
    }
    // The API names the kind of failure; the server log has the file, the field and the value.
    const config = 'its configuration or directory is invalid; the server log has the details';
    const file = 'its model file cannot be loaded; the server log has the details';
    expect(
      Object.fromEntries(index.body.map((r: { name: string; reason: string }) => [r.name, r.reason])),
    ).toEqual({
      mlp: '',
      garbage: file,
      badconfig: config,
      badjson: config,
      noversion: config,
      cudaonly: file,
    });
    const why = Object.fromEntries(logged.map((l) => [l.model, l.err]));
    expect(why.garbage).toMatch(
      /^cannot create an onnxruntime session for .*garbage\/1\/model\.onnx: cpu: .*protobuf parsing failed/i,
    );
    expect(why.badconfig).toBe(
      `${join(repo, 'badconfig', 'config.json')}:1:14: instances is 0; allowed: an integer from 1 to ${processCpus() < 64 ? `${processCpus()} (${processCpus()}: the CPUs this process may use)` : 64}`,
    );
    expect(why.badjson).toBe(
      `${join(repo, 'badjson', 'config.json')}:1:20: not valid JSON: expected a value, found the end of the file`,
    );
    expect(why.noversion).toBe(
      `${join(repo, 'noversion')}: no version directory; expected ${join(repo, 'noversion')}/<version>/model.onnx (version: 1, 2, ...)`,
    );
    expect(why.cudaonly).toMatch(
      /cuda: execution provider cuda not installed: .*libonnxruntime_providers_cuda\.so/,
    );

    expect((await request(`${server.url}/v2/health/ready`)).status).toBe(200);
    expect((await inferMlp(server.url)).status).toBe(200);
    const broken = await inferMlp(server.url, 'garbage');
    expect(broken.status).toBe(503);
    expect(broken.body.error).toMatch(
      /^model 'garbage' is not ready: UNAVAILABLE \(its model file cannot be loaded/,
    );
    expect((await request(`${server.url}/v2/models/badconfig/ready`)).status).toBe(503);
    const metrics = (await request(`${server.metricsUrl}/metrics`)).body as string;
    expect(metrics).toMatch(/inference_model_ready\{model="mlp",version="1",provider="cpu"\} 1/);
  });

  it('keeps a strict-readiness server unready, naming the models', async () => {
    const server = await serve(brokenRepository(), true);
    const ready = await request(`${server.url}/v2/health/ready`);
    expect(ready.status).toBe(503);
    expect(ready.body.error).toBe(
      'not ready: models not ready: badconfig UNAVAILABLE, badjson UNAVAILABLE, cudaonly UNAVAILABLE, garbage UNAVAILABLE, noversion UNAVAILABLE',
    );
    expect((await request(`${server.url}/v2/health/live`)).status).toBe(200);
  });
});

describe('startup', () => {
  it('is live at once and ready only after every model is loaded and warmed up', async () => {
    const repo = tempRepository(['mlp', 'squeezenet1_1']);
    // A squeezenet session per CPU (config.json allows no more), each created and warmed up, plus
    // the MLP: loading takes a while.
    const instances = processCpus();
    writeFile(join(repo, 'squeezenet1_1', 'config.json'), JSON.stringify({ instances }));
    const server = await startServer(testServerOptions(repo));
    cleanup.push(
      () => server.shutdown().then(() => undefined),
      () => removeDir(repo),
    );
    const [live, ready] = await Promise.all([
      request(`${server.url}/v2/health/live`),
      request(`${server.url}/v2/health/ready`),
    ]);
    expect(live.status).toBe(200);
    expect(ready).toMatchObject({ status: 503, body: { error: 'not ready: models are loading' } });
    await server.loaded;
    expect((await request(`${server.url}/v2/health/ready`)).status).toBe(200);
    const meta = await request(`${server.url}/v2/models/squeezenet1_1`);
    expect(meta.body.parameters.instances).toBe(instances);
  });
});

describe('strict readiness', () => {
  it('does not count a model unloaded on request against readiness', async () => {
    const server = await serve(tempRepository(['mlp', 'squeezenet1_1']), true);
    expect((await request(`${server.url}/v2/health/ready`)).status).toBe(200);
    expect((await post(`${server.url}/v2/repository/models/squeezenet1_1/unload`, {})).status).toBe(200);
    expect((await request(`${server.url}/v2/health/ready`)).status).toBe(200);
    expect((await inferMlp(server.url)).status).toBe(200);
  });
});

describe('versions', () => {
  it('serves the highest version by default and any loaded version explicitly', async () => {
    const repo = tempRepository(['mlp']);
    cpSync(join(repo, 'mlp', '1'), join(repo, 'mlp', '3'), { recursive: true });
    writeFile(join(repo, 'mlp', 'notes', 'x.txt'), 'non-numeric directories are not versions');
    const server = await serve(repo);
    const meta = await request(`${server.url}/v2/models/mlp`);
    expect(meta.body.versions).toEqual(['3', '1']);
    expect((await inferMlp(server.url)).body.model_version).toBe('3');
    const v1 = await post(
      `${server.url}/v2/models/mlp/versions/1/infer`,
      fp32Request('input', [1, 16], MLP_ROW),
    );
    expect(v1.body.model_version).toBe('1');
    expect(v1.body.outputs).toEqual((await inferMlp(server.url)).body.outputs);
    expect((await request(`${server.url}/v2/models/mlp/versions/3`)).body.versions).toEqual(['3']);
  });
});

describe('the repository API', () => {
  it('loads, unloads and reloads models while another model keeps serving', async () => {
    const repo = tempRepository(['mlp', 'squeezenet1_1']);
    const server = await serve(repo);
    const url = server.url;
    const image = JSON.stringify({
      inputs: [
        {
          name: 'input',
          shape: [4, 3, 224, 224],
          datatype: 'FP32',
          data: new Array(4 * 3 * 224 * 224).fill(0.25),
        },
      ],
    });
    const squeeze = () => post(`${url}/v2/models/squeezenet1_1/infer`, image);
    const expected = (await squeeze()).body.outputs;

    // Background traffic on the MLP for the whole test.
    let running = true;
    const statuses: number[] = [];
    const traffic = Array.from({ length: 2 }, async () => {
      while (running) statuses.push((await inferMlp(url)).status);
    });

    // Unload while a request is in flight: that request is still answered.
    const inflight = squeeze();
    const inflightGauge =
      /inference_inflight_requests\{model="squeezenet1_1",version="1",protocol="http"\} 1/;
    while (!inflightGauge.test((await request(`${server.metricsUrl}/metrics`)).body))
      await new Promise((r) => setTimeout(r, 1));
    expect(await post(`${url}/v2/repository/models/squeezenet1_1/unload`, {})).toMatchObject({
      status: 200,
      body: {},
    });
    expect((await inflight).status).toBe(200);
    const after = await squeeze();
    expect(after).toMatchObject({
      status: 503,
      body: { error: "model 'squeezenet1_1' is not ready: UNAVAILABLE (unloaded)" },
    });
    expect((await request(`${url}/v2/models/squeezenet1_1/ready`)).status).toBe(503);
    const index = await post(`${url}/v2/repository/index`, '');
    expect(index.body).toContainEqual({ name: 'squeezenet1_1', state: 'UNAVAILABLE', reason: 'unloaded' });
    expect(
      (await post(`${url}/v2/repository/index`, { ready: true })).body.map((r: { name: string }) => r.name),
    ).toEqual(['mlp']);
    expect((await request(`${server.metricsUrl}/metrics`)).body).toMatch(
      /inference_model_ready\{model="squeezenet1_1",version="1",provider="cpu"\} 0/,
    );

    expect(await post(`${url}/v2/repository/models/squeezenet1_1/load`, {})).toMatchObject({
      status: 200,
      body: {},
    });
    const reloaded = await squeeze();
    expect(reloaded.status).toBe(200);
    expect(reloaded.body.outputs).toEqual(expected);

    // A model copied into the repository after start, loaded on request.
    cpSync(join(repo, 'mlp'), join(repo, 'mlp-copy'), { recursive: true });
    expect((await inferMlp(url, 'mlp-copy')).status).toBe(404);
    expect((await post(`${url}/v2/repository/models/mlp-copy/load`, {})).status).toBe(200);
    expect((await inferMlp(url, 'mlp-copy')).status).toBe(200);

    // Reloading the model under traffic swaps versions without failing a request.
    expect((await post(`${url}/v2/repository/models/mlp/load`, {})).status).toBe(200);
    expect((await request(`${server.metricsUrl}/metrics`)).body).toMatch(
      /inference_model_ready\{model="mlp",version="1",provider="cpu"\} 1/,
    );

    const missing = await post(`${url}/v2/repository/models/nope/load`, {});
    expect(missing).toMatchObject({
      status: 404,
      body: { error: `model "nope" is not in the model repository` },
    });
    expect(await post(`${url}/v2/repository/models/nope/unload`, {})).toMatchObject({
      status: 404,
      body: { error: 'model "nope" is not in the model repository' },
    });
    writeFile(join(repo, 'broken', '1', 'model.onnx'), 'garbage');
    const broken = await post(`${url}/v2/repository/models/broken/load`, {});
    expect(broken.status).toBe(400);
    expect(broken.body.error).toBe(
      "failed to load model 'broken': its model file cannot be loaded; the server log has the details",
    );

    running = false;
    await Promise.all(traffic);
    expect(statuses.length).toBeGreaterThan(10);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect((await request(`${url}/v2/health/ready`)).status).toBe(200);
  });
});

describe('the repository API is closed by default and confined to the repository (hardening #1)', () => {
  it('refuses load and unload with model control off (the default), and still indexes', async () => {
    const server = await serve(tempRepository(['mlp']), false, {});
    for (const op of ['load', 'unload']) {
      const r = await post(`${server.url}/v2/repository/models/mlp/${op}`, {});
      expect(r.status, op).toBe(403);
      expect(r.body.error).toMatch(/^model control is off \(--model-control-mode none\)/);
    }
    expect((await inferMlp(server.url)).status).toBe(200);
    expect((await post(`${server.url}/v2/repository/index`, '')).status).toBe(200);
  });

  it('never resolves a name outside the repository, nor an alias of an entry, and echoes no file of it', async () => {
    const outside = tempRepository(['mlp']);
    cleanup.push(() => removeDir(outside));
    // A credential in a config.json outside the repository, as the hostile test planted one.
    writeFile(join(outside, 'mlp', 'config.json'), '{"registry_password": "hunter2", "max_batch_size": "x"}');
    const repo = tempRepository(['mlp']);
    const server = await serve(repo);
    const up = join(
      ...repo
        .split('/')
        .filter(Boolean)
        .map(() => '..'),
    );
    const traversal = encodeURIComponent(join(up, outside, 'mlp'));
    for (const [name, status] of [
      [traversal, 400],
      [encodeURIComponent('mlp/.'), 400],
      [encodeURIComponent('mlp/../mlp'), 400],
      ['mlp%00', 400],
      ['.hidden', 404],
    ] as const) {
      for (const op of ['load', 'unload']) {
        const r = await post(`${server.url}/v2/repository/models/${name}/${op}`, {});
        expect(r.status, `${op} ${name}`).toBe(status);
        expect(JSON.stringify(r.body)).not.toContain('hunter2');
        expect(JSON.stringify(r.body)).not.toContain('registry_password');
      }
    }
    // Only the repository's own entry is indexed and served.
    const index = await post(`${server.url}/v2/repository/index`, '');
    expect(index.body.map((r: { name: string }) => r.name)).toEqual(['mlp']);
    expect((await inferMlp(server.url)).status).toBe(200);
    expect((await request(`${server.url}/v2/health/ready`)).status).toBe(200);
  });

  it('needs the restricted API header when one is configured, and never echoes its value', async () => {
    const server = await serve(tempRepository(['mlp']), false, {
      modelControl: 'explicit',
      loadModels: ['*'],
      repositoryRestriction: { header: 'x-admin-key', value: 's3cret-value' },
    });
    const unload = (headers: Record<string, string>) =>
      request(`${server.url}/v2/repository/models/mlp/unload`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: '{}',
      });
    const refused: Record<string, string>[] = [
      {},
      { 'x-admin-key': 'wrong' },
      { 'x-admin-key': 's3cret-valu' },
    ];
    for (const headers of refused) {
      const r = await unload(headers);
      expect(r.status, JSON.stringify(headers)).toBe(403);
      expect(r.body.error).toContain("'x-admin-key'");
      expect(r.body.error).not.toContain('s3cret');
    }
    expect((await post(`${server.url}/v2/repository/index`, '')).status).toBe(403);
    expect((await inferMlp(server.url)).status).toBe(200);
    expect((await unload({ 'x-admin-key': 's3cret-value' })).status).toBe(200);
    expect((await inferMlp(server.url)).status).toBe(503);
  });
});
