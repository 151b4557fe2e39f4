import type * as ort from 'onnxruntime-node';
import { createDynamicBatcher } from './batcher.ts';
import { QueueTimeoutError, UnavailableError } from './errors.ts';
import { batchesInWorkers } from './instances.ts';
import {
  jobBatchSize,
  runOnSession,
  type InferenceJob,
  type Scheduler,
  type SchedulerContext,
  type SchedulerFactory,
} from './scheduling.ts';

const timeoutError = (ms: number) =>
  new QueueTimeoutError(`request waited more than its queue timeout of ${ms} ms`);

interface Waiting {
  readonly job: InferenceJob;
  readonly enqueued: number;
  readonly resolve: (out: Record<string, ort.Tensor>) => void;
  readonly reject: (err: Error) => void;
  timer?: NodeJS.Timeout;
}

/**
 * One session.run per request. Each session runs one job at a time (onnxruntime already spreads a
 * run over its intra-op threads; overlapping runs on one session only contend for them); jobs wait
 * in FIFO order for the first free session, which is the least busy one.
 */
export class DirectScheduler implements Scheduler {
  private readonly idle: ort.InferenceSession[];
  private readonly waiting: Waiting[] = [];
  private closing = false;
  private drained?: () => void;

  private readonly count: number;

  constructor(
    private readonly ctx: SchedulerContext,
    sessions: readonly ort.InferenceSession[],
  ) {
    this.idle = [...sessions];
    this.count = sessions.length;
  }

  get queueDepth(): number {
    return this.waiting.length;
  }

  infer(job: InferenceJob): Promise<Record<string, ort.Tensor>> {
    if (this.closing) {
      return Promise.reject(new UnavailableError(`model '${this.ctx.model}' is unloading`));
    }
    return new Promise((resolve, reject) => {
      const entry: Waiting = { job, enqueued: performance.now(), resolve, reject };
      if (job.queueTimeoutMs !== undefined && job.queueTimeoutMs > 0) {
        entry.timer = setTimeout(() => {
          const i = this.waiting.indexOf(entry);
          if (i < 0) return;
          this.waiting.splice(i, 1);
          this.ctx.hooks.setQueueDepth(this.waiting.length);
          this.ctx.hooks.observeQueue((performance.now() - entry.enqueued) / 1000);
          reject(timeoutError(job.queueTimeoutMs!));
          this.maybeDrained();
        }, job.queueTimeoutMs);
      }
      this.waiting.push(entry);
      this.ctx.hooks.setQueueDepth(this.waiting.length);
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.idle.length > 0 && this.waiting.length > 0) {
      const entry = this.waiting.shift()!;
      if (entry.timer) clearTimeout(entry.timer);
      this.ctx.hooks.setQueueDepth(this.waiting.length);
      const waited = performance.now() - entry.enqueued;
      this.ctx.hooks.observeQueue(waited / 1000);
      // The timer cannot fire while a run blocks the event loop: check again here.
      if (entry.job.queueTimeoutMs && waited > entry.job.queueTimeoutMs) {
        entry.reject(timeoutError(entry.job.queueTimeoutMs));
        continue;
      }
      if (entry.job.timing) entry.job.timing.queue = waited / 1000;
      const session = this.idle.pop()!;
      const rows = jobBatchSize(entry.job, this.ctx.batchable);
      this.ctx.hooks.observeBatch(rows);
      runOnSession(session, entry.job, this.ctx.hooks, rows)
        .then(entry.resolve, entry.reject)
        .finally(() => {
          this.idle.push(session);
          this.dispatch();
          this.maybeDrained();
        });
    }
  }

  private maybeDrained(): void {
    const running = this.count - this.idle.length;
    if (this.closing && running === 0 && this.waiting.length === 0) this.drained?.();
  }

  close(): Promise<void> {
    this.closing = true;
    return new Promise((resolve) => {
      this.drained = resolve;
      this.maybeDrained();
    });
  }
}

/**
 * The scheduler of a model version: the dynamic batcher (server/batcher.ts) when its config.json
 * sets `dynamic_batching` and every input and output has a dynamic batch dimension; otherwise
 * one session.run per request.
 */
export const createScheduler: SchedulerFactory = async (ctx) => {
  if (batchesInWorkers(ctx.config, ctx.batchable)) return createDynamicBatcher(ctx);
  if (ctx.config.dynamic_batching) {
    ctx.logger.warn(
      { model: ctx.model, version: ctx.version },
      'dynamic_batching is configured but dimension 0 of some input or output is not a dynamic batch dimension: scheduling requests directly',
    );
  }
  return new DirectScheduler(ctx, await ctx.sessions());
};
