import type { JobTiming } from './scheduling.ts';

/**
 * Triton's statistics extension (third_party/oip/triton/docs/extension_statistics.md): counts and
 * cumulative durations of one model version since it loaded. Kept by the inference core
 * (ModelVersion.infer and the schedulers' hooks), not by the HTTP layer, so that every protocol
 * reports the same numbers.
 */
export interface DurationStat {
  count: number;
  /** Cumulative nanoseconds. */
  ns: number;
}

export interface BatchStat {
  readonly batch_size: number;
  readonly compute_input: DurationStat;
  readonly compute_infer: DurationStat;
  readonly compute_output: DurationStat;
}

/** One `$model_stat` of the extension's response. */
export interface ModelStatJson {
  readonly name: string;
  readonly version: string;
  readonly last_inference: number;
  readonly inference_count: number;
  readonly execution_count: number;
  readonly inference_stats: Record<(typeof STAGES)[number], DurationStat>;
  readonly batch_stats: readonly BatchStat[];
  readonly memory_usage: readonly never[];
}

const STAGES = [
  'success',
  'fail',
  'queue',
  'compute_input',
  'compute_infer',
  'compute_output',
  'cache_hit',
  'cache_miss',
] as const;

const stat = (): DurationStat => ({ count: 0, ns: 0 });
const add = (s: DurationStat, seconds: number) => {
  s.count++;
  s.ns += Math.round(seconds * 1e9);
};

export class ModelStats {
  private lastInference = 0;
  private inferenceCount = 0;
  private executionCount = 0;
  private readonly stages = Object.fromEntries(STAGES.map((k) => [k, stat()])) as Record<
    (typeof STAGES)[number],
    DurationStat
  >;
  private readonly batches = new Map<number, DurationStat>();

  /**
   * One request answered with outputs: `seconds` from its submission to the scheduler to its
   * outputs, `rows` its batch-dimension rows (1 for a model that does not batch).
   */
  succeeded(seconds: number, rows: number, timing: JobTiming): void {
    this.lastInference = Date.now();
    this.inferenceCount += rows;
    add(this.stages.success, seconds);
    add(this.stages.queue, timing.queue);
    add(this.stages.compute_input, timing.input);
    add(this.stages.compute_infer, timing.infer);
    add(this.stages.compute_output, timing.output);
  }

  /** One request that got an error from the scheduler (queue full or timed out, onnxruntime failed, unloading). */
  failed(seconds: number): void {
    this.lastInference = Date.now();
    add(this.stages.fail, seconds);
  }

  /** One successful session.run of `rows` rows (SchedulerHooks.observeExecution). */
  executed(rows: number, seconds: number): void {
    this.executionCount++;
    let b = this.batches.get(rows);
    if (!b) this.batches.set(rows, (b = stat()));
    add(b, seconds);
  }

  toJSON(name: string, version: string): ModelStatJson {
    const copy = (s: DurationStat): DurationStat => ({ count: s.count, ns: s.ns });
    return {
      name,
      version,
      last_inference: this.lastInference,
      inference_count: this.inferenceCount,
      execution_count: this.executionCount,
      inference_stats: Object.fromEntries(STAGES.map((k) => [k, copy(this.stages[k])])) as Record<
        (typeof STAGES)[number],
        DurationStat
      >,
      // Per batch size: executions and their compute time; input and output preparation are
      // measured per request only (the batcher's concatenation and split), so their counts stay 0.
      batch_stats: [...this.batches.entries()]
        .sort(([a], [b]) => a - b)
        .map(([batch_size, infer]) => ({
          batch_size,
          compute_input: stat(),
          compute_infer: copy(infer),
          compute_output: stat(),
        })),
      memory_usage: [],
    };
  }
}
