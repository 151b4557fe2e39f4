import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRICS } from '../../constructs/contract.ts';
import type { RunningServer } from '../../server/server.ts';
import {
  expectSchema,
  fp32Request,
  post,
  postInChunks,
  removeDir,
  request,
  startTestServer,
  tempRepository,
} from './helpers.ts';
import { ALL_DATATYPES, addModel, identityModel, writeModel } from './onnx-builder.ts';

const MLP_INPUT = Array.from({ length: 16 }, (_, i) => i / 16);
const BODY_LIMIT = 1024 * 1024;

let server: RunningServer;
let repo: string;
let url: string;

beforeAll(async () => {
  repo = tempRepository(['mlp', 'squeezenet1_1']);
  writeModel(join(repo, 'identity', '1', 'model.onnx'), identityModel());
  writeModel(join(repo, 'add', '1', 'model.onnx'), addModel());
  server = await startTestServer(repo, { maxBodyBytes: BODY_LIMIT });
  url = server.url;
});

afterAll(async () => {
  await server?.shutdown();
  removeDir(repo);
});

describe('health and server metadata', () => {
  it('answers liveness and readiness', async () => {
    expect(await request(`${url}/v2/health/live`)).toMatchObject({ status: 200, body: { live: true } });
    expect(await request(`${url}/v2/health/ready`)).toMatchObject({ status: 200, body: { ready: true } });
  });

  it.each(['/v2', '/v2/'])('GET %s returns server metadata', async (path) => {
    const res = await request(url + path);
    expect(res.status).toBe(200);
    expectSchema('metadata_server_response', res.body);
    expect(res.body.extensions).toContain('model_repository');
  });

  it('answers unknown routes with 404 and an error object', async () => {
    const res = await request(`${url}/v3/nothing`);
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: 'no route for GET /v3/nothing' });
  });
});

describe('model metadata and readiness', () => {
  it.each(['/v2/models/mlp', '/v2/models/mlp/versions/1'])(
    'GET %s describes the ONNX signature',
    async (path) => {
      const res = await request(url + path);
      expect(res.status).toBe(200);
      expectSchema('metadata_model_response', res.body);
      expect(res.body).toMatchObject({
        name: 'mlp',
        versions: ['1'],
        platform: 'onnx_onnxv1',
        inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 16] }],
        outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 4] }],
        parameters: { execution_provider: 'cpu', instances: 1, max_batch_size: 1024 },
      });
    },
  );

  it('reports the provider in use after falling back from CUDA', async () => {
    const res = await request(`${url}/v2/models/squeezenet1_1`);
    expect(res.body.parameters.execution_provider).toBe('cpu');
    expect(res.body.inputs).toEqual([{ name: 'input', datatype: 'FP32', shape: [-1, 3, 224, 224] }]);
  });

  it('maps every onnxruntime datatype to its V2 name', async () => {
    const res = await request(`${url}/v2/models/identity`);
    expectSchema('metadata_model_response', res.body);
    expect(res.body.inputs.map((t: { datatype: string }) => t.datatype)).toEqual(ALL_DATATYPES);
    expect(res.body.outputs.map((t: { name: string }) => t.name)).toEqual(
      ALL_DATATYPES.map((t) => `out_${t}`),
    );
  });

  it.each(['/v2/models/mlp/ready', '/v2/models/mlp/versions/1/ready'])('GET %s is 200', async (path) => {
    expect(await request(url + path)).toMatchObject({ status: 200, body: { name: 'mlp', ready: true } });
  });

  it.each([
    ['/v2/models/nope', "unknown model 'nope'"],
    ['/v2/models/nope/ready', "unknown model 'nope'"],
    ['/v2/models/mlp/versions/7', "unknown version '7' of model 'mlp'; versions: 1"],
    ['/v2/models/mlp/versions/7/ready', "unknown version '7' of model 'mlp'; versions: 1"],
  ])('GET %s is 404', async (path, error) => {
    const res = await request(url + path);
    expect(res.status).toBe(404);
    expectSchema('metadata_model_error_response', res.body);
    expect(res.body.error).toBe(error);
  });
});

