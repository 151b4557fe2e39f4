import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MODEL_CONFIG } from '../../server/config.ts';
import { QueueTimeoutError, UnavailableError } from '../../server/errors.ts';
import { createLogger } from '../../server/logger.ts';
import type { SchedulerHooks } from '../../server/metrics.ts';
import { DirectScheduler } from '../../server/scheduler.ts';
import type { InferenceJob } from '../../server/scheduling.ts';
import { bundledModels } from './helpers.ts';

/** Records what the scheduler reports (the real prom-client path is covered by api.test.ts). */
class RecordingHooks implements SchedulerHooks {
  queue: number[] = [];
  compute: number[] = [];
  batches: number[] = [];
  depths: number[] = [];
  observeQueue(s: number) {
    this.queue.push(s);
  }
  observeCompute(s: number) {
    this.compute.push(s);
  }
  observeBatch(n: number) {
    this.batches.push(n);
  }
  setQueueDepth(d: number) {
    this.depths.push(d);
  }
}

const sessions: ort.InferenceSession[] = [];
const file = join(bundledModels, 'squeezenet1_1', '1', 'model.onnx');

beforeAll(async () => {
  for (let i = 0; i < 2; i++)
    sessions.push(await ort.InferenceSession.create(file, { intraOpNumThreads: 1 }));
});

afterAll(async () => {
  await Promise.all(sessions.map((s) => s.release()));
});

const job = (batch: number, queueTimeoutMs?: number): InferenceJob => ({
  inputs: {
    input: new ort.Tensor('float32', new Float32Array(batch * 3 * 224 * 224).fill(0.1), [batch, 3, 224, 224]),
  },
  outputNames: ['output'],
  ...(queueTimeoutMs !== undefined && { queueTimeoutMs }),
});

function scheduler(instances: number, hooks: SchedulerHooks) {
  const own = sessions.slice(0, instances);
  return new DirectScheduler(
    {
      model: 'squeezenet1_1',
      version: '1',
      sessions: async () => own,
      config: { ...DEFAULT_MODEL_CONFIG, instances },
      batchable: true,
      hooks,
      logger: createLogger('silent'),
    },
    own,
  );
}

describe('DirectScheduler on real onnxruntime sessions', () => {
  it('runs one job per free session, queues the rest in order and reports every step', async () => {
    const hooks = new RecordingHooks();
    const s = scheduler(2, hooks);
    const results = await Promise.all([job(1), job(2), job(3), job(4)].map((j) => s.infer(j)));
    expect(results.map((r) => r.output!.dims)).toEqual([
      [1, 1000],
      [2, 1000],
      [3, 1000],
      [4, 1000],
    ]);
    expect(hooks.batches).toEqual([1, 2, 3, 4]);
    expect(hooks.compute).toHaveLength(4);
    expect(hooks.queue).toHaveLength(4);
    // Two sessions: two jobs start at once, two wait.
    expect(Math.max(...hooks.depths)).toBe(2);
    expect(s.queueDepth).toBe(0);
    expect(hooks.queue[3]!).toBeGreaterThan(hooks.queue[0]!);
    await s.close();
  });

  it('fails a job whose queue timeout passes before a session is free', async () => {
    const hooks = new RecordingHooks();
    const s = scheduler(1, hooks);
    const long = s.infer(job(8));
    const timedOut = s.infer(job(1, 1));
    await expect(timedOut).rejects.toBeInstanceOf(QueueTimeoutError);
    await expect(timedOut).rejects.toMatchObject({ status: 503, outcome: 'timeout' });
    expect((await long).output!.dims).toEqual([8, 1000]);
    expect(hooks.batches).toEqual([8]);
    await s.close();
  });

  it('close() answers accepted jobs and rejects new ones', async () => {
    const s = scheduler(1, new RecordingHooks());
    const accepted = [s.infer(job(2)), s.infer(job(2))];
    const closed = s.close();
    await expect(s.infer(job(1))).rejects.toBeInstanceOf(UnavailableError);
    const done = await Promise.all(accepted);
    expect(done).toHaveLength(2);
    await closed;
  });
});
