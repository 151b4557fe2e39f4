import type * as ort from 'onnxruntime-node';
import { classificationCount, classify } from './classification.ts';
import type { ModelVersion } from './model.ts';

export interface RequestedOutput {
  readonly name: string;
  readonly parameters: Record<string, unknown>;
}

/** An inference request after decoding and validation: tensors ready for the scheduler. */
export interface DecodedInferRequest {
  readonly id?: string;
  readonly parameters: Record<string, unknown>;
  readonly inputs: Record<string, ort.Tensor>;
  /** The outputs to compute and return, in the order requested (all of the model's when none were). */
  readonly outputs: readonly RequestedOutput[];
  /** From the request parameter `timeout` (microseconds, Triton's name). */
  readonly queueTimeoutMs?: number;
}

/**
 * One decoded inference request through the inference core, the same for every protocol: the
 * classification parameters checked before the request is queued, the version's scheduler (its
 * batcher, limits and statistics), then the classified outputs. `onQueued` runs once the request
 * is checked and about to be queued (the front ends count it in flight from there).
 */
export async function runInference(
  version: ModelVersion,
  request: DecodedInferRequest,
  onQueued: () => void,
): Promise<Record<string, ort.Tensor>> {
  // Triton's classification extension: checked before the request is queued.
  const { signature } = version;
  const batched = signature.batchable && signature.maxBatchSize > 0;
  const classified = request.outputs.flatMap((o) => {
    const spec = signature.outputs.find((s) => s.name === o.name)!;
    const count = classificationCount(o, spec, batched);
    return count === undefined ? [] : [{ name: o.name, count }];
  });
  onQueued();
  const outputs = await version.infer({
    inputs: request.inputs,
    outputNames: request.outputs.map((o) => o.name),
    ...(request.queueTimeoutMs !== undefined && { queueTimeoutMs: request.queueTimeoutMs }),
  });
  for (const { name, count } of classified)
    outputs[name] = classify(name, outputs[name]!, count, batched, version.labels.get(name));
  return outputs;
}
