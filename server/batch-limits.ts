import { InvalidRequestError } from './errors.ts';

/**
 * The batch limits of a model, checked in one place with one message for every protocol: the
 * REST and gRPC decoders check them on the request's declared shapes (before any data is read),
 * the dynamic batcher again on the tensors it is handed (a scheduler can be called directly).
 */

/** A request with more rows than the model's max batch size (Triton answers 400). */
export class BatchTooLargeError extends InvalidRequestError {
  constructor(tensor: string, rows: number, maxBatchSize: number) {
    super(
      `input '${tensor}': batch size ${rows} exceeds the model's max_batch_size ${maxBatchSize} (allowed: 1..${maxBatchSize})`,
    );
  }
}

/** The inputs of one request disagree on the batch dimension, or one has no batch dimension. */
export class BatchShapeError extends InvalidRequestError {}

/** Throws BatchTooLargeError when `rows` (input `tensor`'s first dimension) exceeds `maxBatchSize`. */
export function checkBatchSize(tensor: string, rows: number, maxBatchSize: number): void {
  if (rows > maxBatchSize) throw new BatchTooLargeError(tensor, rows, maxBatchSize);
}

/** Throws BatchShapeError when input `tensor`'s batch dimension differs from the first input's. */
export function checkSameBatch(
  tensor: string,
  rows: number,
  first: { readonly name: string; readonly rows: number },
): void {
  if (rows !== first.rows) {
    throw new BatchShapeError(
      `input '${tensor}': batch dimension ${rows} differs from input '${first.name}' (${first.rows}); all inputs must have the same first dimension`,
    );
  }
}
