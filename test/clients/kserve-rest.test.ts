/**
 * KServe's Python SDK REST client (kserve.InferenceRESTClient, protocol v2, pinned in
 * test/clients/requirements.txt) against the real server and the bundled models.
 * test/clients/kserve_rest.py makes the calls and reports what each returned; this file checks the
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
  server = await startTestServer(bundledModels);
  report = await runClientScript('kserve_rest.py', [server.url, referenceDir]);
}, 180_000);

afterAll(async () => {
  await server?.shutdown();
});

const ok = (call: string) => callResult(report, call);

describe('KServe SDK InferenceRESTClient (v2) against the server', () => {
  it('is_server_live, is_server_ready', () => {
    expect(ok('is_server_live')).toBe(true);
    expect(ok('is_server_ready')).toBe(true);
  });

  it('is_model_ready: true for both bundled models, false for an unknown one', () => {
    expect(ok('is_model_ready_mlp')).toBe(true);
    expect(ok('is_model_ready_squeezenet')).toBe(true);
    expect(ok('is_model_ready_unknown')).toBe(false);
  });

  it("server and model metadata parse as the SDK's v2 data models", () => {
    expect(ok('server_metadata')).toMatchObject({
      name: 'cdk8s-gpu-inference',
      extensions: expect.arrayContaining(['binary_tensor_data']),
    });
    expect(ok('model_ready_body')).toEqual({ name: 'mlp', ready: true });
    expect(ok('model_metadata_mlp')).toEqual({
      name: 'mlp',
      versions: ['1'],
      platform: 'onnx_onnxv1',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 16] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 4] }],
    });
    expect(ok('model_metadata_squeezenet')).toMatchObject({
      name: 'squeezenet1_1',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 3, 224, 224] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 1000] }],
    });
  });

  for (const [model, binary] of [
    ['mlp', true],
    ['mlp', false],
    ['squeezenet1_1', true],
    ['squeezenet1_1', false],
  ] as const) {
    const call = `infer_${model}_${binary ? 'binary' : 'json'}`;
    it(`${call}: onnxruntime's own output within 1e-5`, async () => {
      const got = ok(call);
      const expected = await onnxruntimeOutput(model);
      expect(got).toMatchObject({
        model_name: model,
        id: 'ks-1',
        datatype: 'FP32',
        shape: [...expected.dims],
        dtype: 'float32',
        content_type: binary ? 'application/octet-stream' : 'application/json',
      });
      // Binary responses carry the JSON header's length; JSON ones have no such header.
      if (binary) expect(Number(got.json_length)).toBeGreaterThan(0);
      else expect(got.json_length).toBeNull();
      expect(got.data).toHaveLength(expected.data.length);
      expect(maxAbsDiff(expected.data, got.data)).toBeLessThanOrEqual(1e-5);
    });
  }

  it("bad input is the SDK's HTTPStatusError carrying the server's message", () => {
    expect(ok('bad_shape')).toEqual({
      type: 'HTTPStatusError',
      status: 400,
      message: expect.stringMatching(
        /^input 'input': shape \[1, 15\] does not match the model's \[-1, 16\] .*'400 Bad Request'/,
      ),
    });
    expect(ok('bad_input_name')).toMatchObject({
      status: 400,
      message: expect.stringMatching(/^input 'nope' is not an input of this model; inputs: input,/),
    });
    expect(ok('unknown_model')).toMatchObject({
      status: 404,
      message: expect.stringMatching(/^unknown model 'nope', '404 Not Found'/),
    });
  });
});
