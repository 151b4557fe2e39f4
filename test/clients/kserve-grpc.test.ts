/**
 * KServe's Python SDK gRPC client (kserve.InferenceGRPCClient, pinned in
 * test/clients/requirements.txt) against the server's KServe V2 gRPC port and the bundled models.
 * test/clients/kserve_grpc.py makes the calls and reports what each returned; this file checks the
 * report, one test per call, and compares each inference with onnxruntime's own run of the same
 * model file on the same input.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/server.ts';
import { bundledModels, startTestServer } from '../server/helpers.ts';
import { maxAbsDiff, onnxruntimeOutput, referenceDir } from './onnxruntime-reference.ts';
import { callResult, runClientScript, type ClientReport } from './client-report.ts';

let server: RunningServer;
let report: ClientReport;

beforeAll(async () => {
  server = await startTestServer(bundledModels, { grpcPort: 0 });
  report = await runClientScript('kserve_grpc.py', [server.grpcAddress!, referenceDir]);
}, 180_000);

afterAll(async () => {
  await server?.shutdown();
});

const ok = (call: string) => callResult(report, call);

describe('KServe SDK InferenceGRPCClient against the gRPC port', () => {
  it('is_server_live, is_server_ready', () => {
    expect(ok('is_server_live')).toBe(true);
    expect(ok('is_server_ready')).toBe(true);
  });

  it('is_model_ready: true for both bundled models; an unknown one is NOT_FOUND naming it', () => {
    expect(ok('is_model_ready_mlp')).toBe(true);
    expect(ok('is_model_ready_squeezenet')).toBe(true);
    expect(ok('is_model_ready_unknown')).toEqual({ code: 'NOT_FOUND', details: "unknown model 'nope'" });
  });

  it("server and model metadata through the SDK's own stub and messages", () => {
    expect(ok('server_metadata')).toMatchObject({
      name: 'cdk8s-gpu-inference',
      extensions: expect.arrayContaining(['model_repository', 'statistics']),
    });
    // protobuf's JSON form writes int64 dims as strings.
    expect(ok('model_metadata_mlp')).toEqual({
      name: 'mlp',
      versions: ['1'],
      platform: 'onnx_onnxv1',
      inputs: [{ name: 'input', datatype: 'FP32', shape: ['-1', '16'] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: ['-1', '4'] }],
    });
    expect(ok('model_metadata_squeezenet')).toMatchObject({
      name: 'squeezenet1_1',
      inputs: [{ name: 'input', datatype: 'FP32', shape: ['-1', '3', '224', '224'] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: ['-1', '1000'] }],
    });
  });

  for (const [model, raw] of [
    ['mlp', true],
    ['mlp', false],
    ['squeezenet1_1', true],
    ['squeezenet1_1', false],
  ] as const) {
    const call = `infer_${model}_${raw ? 'raw' : 'typed'}`;
    it(`${call}: onnxruntime's own output within 1e-5`, async () => {
      const got = ok(call);
      const expected = await onnxruntimeOutput(model);
      expect(got).toMatchObject({
        sent_raw: raw, // raw_input_contents, or typed contents (fp32_contents)
        model_name: model,
        model_version: '1',
        id: 'ks-1',
        datatype: 'FP32',
        shape: [...expected.dims],
        dtype: 'float32',
      });
      expect(got.data).toHaveLength(expected.data.length);
      expect(maxAbsDiff(expected.data, got.data)).toBeLessThanOrEqual(1e-5);
    });
  }

  it("bad input is the SDK's AioRpcError with the gRPC status and the server's message", () => {
    expect(ok('bad_shape')).toEqual({
      type: 'AioRpcError',
      code: 'INVALID_ARGUMENT',
      details: "input 'input': shape [1, 15] does not match the model's [-1, 16] (-1: any size)",
    });
    expect(ok('bad_input_name')).toEqual({
      type: 'AioRpcError',
      code: 'INVALID_ARGUMENT',
      details: "input 'nope' is not an input of this model; inputs: input",
    });
    expect(ok('unknown_model')).toEqual({
      type: 'AioRpcError',
      code: 'NOT_FOUND',
      details: "unknown model 'nope'",
    });
  });
});
