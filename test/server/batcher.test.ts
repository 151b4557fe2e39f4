import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_CONFIG } from '../../server/config.ts';
import { createLogger } from '../../server/logger.ts';
import { InferenceFailedError } from '../../server/errors.ts';
import { BatchShapeError, BatchTooLargeError } from '../../server/batch-limits.ts';
import {
  createDynamicBatcher,
  DynamicBatcher,
  QueueFullError,
  SchedulerClosedError,
} from '../../server/batcher.ts';
import type { BatchInstance } from '../../server/worker-instance.ts';
import { QueueTimeoutError } from '../../server/errors.ts';
import type { SchedulerContext } from '../../server/scheduling.ts';

const modelPath = (name: string) =>
  fileURLToPath(new URL(`../../server/models/${name}/1/model.onnx`, import.meta.url));
const DYNAMIC = fileURLToPath(new URL('./fixtures/dynamic.onnx', import.meta.url));

/** Deterministic pseudo-random floats so that every request differs from the others. */
function randomFloats(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 0xffffffff) * 2 - 1;
  }
  return out;
}

/** Records every batch a real session executes. */
class Recording implements BatchInstance {
  readonly batches: number[][][] = [];
  constructor(private readonly session: ort.InferenceSession) {}
  run(feeds: Record<string, ort.Tensor>, fetches: string[]) {
    this.batches.push(Object.values(feeds).map((t) => [...t.dims]));
    return this.session.run(feeds, fetches);
  }
}

function expectClose(actual: ort.Tensor, expected: ort.Tensor) {
  expect(actual.dims).toEqual(expected.dims);
  const a = actual.data as Float32Array;
  const e = expected.data as Float32Array;
  expect(a.length).toBe(e.length);
  let maxDiff = 0;
  for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - e[i]));
  expect(maxDiff).toBeLessThan(1e-4);
}

/** A worker-thread batcher's context for the dynamic fixture (y = 2x + 1), batches of 4. */
const workerContext = (sizes?: number[]): SchedulerContext => ({
  model: 'dynamic',
  version: '1',
  sessions: async () => [],
  config: {
    ...DEFAULT_MODEL_CONFIG,
    max_batch_size: 8,
    instances: 2,
    dynamic_batching: {
      max_queue_delay_microseconds: 20_000,
      preferred_batch_size: [4],
      max_queue_size: 16,
      default_queue_timeout_microseconds: 0,
    },
  },
  batchable: true,
  hooks: {
    observeQueue: () => {},
    observeCompute: () => {},
    observeBatch: (n) => sizes?.push(n),
    setQueueDepth: () => {},
  },
  logger: createLogger('silent'),
  file: DYNAMIC,
  provider: 'cpu',
});

