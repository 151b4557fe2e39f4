import * as ort from 'onnxruntime-node';
import { BatchShapeError, checkBatchSize, checkSameBatch } from './batch-limits.ts';
import { QueueTimeoutError, UnavailableError } from './errors.ts';
import type { SchedulerHooks } from './metrics.ts';
import { sessionOptions } from './session-options.ts';
import {
  newJobTiming,
  runOnSession,
  type InferenceJob,
  type Scheduler,
  type SchedulerContext,
} from './scheduling.ts';
import { movable, WorkerInstance, type BatchInstance } from './worker-instance.ts';

/**
 * Triton-style dynamic batcher: requests for one model version wait in a bounded queue, compatible
 * ones are concatenated along dimension 0 into one `session.run`, and the outputs are split back.
 * Semantics follow Triton's `dynamic_batching` (max_queue_delay_microseconds, preferred_batch_size,
 * max_queue_size, default_queue_timeout_microseconds):
 * https://github.com/triton-inference-server/server/blob/main/docs/user_guide/model_configuration.md#dynamic-batcher
 */

export interface DynamicBatcherOptions {
  /** Largest number of rows (dimension 0) in one executed batch; a larger request is refused. */
  readonly maxBatchSize: number;
  /**
   * How long the oldest queued request may wait for others to join its batch.
   * @default 0 (execute whatever is queued as soon as an instance is free)
   */
  readonly maxQueueDelayMicroseconds?: number;
  /**
   * Batch sizes worth executing at once: when the queue holds at least the largest one, the batch
   * goes without waiting for the delay; a batch of exactly one of them also goes at once.
   * @default [maxBatchSize]
   */
  readonly preferredBatchSizes?: readonly number[];
  /**
   * Requests allowed to wait; beyond it a request is refused with 503 and Retry-After.
   * @default 1024
   */
  readonly maxQueueSize?: number;
  /**
   * Queue timeout of a request that does not set one; 0 means none.
   * @default 0
   */
  readonly defaultQueueTimeoutMicroseconds?: number;
  /**
   * Seconds advertised in `Retry-After` when the queue is full.
   * @default 1
   */
  readonly retryAfterSeconds?: number;
  /** @default no metrics */
  readonly metrics?: Partial<SchedulerHooks>;
  /** Runs once close() has drained the queue (releases instances the batcher owns). @default nothing */
  readonly onClosed?: () => Promise<void>;
}

/** The bounded queue is full: shed load now instead of answering late. */
export class QueueFullError extends UnavailableError {
  constructor(maxQueueSize: number, retryAfterSeconds: number) {
    super(`inference queue is full (max_queue_size ${maxQueueSize}); retry later`, {
      'Retry-After': String(retryAfterSeconds),
    });
  }
}

/** The batcher is closed (the model is unloading or the server is draining). */
export class SchedulerClosedError extends UnavailableError {
  constructor() {
    super('the model is unloading or the server is shutting down', { 'Retry-After': '1' });
  }
}

interface Pending {
  readonly job: InferenceJob;
  readonly rows: number;
  /** Requests with equal keys have equal input names, dtypes, non-batch dims and outputs. */
  readonly key: string;
  readonly enqueuedAt: number;
  readonly resolve: (outputs: Record<string, ort.Tensor>) => void;
  readonly reject: (error: unknown) => void;
  timer?: NodeJS.Timeout;
}

type TensorData = ort.Tensor['data'];

/** Rows along dimension 0 that every input of the request agrees on. */
function batchRows(inputs: Record<string, ort.Tensor>): number {
  let rows: number | undefined;
  let first = '';
  for (const [name, tensor] of Object.entries(inputs)) {
    if (tensor.dims.length === 0) {
      throw new BatchShapeError(`input '${name}': a batched model needs a batch dimension, got a scalar`);
    }
    const r = tensor.dims[0];
    if (rows === undefined) {
      rows = r;
      first = name;
    } else checkSameBatch(name, r, { name: first, rows });
  }
  if (rows === undefined) throw new BatchShapeError('the request has no inputs');
  return rows;
}

function compatibilityKey(job: InferenceJob): string {
  const inputs = Object.keys(job.inputs)
    .sort()
    .map((name) => {
      const t = job.inputs[name];
      return `${name}:${t.type}:${t.dims.slice(1).join('x')}`;
    });
  return `${inputs.join(',')}|${job.outputNames.join(',')}`;
}

