import type * as ort from 'onnxruntime-node';
import {
  decodeRequestObject,
  jsonCodec,
  responseObject,
  type EncodedResponse,
  type InferCodec,
} from './codec.ts';
import { ELEMENT_BYTES, allocate, isV2Datatype, v2FromOrt, type TensorData } from './datatypes.ts';
import { InvalidRequestError } from './errors.ts';
import { SHOWN_CHARS, isRecord, preview } from './preview.ts';
import { dataFromJson } from './tensors.ts';

/**
 * Triton's binary tensor data extension (also KServe's): the JSON header, whose length is in the
 * `Inference-Header-Content-Length` HTTP header, is followed by the raw tensors, in the order of
 * the inputs (or outputs) that carry a `binary_data_size` parameter. Little-endian, row major, no
 * padding; BOOL is one byte; a BYTES element is a 4-byte little-endian length and its bytes.
 * https://github.com/triton-inference-server/server/blob/main/docs/protocol/extension_binary_data.md
 */
export const INFERENCE_HEADER_CONTENT_LENGTH = 'Inference-Header-Content-Length';
/** The Content-Type of a request or response with binary tensors (Triton's examples). */
export const BINARY_CONTENT_TYPE = 'application/octet-stream';

export type BinaryTensorData = TensorData;
type NumericTensorData = Exclude<TensorData, string[]>;
type ViewCtor = new (buffer: ArrayBufferLike, byteOffset: number, length: number) => NumericTensorData;

// Typed arrays use the host's byte order; the extension is little-endian. Every platform Node and
// onnxruntime-node ship for (x64, arm64) is little-endian, so views are valid; refuse otherwise.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const bad = (message: string) => new InvalidRequestError(message);

/**
 * Splits a request body into its JSON header and the binary section after it. Without the header
 * (`headerLength` undefined or null) the whole body is JSON and the binary section is empty.
 */
export function splitInferBody(
  body: Uint8Array,
  headerLength: string | null | undefined,
): { json: string; binary: Uint8Array } {
  if (headerLength === undefined || headerLength === null) {
    return {
      json: Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'),
      binary: EMPTY,
    };
  }
  const length = /^\d+$/.test(headerLength.trim()) ? Number(headerLength.trim()) : NaN;
  if (!Number.isSafeInteger(length) || length > body.byteLength) {
    throw bad(
      `${INFERENCE_HEADER_CONTENT_LENGTH}: '${headerLength}' is invalid (allowed: an integer from 0 to the body length ${body.byteLength})`,
    );
  }
  return {
    json: Buffer.from(body.buffer, body.byteOffset, length).toString('utf8'),
    binary: body.subarray(length),
  };
}

const EMPTY = new Uint8Array(0);

/** The fields of a request input (or response output) that the extension reads. */
export interface BinaryTensorHeader {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
  readonly data?: unknown;
  readonly parameters?: Readonly<Record<string, unknown>>;
}

/** `binary_data_size` of an input, or undefined when the input carries JSON `data`. */
export function binaryDataSize(input: BinaryTensorHeader): number | undefined {
  const size = input.parameters?.binary_data_size;
  if (size === undefined) return undefined;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw bad(
      `input '${input.name}': parameters.binary_data_size ${preview(size, SHOWN_CHARS)} is invalid (allowed: an integer >= 0)`,
    );
  }
  if (input.data !== undefined) {
    throw bad(
      `input '${input.name}': has both 'data' and parameters.binary_data_size (allowed: one of them)`,
    );
  }
  return size;
}

/**
 * The bytes of each input object that has `binary_data_size`, in input order; the sizes must add
 * up to the whole binary section.
 */
function sliceBinaryInputs(inputs: readonly unknown[], binary: Uint8Array): Map<unknown, Uint8Array> {
  const slices = new Map<unknown, Uint8Array>();
  let offset = 0;
  for (const input of inputs) {
    if (!isRecord(input)) continue;
    const size = binaryDataSize(input as unknown as BinaryTensorHeader);
    if (size === undefined) continue;
    if (offset + size > binary.byteLength) {
      throw bad(
        `input '${String(input.name)}': parameters.binary_data_size ${size} runs past the end of the binary data (${binary.byteLength - offset} bytes left after the JSON header and the previous inputs)`,
      );
    }
    slices.set(input, binary.subarray(offset, offset + size));
    offset += size;
  }
  if (offset !== binary.byteLength) {
    throw bad(
      `the body has ${binary.byteLength} bytes after the JSON header but the inputs' binary_data_size add up to ${offset}`,
    );
  }
  return slices;
}

/**
 * The data of each input that has `binary_data_size`, as typed-array views over `binary` (a copy
 * only when an element would start at an unaligned address), keyed by input name, checked against
 * each declared shape and datatype.
 */
export function readBinaryInputs(
  inputs: readonly BinaryTensorHeader[],
  binary: Uint8Array,
): Map<string, BinaryTensorData> {
  const slices = sliceBinaryInputs(inputs, binary);
  return new Map(inputs.filter((i) => slices.has(i)).map((i) => [i.name, decodeTensor(i, slices.get(i)!)]));
}

