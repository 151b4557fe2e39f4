import * as ort from 'onnxruntime-node';
import { V2_TO_ORT, type TensorData, type V2Datatype } from './datatypes.ts';

/**
 * An onnxruntime tensor of a V2 datatype over `data` (no copy). The core builds its warm-up feeds
 * with it and the protocol decoders their request tensors, so it lives below both.
 */
export function makeTensor(datatype: V2Datatype, data: TensorData, dims: readonly number[]): ort.Tensor {
  // The overloads of the Tensor constructor pair each type name with its array type; `allocate`
  // and the decoders guarantee that pairing.
  return new ort.Tensor(V2_TO_ORT[datatype] as 'float32', data as Float32Array, dims);
}