describe('DynamicBatcher with real onnxruntime sessions', () => {
  let squeezenet: ort.InferenceSession;
  let mlp: ort.InferenceSession;
  let dynamic: ort.InferenceSession;

  beforeAll(async () => {
    squeezenet = await ort.InferenceSession.create(modelPath('squeezenet1_1'), { intraOpNumThreads: 1 });
    mlp = await ort.InferenceSession.create(modelPath('mlp'), { intraOpNumThreads: 1 });
    dynamic = await ort.InferenceSession.create(DYNAMIC, { intraOpNumThreads: 1 });
  });
  afterAll(async () => {
    await Promise.all([squeezenet?.release(), mlp?.release(), dynamic?.release()]);
  });

  it('batches concurrent squeezenet requests and gives each the output of its own unbatched run', async () => {
    const recording = new Recording(squeezenet);
    const sizes: number[] = [];
    const queueTimes: number[] = [];
    const batcher = new DynamicBatcher([recording], {
      maxBatchSize: 8,
      maxQueueDelayMicroseconds: 2_000_000,
      preferredBatchSizes: [4],
      metrics: { observeBatch: (n) => sizes.push(n), observeQueue: (s) => queueTimes.push(s) },
    });
    const rows = [1, 2, 1];
    const inputs = rows.map(
      (r, i) => new ort.Tensor('float32', randomFloats(r * 3 * 224 * 224, i + 1), [r, 3, 224, 224]),
    );
    const results = await Promise.all(
      inputs.map((input) => batcher.infer({ inputs: { input }, outputNames: ['output'] })),
    );
    // The three requests (4 rows, the preferred size) went as one batch without waiting 2 s.
    expect(recording.batches).toEqual([[[4, 3, 224, 224]]]);
    expect(sizes).toEqual([4]);
    expect(queueTimes).toHaveLength(3);
    expect(Math.max(...queueTimes)).toBeLessThan(1);
    for (const [i, input] of inputs.entries()) {
      const alone = await squeezenet.run({ input });
      expectClose(results[i].output, alone.output as ort.Tensor);
    }
    await batcher.close();
  });

  it('dispatches after max_queue_delay when the preferred size is not reached', async () => {
    const recording = new Recording(mlp);
    const batcher = new DynamicBatcher([recording], {
      maxBatchSize: 16,
      maxQueueDelayMicroseconds: 30_000,
      preferredBatchSizes: [16],
    });
    const inputs = [0, 1, 2].map((i) => new ort.Tensor('float32', randomFloats(16, 100 + i), [1, 16]));
    const started = performance.now();
    const results = await Promise.all(
      inputs.map((input) => batcher.infer({ inputs: { input }, outputNames: ['output'] })),
    );
    const waited = performance.now() - started;
    expect(waited).toBeGreaterThanOrEqual(29);
    expect(recording.batches).toEqual([[[3, 16]]]);
    for (const [i, input] of inputs.entries()) {
      expectClose(results[i].output, (await mlp.run({ input })).output as ort.Tensor);
    }
    await batcher.close();
  });

  it('never mixes requests whose non-batch dimensions differ', async () => {
    const recording = new Recording(dynamic);
    const batcher = new DynamicBatcher([recording], {
      maxBatchSize: 8,
      maxQueueDelayMicroseconds: 20_000,
    });
    const shapes = [
      [1, 3],
      [2, 5],
      [2, 3],
      [1, 5],
      [1, 7],
    ];
    const inputs = shapes.map(
      (dims, i) => new ort.Tensor('float32', randomFloats(dims[0] * dims[1], 7 + i), dims),
    );
    const results = await Promise.all(
      inputs.map((x) => batcher.infer({ inputs: { x }, outputNames: ['y'] })),
    );
    const executed = recording.batches.map((b) => b[0]).sort((a, b) => a[1] - b[1]);
    expect(executed).toEqual([
      [3, 3],
      [3, 5],
      [1, 7],
    ]);
    for (const [i, x] of inputs.entries()) {
      const y = results[i].y;
      expect(y.dims).toEqual(x.dims);
      const xs = x.data as Float32Array;
      expect(Array.from(y.data as Float32Array)).toEqual(Array.from(xs, (v) => Math.fround(v * 2 + 1)));
    }
    await batcher.close();
  });

  it('refuses a request larger than max_batch_size with 400 and keeps serving', async () => {
    const batcher = new DynamicBatcher([mlp], { maxBatchSize: 4 });
    const big = new ort.Tensor('float32', randomFloats(5 * 16, 3), [5, 16]);
    const error = await batcher.infer({ inputs: { input: big }, outputNames: ['output'] }).catch((e) => e);
    expect(error).toBeInstanceOf(BatchTooLargeError);
    expect(error.status).toBe(400);
    expect(error.message).toBe(
      "input 'input': batch size 5 exceeds the model's max_batch_size 4 (allowed: 1..4)",
    );
    const ok = new ort.Tensor('float32', randomFloats(4 * 16, 4), [4, 16]);
    const result = await batcher.infer({ inputs: { input: ok }, outputNames: ['output'] });
    expect(result.output.dims).toEqual([4, 4]);
    await batcher.close();
  });

  it('refuses a request whose inputs disagree on the batch dimension', async () => {
    const batcher = new DynamicBatcher([dynamic], { maxBatchSize: 4 });
    const error = await batcher
      .infer({
        inputs: {
          a: new ort.Tensor('float32', new Float32Array(2), [2, 1]),
          b: new ort.Tensor('float32', new Float32Array(3), [3, 1]),
        },
        outputNames: ['y'],
      })
      .catch((e) => e);
    expect(error).toBeInstanceOf(BatchShapeError);
    expect(error.status).toBe(400);
    expect(error.message).toContain("input 'b': batch dimension 3 differs from input 'a' (2)");
    await batcher.close();
  });

  it('answers 503 with Retry-After when the queue is full, and drains the queue on close', async () => {
    const depths: number[] = [];
    const batcher = new DynamicBatcher([mlp], {
      maxBatchSize: 8,
      maxQueueDelayMicroseconds: 60_000_000,
      maxQueueSize: 2,
      retryAfterSeconds: 3,
      metrics: { setQueueDepth: (d) => depths.push(d) },
    });
    const inputs = [0, 1, 2].map((i) => new ort.Tensor('float32', randomFloats(16, 50 + i), [1, 16]));
    const accepted = inputs
      .slice(0, 2)
      .map((input) => batcher.infer({ inputs: { input }, outputNames: ['output'] }));
    expect(batcher.queueDepth).toBe(2);
    const error = await batcher
      .infer({ inputs: { input: inputs[2] }, outputNames: ['output'] })
      .catch((e) => e);
    expect(error).toBeInstanceOf(QueueFullError);
    expect(error.status).toBe(503);
    expect(error.outcome).toBe('rejected');
    expect(error.headers).toEqual({ 'Retry-After': '3' });
    // close() executes what was accepted at once instead of waiting out the 60 s delay.
    await batcher.close();
    const results = await Promise.all(accepted);
    for (const [i, result] of results.entries()) {
      expectClose(result.output, (await mlp.run({ input: inputs[i] })).output as ort.Tensor);
    }
    expect(depths).toEqual([1, 2, 0]);
    const late = await batcher
      .infer({ inputs: { input: inputs[0] }, outputNames: ['output'] })
      .catch((e) => e);
    expect(late).toBeInstanceOf(SchedulerClosedError);
  });

  it('fails a request that waits longer than its queue timeout, counted as a timeout', async () => {
    const depths: number[] = [];
    const batcher = new DynamicBatcher([mlp], {
      maxBatchSize: 8,
      maxQueueDelayMicroseconds: 60_000_000,
      defaultQueueTimeoutMicroseconds: 40_000,
      metrics: { setQueueDepth: (d) => depths.push(d) },
    });
    const input = new ort.Tensor('float32', randomFloats(16, 9), [1, 16]);
    const started = performance.now();
    const [byDefault, byRequest] = await Promise.all([
      batcher.infer({ inputs: { input }, outputNames: ['output'] }).catch((e) => e),
      batcher.infer({ inputs: { input }, outputNames: ['output'], queueTimeoutMs: 10 }).catch((e) => e),
    ]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(39);
    for (const error of [byDefault, byRequest]) {
      expect(error).toBeInstanceOf(QueueTimeoutError);
      expect(error.status).toBe(503);
      expect(error.outcome).toBe('timeout');
      expect(error.name).toBe('QueueTimeoutError');
    }
    expect(byRequest.message).toBe('request timed out after waiting 10 ms in the inference queue');
    expect(byDefault.message).toBe('request timed out after waiting 40 ms in the inference queue');
    expect(batcher.queueDepth).toBe(0);
    expect(depths.at(-1)).toBe(0);
    await batcher.close();
  });

  it('spreads batches over several instances', async () => {
    const a = new Recording(mlp);
    const b = new Recording(mlp);
    const batcher = new DynamicBatcher([a, b], { maxBatchSize: 2 });
    const inputs = [0, 1, 2, 3].map((i) => new ort.Tensor('float32', randomFloats(16, 70 + i), [1, 16]));
    const results = await Promise.all(
      inputs.map((input) => batcher.infer({ inputs: { input }, outputNames: ['output'] })),
    );
    expect(a.batches.length).toBeGreaterThan(0);
    expect(b.batches.length).toBeGreaterThan(0);
    for (const [i, result] of results.entries()) {
      expectClose(result.output, (await mlp.run({ input: inputs[i] })).output as ort.Tensor);
    }
    await batcher.close();
  });

  it('validates its options, naming the field, the value and what is allowed', () => {
    expect(() => new DynamicBatcher([mlp], { maxBatchSize: 0 })).toThrow(
      'dynamic_batching.max_batch_size: 0 is invalid (allowed: an integer >= 1)',
    );
    expect(() => new DynamicBatcher([mlp], { maxBatchSize: 8, preferredBatchSizes: [4, 16] })).toThrow(
      'dynamic_batching.preferred_batch_size: 16 is invalid (allowed: integers 1..max_batch_size 8)',
    );
    expect(() => new DynamicBatcher([mlp], { maxBatchSize: 8, maxQueueDelayMicroseconds: -1 })).toThrow(
      'dynamic_batching.max_queue_delay_microseconds: -1 is invalid (allowed: an integer >= 0)',
    );
    expect(() => new DynamicBatcher([], { maxBatchSize: 8 })).toThrow('at least one model instance');
  });

  it('runs batches in worker-thread instances with the same results, and maps their errors to 500', async () => {
    const sizes: number[] = [];
    const batcher = await createDynamicBatcher(workerContext(sizes));
    const inputs = [0, 1, 2, 3].map((i) => new ort.Tensor('float32', randomFloats(6, 200 + i), [1, 6]));
    const results = await Promise.all(
      inputs.map((x) => batcher.infer({ inputs: { x }, outputNames: ['y'] })),
    );
    expect(sizes).toEqual([4]);
    for (const [i, x] of inputs.entries()) {
      expect(Array.from(results[i].y.data as Float32Array)).toEqual(
        Array.from(x.data as Float32Array, (v) => Math.fround(v * 2 + 1)),
      );
    }
    // A wrong dtype reaches onnxruntime inside the worker: its message comes back as a 500.
    const error = await batcher
      .infer({ inputs: { x: new ort.Tensor('int32', new Int32Array(6), [1, 6]) }, outputNames: ['y'] })
      .catch((e) => e);
    expect(error).toBeInstanceOf(InferenceFailedError);
    expect(error.status).toBe(500);
    expect(error.message).toMatch(/^onnxruntime: .*type/i);
    await batcher.close();
  });

  it('warms up its worker-thread instances before it serves, failing the load when that fails', async () => {
    const warmed = await createDynamicBatcher({
      ...workerContext(),
      warmup: { feeds: { x: new ort.Tensor('float32', new Float32Array(6), [1, 6]) }, outputNames: ['y'] },
    });
    await warmed.close();
    await expect(
      createDynamicBatcher({
        ...workerContext(),
        warmup: { feeds: { x: new ort.Tensor('int32', new Int32Array(6), [1, 6]) }, outputNames: ['y'] },
      }),
    ).rejects.toThrow(/^model 'dynamic': warming up a worker-thread instance failed: .*type/i);
  });
});