function elementCount(tensor: BinaryTensorHeader): number {
  return tensor.shape.reduce((a, b) => a * b, 1);
}

/** One tensor's bytes as typed data: a view when aligned, strings for BYTES. */
export function decodeTensor(tensor: BinaryTensorHeader, bytes: Uint8Array): BinaryTensorData {
  if (!isV2Datatype(tensor.datatype)) {
    throw bad(
      `input '${tensor.name}': datatype '${tensor.datatype}' is not an Open Inference Protocol datatype`,
    );
  }
  if (!Array.isArray(tensor.shape) || !tensor.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw bad(
      `input '${tensor.name}': shape ${preview(tensor.shape, SHOWN_CHARS)} is invalid (allowed: integers >= 0)`,
    );
  }
  const count = elementCount(tensor);
  if (tensor.datatype === 'BYTES') return decodeBytes(tensor.name, bytes, count);
  const expected = count * ELEMENT_BYTES[tensor.datatype];
  if (bytes.byteLength !== expected) {
    throw bad(
      `input '${tensor.name}': binary_data_size ${bytes.byteLength} does not match shape ${preview(tensor.shape, SHOWN_CHARS)} of ${tensor.datatype} (expected ${expected} bytes)`,
    );
  }
  if (!LITTLE_ENDIAN) throw new Error('binary tensors need a little-endian host');
  // The array type onnxruntime-node expects for this datatype (FP16 as Uint16Array bits, BOOL as bytes).
  const View = allocate(tensor.datatype, 0).constructor as ViewCtor;
  const elementBytes = ELEMENT_BYTES[tensor.datatype];
  // An unaligned view is a RangeError; copy those bytes to a fresh (aligned) buffer instead
  // (`new Uint8Array(bytes)` copies; `Buffer#slice` would not).
  const aligned = bytes.byteOffset % elementBytes === 0 ? bytes : new Uint8Array(bytes);
  return new View(aligned.buffer, aligned.byteOffset, count);
}

function decodeBytes(name: string, bytes: Uint8Array, count: number): string[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const strings: string[] = [];
  let offset = 0;
  while (offset < bytes.byteLength) {
    if (offset + 4 > bytes.byteLength) {
      throw bad(`input '${name}': BYTES element ${strings.length} has a truncated 4-byte length prefix`);
    }
    const length = view.getUint32(offset, true);
    offset += 4;
    if (offset + length > bytes.byteLength) {
      throw bad(
        `input '${name}': BYTES element ${strings.length} declares ${length} bytes but only ${bytes.byteLength - offset} remain`,
      );
    }
    strings.push(Buffer.from(bytes.buffer, bytes.byteOffset + offset, length).toString('utf8'));
    offset += length;
  }
  if (strings.length !== count) {
    throw bad(
      `input '${name}': the binary data holds ${strings.length} BYTES elements, the shape needs ${count}`,
    );
  }
  return strings;
}

