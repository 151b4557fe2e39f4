/**
 * Measures a model's batch cost with the real onnxruntime-node and writes a capacity file for
 * `npm run plan -- --capacity FILE.json`:
 *
 *   npx tsx planner/cli/measure-capacity.ts --model server/models/squeezenet1_1/1/model.onnx \
 *     [--batches 1,2,4,8] [--runs 20] [--out capacity.json]
 *
 * Each batch size runs `runs` times after two warm-up runs on random inputs; the median time per
 * batch size is recorded, and the planner fits `fixed + perItem * batch` to them. Only the model's
 * compute is measured (HTTP, decoding and queueing are the simulator's business).
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { capacityFromFile, podCapacity, resolveCapacity, type BatchTiming } from '../sim/capacity.ts';

function fail(message: string): never {
  process.stderr.write(`measure-capacity: ${message}\n`);
  process.exit(2);
}

function feedFor(session: ort.InferenceSession, batch: number): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const meta of session.inputMetadata) {
    if (!meta.isTensor || meta.type !== 'float32')
      fail(`input ${meta.name}: only float32 tensor inputs are supported`);
    // The first dimension is the batch; other symbolic dimensions are taken as 1.
    const shape = meta.shape.map((d, i) => (i === 0 ? batch : typeof d === 'number' && d > 0 ? d : 1));
    const size = shape.reduce((a, b) => a * b, 1);
    feeds[meta.name] = new ort.Tensor(
      'float32',
      Float32Array.from({ length: size }, () => Math.random()),
      shape,
    );
  }
  return feeds;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      batches: { type: 'string', default: '1,2,4,8' },
      runs: { type: 'string', default: '20' },
      out: { type: 'string' },
    },
  });
  if (!values.model) fail('--model PATH.onnx is required');
  const batches = values.batches.split(',').map(Number);
  if (batches.some((b) => !Number.isInteger(b) || b < 1))
    fail(`--batches: ${JSON.stringify(values.batches)} must be integers >= 1, comma-separated`);
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1)
    fail(`--runs: ${JSON.stringify(values.runs)} must be an integer >= 1`);
  const session = await ort.InferenceSession.create(values.model);
  const timings: BatchTiming[] = [];
  for (const batch of batches) {
    const feeds = feedFor(session, batch);
    for (let i = 0; i < 2; i++) await session.run(feeds);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      const start = process.hrtime.bigint();
      await session.run(feeds);
      times.push(Number(process.hrtime.bigint() - start) / 1e9);
    }
    times.sort((a, b) => a - b);
    timings.push({ batch, seconds: times[Math.floor(times.length / 2)] });
  }
  await session.release();
  const file = {
    source: `onnxruntime-node ${ort.env.versions.node ?? ''} CPU, ${values.model}, median of ${runs} runs`,
    machine: `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`,
    date: new Date().toISOString(),
    batchTimings: timings,
  };
  const model = resolveCapacity(capacityFromFile(file, 'measured'));
  const text = JSON.stringify(file, null, 2) + '\n';
  if (values.out) writeFileSync(values.out, text);
  process.stdout.write(text);
  process.stdout.write(
    `fit: ${(model.batchFixedSeconds * 1000).toFixed(2)} ms + ${(model.batchPerItemSeconds * 1000).toFixed(2)} ms/request; ` +
      `at most ${podCapacity(model).toFixed(0)} req/s per pod with batches of ${model.maxBatchSize}\n`,
  );
}

await main();