describe('inference', () => {
  it.each(['/v2/models/mlp/infer', '/v2/models/mlp/versions/1/infer'])(
    'POST %s answers per the schema',
    async (path) => {
      const body = { id: 'req-42', parameters: { priority: 1 }, ...fp32Request('input', [1, 16], MLP_INPUT) };
      expectSchema('inference_request', body);
      const res = await post(url + path, body);
      expect(res.status).toBe(200);
      expectSchema('inference_response', res.body);
      expect(res.body).toMatchObject({ model_name: 'mlp', model_version: '1', id: 'req-42' });
      expect(res.body.outputs).toHaveLength(1);
      expect(res.body.outputs[0]).toMatchObject({ name: 'output', datatype: 'FP32', shape: [1, 4] });
      expect(res.body.outputs[0].data).toHaveLength(4);
    },
  );

  it('accepts nested data and gives the same answer as flat data', async () => {
    const rows = [MLP_INPUT, MLP_INPUT.map((x) => -x)];
    const flat = await post(`${url}/v2/models/mlp/infer`, fp32Request('input', [2, 16], rows.flat()));
    const nested = await post(`${url}/v2/models/mlp/infer`, {
      inputs: [{ name: 'input', shape: [2, 16], datatype: 'FP32', data: rows }],
    });
    expect(nested.status).toBe(200);
    expect(nested.body.outputs[0].data).toEqual(flat.body.outputs[0].data);
    expect(flat.body.outputs[0].shape).toEqual([2, 4]);
  });

  it('round-trips every datatype and returns the requested outputs subset in order', async () => {
    const values: Record<string, unknown[]> = {
      BOOL: [true, false, false, true],
      UINT8: [0, 255, 7, 128],
      UINT16: [0, 65535, 1, 2],
      UINT32: [0, 4294967295, 3, 4],
      UINT64: [0, Number.MAX_SAFE_INTEGER, 5, 6],
      INT8: [-128, 127, 0, -1],
      INT16: [-32768, 32767, 0, -1],
      INT32: [-2147483648, 2147483647, 0, -1],
      INT64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 0, -1],
      FP16: [0.5, -2, 65504, 0.1],
      FP32: [1.5, -0.25, 3.4e38, 1e-7],
      FP64: [Math.PI, -Math.E, 1e300, 5e-324],
      BYTES: ['a', '', 'ünïcødé', 'x'.repeat(100)],
    };
    const inputs = ALL_DATATYPES.map((t) => ({
      name: `in_${t}`,
      datatype: t,
      shape: [2, 2],
      data: values[t],
    }));
    const outputs = ['out_FP16', 'out_BYTES', 'out_UINT64', 'out_BOOL', 'out_FP32'].map((name) => ({ name }));
    const res = await post(`${url}/v2/models/identity/infer`, { inputs, outputs });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expectSchema('inference_response', res.body);
    expect(res.body.outputs.map((o: { name: string }) => o.name)).toEqual(outputs.map((o) => o.name));
    const byName = Object.fromEntries(res.body.outputs.map((o: { name: string }) => [o.name, o]));
    expect(byName.out_FP16).toMatchObject({
      datatype: 'FP16',
      shape: [2, 2],
      data: [0.5, -2, 65504, 0.0999755859375],
    });
    expect(byName.out_BYTES.data).toEqual(values.BYTES);
    expect(byName.out_UINT64.data).toEqual(values.UINT64);
    expect(byName.out_BOOL.data).toEqual(values.BOOL);
    expect(byName.out_FP32.data).toEqual(Array.from(new Float32Array(values.FP32 as number[])));

    const all = await post(`${url}/v2/models/identity/infer`, { inputs });
    expect(all.status).toBe(200);
    for (const t of ALL_DATATYPES) {
      const out = all.body.outputs.find((o: { name: string }) => o.name === `out_${t}`);
      expect(out.datatype).toBe(t);
      if (!['FP16', 'FP32'].includes(t)) expect(out.data).toEqual(values[t]);
    }
  });

  it('turns an onnxruntime error into a 500 with its message and keeps serving', async () => {
    const bad = {
      inputs: [
        { name: 'a', shape: [3], datatype: 'FP32', data: [1, 2, 3] },
        { name: 'b', shape: [4], datatype: 'FP32', data: [1, 2, 3, 4] },
      ],
    };
    const res = await post(`${url}/v2/models/add/infer`, bad);
    expect(res.status).toBe(500);
    expectSchema('inference_error_response', res.body);
    expect(res.body.error).toMatch(/^onnxruntime: .*Add.*broadcast/);
    const good = await post(`${url}/v2/models/add/infer`, {
      inputs: [
        { name: 'a', shape: [2], datatype: 'FP32', data: [1, 2] },
        { name: 'b', shape: [2], datatype: 'FP32', data: [10, 20] },
      ],
    });
    expect(good.body.outputs[0].data).toEqual([11, 22]);
    expect((await request(`${url}/v2/health/ready`)).status).toBe(200);
  });

  it('answers 413 above the body limit, 400 on malformed JSON, 404 on unknown models', async () => {
    const big = fp32Request('input', [20000, 16], new Float32Array(20000 * 16).fill(0.123456));
    const tooLarge = await post(`${url}/v2/models/mlp/infer`, big);
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body).toEqual({ error: `request body larger than the limit of ${BODY_LIMIT} bytes` });

    const malformed = await post(`${url}/v2/models/mlp/infer`, '{"inputs": [');
    expect(malformed.status).toBe(400);
    expectSchema('inference_error_response', malformed.body);
    expect(malformed.body.error).toMatch(/^malformed JSON in request body: /);

    const unknown = await post(`${url}/v2/models/nope/infer`, fp32Request('input', [1, 16], MLP_INPUT));
    expect(unknown).toMatchObject({ status: 404, body: { error: "unknown model 'nope'" } });
    const version = await post(
      `${url}/v2/models/mlp/versions/3/infer`,
      fp32Request('input', [1, 16], MLP_INPUT),
    );
    expect(version).toMatchObject({
      status: 404,
      body: { error: "unknown version '3' of model 'mlp'; versions: 1" },
    });
  });
});

