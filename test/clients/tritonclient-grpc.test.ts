/**
 * NVIDIA's tritonclient.grpc (pinned in test/clients/requirements.txt, in the virtual environment
 * test/clients/venv.sh creates) against the server's gRPC service and the bundled models.
 * test/clients/tritonclient_grpc.py makes the calls and reports what each returned; this file
 * checks the report against onnxruntime's own run of the same model files on the same inputs, one
 * test per call, so a failure names the call and the client's own error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processCpus } from '../../server/cpus.ts';
import { CPU_DEFAULT_INSTANCES } from '../../server/instances.ts';
import type { RunningServer } from '../../server/server.ts';
import { bundledModels, startTestServer } from '../server/helpers.ts';
import { onnxruntimeOutput, referenceDir } from './onnxruntime-reference.ts';
import { callResult, runClientScript, type ClientReport } from './client-report.ts';

let server: RunningServer;
let report: ClientReport;
/** onnxruntime's output of each model on its reference input, run here in process. */
const expected: Record<string, { shape: number[]; data: Float32Array }> = {};

beforeAll(async () => {
  server = await startTestServer(bundledModels, { grpcPort: 0 });
  for (const model of ['mlp', 'squeezenet1_1']) {
    const out = await onnxruntimeOutput(model);
    expected[model] = { shape: out.dims.map(Number), data: out.data };
  }
  report = await runClientScript('tritonclient_grpc.py', [server.grpcAddress!, referenceDir]);
}, 180_000);

afterAll(async () => {
  await server?.shutdown();
});

const ok = (call: string) => callResult(report, call);

