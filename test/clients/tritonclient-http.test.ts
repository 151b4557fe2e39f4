/**
 * The first real client: NVIDIA's tritonclient.http (pinned in test/clients/requirements.txt, in the
 * virtual environment test/clients/venv.sh creates) against the real server and the bundled models.
 * test/clients/tritonclient_http.py makes the calls and reports what each returned; this file checks
 * the report, one test per call, so a failure names the call and the client's own error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processCpus } from '../../server/cpus.ts';
import { CPU_DEFAULT_INSTANCES } from '../../server/instances.ts';
import type { RunningServer } from '../../server/server.ts';
import { bundledModels, startTestServer } from '../server/helpers.ts';
import { referenceDir } from './onnxruntime-reference.ts';
import { callResult, runClientScript, type ClientReport } from './client-report.ts';

let server: RunningServer;
let report: ClientReport;

beforeAll(async () => {
  server = await startTestServer(bundledModels);
  report = await runClientScript('tritonclient_http.py', [
    server.url.replace(/^http:\/\//, ''),
    referenceDir,
  ]);
}, 180_000);

afterAll(async () => {
  await server?.shutdown();
});

const ok = (call: string) => callResult(report, call);

describe('tritonclient.http against the server', () => {
  it('health: is_server_live, is_server_ready, is_model_ready', () => {
    expect(ok('is_server_live')).toBe(true);
    expect(ok('is_server_ready')).toBe(true);
    expect(ok('is_model_ready')).toBe(true);
  });

  it('get_server_metadata announces the extensions the server implements', () => {
    expect(ok('get_server_metadata').extensions).toEqual(
      expect.arrayContaining([
        'model_repository',
        'model_configuration',
        'statistics',
        'classification',
        'binary_tensor_data',
      ]),
    );
  });

  it('get_model_metadata', () => {
    expect(ok('get_model_metadata')).toMatchObject({
      name: 'squeezenet1_1',
      versions: ['1'],
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3, 224, 224] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 1000] }],
    });
  });

  it('get_model_config: Triton form, batch dimension left out of the dims', () => {
    expect(ok('get_model_config')).toMatchObject({
      name: 'squeezenet1_1',
      platform: 'onnxruntime_onnx',
      backend: 'onnxruntime',
      max_batch_size: 64,
      input: [{ name: 'input', data_type: 'TYPE_FP32', dims: [3, 224, 224] }],
      output: [{ name: 'output', data_type: 'TYPE_FP32', dims: [1000], label_filename: 'labels.txt' }],
      // The CPU default of server/instances.ts: squeezenet's config.json names no count.
      instance_group: [{ kind: 'KIND_CPU', count: Math.min(CPU_DEFAULT_INSTANCES, processCpus()) }],
      dynamic_batching: { preferred_batch_size: [4], max_queue_delay_microseconds: 0 },
    });
    const mlp = ok('get_model_config_mlp_v1');
    expect(mlp).toMatchObject({
      name: 'mlp',
      max_batch_size: 1024,
      input: [{ dims: [16] }],
      output: [{ dims: [4] }],
    });
    expect(mlp.dynamic_batching).toBeUndefined();
  });

  it('get_model_repository_index', () => {
    expect(ok('get_model_repository_index')).toEqual([
      { name: 'mlp', version: '1', state: 'READY', reason: '' },
      { name: 'squeezenet1_1', version: '1', state: 'READY', reason: '' },
    ]);
  });

  for (const [call, shape, binary] of [
    ['infer_mlp_binary', [3, 4], true],
    ['infer_mlp_json', [3, 4], false],
    ['infer_squeezenet_binary', [2, 1000], true],
    ['infer_squeezenet_json', [2, 1000], false],
  ] as const) {
    it(`${call}: PyTorch's reference output within 1e-4`, () => {
      const got = ok(call);
      expect(got).toMatchObject({ shape, dtype: 'float32', id: 'tc-1', binary_output: binary });
      expect(got.max_abs_diff).toBeLessThan(1e-4);
    });
  }

  for (const call of ['classification_binary', 'classification_json']) {
    it(`${call}: class_count=3 gives "<score>:<index>:<label>" of the top 3, labels from labels.txt`, () => {
      const got = ok(call);
      expect(got.shape).toEqual([2, 3]);
      got.rows.forEach((row: string[], r: number) => {
        const parsed = row.map((s) => s.split(':'));
        expect(parsed.map((p) => Number(p[1]))).toEqual(got.expected_indices[r]);
        parsed.forEach((p, i) => {
          expect(p).toHaveLength(3);
          expect(p[0]).toMatch(/^-?\d+\.\d{6}$/);
          expect(Math.abs(Number(p[0]) - got.expected_scores[r][i])).toBeLessThan(1e-4);
        });
      });
      // torchvision's ImageNet names: index 987 is 'corn'.
      expect(got.rows[0][0]).toMatch(/^\d+\.\d{6}:987:corn$/);
    });
  }

  it('get_inference_statistics: every request the script made, counted by the inference core', () => {
    const all = ok('get_inference_statistics').model_stats;
    expect(all.map((s: { name: string }) => s.name)).toEqual(['mlp', 'squeezenet1_1']);
    const [mlp, squeezenet] = all;
    // mlp: 2 requests of 3 rows, each run alone (no dynamic batching).
    expect(mlp).toMatchObject({ version: '1', inference_count: 6, execution_count: 2 });
    expect(mlp.inference_stats.success.count).toBe(2);
    expect(mlp.inference_stats.fail.count).toBe(0);
    for (const stage of ['queue', 'compute_input', 'compute_infer', 'compute_output'])
      expect(mlp.inference_stats[stage].count, stage).toBe(2);
    expect(mlp.inference_stats.success.ns).toBeGreaterThan(0);
    expect(mlp.inference_stats.compute_infer.ns).toBeGreaterThan(0);
    expect(mlp.inference_stats.success.ns).toBeGreaterThanOrEqual(mlp.inference_stats.compute_infer.ns);
    expect(mlp.batch_stats).toEqual([
      expect.objectContaining({ batch_size: 3, compute_infer: { count: 2, ns: expect.any(Number) } }),
    ]);
    expect(mlp.last_inference).toBeGreaterThan(Date.now() - 600_000);
    // squeezenet: 4 requests of 2 rows (2 inferences, 2 classifications), through the batcher.
    expect(squeezenet).toMatchObject({ inference_count: 8 });
    expect(squeezenet.inference_stats.success.count).toBe(4);
    expect(squeezenet.execution_count).toBeGreaterThanOrEqual(1);
    expect(squeezenet.execution_count).toBeLessThanOrEqual(4);
    expect(ok('get_inference_statistics_mlp').model_stats).toEqual([
      expect.objectContaining({ name: 'mlp', version: '1', inference_count: 6 }),
    ]);
  });

  it('an unknown model is a 404 with the server message', () => {
    expect(ok('unknown_model_config')).toEqual({ status: '404', message: "unknown model 'nope'" });
  });
});
