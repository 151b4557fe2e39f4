/**
 * The interface between a model version and the schedulers that run its requests (Triton's core:
 * it depends only on the request). A leaf: the schedulers, the model and its statistics import it,
 * and it imports none of them.
 */
import type * as ort from 'onnxruntime-node';
import type { Logger } from 'pino';
import type { ExecutionProvider } from './config.ts';
import { InferenceFailedError } from './errors.ts';
import type { ServedModelConfig } from './instances.ts';
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
  /**
   * The model's sessions on the JS thread, one per configured instance, created and warmed up on
   * the first call. A scheduler that runs sessions of its own (the batcher's worker threads) never
   * calls it: the model then holds no session beyond the one it read the signature from, and
   * releases that one (the scheduler owns the sessions it runs).
   */
  readonly sessions: () => Promise<readonly ort.InferenceSession[]>;
  /** With `instances` decided (server/instances.ts planInstances). */
  readonly config: ServedModelConfig;
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
