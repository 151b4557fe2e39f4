import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeInferRequest, encodeTensor } from '../binary.ts';

/**
 * The request bodies the benchmarks send, written once to `dir` for hey: one 1x3x224x224 FP32
 * image as binary tensors (Triton's extension, output asked in binary) and as JSON tensors, and one
 * MLP row as JSON. The pixels are pseudo-random with a fixed seed: every run sends the same bytes.
 */
export function payloads(dir: string) {
  let seed = 12345;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  // Six decimals, like a normalized 8-bit image: the JSON body is the ~1.3 MB the issue quotes.
  const pixels = Array.from({ length: 3 * 224 * 224 }, () => Math.round(random() * 4e6 - 2e6) / 1e6);
  const shape = [1, 3, 224, 224];
  const binary = encodeInferRequest({
    inputs: [{ name: 'input', datatype: 'FP32', shape, binary: encodeTensor(new Float32Array(pixels)) }],
    outputs: [{ name: 'output', parameters: { binary_data: true } }],
  });
  const json = JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape, data: pixels }] });
  const mlp = JSON.stringify({
    inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], data: Array.from({ length: 16 }, random) }],
  });
  const files = {
    binary: join(dir, 'image.bin'),
    json: join(dir, 'image.json'),
    mlp: join(dir, 'mlp.json'),
  };
  writeFileSync(files.binary, binary.body);
  writeFileSync(files.json, json);
  writeFileSync(files.mlp, mlp);
  return { files, binary, jsonBytes: Buffer.byteLength(json) };
}