/** Concatenates along dimension 0 with one `set` (memcpy) per request. */
function concat(tensors: readonly ort.Tensor[], totalRows: number): ort.Tensor {
  const first = tensors[0];
  const dims = [totalRows, ...first.dims.slice(1)];
  if (first.type === 'string') {
    const data = tensors.flatMap((t) => t.data as string[]);
    return new ort.Tensor('string', data, dims);
  }
  const size = dims.reduce((a, b) => a * b, 1);
  const Ctor = (first.data as Exclude<TensorData, string[]>).constructor as new (
    n: number,
  ) => Exclude<TensorData, string[]>;
  const data = new Ctor(size);
  let offset = 0;
  for (const t of tensors) {
    const part = t.data as Exclude<TensorData, string[]>;
    (data as Float32Array).set(part as Float32Array, offset);
    offset += part.length;
  }
  movable.add(data);
  return new ort.Tensor(first.type as 'float32', data as Float32Array, dims);
}

/** Rows [start, end) of a batched output: a view for numeric tensors, no copy. */
function sliceRows(tensor: ort.Tensor, start: number, end: number): ort.Tensor {
  const rowSize = tensor.dims.slice(1).reduce((a, b) => a * b, 1);
  const dims = [end - start, ...tensor.dims.slice(1)];
  const data = tensor.data as TensorData;
  const part = Array.isArray(data)
    ? data.slice(start * rowSize, end * rowSize)
    : (data as Float32Array).subarray(start * rowSize, end * rowSize);
  return new ort.Tensor(tensor.type as 'float32', part as Float32Array, dims);
}

export class DynamicBatcher implements Scheduler {
  public readonly maxBatchSize: number;
  public readonly maxQueueDelayMicroseconds: number;
  public readonly preferredBatchSizes: readonly number[];
  public readonly maxQueueSize: number;
  public readonly defaultQueueTimeoutMicroseconds: number;
  public readonly retryAfterSeconds: number;
  /** Model instances (sessions) it spreads batches over. */
  public readonly instanceCount: number;

  private readonly queue: Pending[] = [];
  private readonly idle: BatchInstance[];
  private readonly running = new Set<Promise<void>>();
  private readonly metrics: SchedulerHooks;
  private delayTimer?: NodeJS.Timeout;
  private closed = false;
  private readonly onClosed?: () => Promise<void>;

  constructor(instances: readonly BatchInstance[], options: DynamicBatcherOptions) {
    if (instances.length === 0) throw new Error('DynamicBatcher: at least one model instance is required');
    const int = (field: string, value: number, min: number) => {
      if (!Number.isInteger(value) || value < min) {
        throw new Error(`dynamic_batching.${field}: ${value} is invalid (allowed: an integer >= ${min})`);
      }
      return value;
    };
    this.maxBatchSize = int('max_batch_size', options.maxBatchSize, 1);
    this.maxQueueDelayMicroseconds = int(
      'max_queue_delay_microseconds',
      options.maxQueueDelayMicroseconds ?? 0,
      0,
    );
    this.preferredBatchSizes = [...(options.preferredBatchSizes ?? [this.maxBatchSize])].sort(
      (a, b) => a - b,
    );
    for (const p of this.preferredBatchSizes) {
      if (!Number.isInteger(p) || p < 1 || p > this.maxBatchSize) {
        throw new Error(
          `dynamic_batching.preferred_batch_size: ${p} is invalid (allowed: integers 1..max_batch_size ${this.maxBatchSize})`,
        );
      }
    }
    if (this.preferredBatchSizes.length === 0) this.preferredBatchSizes = [this.maxBatchSize];
    this.maxQueueSize = int('max_queue_size', options.maxQueueSize ?? 1024, 1);
    this.defaultQueueTimeoutMicroseconds = int(
      'default_queue_timeout_microseconds',
      options.defaultQueueTimeoutMicroseconds ?? 0,
      0,
    );
    this.retryAfterSeconds = int('retry_after_seconds', options.retryAfterSeconds ?? 1, 0);
    this.idle = [...instances];
    this.instanceCount = instances.length;
    this.onClosed = options.onClosed;
    // Method by method: the hooks are usually a class instance (ModelMetrics), whose methods an
    // object spread would drop.
    const m = options.metrics ?? {};
    this.metrics = {
      observeQueue: (s) => m.observeQueue?.(s),
      observeCompute: (s) => m.observeCompute?.(s),
      observeBatch: (n) => m.observeBatch?.(n),
      setQueueDepth: (d) => m.setQueueDepth?.(d),
      observeExecution: (n, s) => m.observeExecution?.(n, s),
    };
  }

