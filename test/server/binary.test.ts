import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import {
  decodeInferResponse,
  encodeInferRequest,
  encodeInferResponse,
  encodeTensor,
  INFERENCE_HEADER_CONTENT_LENGTH,
  readBinaryInputs,
  splitInferBody,
  wantsBinaryOutput,
} from '../../server/binary.ts';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/** A body in the extension's wire format: JSON header, then the given blobs. */
function body(header: object, ...blobs: Uint8Array[]): { bytes: Uint8Array; headerLength: string } {
  const json = Buffer.from(JSON.stringify(header));
  return { bytes: Buffer.concat([json, ...blobs]), headerLength: String(json.byteLength) };
}

function catch400(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect((error as { status?: number }).status).toBe(400);
    return (error as Error).message;
  }
  throw new Error('expected a 400 error');
}

describe('binary tensor data extension', () => {
  it('splits the JSON header from the binary section, and treats a body without the header as JSON', () => {
    const { bytes, headerLength } = body({ inputs: [] }, new Uint8Array([1, 2, 3]));
    const split = splitInferBody(bytes, headerLength);
    expect(JSON.parse(split.json)).toEqual({ inputs: [] });
    expect(Array.from(split.binary)).toEqual([1, 2, 3]);
    const plain = splitInferBody(Buffer.from('{"inputs":[]}'), undefined);
    expect(plain).toEqual({ json: '{"inputs":[]}', binary: new Uint8Array(0) });
    expect(catch400(() => splitInferBody(bytes, '99999'))).toBe(
      `Inference-Header-Content-Length: '99999' is invalid (allowed: an integer from 0 to the body length ${bytes.byteLength})`,
    );
    expect(catch400(() => splitInferBody(bytes, '-1'))).toContain("'-1' is invalid");
    expect(catch400(() => splitInferBody(bytes, '12abc'))).toContain("'12abc' is invalid");
  });

  it('returns typed-array views over the request buffer, copying only unaligned tensors', () => {
    const x = new Float32Array([1.5, -2, 3.25, 4]);
    const ids = new BigInt64Array([1n, -(2n ** 40n)]);
    const flags = new Uint8Array([1, 0, 1]);
    // FP32 at offset 0 of the binary section, then 3 BOOL bytes, then an INT64 tensor that now starts unaligned.
    const header = {
      inputs: [
        { name: 'x', datatype: 'FP32', shape: [2, 2], parameters: { binary_data_size: 16 } },
        { name: 'json', datatype: 'INT32', shape: [1], data: [7] },
        { name: 'flags', datatype: 'BOOL', shape: [3], parameters: { binary_data_size: 3 } },
        { name: 'ids', datatype: 'INT64', shape: [2], parameters: { binary_data_size: 16 } },
      ],
    };
    // Pad the JSON so that the binary section starts at a multiple of 8 of the buffer.
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - (json.length % 8)) % 8);
    const bytes = Buffer.concat([Buffer.from(json), encodeTensor(x), encodeTensor(flags), encodeTensor(ids)]);
    const buffer = new Uint8Array(bytes.byteLength);
    buffer.set(bytes);
    const { binary } = splitInferBody(buffer, String(json.length));
    const decoded = readBinaryInputs(header.inputs, binary);
    expect([...decoded.keys()]).toEqual(['x', 'flags', 'ids']);
    const xs = decoded.get('x') as Float32Array;
    expect(xs).toBeInstanceOf(Float32Array);
    expect(Array.from(xs)).toEqual([1.5, -2, 3.25, 4]);
    // Zero copy: the tensor shares the request's memory.
    expect(xs.buffer).toBe(buffer.buffer);
    expect(xs.byteOffset).toBe(json.length);
    expect(Array.from(decoded.get('flags') as Uint8Array)).toEqual([1, 0, 1]);
    const idsOut = decoded.get('ids') as BigInt64Array;
    expect(Array.from(idsOut)).toEqual([1n, -(2n ** 40n)]);
    // Offset json.length + 19 is not a multiple of 8: that one tensor was copied.
    expect(idsOut.buffer).not.toBe(buffer.buffer);
  });

  it('decodes BYTES as 4-byte little-endian length-prefixed elements, and encodes them back', () => {
    const blob = encodeTensor(['hello', '', 'wörld']);
    expect(Array.from(blob.subarray(0, 9))).toEqual([5, 0, 0, 0, 104, 101, 108, 108, 111]);
    const inputs = [
      { name: 's', datatype: 'BYTES', shape: [3], parameters: { binary_data_size: blob.byteLength } },
    ];
    expect(readBinaryInputs(inputs, blob).get('s')).toEqual(['hello', '', 'wörld']);
    const short = [
      { name: 's', datatype: 'BYTES', shape: [4], parameters: { binary_data_size: blob.byteLength } },
    ];
    expect(catch400(() => readBinaryInputs(short, blob))).toBe(
      "input 's': the binary data holds 3 BYTES elements, the shape needs 4",
    );
    const truncated = blob.subarray(0, 7);
    const t = [{ name: 's', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 7 } }];
    expect(catch400(() => readBinaryInputs(t, truncated))).toBe(
      "input 's': BYTES element 0 declares 5 bytes but only 3 remain",
    );
  });

  it('refuses inconsistent sizes with a 400 naming the tensor, the value and what was expected', () => {
    const data = new Uint8Array(16);
    const input = (size: unknown, extra: object = {}) => [
      { name: 'x', datatype: 'FP32', shape: [2, 2], parameters: { binary_data_size: size }, ...extra },
    ];
    expect(catch400(() => readBinaryInputs(input(16), new Uint8Array(20)))).toBe(
      "the body has 20 bytes after the JSON header but the inputs' binary_data_size add up to 16",
    );
    expect(catch400(() => readBinaryInputs(input(20), data))).toContain(
      "input 'x': parameters.binary_data_size 20 runs past the end of the binary data (16 bytes left",
    );
    expect(catch400(() => readBinaryInputs(input(-4), data))).toBe(
      "input 'x': parameters.binary_data_size -4 is invalid (allowed: an integer >= 0)",
    );
    expect(catch400(() => readBinaryInputs(input(16, { data: [1, 2, 3, 4] }), data))).toBe(
      "input 'x': has both 'data' and parameters.binary_data_size (allowed: one of them)",
    );
    const wrongShape = [{ name: 'x', datatype: 'FP32', shape: [3], parameters: { binary_data_size: 16 } }];
    expect(catch400(() => readBinaryInputs(wrongShape, data))).toBe(
      "input 'x': binary_data_size 16 does not match shape [3] of FP32 (expected 12 bytes)",
    );
    const wrongType = [{ name: 'x', datatype: 'FLOAT', shape: [4], parameters: { binary_data_size: 16 } }];
    expect(catch400(() => readBinaryInputs(wrongType, data))).toBe(
      "input 'x': datatype 'FLOAT' is not an Open Inference Protocol datatype",
    );
  });

  it('chooses binary outputs by binary_data, falling back to binary_data_output', () => {
    const request = {
      parameters: { binary_data_output: true },
      outputs: [{ name: 'a', parameters: { binary_data: false } }, { name: 'b' }],
    };
    expect(wantsBinaryOutput(request, 'a')).toBe(false);
    expect(wantsBinaryOutput(request, 'b')).toBe(true);
    expect(wantsBinaryOutput(request, 'c')).toBe(true);
    expect(wantsBinaryOutput({}, 'a')).toBe(false);
    expect(wantsBinaryOutput({ outputs: [{ name: 'a', parameters: { binary_data: true } }] }, 'a')).toBe(
      true,
    );
    expect(catch400(() => wantsBinaryOutput({ parameters: { binary_data_output: 'yes' } }, 'a'))).toBe(
      'parameters.binary_data_output "yes" is invalid (allowed: true or false)',
    );
  });

  it('encodes a response with binary outputs in output order and decodes it back', () => {
    const probs = new Float32Array([0.25, 0.75]);
    const encoded = encodeInferResponse({
      model_name: 'm',
      id: '42',
      outputs: [
        { name: 'json_out', datatype: 'INT32', shape: [1], data: [5] },
        { name: 'probs', datatype: 'FP32', shape: [1, 2], binary: encodeTensor(probs) },
        { name: 'labels', datatype: 'BYTES', shape: [1], binary: encodeTensor(['cat']) },
      ],
    });
    expect(encoded.headers['Content-Type']).toBe('application/octet-stream');
    const headerLength = encoded.headers[INFERENCE_HEADER_CONTENT_LENGTH];
    const bytes = encoded.body as Uint8Array;
    expect(bytes.byteLength).toBe(Number(headerLength) + 8 + 7);
    const { json, binary } = decodeInferResponse(bytes, headerLength);
    expect(json).toEqual({
      model_name: 'm',
      id: '42',
      outputs: [
        { name: 'json_out', datatype: 'INT32', shape: [1], data: [5] },
        { name: 'probs', datatype: 'FP32', shape: [1, 2], parameters: { binary_data_size: 8 } },
        { name: 'labels', datatype: 'BYTES', shape: [1], parameters: { binary_data_size: 7 } },
      ],
    });
    expect(Array.from(binary.get('probs') as Float32Array)).toEqual([0.25, 0.75]);
    expect(binary.get('labels')).toEqual(['cat']);
    const plain = encodeInferResponse({ outputs: [{ name: 'a', datatype: 'FP32', shape: [1], data: [1] }] });
    expect(plain.headers).toEqual({ 'Content-Type': 'application/json' });
    expect(JSON.parse(plain.body as string)).toEqual({
      outputs: [{ name: 'a', datatype: 'FP32', shape: [1], data: [1] }],
    });
  });

  it('feeds a binary squeezenet request to onnxruntime and matches PyTorch', async () => {
    const ref = JSON.parse(readFileSync(here('../../server/reference/squeezenet1_1/reference.json'), 'utf8'));
    const input = readFileSync(here('../../server/reference/squeezenet1_1/input.bin'));
    const expected = new Float32Array(
      readFileSync(here('../../server/reference/squeezenet1_1/output.bin')).buffer.slice(0),
    );
    const request = encodeInferRequest({
      inputs: [{ name: ref.input.name, datatype: 'FP32', shape: ref.input.shape, binary: input }],
    });
    // 2 x 3x224x224 FP32: 1,204,224 bytes of tensor plus a short JSON header.
    const bytes = request.body as Uint8Array;
    expect(bytes.byteLength - Number(request.headers[INFERENCE_HEADER_CONTENT_LENGTH])).toBe(2 * 602_112);
    const { json, binary } = splitInferBody(bytes, request.headers[INFERENCE_HEADER_CONTENT_LENGTH]);
    const inputs = JSON.parse(json).inputs;
    const data = readBinaryInputs(inputs, binary).get(ref.input.name) as Float32Array;
    const session = await ort.InferenceSession.create(here('../../server/models/squeezenet1_1/1/model.onnx'));
    try {
      const result = await session.run({
        [ref.input.name]: new ort.Tensor('float32', data, ref.input.shape),
      });
      const out = result[ref.output.name].data as Float32Array;
      expect(out.length).toBe(expected.length);
      let maxDiff = 0;
      for (let i = 0; i < out.length; i++) maxDiff = Math.max(maxDiff, Math.abs(out[i] - expected[i]));
      expect(maxDiff).toBeLessThan(1e-4);
    } finally {
      await session.release();
    }
  });
});
