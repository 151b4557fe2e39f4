import type * as ort from 'onnxruntime-node';
import type { Logger } from 'pino';
import type { ExecutionProvider, ModelConfig } from './config.ts';
import { createDynamicBatcher } from './batcher.ts';
import { InferenceFailedError, QueueTimeoutError, UnavailableError } from './errors.ts';
import type { SchedulerHooks } from './metrics.ts';

/** One validated request, ready for onnxruntime: what sits between validation and session.run. */
export interface InferenceJob {
  readonly inputs: Record<string, ort.Tensor>;
  readonly outputNames: readonly string[];
  /** Fail with QueueTimeoutError if compute has not started after this many ms. */
  readonly queueTimeoutMs?: number;
  /** Filled in by the scheduler that runs the job: where its time went (the model's statistics). */
  readonly timing?: JobTiming;
}

/** Seconds a job spent in each stage, as Triton's statistics extension reports them per request. */
export interface JobTiming {
  /** Waiting for compute. */
  queue: number;
  /** Preparing the run's inputs (the batcher's concatenation; 0 for a job run alone). */
  input: number;
  /** The session.run the job was part of. */
  infer: number;
  /** Extracting the job's outputs from the run's (the batcher's split; 0 for a job run alone). */
  output: number;
}

export const newJobTiming = (): JobTiming => ({ queue: 0, input: 0, infer: 0, output: 0 });

/** Decides when and on which session a job runs: DirectScheduler, or the dynamic batcher. */
export interface Scheduler {
  infer(job: InferenceJob): Promise<Record<string, ort.Tensor>>;
  /** Jobs accepted and waiting for compute. */
  readonly queueDepth: number;
  /** Stops accepting jobs, resolves when every accepted job has its answer. */
  close(): Promise<void>;
}

/** What a scheduler gets from the model version it serves. */
export interface SchedulerContext {
  readonly model: string;
  readonly version: string;
  /** One onnxruntime session per configured instance, all of the same model file. */
  readonly sessions: readonly ort.InferenceSession[];
  readonly config: ModelConfig;
  /** True when dim 0 of every input and output is a dynamic batch dimension. */
  readonly batchable: boolean;
  readonly hooks: SchedulerHooks;
  readonly logger: Logger;
  /** The model file and provider, for schedulers that run their own sessions (the batcher's worker threads). */
  readonly file?: string;
  readonly provider?: ExecutionProvider;
  /** Zero inputs of the declared shapes (dynamic dims = 1): to warm up sessions a scheduler creates itself. */
  readonly warmup?: { readonly feeds: Record<string, ort.Tensor>; readonly outputNames: readonly string[] };
}

export type SchedulerFactory = (ctx: SchedulerContext) => Scheduler | Promise<Scheduler>;

/** Rows along dim 0 of a job, as reported to the batch-size metric. */
export function jobBatchSize(job: InferenceJob, batchable: boolean): number {
  if (!batchable) return 1;
  const first = Object.values(job.inputs)[0];
  return first ? Number(first.dims[0] ?? 1) : 1;
}

/**
 * Runs one job on one session and reports compute time (and, when it succeeds, the execution of
 * `rows` rows and the job's `timing.infer`); onnxruntime errors become 500s with its message.
 */
export async function runOnSession(
  session: ort.InferenceSession,
  job: InferenceJob,
  hooks: SchedulerHooks,
  rows = 1,
): Promise<Record<string, ort.Tensor>> {
  const start = performance.now();
  let ok = false;
  try {
    const out = await session.run(job.inputs, job.outputNames as string[]);
    ok = true;
    return out as Record<string, ort.Tensor>;
  } catch (err) {
    throw new InferenceFailedError(`onnxruntime: ${(err as Error).message}`);
  } finally {
    const seconds = (performance.now() - start) / 1000;
    hooks.observeCompute(seconds);
    if (ok) {
      if (job.timing) job.timing.infer = seconds;
      hooks.observeExecution?.(rows, seconds);
    }
  }
}

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

  constructor(private readonly ctx: SchedulerContext) {
    this.idle = [...ctx.sessions];
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
    const running = this.ctx.sessions.length - this.idle.length;
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
export const createScheduler: SchedulerFactory = (ctx) => {
  if (ctx.config.dynamic_batching) {
    if (ctx.batchable) return createDynamicBatcher(ctx);
    ctx.logger.warn(
      { model: ctx.model, version: ctx.version },
      'dynamic_batching is configured but dimension 0 of some input or output is not a dynamic batch dimension: scheduling requests directly',
    );
  }
  return new DirectScheduler(ctx);
};
