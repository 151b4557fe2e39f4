import * as ort from 'onnxruntime-node';
import type { V2Datatype } from './datatypes.ts';
import { InvalidRequestError } from './errors.ts';
import { SHOWN_CHARS as SHOWN, preview } from './preview.ts';

/**
 * Triton's classification extension (third_party/oip/triton/docs/extension_classification.md): an
 * output requested with `parameters.classification: N` comes back as a BYTES tensor of the N
 * highest-valued classes, each `"<value>:<index>[:<label>]"`, shape [batch, N] for a model that
 * batches (dim 0 is the batch), [N] over the whole tensor otherwise. The value is written with six
 * decimals, as Triton's std::to_string does (`"15.346230:504:coffee mug"`).
 */

/** Output datatypes a classification can rank (FP16 travels as raw bits; BYTES and BOOL have no order). */
export const CLASSIFIABLE: readonly V2Datatype[] = [
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'FP32',
  'FP64',
];

/**
 * The class count an output's `classification` parameter asks for, checked against the output's
 * declared shape and datatype; undefined when the parameter is absent.
 */
export function classificationCount(
  output: { readonly name: string; readonly parameters: Record<string, unknown> },
  spec: { readonly datatype: V2Datatype; readonly shape: readonly number[] },
  batched: boolean,
): number | undefined {
  const count = output.parameters.classification;
  if (count === undefined) return undefined;
  const classDims = batched ? spec.shape.slice(1) : spec.shape;
  const classes = classDims.every((d) => d >= 0) ? classDims.reduce((a, b) => a * b, 1) : undefined;
  const range = classes === undefined ? 'an integer >= 1' : `an integer from 1 to ${classes} (its classes)`;
  if (
    !Number.isSafeInteger(count) ||
    (count as number) < 1 ||
    (classes !== undefined && (count as number) > classes)
  ) {
    throw new InvalidRequestError(
      `output '${output.name}': parameters.classification is ${preview(count, SHOWN)}; allowed: ${range}`,
    );
  }
  if (!CLASSIFIABLE.includes(spec.datatype)) {
    throw new InvalidRequestError(
      `output '${output.name}': parameters.classification is ${count}, but the output is ${spec.datatype}; allowed on ${CLASSIFIABLE.join(', ')} outputs`,
    );
  }
  return count as number;
}

/** The top `count` classes of each row of `tensor` as Triton's classification strings. */
export function classify(
  name: string,
  tensor: ort.Tensor,
  count: number,
  batched: boolean,
  labels?: readonly string[],
): ort.Tensor {
  const data = tensor.data as ArrayLike<number | bigint>;
  const rows = batched ? Number(tensor.dims[0] ?? 1) : 1;
  const classes = rows === 0 ? 0 : data.length / rows;
  if (count > classes) {
    throw new InvalidRequestError(
      `output '${name}': parameters.classification is ${count}; allowed: an integer from 1 to ${classes} (its classes)`,
    );
  }
  const out: string[] = [];
  const order = Array.from({ length: classes }, (_, i) => i);
  for (let r = 0; r < rows; r++) {
    const base = r * classes;
    const value = (i: number) => Number(data[base + i]);
    // Highest value first; equal values keep the lower index first (a stable sort).
    const top = order.slice().sort((a, b) => value(b) - value(a) || a - b);
    for (const i of top.slice(0, count)) {
      const label = labels?.[i];
      out.push(`${value(i).toFixed(6)}:${i}${label !== undefined ? `:${label}` : ''}`);
    }
  }
  return new ort.Tensor('string', out, batched ? [rows, count] : [count]);
}