describe('tritonclient.grpc against the server', () => {
  it('health: is_server_live, is_server_ready, is_model_ready', () => {
    expect(ok('is_server_live')).toBe(true);
    expect(ok('is_server_ready')).toBe(true);
    expect(ok('is_model_ready')).toBe(true);
  });

  it('get_server_metadata announces the extensions the gRPC service implements', () => {
    expect(ok('get_server_metadata')).toEqual({
      name: 'cdk8s-gpu-inference',
      version: expect.any(String),
      extensions: ['model_repository', 'model_configuration', 'statistics', 'classification'],
    });
  });

  it('get_model_metadata', () => {
    expect(ok('get_model_metadata')).toEqual({
      name: 'squeezenet1_1',
      versions: ['1'],
      platform: 'onnx_onnxv1',
      inputs: [{ name: 'input', datatype: 'FP32', shape: ['-1', '3', '224', '224'] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: ['-1', '1000'] }],
    });
  });

  it('get_model_config: Triton form, batch dimension left out of the dims', () => {
    expect(ok('get_model_config').config).toMatchObject({
      name: 'squeezenet1_1',
      platform: 'onnxruntime_onnx',
      backend: 'onnxruntime',
      max_batch_size: 64,
      input: [{ name: 'input', data_type: 'TYPE_FP32', dims: ['3', '224', '224'] }],
      output: [{ name: 'output', data_type: 'TYPE_FP32', dims: ['1000'], label_filename: 'labels.txt' }],
      // The CPU default of server/instances.ts: squeezenet's config.json names no count.
      instance_group: [{ kind: 'KIND_CPU', count: Math.min(CPU_DEFAULT_INSTANCES, processCpus()) }],
      dynamic_batching: { preferred_batch_size: [4] },
    });
    const mlp = ok('get_model_config_mlp_v1').config;
    expect(mlp).toMatchObject({
      name: 'mlp',
      max_batch_size: 1024,
      input: [{ dims: ['16'] }],
      output: [{ dims: ['4'] }],
    });
    expect(mlp.dynamic_batching).toBeUndefined();
  });

  it('get_model_repository_index', () => {
    expect(ok('get_model_repository_index').models).toEqual([
      { name: 'mlp', version: '1', state: 'READY' },
      { name: 'squeezenet1_1', version: '1', state: 'READY' },
    ]);
  });

  for (const [call, model, id] of [
    ['infer_mlp_raw', 'mlp', 'tc-grpc-1'],
    ['infer_mlp_typed', 'mlp', 'tc-grpc-2'],
    ['infer_squeezenet_raw', 'squeezenet1_1', 'tc-grpc-1'],
    ['infer_squeezenet_typed', 'squeezenet1_1', 'tc-grpc-2'],
  ] as const) {
    it(`${call}: onnxruntime's own output within 1e-5, answered in raw_output_contents`, () => {
      const got = ok(call);
      const want = expected[model]!;
      expect(got).toMatchObject({ shape: want.shape, dtype: 'float32', id, raw_output: true });
      expect(got.values).toHaveLength(want.data.length);
      const diff = Math.max(...got.values.map((v: number, i: number) => Math.abs(v - want.data[i]!)));
      expect(diff).toBeLessThan(1e-5);
    });
  }

  it('classification: class_count=3 gives "<score>:<index>:<label>" of the top 3, labels from labels.txt', () => {
    const got = ok('classification');
    const { data } = expected.squeezenet1_1!;
    expect(got.shape).toEqual([2, 3]);
    got.rows.forEach((row: string[], r: number) => {
      const scores = Array.from(data.subarray(r * 1000, (r + 1) * 1000));
      const top = scores
        .map((v, i) => [v, i] as const)
        .sort((a, b) => b[0] - a[0] || a[1] - b[1])
        .slice(0, 3);
      const parsed = row.map((s) => s.split(':'));
      expect(parsed.map((p) => Number(p[1]))).toEqual(top.map(([, i]) => i));
      parsed.forEach((p, i) => {
        expect(p).toHaveLength(3);
        expect(Math.abs(Number(p[0]) - top[i]![0])).toBeLessThan(1e-5 + 5e-7);
      });
    });
    // torchvision's ImageNet names: index 987 is 'corn'.
    expect(got.rows[0][0]).toMatch(/^\d+\.\d{6}:987:corn$/);
  });

  it('a datatype the model does not take is INVALID_ARGUMENT with the server message', () => {
    expect(ok('wrong_datatype')).toEqual({
      status: 'StatusCode.INVALID_ARGUMENT',
      message: "input 'input': datatype FP64 does not match the model's FP32",
    });
  });

  it('get_inference_statistics: every request the script made, counted by the inference core', () => {
    const all = ok('get_inference_statistics').model_stats;
    expect(all.map((s: { name: string }) => s.name)).toEqual(['mlp', 'squeezenet1_1']);
    const [mlp, squeezenet] = all;
    // mlp: 2 requests of 3 rows (raw and typed), each run alone (no dynamic batching). The failed
    // FP64 request was refused before the scheduler.
    expect(mlp).toMatchObject({ version: '1', inference_count: '6', execution_count: '2' });
    expect(mlp.inference_stats.success.count).toBe('2');
    expect(mlp.inference_stats.fail.count ?? '0').toBe('0');
    expect(Number(mlp.inference_stats.compute_infer.ns)).toBeGreaterThan(0);
    expect(mlp.batch_stats).toEqual([
      expect.objectContaining({ batch_size: '3', compute_infer: { count: '2', ns: expect.any(String) } }),
    ]);
    // squeezenet: 3 requests of 2 rows (raw, typed, classification), through the batcher.
    expect(squeezenet).toMatchObject({ inference_count: '6' });
    expect(squeezenet.inference_stats.success.count).toBe('3');
    expect(ok('get_inference_statistics_mlp').model_stats).toEqual([
      expect.objectContaining({ name: 'mlp', version: '1', inference_count: '6' }),
    ]);
  });

  it('an unknown model is NOT_FOUND with the server message', () => {
    expect(ok('unknown_model_config')).toEqual({
      status: 'StatusCode.NOT_FOUND',
      message: "unknown model 'nope'",
    });
  });

  it('load_model with model control none is PERMISSION_DENIED', () => {
    expect(ok('load_refused')).toMatchObject({ status: 'StatusCode.PERMISSION_DENIED' });
    expect(ok('load_refused').message).toContain('model control is off (--model-control-mode none)');
  });
});