  get queueDepth(): number {
    return this.queue.length;
  }

  infer(job: InferenceJob): Promise<Record<string, ort.Tensor>> {
    if (this.closed) return Promise.reject(new SchedulerClosedError());
    let rows: number;
    try {
      rows = batchRows(job.inputs);
      checkBatchSize(Object.keys(job.inputs)[0]!, rows, this.maxBatchSize);
      if (rows < 1) throw new BatchShapeError(`the batch dimension must be at least 1, got ${rows}`);
    } catch (error) {
      return Promise.reject(error);
    }
    if (this.queue.length >= this.maxQueueSize) {
      return Promise.reject(new QueueFullError(this.maxQueueSize, this.retryAfterSeconds));
    }
    return new Promise((resolve, reject) => {
      const pending: Pending = {
        job,
        rows,
        key: compatibilityKey(job),
        enqueuedAt: performance.now(),
        resolve,
        reject,
      };
      const timeoutMs = job.queueTimeoutMs ?? this.defaultQueueTimeoutMicroseconds / 1000;
      if (timeoutMs > 0) {
        pending.timer = setTimeout(() => {
          const i = this.queue.indexOf(pending);
          if (i < 0) return;
          this.queue.splice(i, 1);
          this.metrics.setQueueDepth(this.queue.length);
          this.metrics.observeQueue((performance.now() - pending.enqueuedAt) / 1000);
          reject(
            new QueueTimeoutError(`request timed out after waiting ${timeoutMs} ms in the inference queue`),
          );
        }, timeoutMs);
      }
      this.queue.push(pending);
      this.metrics.setQueueDepth(this.queue.length);
      this.dispatch();
    });
  }

  /** Stops accepting, executes everything queued without waiting for the delay, then resolves. */
  async close(): Promise<void> {
    this.closed = true;
    this.dispatch();
    while (this.running.size > 0 || this.queue.length > 0) {
      await Promise.race(this.running);
      this.dispatch();
    }
    clearTimeout(this.delayTimer);
    await this.onClosed?.();
  }

  /** Starts batches while an instance is free and the queue has a batch worth running now. */
  private dispatch(): void {
    clearTimeout(this.delayTimer);
    this.delayTimer = undefined;
    while (this.idle.length > 0 && this.queue.length > 0) {
      const batch = this.nextBatch();
      if (batch === undefined) return;
      const instance = this.idle.pop() as BatchInstance;
      const run = this.execute(instance, batch).finally(() => {
        this.running.delete(run);
        this.idle.push(instance);
        this.dispatch();
      });
      this.running.add(run);
    }
  }

  /**
   * The head request and the compatible ones after it (FIFO, skipping incompatible ones), or
   * undefined when it is better to wait (a timer then fires when the delay of the oldest expires).
   */
  private nextBatch(): Pending[] | undefined {
    const head = this.queue[0];
    const largestPreferred = this.preferredBatchSizes[this.preferredBatchSizes.length - 1];
    const picked: Pending[] = [];
    let rows = 0;
    for (const p of this.queue) {
      if (p.key !== head.key || rows + p.rows > this.maxBatchSize) continue;
      picked.push(p);
      rows += p.rows;
      if (rows >= largestPreferred) break;
    }
    const waitedUs = (performance.now() - head.enqueuedAt) * 1000;
    const remainingUs = this.maxQueueDelayMicroseconds - waitedUs;
    if (
      rows < largestPreferred &&
      !this.preferredBatchSizes.includes(rows) &&
      remainingUs > 0 &&
      !this.closed
    ) {
      this.delayTimer = setTimeout(() => this.dispatch(), Math.ceil(remainingUs / 1000));
      return undefined;
    }
    for (const p of picked) {
      this.queue.splice(this.queue.indexOf(p), 1);
      clearTimeout(p.timer);
    }
    this.metrics.setQueueDepth(this.queue.length);
    return picked;
  }