/** Bytes of one output tensor: a view over numeric data (no copy), length-prefixed elements for BYTES. */
export function encodeTensor(data: BinaryTensorData): Uint8Array {
  if (!Array.isArray(data)) {
    if (!LITTLE_ENDIAN) throw new Error('binary tensors need a little-endian host');
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  const parts = data.map((s) => Buffer.from(s, 'utf8'));
  const out = Buffer.allocUnsafe(parts.reduce((n, p) => n + 4 + p.byteLength, 0));
  let offset = 0;
  for (const p of parts) {
    out.writeUInt32LE(p.byteLength, offset);
    p.copy(out, offset + 4);
    offset += 4 + p.byteLength;
  }
  return out;
}

/** The fields of the request that decide whether an output goes back as binary. */
export interface BinaryOutputRequest {
  readonly parameters?: Readonly<Record<string, unknown>>;
  readonly outputs?: readonly {
    readonly name: string;
    readonly parameters?: Readonly<Record<string, unknown>>;
  }[];
}

/**
 * Whether the named output is returned as binary: its own `binary_data` parameter, else the
 * request's `binary_data_output`, else JSON.
 */
export function wantsBinaryOutput(request: BinaryOutputRequest, outputName: string): boolean {
  const own = request.outputs?.find((o) => o.name === outputName)?.parameters?.binary_data;
  if (own !== undefined) {
    if (typeof own !== 'boolean') {
      throw bad(
        `output '${outputName}': parameters.binary_data ${preview(own, SHOWN_CHARS)} is invalid (allowed: true or false)`,
      );
    }
    return own;
  }
  const all = request.parameters?.binary_data_output;
  if (all !== undefined && typeof all !== 'boolean') {
    throw bad(
      `parameters.binary_data_output ${preview(all, SHOWN_CHARS)} is invalid (allowed: true or false)`,
    );
  }
  return all === true;
}

/** A response output before encoding: JSON `data`, or `binary` bytes to append after the header. */
export interface EncodableOutput {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly number[];
  readonly parameters?: Record<string, unknown>;
  readonly data?: unknown;
  readonly binary?: Uint8Array;
}

/**
 * Encodes an inference response. Outputs with `binary` lose `data`, gain
 * `parameters.binary_data_size`, and their bytes follow the JSON header in output order; then the
 * response is application/octet-stream with `Inference-Header-Content-Length`. Otherwise plain JSON.
 */
export function encodeInferResponse<R extends { outputs: readonly EncodableOutput[] }>(
  response: R,
): EncodedResponse {
  return encodeWithBinary(response, 'outputs');
}

/** The same encoding for a request's inputs (clients, the benchmark and the tests send with it). */
export function encodeInferRequest<R extends { inputs: readonly EncodableOutput[] }>(
  request: R,
): EncodedResponse {
  return encodeWithBinary(request, 'inputs');
}

function encodeWithBinary(message: Record<string, unknown>, key: 'inputs' | 'outputs'): EncodedResponse {
  const blobs: Uint8Array[] = [];
  const tensors = (message[key] as readonly EncodableOutput[]).map((o) => {
    if (o.binary === undefined) return o;
    blobs.push(o.binary);
    const { binary, data: _data, ...rest } = o;
    return { ...rest, parameters: { ...o.parameters, binary_data_size: binary.byteLength } };
  });
  const json = JSON.stringify({ ...message, [key]: tensors });
  if (blobs.length === 0) {
    return { body: json, headers: { 'Content-Type': 'application/json' } };
  }
  const header = Buffer.from(json, 'utf8');
  return {
    body: Buffer.concat([header, ...blobs]),
    headers: {
      'Content-Type': BINARY_CONTENT_TYPE,
      [INFERENCE_HEADER_CONTENT_LENGTH]: String(header.byteLength),
    },
  };
}

/** Parses a binary-extension response (for clients and tests): the JSON header and each binary output's bytes. */
export function decodeInferResponse(
  body: Uint8Array,
  headerLength: string | null | undefined,
): {
  json: { outputs: BinaryTensorHeader[] } & Record<string, unknown>;
  binary: Map<string, BinaryTensorData>;
} {
  const { json, binary } = splitInferBody(body, headerLength);
  const parsed = JSON.parse(json) as { outputs: BinaryTensorHeader[] } & Record<string, unknown>;
  return { json: parsed, binary: readBinaryInputs(parsed.outputs ?? [], binary) };
}

/**
 * The binary tensor data extension as an infer codec: claims requests that carry
 * `Inference-Header-Content-Length`, validates the JSON header with the same rules as JSON
 * requests, reads binary inputs as views over the body, and answers the outputs that asked for
 * it (`binary_data`, `binary_data_output`) in binary.
 */
export const binaryCodec: InferCodec = {
  extension: 'binary_tensor_data',
  accepts: (headers) => headers.has(INFERENCE_HEADER_CONTENT_LENGTH),
  // The binary part follows the JSON header; an invalid header is reported by decode.
  tensorOffset: (headers) => Number(headers.get(INFERENCE_HEADER_CONTENT_LENGTH)) || undefined,
  decode(body, headers, signature) {
    const split = splitInferBody(body, headers.get(INFERENCE_HEADER_CONTENT_LENGTH));
    let json: unknown;
    try {
      json = JSON.parse(split.json);
    } catch (err) {
      throw bad(`malformed JSON in the request's JSON header: ${(err as Error).message}`);
    }
    const inputs = isRecord(json) && Array.isArray(json.inputs) ? (json.inputs as unknown[]) : [];
    const slices = sliceBinaryInputs(inputs, split.binary);
    const request = decodeRequestObject(json, signature, (input, header) => {
      const slice = slices.get(input);
      if (slice === undefined) return dataFromJson(header.spec.name, header, input.data);
      return decodeTensor(
        { name: header.spec.name, datatype: header.spec.datatype, shape: header.shape },
        slice,
      );
    });
    // Validate the output flags now, so a bad one is a 400 before any compute.
    for (const o of request.outputs) wantsBinaryOutput(request, o.name);
    return request;
  },
  encode(result, request) {
    const binaryNames = new Set(
      request.outputs.filter((o) => wantsBinaryOutput(request, o.name)).map((o) => o.name),
    );
    if (binaryNames.size === 0) return jsonCodec.encode(result, request);
    // Only the JSON outputs go through responseObject; binary ones are views over onnxruntime's output.
    const jsonPart = responseObject(
      {
        ...result,
        outputs: Object.fromEntries(Object.entries(result.outputs).filter(([n]) => !binaryNames.has(n))),
      },
      { ...request, outputs: request.outputs.filter((o) => !binaryNames.has(o.name)) },
    );
    const byName = new Map(jsonPart.outputs.map((o) => [o.name, o]));
    return encodeInferResponse({
      ...jsonPart,
      outputs: request.outputs.map((o) => {
        if (!binaryNames.has(o.name)) return byName.get(o.name)!;
        const tensor = result.outputs[o.name] as ort.Tensor;
        return {
          name: o.name,
          datatype: v2FromOrt(tensor.type) ?? tensor.type,
          shape: [...tensor.dims],
          binary: encodeTensor(tensor.data as TensorData),
        };
      }),
    });
  },
};
