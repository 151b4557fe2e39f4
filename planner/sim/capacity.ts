/**
 * What one inference pod can do: a dynamic batcher in front of one model instance, as the server's
 * batcher works (server/batcher.ts: greedy batches up to max_batch_size, bounded queue).
 *
 * A batch of n requests takes `batchFixedSeconds + batchPerItemSeconds * n`. The defaults are
 * chosen to sit in the recipe's measured range (its ab -n 10000 -c 200 results, a blog post not in this repository: 10 ms mean latency at
 * idle, 40 ms at peak): 12 ms for a batch of one, 40 ms for a full batch of 8, so a pod serves at
 * most 200 req/s; CPU costs 8 ms per request (decode, pre/post-processing), which with the recipe's
 * 2000m request puts 900 req/s at 7 pods under a 60 % CPU target (the recipe reported 6).
 * Replace them with figures from `npm run bench` for your model and GPU.
 */
export interface CapacityModel {
  /** Fixed cost of one batch (kernel launches, transfers), seconds. */
  readonly batchFixedSeconds: number;
  /** Added cost per request in a batch, seconds. */
  readonly batchPerItemSeconds: number;
  /** The batcher's max_batch_size. */
  readonly maxBatchSize: number;
  /** Requests a pod queues before it rejects (the batcher's max_queue_size). */
  readonly maxQueuePerPod: number;
  /** CPU request of the server container, millicores (the recipe's 2000m). */
  readonly cpuRequestMilli: number;
  /** CPU used by an idle ready pod, millicores. */
  readonly cpuIdleMilli: number;
  /** CPU seconds per request (HTTP, decoding, pre/post-processing). */
  readonly cpuSecondsPerRequest: number;
  /** CPU used while the model loads (before the pod is ready), millicores. */
  readonly startupCpuMilli: number;
}

export const DEFAULT_CAPACITY: CapacityModel = {
  batchFixedSeconds: 0.008,
  batchPerItemSeconds: 0.004,
  maxBatchSize: 8,
  maxQueuePerPod: 1024,
  cpuRequestMilli: 2000,
  cpuIdleMilli: 50,
  cpuSecondsPerRequest: 0.008,
  startupCpuMilli: 1500,
};

export function batchSeconds(m: CapacityModel, n: number): number {
  return m.batchFixedSeconds + m.batchPerItemSeconds * n;
}

/** Requests per second one pod serves with full batches. */
export function podCapacity(m: CapacityModel): number {
  return m.maxBatchSize / batchSeconds(m, m.maxBatchSize);
}

/** The steady state of one pod serving `rate` req/s with `backlogSeconds` of queued work ahead. */
export interface PodLoadState {
  /** Typical batch size. */
  readonly batch: number;
  /** Fraction of time the GPU runs a batch (what DCGM_FI_DEV_GPU_UTIL reports), 0..1. */
  readonly busy: number;
  /** Mean time a request waits before its batch starts, seconds (the server's queue duration). */
  readonly meanQueueSeconds: number;
  readonly meanLatencySeconds: number;
  /** Latency quantile estimates, seconds. */
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
}

/**
 * Fluid steady state of a greedy batcher. Below 1 / batchSeconds(1) req/s every batch holds one
 * request and the GPU is busy `rate * batchSeconds(1)` of the time; the wait is that of an M/D/1
 * queue (mean rho*s/(2(1-rho)), exponential tail), capped by one full batch. Above it, arrivals
 * during one batch form the next: n = rate*fixed / (1 - rate*perItem), the GPU never idles, and a
 * request waits for the running batch, at most a full one (uniform in [0, s(max)]). Queued backlog
 * adds its drain time to every quantile.
 */
export function podLoadState(m: CapacityModel, rate: number, backlogSeconds: number): PodLoadState {
  const s1 = batchSeconds(m, 1);
  const rho1 = rate * s1;
  let batch: number;
  let busy: number;
  let waitMean: number;
  let waitQuantile: (p: number) => number;
  if (backlogSeconds > 0) {
    batch = m.maxBatchSize;
    busy = 1;
  } else if (rho1 < 1) {
    batch = 1;
    busy = rho1;
  } else {
    const perItem = rate * m.batchPerItemSeconds;
    batch =
      perItem >= 1 ? m.maxBatchSize : Math.min(m.maxBatchSize, (rate * m.batchFixedSeconds) / (1 - perItem));
    busy = 1;
  }
  const s = batchSeconds(m, batch);
  const full = batchSeconds(m, m.maxBatchSize);
  if (batch === 1 && busy < 1) {
    const rho = busy;
    // Near rho = 1 the M/D/1 wait explodes, but the batcher then groups the queued requests: a
    // request never waits longer than one full batch, which bounds both the mean and the tail.
    waitMean = rho > 0 ? Math.min((rho * s) / (2 * (1 - rho)), full / 2) : 0;
    // P(W > t) = rho * exp(-t / theta), theta chosen so that E[W] = waitMean.
    const theta = rho > 0 ? waitMean / rho : 0;
    waitQuantile = (p) => Math.min(rho > 1 - p ? theta * Math.log(rho / (1 - p)) : 0, p * full);
  } else {
    // Batches form from a random backlog: bound the wait by a full batch (continuous with the
    // capped M/D/1 wait below saturation, so latency never falls as load rises).
    waitMean = full / 2;
    waitQuantile = (p) => p * full;
  }
  const q = (p: number) => backlogSeconds + waitQuantile(p) + s;
  return {
    batch,
    busy,
    meanQueueSeconds: backlogSeconds + waitMean,
    meanLatencySeconds: backlogSeconds + waitMean + s,
    p50: q(0.5),
    p95: q(0.95),
    p99: q(0.99),
  };
}

