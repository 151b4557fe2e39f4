import * as ort from 'onnxruntime-node';
import {
  INTEGER_RANGES,
  allocate,
  fromFloat16Bits,
  isV2Datatype,
  toFloat16Bits,
  v2FromOrt,
  type TensorData,
  type V2Datatype,
} from './datatypes.ts';
import { checkBatchSize } from './batch-limits.ts';
import { InvalidRequestError } from './errors.ts';
import { isRecord, preview } from './preview.ts';
import type { ModelSignature, TensorSpec } from './signature.ts';

/** Declared shape as text, -1 for dynamic dims. */
export const showShape = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

const show = (value: unknown): string => preview(value, 60);

/** A request tensor's name, datatype and shape, checked against the model. */
export interface CheckedHeader {
  readonly spec: TensorSpec;
  readonly shape: readonly number[];
  readonly elements: number;
}

/**
 * Checks name, datatype and shape of `inputs[index]` (of the JSON body or a binary request's JSON
 * header) against the model; every message names the tensor, what was expected and what came.
 */
export function checkInputHeader(input: unknown, index: number, signature: ModelSignature): CheckedHeader {
  const at = `inputs[${index}]`;
  if (!isRecord(input)) {
    throw new InvalidRequestError(
      `${at} is ${show(input)}; expected an object {name, shape, datatype, data}`,
    );
  }
  const { name, datatype, shape } = input;
  if (typeof name !== 'string')
    throw new InvalidRequestError(`${at}.name is ${show(name)}; expected a string`);
  const spec = signature.inputs.find((s) => s.name === name);
  if (!spec) {
    const names = signature.inputs.map((s) => s.name).join(', ');
    throw new InvalidRequestError(`input '${name}' is not an input of this model; inputs: ${names}`);
  }
  if (!isV2Datatype(datatype)) {
    throw new InvalidRequestError(
      `input '${name}': datatype ${show(datatype)} is not a protocol datatype; expected ${spec.datatype}`,
    );
  }
  if (datatype !== spec.datatype) {
    throw new InvalidRequestError(
      `input '${name}': datatype ${datatype} does not match the model's ${spec.datatype}`,
    );
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new InvalidRequestError(
      `input '${name}': shape ${show(shape)} is not an array of non-negative integers; expected ${showShape(spec.shape)} (-1: any size)`,
    );
  }
  if (
    shape.length !== spec.shape.length ||
    shape.some((d, i) => spec.shape[i] !== -1 && d !== spec.shape[i])
  ) {
    throw new InvalidRequestError(
      `input '${name}': shape ${showShape(shape)} does not match the model's ${showShape(spec.shape)} (-1: any size)`,
    );
  }
  if (signature.batchable && signature.maxBatchSize > 0)
    checkBatchSize(name, shape[0]!, signature.maxBatchSize);
  const elements = shape.reduce((a: number, b: number) => a * b, 1);
  return { spec, shape, elements };
}

/** A JSON number that the datatype cannot hold: it would become ±Infinity. */
const OVERFLOW = Symbol('overflow');
type Convert = (value: unknown) => number | bigint | string | typeof OVERFLOW | undefined;

/** Largest finite value of each float type: JSON numbers beyond it (after rounding) overflow to ±Infinity. */
const FLOAT_MAX: Partial<Record<V2Datatype, number>> = {
  FP16: 65504,
  FP32: 3.4028234663852886e38,
  FP64: Number.MAX_VALUE,
};

function converter(datatype: V2Datatype): Convert {
  const range = INTEGER_RANGES[datatype];
  switch (datatype) {
    // JSON has no Infinity or NaN: a value that becomes one did not fit (1e39 as FP32, 1e400 parses
    // to Infinity), and would be computed on as Infinity and answered as null.
    case 'FP32':
      return (v) => (typeof v === 'number' ? (Number.isFinite(Math.fround(v)) ? v : OVERFLOW) : undefined);
    case 'FP64':
      return (v) => (typeof v === 'number' ? (Number.isFinite(v) ? v : OVERFLOW) : undefined);
    case 'FP16':
      return (v) => {
        if (typeof v !== 'number') return undefined;
        const bits = toFloat16Bits(v);
        return (bits & 0x7c00) === 0x7c00 ? OVERFLOW : bits;
      };
    case 'BOOL':
      return (v) => (typeof v === 'boolean' ? (v ? 1 : 0) : undefined);
    case 'BYTES':
      return (v) => (typeof v === 'string' ? v : undefined);
    case 'INT64':
    case 'UINT64':
      return (v) =>
        typeof v === 'number' && Number.isInteger(v) && BigInt(v) >= range![0] && BigInt(v) <= range![1]
          ? BigInt(v)
          : undefined;
    default: {
      const [lo, hi] = [Number(range![0]), Number(range![1])];
      return (v) => (typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi ? v : undefined);
    }
  }
}

