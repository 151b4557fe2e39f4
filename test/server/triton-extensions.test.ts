/**
 * Triton's REST extensions over HTTP: model configuration, statistics and classification
 * (third_party/oip/triton/docs/), their errors, and the labels file's configuration.
 * test/clients/tritonclient-http.test.ts checks the same with Triton's own client.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseModelConfig } from '../../server/config.ts';
import type { RunningServer } from '../../server/server.ts';
import { ModelStats } from '../../server/stats.ts';
import { classify } from '../../server/classification.ts';
import * as ort from 'onnxruntime-node';
import {
  bundledModels,
  removeDir,
  request,
  post,
  startTestServer,
  tempRepository,
  writeFile,
} from './helpers.ts';
import { cpSync } from 'node:fs';
import { join } from 'node:path';

let server: RunningServer;
let repo: string;

beforeAll(async () => {
  repo = tempRepository(['mlp', 'squeezenet1_1']);
  // A copy of the MLP whose labels file is missing: it must not load.
  writeFile(
    join(repo, 'nolabels', 'config.json'),
    '{"output": [{"name": "output", "label_filename": "labels.txt"}]}',
  );
  cpSync(join(bundledModels, 'mlp', '1'), join(repo, 'nolabels', '1'), { recursive: true });
  server = await startTestServer(repo);
});

afterAll(async () => {
  await server?.shutdown();
  removeDir(repo);
});

const X = Array.from({ length: 32 }, (_, i) => (i % 7) - 3);
const mlpRequest = (outputs?: unknown) => ({
  inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 16], data: X }],
  ...(outputs !== undefined && { outputs }),
});

describe('model configuration', () => {
  it("answers Triton's ModelConfig JSON, without and with a version", async () => {
    for (const path of ['/v2/models/mlp/config', '/v2/models/mlp/versions/1/config']) {
      const res = await request(`${server.url}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.body).toMatchObject({
        name: 'mlp',
        platform: 'onnxruntime_onnx',
        backend: 'onnxruntime',
        max_batch_size: 1024,
        input: [{ name: 'input', data_type: 'TYPE_FP32', dims: [16] }],
        output: [{ name: 'output', data_type: 'TYPE_FP32', dims: [4], label_filename: '' }],
        instance_group: [{ kind: 'KIND_CPU', count: 1 }],
      });
    }
  });

  it('404 for an unknown model or version, naming it', async () => {
    expect(await request(`${server.url}/v2/models/nope/config`)).toMatchObject({
      status: 404,
      body: { error: "unknown model 'nope'" },
    });
    expect(await request(`${server.url}/v2/models/mlp/versions/7/config`)).toMatchObject({
      status: 404,
      body: { error: "unknown version '7' of model 'mlp'; versions: 1" },
    });
  });

  it('a label file that cannot be read fails the load', async () => {
    const index = await post(`${server.url}/v2/repository/index`, {});
    expect(index.body.find((r: { name: string }) => r.name === 'nolabels').state).toBe('UNAVAILABLE');
    expect(() =>
      parseModelConfig({ output: [{ name: 'output', label_filename: '../labels.txt' }] }, 'c.json', 'm', 8),
    ).toThrow('output[0].label_filename is "../labels.txt"; allowed: a file name in the model\'s directory');
    expect(() =>
      parseModelConfig({ input: [{ name: 'input', label_filename: 'l.txt' }] }, 'c.json', 'm', 8),
    ).toThrow('key input[0].label_filename');
  });
});

describe('statistics', () => {
  it('counts requests, rows and executions per version; all models, one model, one version', async () => {
    const before = (await request(`${server.url}/v2/models/mlp/stats`)).body.model_stats[0];
    expect(await post(`${server.url}/v2/models/mlp/infer`, mlpRequest())).toMatchObject({ status: 200 });
    // A bad request never reaches the model: not in its statistics.
    expect((await post(`${server.url}/v2/models/mlp/infer`, { inputs: [] })).status).toBe(400);
    const after = (await request(`${server.url}/v2/models/mlp/versions/1/stats`)).body.model_stats[0];
    expect(after.name).toBe('mlp');
    expect(after.version).toBe('1');
    expect(after.inference_count - before.inference_count).toBe(2);
    expect(after.execution_count - before.execution_count).toBe(1);
    expect(after.inference_stats.success.count - before.inference_stats.success.count).toBe(1);
    expect(after.inference_stats.fail.count).toBe(before.inference_stats.fail.count);
    expect(after.inference_stats.compute_infer.ns).toBeGreaterThan(before.inference_stats.compute_infer.ns);
    expect(after.last_inference).toBeGreaterThan(0);
    const all = (await request(`${server.url}/v2/models/stats`)).body.model_stats;
    expect(all.map((s: { name: string }) => s.name)).toEqual(['mlp', 'squeezenet1_1']);
  });

  it('404 for an unknown model or version', async () => {
    expect((await request(`${server.url}/v2/models/nope/stats`)).status).toBe(404);
    expect((await request(`${server.url}/v2/models/mlp/versions/2/stats`)).status).toBe(404);
  });

  it('ModelStats: failures, per-request stages and batch sizes', () => {
    const stats = new ModelStats();
    stats.executed(4, 0.002);
    stats.succeeded(0.003, 1, { queue: 0.0005, input: 0.0001, infer: 0.002, output: 0.0001 });
    stats.succeeded(0.003, 3, { queue: 0.0005, input: 0.0001, infer: 0.002, output: 0.0001 });
    stats.failed(0.001);
    const json = stats.toJSON('m', '1');
    expect(json).toMatchObject({ inference_count: 4, execution_count: 1 });
    expect(json.inference_stats.success).toEqual({ count: 2, ns: 6_000_000 });
    expect(json.inference_stats.fail).toEqual({ count: 1, ns: 1_000_000 });
    expect(json.inference_stats.compute_infer).toEqual({ count: 2, ns: 4_000_000 });
    expect(json.batch_stats).toEqual([
      {
        batch_size: 4,
        compute_input: { count: 0, ns: 0 },
        compute_infer: { count: 1, ns: 2_000_000 },
        compute_output: { count: 0, ns: 0 },
      },
    ]);
  });
});

describe('classification', () => {
  it('answers the top N as "<value>:<index>" BYTES strings, per row', async () => {
    const plain = await post(`${server.url}/v2/models/mlp/infer`, mlpRequest());
    const res = await post(
      `${server.url}/v2/models/mlp/infer`,
      mlpRequest([{ name: 'output', parameters: { classification: 2 } }]),
    );
    expect(res.status).toBe(200);
    const out = res.body.outputs[0];
    expect(out).toMatchObject({ name: 'output', datatype: 'BYTES', shape: [2, 2] });
    const values: number[] = plain.body.outputs[0].data;
    for (let r = 0; r < 2; r++) {
      const row = values.slice(r * 4, r * 4 + 4);
      const top = [0, 1, 2, 3].sort((a, b) => row[b]! - row[a]! || a - b).slice(0, 2);
      expect(out.data.slice(r * 2, r * 2 + 2)).toEqual(top.map((i) => `${row[i]!.toFixed(6)}:${i}`));
    }
  });

  it('appends the label from labels.txt', async () => {
    const res = await post(`${server.url}/v2/models/squeezenet1_1/infer`, {
      inputs: [
        {
          name: 'input',
          datatype: 'FP32',
          shape: [1, 3, 224, 224],
          data: new Array(3 * 224 * 224).fill(0.5),
        },
      ],
      outputs: [{ name: 'output', parameters: { classification: 1 } }],
    });
    expect(res.status).toBe(200);
    expect(res.body.outputs[0].shape).toEqual([1, 1]);
    expect(res.body.outputs[0].data[0]).toMatch(/^-?\d+\.\d{6}:\d+:[^:]+$/);
  });

  it.each([
    [0, 'an integer from 1 to 4 (its classes)'],
    [5, 'an integer from 1 to 4 (its classes)'],
    ['2', 'an integer from 1 to 4 (its classes)'],
    [1.5, 'an integer from 1 to 4 (its classes)'],
  ])('400 for classification %j, naming output, value and what is allowed', async (value, allowed) => {
    const res = await post(
      `${server.url}/v2/models/mlp/infer`,
      mlpRequest([{ name: 'output', parameters: { classification: value } }]),
    );
    expect(res.status).toBe(400);
    expect(res.body.error).toBe(
      `output 'output': parameters.classification is ${JSON.stringify(value)}; allowed: ${allowed}`,
    );
  });

  it('a model that does not batch ranks the whole tensor; ties keep the lower index', () => {
    const t = new ort.Tensor('float32', Float32Array.from([1, 5, 10, 5]), [2, 2]);
    expect(classify('o', t, 3, false, ['a', 'b', 'c']).data).toEqual([
      '10.000000:2:c',
      '5.000000:1:b',
      '5.000000:3',
    ]);
    expect(classify('o', t, 1, true).dims).toEqual([2, 1]);
  });
});
