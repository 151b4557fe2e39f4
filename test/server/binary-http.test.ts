import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeInferResponse,
  encodeInferRequest,
  encodeTensor,
  INFERENCE_HEADER_CONTENT_LENGTH,
} from '../../server/binary.ts';
import type { RunningServer } from '../../server/server.ts';
import { bundledModels, post, reference, request, startTestServer } from './helpers.ts';

/** POSTs an encoded request and returns status, headers and raw body bytes. */
async function postEncoded(
  url: string,
  encoded: { body: Uint8Array | string; headers: Record<string, string> },
) {
  const res = await fetch(url, { method: 'POST', body: encoded.body, headers: encoded.headers });
  return { status: res.status, headers: res.headers, bytes: new Uint8Array(await res.arrayBuffer()) };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

describe('binary tensor data extension over HTTP', () => {
  let server: RunningServer;
  let infer: (model: string) => string;

  beforeAll(async () => {
    server = await startTestServer(bundledModels);
    infer = (model) => `${server.url}/v2/models/${model}/infer`;
  });
  afterAll(async () => {
    await server?.shutdown();
  });

  it('announces binary_tensor_data in the server metadata', async () => {
    const res = await request(`${server.url}/v2`);
    expect(res.body.extensions).toContain('binary_tensor_data');
  });

  it('gives the same squeezenet outputs for binary and JSON tensors, and matches PyTorch', async () => {
    const ref = reference('squeezenet1_1');
    const encoded = encodeInferRequest({
      id: 'bin-1',
      inputs: [
        {
          name: ref.input.name,
          datatype: 'FP32',
          shape: ref.input.shape,
          binary: encodeTensor(ref.input.data),
        },
      ],
      parameters: { binary_data_output: true },
    });
    const bin = await postEncoded(infer('squeezenet1_1'), encoded);
    expect(bin.status).toBe(200);
    expect(bin.headers.get('content-type')).toBe('application/octet-stream');
    const headerLength = bin.headers.get(INFERENCE_HEADER_CONTENT_LENGTH);
    const { json, binary } = decodeInferResponse(bin.bytes, headerLength);
    expect(json.id).toBe('bin-1');
    expect(json.outputs).toEqual([
      {
        name: ref.output.name,
        datatype: 'FP32',
        shape: ref.output.shape,
        parameters: { binary_data_size: 8000 },
      },
    ]);
    const binOut = binary.get(ref.output.name) as Float32Array;

    const viaJson = await post(infer('squeezenet1_1'), {
      inputs: [
        { name: ref.input.name, datatype: 'FP32', shape: ref.input.shape, data: Array.from(ref.input.data) },
      ],
    });
    expect(viaJson.status).toBe(200);
    const jsonOut = viaJson.body.outputs[0].data as number[];
    // Same float32 values: JSON prints each float32 exactly enough to round-trip.
    expect(Array.from(binOut)).toEqual(jsonOut.map(Math.fround));
    expect(maxAbsDiff(binOut, ref.output.data)).toBeLessThan(1e-4);
  });

  it('answers JSON when binary inputs do not ask for binary outputs', async () => {
    const ref = reference('mlp');
    const encoded = encodeInferRequest({
      inputs: [
        {
          name: ref.input.name,
          datatype: 'FP32',
          shape: ref.input.shape,
          binary: encodeTensor(ref.input.data),
        },
      ],
    });
    const res = await postEncoded(infer('mlp'), encoded);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(res.headers.get(INFERENCE_HEADER_CONTENT_LENGTH)).toBeNull();
    const body = JSON.parse(Buffer.from(res.bytes).toString('utf8'));
    expect(maxAbsDiff(body.outputs[0].data, ref.output.data)).toBeLessThan(1e-4);
  });

  it('accepts a JSON input alongside the header, with binary_data on one output', async () => {
    const ref = reference('mlp');
    const encoded = encodeInferRequest({
      inputs: [
        { name: ref.input.name, datatype: 'FP32', shape: ref.input.shape, data: Array.from(ref.input.data) },
      ],
      outputs: [{ name: ref.output.name, parameters: { binary_data: true } }],
    });
    expect(encoded.headers[INFERENCE_HEADER_CONTENT_LENGTH]).toBeUndefined();
    // A JSON-only request that still carries the header (what Triton's clients send when they want binary outputs).
    const body = encoded.body as string;
    const res = await postEncoded(infer('mlp'), {
      body,
      headers: {
        'content-type': 'application/json',
        [INFERENCE_HEADER_CONTENT_LENGTH]: String(Buffer.byteLength(body)),
      },
    });
    expect(res.status).toBe(200);
    const { binary } = decodeInferResponse(res.bytes, res.headers.get(INFERENCE_HEADER_CONTENT_LENGTH));
    expect(maxAbsDiff(binary.get(ref.output.name) as Float32Array, ref.output.data)).toBeLessThan(1e-4);
  });

  it('answers a bad binary request with 400 naming the tensor, and keeps serving', async () => {
    const ref = reference('mlp');
    const good = encodeTensor(ref.input.data);
    const cases: { headers: Record<string, string>; body: Uint8Array | string; error: string }[] = [];
    const short = encodeInferRequest({
      inputs: [
        {
          name: 'input',
          datatype: 'FP32',
          shape: ref.input.shape,
          binary: good.subarray(0, good.byteLength - 4),
        },
      ],
    });
    cases.push({
      ...short,
      error: `input 'input': binary_data_size ${good.byteLength - 4} does not match shape [${ref.input.shape.join(',')}] of FP32 (expected ${good.byteLength} bytes)`,
    });
    const trailing = encodeInferRequest({
      inputs: [{ name: 'input', datatype: 'FP32', shape: ref.input.shape, binary: good }],
    });
    cases.push({
      body: Buffer.concat([trailing.body as Uint8Array, Buffer.from([0, 0])]),
      headers: trailing.headers,
      error: `the body has ${good.byteLength + 2} bytes after the JSON header but the inputs' binary_data_size add up to ${good.byteLength}`,
    });
    cases.push({
      body: trailing.body,
      headers: { ...trailing.headers, [INFERENCE_HEADER_CONTENT_LENGTH]: 'ten' },
      error: `Inference-Header-Content-Length: 'ten' is invalid (allowed: an integer from 0 to the body length ${(trailing.body as Uint8Array).byteLength})`,
    });
    cases.push({
      body: Buffer.concat([Buffer.from('{"inputs": ['), good]),
      headers: { [INFERENCE_HEADER_CONTENT_LENGTH]: '12' },
      error: "malformed JSON in the request's JSON header",
    });
    for (const c of cases) {
      const res = await postEncoded(infer('mlp'), c);
      expect(res.status).toBe(400);
      expect(JSON.parse(Buffer.from(res.bytes).toString()).error).toContain(c.error);
    }
    const ok = await postEncoded(infer('mlp'), trailing);
    expect(ok.status).toBe(200);
  });
});