export class CapacityModelError extends Error {
  override readonly name = 'CapacityModelError';
}

/** Validates a (partial) capacity model, e.g. read from a JSON file, over the defaults. */
export function resolveCapacity(partial: Partial<CapacityModel> = {}): CapacityModel {
  const m = { ...DEFAULT_CAPACITY, ...partial };
  const positive: (keyof CapacityModel)[] = ['maxBatchSize', 'maxQueuePerPod', 'cpuRequestMilli'];
  for (const key of Object.keys(m) as (keyof CapacityModel)[]) {
    const v = m[key];
    if (!(key in DEFAULT_CAPACITY))
      throw new CapacityModelError(
        `capacity.${key}: unknown field; allowed: ${Object.keys(DEFAULT_CAPACITY).join(', ')}`,
      );
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (positive.includes(key) && v === 0)) {
      throw new CapacityModelError(
        `capacity.${key}: ${JSON.stringify(v)} must be a ${positive.includes(key) ? 'positive' : 'non-negative'} number`,
      );
    }
  }
  if (batchSeconds(m, 1) <= 0) {
    throw new CapacityModelError(
      `capacity: batchFixedSeconds ${m.batchFixedSeconds} + batchPerItemSeconds ${m.batchPerItemSeconds} must be > 0 (a batch takes time)`,
    );
  }
  if (!Number.isInteger(m.maxBatchSize))
    throw new CapacityModelError(`capacity.maxBatchSize: ${m.maxBatchSize} must be an integer >= 1`);
  return m;
}

/** One measured batch: its size and the seconds one run of that batch took. */
export interface BatchTiming {
  readonly batch: number;
  readonly seconds: number;
}

/**
 * Least-squares fit of `seconds = fixed + perItem * batch` to measured batch timings (e.g. the
 * server's inference_compute_duration_seconds by batch size). A negative intercept is refitted
 * through the origin, a negative slope as a constant.
 */
export function fitBatchTimings(
  points: readonly BatchTiming[],
): Pick<CapacityModel, 'batchFixedSeconds' | 'batchPerItemSeconds'> {
  points.forEach((p, i) => {
    if (!Number.isInteger(p.batch) || p.batch < 1 || !Number.isFinite(p.seconds) || p.seconds <= 0) {
      throw new CapacityModelError(
        `batchTimings[${i}]: ${JSON.stringify(p)} needs an integer batch >= 1 and seconds > 0`,
      );
    }
  });
  if (new Set(points.map((p) => p.batch)).size < 2) {
    throw new CapacityModelError(
      `batchTimings: ${points.length} point(s) with ${new Set(points.map((p) => p.batch)).size} batch size(s); need at least two different batch sizes`,
    );
  }
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.batch, 0) / n;
  const my = points.reduce((a, p) => a + p.seconds, 0) / n;
  const sxx = points.reduce((a, p) => a + (p.batch - mx) ** 2, 0);
  const sxy = points.reduce((a, p) => a + (p.batch - mx) * (p.seconds - my), 0);
  let slope = sxy / sxx;
  let intercept = my - slope * mx;
  if (slope < 0) {
    slope = 0;
    intercept = my;
  } else if (intercept < 0) {
    intercept = 0;
    slope =
      points.reduce((a, p) => a + p.batch * p.seconds, 0) / points.reduce((a, p) => a + p.batch * p.batch, 0);
  }
  return { batchFixedSeconds: intercept, batchPerItemSeconds: slope };
}

/**
 * A capacity file: CapacityModel fields, and optionally `batchTimings` (measured) which set the
 * batch cost by fitting; `maxBatchSize` defaults to the largest measured batch then.
 */
export function capacityFromFile(json: unknown, source: string): Partial<CapacityModel> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new CapacityModelError(`${source}: expected a JSON object of capacity fields`);
  }
  const { batchTimings, ...fields } = json as Record<string, unknown> & { batchTimings?: unknown };
  // Descriptive fields written by the measuring tool.
  for (const k of ['source', 'machine', 'date', 'command']) delete fields[k];
  if (batchTimings === undefined) return fields as Partial<CapacityModel>;
  if (!Array.isArray(batchTimings))
    throw new CapacityModelError(`${source}: batchTimings must be an array of { batch, seconds }`);
  const timings = batchTimings as BatchTiming[];
  const maxBatchSize = Math.max(...timings.map((t) => t.batch));
  return { maxBatchSize, ...fields, ...fitBatchTimings(timings) };
}
