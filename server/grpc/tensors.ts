import type * as ort from 'onnxruntime-node';
import { decodeTensor, encodeTensor } from '../binary.ts';
import type { BodyPool } from '../body-pool.ts';
import { decodeRequestObject } from '../codec.ts';
import type { DecodedInferRequest } from '../inference-request.ts';
import {
  ELEMENT_BYTES,
  INTEGER_RANGES,
  allocate,
  v2FromOrt,
  type TensorData,
  type V2Datatype,
} from '../datatypes.ts';
import { InvalidRequestError } from '../errors.ts';
import type { ModelSignature } from '../signature.ts';
import type { CheckedHeader } from '../tensors.ts';
import { showShape } from '../tensors.ts';

/**
 * KServe V2 gRPC tensors (grpc_service.proto ModelInferRequest/ModelInferResponse) to and from the
 * core's tensors. A request is turned into the object form REST decodes (name, datatype, shape,
 * parameters of each input; outputs; parameters), so both protocols validate with the same rules
 * and the same messages (codec.ts decodeRequestObject); only where the data comes from differs:
 * `raw_input_contents` (one entry per input, in order, little-endian, BYTES elements 4-byte length
 * prefixed as Triton's binary extension) or each input's typed `contents`.
 */

/** InferParameter as proto-loader gives it (oneofs: true, longs: String). */
export interface InferParameterMessage {
  readonly parameter_choice?: string;
  readonly bool_param?: boolean;
  readonly int64_param?: string;
  readonly string_param?: string;
  readonly double_param?: number;
  readonly uint64_param?: string;
}

type Parameters = Record<string, InferParameterMessage>;

/** InferTensorContents: one repeated field per family of datatypes. */
export interface TensorContentsMessage {
  readonly bool_contents?: boolean[];
  readonly int_contents?: number[];
  readonly int64_contents?: string[];
  readonly uint_contents?: number[];
  readonly uint64_contents?: string[];
  readonly fp32_contents?: number[];
  readonly fp64_contents?: number[];
  readonly bytes_contents?: Uint8Array[];
}

export interface InferInputMessage {
  readonly name: string;
  readonly datatype: string;
  readonly shape: readonly string[];
  readonly parameters?: Parameters;
  readonly contents?: TensorContentsMessage | null;
}

export interface ModelInferRequestMessage {
  readonly model_name: string;
  readonly model_version: string;
  readonly id: string;
  readonly parameters?: Parameters;
  readonly inputs: readonly InferInputMessage[];
  readonly outputs: readonly { readonly name: string; readonly parameters?: Parameters }[];
  readonly raw_input_contents: readonly Uint8Array[];
}

/** A parameter's value as the JSON form has it (int64 as a number where it is exact, else its text). */
function parameterValue(p: InferParameterMessage): unknown {
  switch (p.parameter_choice) {
    case 'bool_param':
      return p.bool_param;
    case 'int64_param':
    case 'uint64_param': {
      const text = p[p.parameter_choice]!;
      const n = Number(text);
      return Number.isSafeInteger(n) ? n : text;
    }
    case 'double_param':
      return p.double_param;
    case 'string_param':
      return p.string_param;
    default:
      return undefined;
  }
}

export function plainParameters(map: Parameters | undefined): Record<string, unknown> {
  return Object.fromEntries(Object.entries(map ?? {}).map(([k, v]) => [k, parameterValue(v)]));
}

/** The typed-contents field that carries each datatype (grpc_service.proto InferTensorContents). */
const CONTENTS_FIELD: Record<V2Datatype, keyof TensorContentsMessage | undefined> = {
  BOOL: 'bool_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  FP16: undefined,
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  BYTES: 'bytes_contents',
};
const FIELDS = Object.keys({
  bool_contents: 0,
  int_contents: 0,
  int64_contents: 0,
  uint_contents: 0,
  uint64_contents: 0,
  fp32_contents: 0,
  fp64_contents: 0,
  bytes_contents: 0,
} satisfies Record<keyof TensorContentsMessage, 0>) as (keyof TensorContentsMessage)[];

const decoder = new TextDecoder('utf-8', { fatal: false });

/** An input's typed `contents` as the tensor's buffer, checked against its datatype and shape. */
function fromContents(
  name: string,
  header: CheckedHeader,
  contents: TensorContentsMessage | null | undefined,
): TensorData {
  const { datatype } = header.spec;
  const field = CONTENTS_FIELD[datatype];
  const used = FIELDS.filter((f) => (contents?.[f]?.length ?? 0) > 0);
  const wrong = used.filter((f) => f !== field);
  if (field === undefined)
    throw new InvalidRequestError(
      `input '${name}': ${datatype} has no typed contents field; allowed: its bytes in raw_input_contents`,
    );
  if (wrong.length > 0)
    throw new InvalidRequestError(
      `input '${name}': contents.${wrong[0]} is set, but the input is ${datatype}; allowed: contents.${field} (or raw_input_contents)`,
    );
  const values = (contents?.[field] ?? []) as readonly (number | boolean | string | Uint8Array)[];
  if (values.length !== header.elements)
    throw new InvalidRequestError(
      `input '${name}': contents.${field} has ${values.length} elements; shape ${showShape(header.shape)} needs ${header.elements}`,
    );
  const out = allocate(datatype, header.elements);
  const range = INTEGER_RANGES[datatype];
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (datatype === 'BYTES') (out as string[])[i] = decoder.decode(v as Uint8Array);
    else if (datatype === 'BOOL') (out as Uint8Array)[i] = v ? 1 : 0;
    else if (datatype === 'INT64' || datatype === 'UINT64') (out as BigInt64Array)[i] = BigInt(v as string);
    else {
      // int_contents and uint_contents are 32-bit: the narrower types must be within their range.
      if (range && ((v as number) < Number(range[0]) || (v as number) > Number(range[1])))
        throw new InvalidRequestError(
          `input '${name}': contents.${field}[${i}] is ${String(v)}; allowed for ${datatype}: ${range[0]} to ${range[1]}`,
        );
      (out as Float32Array)[i] = v as number;
    }
  }
  return out;
}

