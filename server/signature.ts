import type { V2Datatype } from './datatypes.ts';

/** A tensor as the protocol's metadata describes it; -1 marks a dynamic dimension. */
export interface TensorSpec {
  readonly name: string;
  readonly datatype: V2Datatype;
  readonly shape: readonly number[];
}

/** What a request is validated against. */
export interface ModelSignature {
  readonly inputs: readonly TensorSpec[];
  readonly outputs: readonly TensorSpec[];
  /** dim 0 of every input and output is dynamic: requests may carry several rows (and be batched). */
  readonly batchable: boolean;
  /** Largest dim 0 accepted; 0 = no limit. */
  readonly maxBatchSize: number;
}