  private async execute(instance: BatchInstance, batch: Pending[]): Promise<void> {
    const start = performance.now();
    for (const p of batch) {
      this.metrics.observeQueue((start - p.enqueuedAt) / 1000);
      if (p.job.timing) p.job.timing.queue = (start - p.enqueuedAt) / 1000;
    }
    const totalRows = batch.reduce((n, p) => n + p.rows, 0);
    const { outputNames } = batch[0].job;
    try {
      const feeds: Record<string, ort.Tensor> = {};
      for (const name of Object.keys(batch[0].job.inputs)) {
        feeds[name] =
          batch.length === 1
            ? batch[0].job.inputs[name]
            : concat(
                batch.map((p) => p.job.inputs[name]),
                totalRows,
              );
      }
      this.metrics.observeBatch(totalRows);
      const run = newJobTiming();
      const ran = performance.now();
      const results = await runOnSession(
        instance as ort.InferenceSession,
        { inputs: feeds, outputNames, timing: run },
        this.metrics,
        totalRows,
      );
      const computed = performance.now();
      // Every job of the batch is charged the whole batch's stages, as Triton does per request.
      const charge = (done: number) => {
        for (const p of batch) {
          if (!p.job.timing) continue;
          p.job.timing.input = (ran - start) / 1000;
          p.job.timing.infer = run.infer;
          p.job.timing.output = (done - computed) / 1000;
        }
      };
      if (batch.length === 1) {
        charge(computed);
        batch[0].resolve(results as Record<string, ort.Tensor>);
        return;
      }
      let row = 0;
      const split = batch.map((p) => {
        const outputs: Record<string, ort.Tensor> = {};
        for (const name of outputNames) {
          const out = results[name] as ort.Tensor;
          if (out.dims[0] !== totalRows) {
            throw new Error(
              `output '${name}' has first dimension ${out.dims[0]} for a batch of ${totalRows} rows: the model does not batch along dimension 0`,
            );
          }
          outputs[name] = sliceRows(out, row, row + p.rows);
        }
        row += p.rows;
        return outputs;
      });
      charge(performance.now());
      batch.forEach((p, i) => p.resolve(split[i]));
    } catch (error) {
      for (const p of batch) p.reject(error);
    }
  }
}

/**
 * The batcher of a model version whose config.json has `dynamic_batching`. Its `instances` are
 * worker threads, each with its own session, so the JS thread keeps reading requests (and forming
 * the next batch) while one computes; without a model file in the context (unit tests) it runs
 * on the context's sessions. `max_queue_size: 0` keeps Triton's meaning (unbounded).
 */
export async function createDynamicBatcher(ctx: SchedulerContext): Promise<DynamicBatcher> {
  const db = ctx.config.dynamic_batching;
  if (!db)
    throw new Error(`model '${ctx.model}': createDynamicBatcher needs dynamic_batching in config.json`);
  let instances: readonly BatchInstance[];
  let workers: WorkerInstance[] = [];
  if (ctx.file === undefined || ctx.provider === undefined) instances = await ctx.sessions();
  else {
    const options = sessionOptions(ctx.config, ctx.provider, ctx.config.instances);
    const started = await Promise.allSettled(
      Array.from({ length: ctx.config.instances }, () => WorkerInstance.create(ctx.file!, options)),
    );
    workers = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) {
      await Promise.all(workers.map((w) => w.release()));
      throw new Error(
        `model '${ctx.model}': a worker-thread instance failed to start: ${String(failed.reason)}`,
      );
    }
    instances = workers;
    // The worker sessions are the ones that serve: warm them up too before the model is ready.
    const { warmup } = ctx;
    if (warmup) {
      // Every run settles before any session is released: releasing a session while its worker
      // still runs it aborts the whole process (onnxruntime-node throws a Napi::Error there).
      const runs = await Promise.allSettled(workers.map((w) => w.run(warmup.feeds, [...warmup.outputNames])));
      const failedRun = runs.find((r) => r.status === 'rejected');
      if (failedRun) {
        await Promise.all(workers.map((w) => w.release()));
        throw new Error(
          `model '${ctx.model}': warming up a worker-thread instance failed: ${(failedRun.reason as Error).message}`,
        );
      }
    }
  }
  return new DynamicBatcher(instances, {
    maxBatchSize: ctx.config.max_batch_size,
    maxQueueDelayMicroseconds: db.max_queue_delay_microseconds,
    ...(db.preferred_batch_size.length > 0 && { preferredBatchSizes: db.preferred_batch_size }),
    maxQueueSize: db.max_queue_size === 0 ? Number.MAX_SAFE_INTEGER : db.max_queue_size,
    defaultQueueTimeoutMicroseconds: db.default_queue_timeout_microseconds,
    metrics: ctx.hooks,
    onClosed: () => Promise.all(workers.map((w) => w.release())).then(() => undefined),
  });
}