/**
 * Where unaligned `raw_input_contents` are copied: buffers from `pool`, each listed in `taken` for
 * the caller to release once the call is over (nothing views its inputs then).
 */
export interface AlignedCopies {
  readonly pool: BodyPool;
  readonly taken: Uint8Array[];
}

/**
 * An input's `raw_input_contents` entry as the tensor's buffer: a view where aligned, else a copy.
 * protobufjs hands each entry as a view of grpc-js's message buffer, at whatever offset the
 * message put it (a squeezenet image: never a multiple of 4), so numeric inputs are copied; into a
 * pooled buffer when `copies` is given, as REST's bodies are (body-pool.ts): a fresh 602 KB buffer
 * per call was most of gRPC's extra garbage collection (BENCHMARKS.md, "gRPC input copies").
 */
function fromRaw(
  name: string,
  index: number,
  header: CheckedHeader,
  bytes: Uint8Array,
  copies?: AlignedCopies,
): TensorData {
  const { datatype } = header.spec;
  if (datatype !== 'BYTES') {
    const expected = header.elements * ELEMENT_BYTES[datatype];
    if (bytes.byteLength !== expected)
      throw new InvalidRequestError(
        `input '${name}': raw_input_contents[${index}] has ${bytes.byteLength} bytes; shape ${showShape(header.shape)} of ${datatype} needs ${expected}`,
      );
    if (copies && bytes.byteOffset % ELEMENT_BYTES[datatype] !== 0) {
      const copy = copies.pool.acquire(bytes.byteLength, 0);
      copy.set(bytes);
      copies.taken.push(copy);
      bytes = copy;
    }
  }
  return decodeTensor({ name, datatype, shape: header.shape }, bytes);
}

/** Validates a ModelInferRequest against the model, with REST's rules and messages. */
export function decodeGrpcRequest(
  msg: ModelInferRequestMessage,
  signature: ModelSignature,
  copies?: AlignedCopies,
): DecodedInferRequest {
  const raw = msg.raw_input_contents ?? [];
  const inputs = msg.inputs ?? [];
  if (raw.length > 0) {
    if (raw.length !== inputs.length)
      throw new InvalidRequestError(
        `raw_input_contents has ${raw.length} entries; the request has ${inputs.length} inputs (allowed: one entry per input, in the inputs' order, or none)`,
      );
    const typed = inputs.find((i) => FIELDS.some((f) => (i.contents?.[f]?.length ?? 0) > 0));
    if (typed)
      throw new InvalidRequestError(
        `input '${typed.name}': has contents as well as raw_input_contents (allowed: one of them for all inputs)`,
      );
  }
  const objects = inputs.map((i) => ({
    name: i.name,
    datatype: i.datatype,
    // int64 dims come as text; one beyond 2^53 stays a string, which the shape check refuses.
    shape: (i.shape ?? []).map((d) => (Number.isSafeInteger(Number(d)) ? Number(d) : d)),
    parameters: plainParameters(i.parameters),
  }));
  const index = new Map(objects.map((o, i) => [o as unknown, i]));
  const json = {
    ...(msg.id !== '' && { id: msg.id }),
    parameters: plainParameters(msg.parameters),
    inputs: objects,
    ...((msg.outputs ?? []).length > 0 && {
      outputs: msg.outputs.map((o) => ({ name: o.name, parameters: plainParameters(o.parameters) })),
    }),
  };
  return decodeRequestObject(json, signature, (input, header) => {
    const i = index.get(input)!;
    return raw.length > 0
      ? fromRaw(header.spec.name, i, header, raw[i]!, copies)
      : fromContents(header.spec.name, header, inputs[i]!.contents);
  });
}

/**
 * The response: every output's bytes in raw_output_contents, in the requested order (as Triton
 * answers gRPC; tritonclient reads them with as_numpy).
 */
export function encodeGrpcResponse(
  modelName: string,
  modelVersion: string,
  request: DecodedInferRequest,
  outputs: Record<string, ort.Tensor>,
) {
  const tensors = request.outputs.map((o) => outputs[o.name]!);
  return {
    model_name: modelName,
    model_version: modelVersion,
    id: request.id ?? '',
    outputs: request.outputs.map((o, i) => {
      const t = tensors[i]!;
      return { name: o.name, datatype: v2FromOrt(t.type) ?? t.type, shape: t.dims.map(String) };
    }),
    raw_output_contents: tensors.map((t) => {
      const bytes = encodeTensor(t.data as TensorData);
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }),
  };
}