const EXPECTED: Record<V2Datatype, string> = {
  BOOL: 'booleans',
  BYTES: 'strings',
  FP16: 'numbers',
  FP32: 'numbers',
  FP64: 'numbers',
  UINT8: 'integers from 0 to 255',
  UINT16: 'integers from 0 to 65535',
  UINT32: 'integers from 0 to 4294967295',
  UINT64: 'integers from 0 to 2^64-1',
  INT8: 'integers from -128 to 127',
  INT16: 'integers from -32768 to 32767',
  INT32: 'integers from -2^31 to 2^31-1',
  INT64: 'integers from -2^63 to 2^63-1',
};

/**
 * Converts a JSON `data` array (flat, or nested up to the tensor's rank) into the tensor's buffer.
 * The elements are counted first: the buffer is allocated only for data that fills the shape, so a
 * shape of 10^12 elements with two values is a 400, not an allocation (a RangeError, 500).
 */
export function dataFromJson(name: string, header: CheckedHeader, data: unknown): TensorData {
  const { datatype } = header.spec;
  if (!Array.isArray(data)) {
    throw new InvalidRequestError(
      `input '${name}': data is ${show(data)}; expected an array of ${EXPECTED[datatype]}`,
    );
  }
  const maxDepth = Math.max(header.shape.length, 1);
  // Recursion only as deep as the tensor's rank: deeper data is refused.
  const walk = (items: unknown[], depth: number, leaf: (item: unknown) => void): void => {
    for (const item of items) {
      if (!Array.isArray(item)) leaf(item);
      else if (depth < maxDepth) walk(item, depth + 1, leaf);
      else
        throw new InvalidRequestError(
          `input '${name}': data is nested deeper than its shape ${showShape(header.shape)}`,
        );
    }
  };
  let n = 0;
  walk(data, 1, () => n++);
  if (n !== header.elements) {
    throw new InvalidRequestError(
      `input '${name}': shape ${showShape(header.shape)} needs ${header.elements} elements, data has ${n}`,
    );
  }
  const out = allocate(datatype, header.elements);
  const convert = converter(datatype);
  n = 0;
  walk(data, 1, (item) => {
    const value = convert(item);
    if (value === OVERFLOW) {
      throw new InvalidRequestError(
        `input '${name}': data element ${n} is ${String(item)}, beyond ${datatype}'s largest finite value ${FLOAT_MAX[datatype]!} (allowed: ${datatype} numbers from -${FLOAT_MAX[datatype]!} to ${FLOAT_MAX[datatype]!})`,
      );
    }
    if (value === undefined) {
      throw new InvalidRequestError(
        `input '${name}': data element ${n} is ${show(item)}; expected ${datatype} ${EXPECTED[datatype]}`,
      );
    }
    (out as unknown as (number | bigint | string)[])[n++] = value;
  });
  return out;
}

/** A response tensor as JSON: the protocol's `response_output` with flat data. */
export interface JsonOutput {
  name: string;
  datatype: V2Datatype;
  shape: number[];
  data: (number | boolean | string)[];
}

export function tensorToJson(name: string, tensor: ort.Tensor): JsonOutput {
  const datatype = v2FromOrt(tensor.type);
  if (!datatype)
    throw new Error(`output '${name}' has onnxruntime type ${tensor.type}, which the protocol cannot carry`);
  const src = tensor.data as TensorData;
  let data: (number | boolean | string)[];
  if (datatype === 'BOOL') data = Array.from(src as Uint8Array, (v) => v !== 0);
  else if (datatype === 'FP16') data = Array.from(src as Uint16Array, fromFloat16Bits);
  else if (datatype === 'INT64' || datatype === 'UINT64') {
    // JSON numbers are doubles: 64-bit integers beyond 2^53 lose precision (binary tensors do not).
    data = Array.from(src as BigInt64Array, (v) => Number(v));
  } else data = Array.from(src as ArrayLike<number | string>);
  return { name, datatype, shape: tensor.dims.map(Number), data };
}