const postChunked = (target: string, body: string, parts: number) =>
  postInChunks(target, body, {
    chunk: Math.ceil(body.length / parts),
    chunked: true,
    headers: { 'content-type': 'application/json' },
  });

describe('request ids', () => {
  it('echoes X-Request-Id on answers and errors alike, and makes one up when absent', async () => {
    const body = fp32Request('input', [1, 16], MLP_INPUT);
    const id = { 'x-request-id': 'req-42' };
    const ok = await post(`${url}/v2/models/mlp/infer`, body, id);
    const malformed = await post(`${url}/v2/models/mlp/infer`, '{"inputs": [', id);
    const unknown = await post(`${url}/v2/models/nope/infer`, body, id);
    const noRoute = await post(`${url}/v2/nothing`, body, id);
    expect([ok, malformed, unknown, noRoute].map((r) => [r.status, r.headers.get('x-request-id')])).toEqual([
      [200, 'req-42'],
      [400, 'req-42'],
      [404, 'req-42'],
      [404, 'req-42'],
    ]);
    const fresh = await post(`${url}/v2/models/mlp/infer`, body);
    expect(fresh.headers.get('x-request-id')).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
  });
});

describe('chunked request bodies (read from the Node request, no Content-Length)', () => {
  it('assembles a body sent in many chunks and holds a chunked body to the body limit', async () => {
    const small = JSON.stringify(fp32Request('input', [1, 16], MLP_INPUT));
    const whole = await post(`${url}/v2/models/mlp/infer`, JSON.parse(small));
    const chunked = await postChunked(`${url}/v2/models/mlp/infer`, small, 7);
    expect(whole.status).toBe(200);
    expect(chunked).toEqual({ status: 200, body: whole.body });

    const big = JSON.stringify(
      fp32Request('input', [20000, 16], new Float32Array(20000 * 16).fill(0.123456)),
    );
    expect(big.length).toBeGreaterThan(BODY_LIMIT);
    const tooLarge = await postChunked(`${url}/v2/models/mlp/infer`, big, 40);
    expect(tooLarge).toEqual({
      status: 413,
      body: { error: `request body larger than the limit of ${BODY_LIMIT} bytes` },
    });
    expect(await postChunked(`${url}/v2/models/mlp/infer`, small, 2)).toEqual({
      status: 200,
      body: whole.body,
    });
  });
});

