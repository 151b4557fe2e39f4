/**
 * What a real client's inference is compared with: onnxruntime's own run (onnxruntime-node, the
 * runtime the server embeds, called directly) of a bundled model file on the reference input in
 * server/reference/, the same input the client scripts send.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { bundledModels, repoRoot } from '../server/helpers.ts';

export const referenceDir = join(repoRoot, 'server', 'reference');

/** onnxruntime's own run of the model file on the reference input the script sent. */
export async function onnxruntimeOutput(
  model: string,
): Promise<{ dims: readonly number[]; data: Float32Array }> {
  const meta = JSON.parse(readFileSync(join(referenceDir, model, 'reference.json'), 'utf8'));
  const bytes = readFileSync(join(referenceDir, model, meta.input.file));
  const input = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const session = await ort.InferenceSession.create(join(bundledModels, model, '1', 'model.onnx'));
  try {
    const out = await session.run({ [meta.input.name]: new ort.Tensor('float32', input, meta.input.shape) });
    const tensor = out[meta.output.name]!;
    return { dims: tensor.dims, data: tensor.data as Float32Array };
  } finally {
    await session.release();
  }
}

/** The largest absolute difference between onnxruntime's output and a client's, element by element. */
export function maxAbsDiff(expected: Float32Array, got: readonly number[]): number {
  let max = 0;
  expected.forEach((v, i) => (max = Math.max(max, Math.abs(v - got[i]!))));
  return max;
}