describe('repository index', () => {
  it('lists every model with its state, filtered by ready', async () => {
    const res = await post(`${url}/v2/repository/index`, '');
    expect(res.status).toBe(200);
    expect(res.body).toEqual(
      ['add', 'identity', 'mlp', 'squeezenet1_1'].map((name) => ({
        name,
        version: '1',
        state: 'READY',
        reason: '',
      })),
    );
    expect((await post(`${url}/v2/repository/index`, { ready: true })).body).toHaveLength(4);
    const huge = await post(`${url}/v2/repository/index`, { ready: true, pad: 'x'.repeat(70_000) });
    expect(huge).toMatchObject({
      status: 413,
      body: { error: 'repository request body larger than 65536 bytes' },
    });
    const bad = await post(`${url}/v2/repository/index`, { ready: 'yes' });
    expect(bad).toMatchObject({
      status: 400,
      body: { error: 'index request is {"ready":"yes"}; expected {"ready": true|false} or an empty body' },
    });
  });
});

describe('metrics', () => {
  it('exposes every contract metric, per model, valid for promtool', async () => {
    await post(
      `${url}/v2/models/mlp/infer`,
      fp32Request('input', [3, 16], [...MLP_INPUT, ...MLP_INPUT, ...MLP_INPUT]),
    );
    const res = await request(`${server.metricsUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = res.body as string;
    for (const def of Object.values(METRICS)) expect(text).toContain(`# TYPE ${def.name} ${def.type}`);
    expect(text).toMatch(
      /inference_requests_total\{model="mlp",version="1",outcome="success",protocol="http"\} [1-9]/,
    );
    expect(text).toMatch(
      /inference_requests_total\{model="mlp",version="1",outcome="client_error",protocol="http"\} [1-9]/,
    );
    expect(text).toMatch(
      /inference_requests_total\{model="",version="",outcome="not_found",protocol="http"\} [1-9]/,
    );
    expect(text).toMatch(
      /inference_requests_total\{model="add",version="1",outcome="server_error",protocol="http"\} 1\n/,
    );
    expect(text).toMatch(
      /inference_compute_duration_seconds_count\{model="mlp",version="1",provider="cpu"\} [1-9]/,
    );
    expect(text).toMatch(/inference_batch_size_bucket\{le="2",model="mlp",version="1"\} \d+/);
    expect(text).toMatch(/inference_model_ready\{model="squeezenet1_1",version="1",provider="cpu"\} 1/);
    expect(text).toMatch(
      /inference_model_load_duration_seconds\{model="mlp",version="1",provider="cpu"\} 0\.\d+/,
    );
    expect(text).toMatch(/inference_inflight_requests\{model="mlp",version="1",protocol="http"\} 0/);
    // Series exist from load on, before any request of the model.
    expect(text).toMatch(
      /inference_requests_total\{model="squeezenet1_1",version="1",outcome="server_error",protocol="http"\} 0/,
    );
    expect(text).toMatch(/inference_queue_depth\{model="squeezenet1_1",version="1"\} 0/);
    expect(text).toContain('process_resident_memory_bytes');
    // promtool lints the exposition format (names, base units, HELP/TYPE) and exits non-zero on
    // problems. Only the contract's metrics are checked: prom-client's default nodejs_active_*_total
    // gauges break its naming rules, which is prom-client's to fix.
    const ours = text
      .split('\n')
      .filter((l) => /^(# (HELP|TYPE) )?inference_/.test(l))
      .join('\n');
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: `${ours}\n`, encoding: 'utf8' });
    expect(lint.stdout + lint.stderr).toBe('');
    expect(lint.status).toBe(0);
  });
});
