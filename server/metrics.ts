import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import {
  METRICS,
  OUTCOMES,
  PROTOCOLS,
  type MetricDefinition,
  type MetricKey,
  type Outcome,
  type Protocol,
} from '../constructs/contract.ts';

type MetricFor<K extends MetricKey> = (typeof METRICS)[K]['type'] extends 'counter'
  ? Counter
  : (typeof METRICS)[K]['type'] extends 'gauge'
    ? Gauge
    : Histogram;

export type ServerMetricSet = { readonly [K in MetricKey]: MetricFor<K> };

function create(def: MetricDefinition, registry: Registry): Counter | Gauge | Histogram {
  const common = { name: def.name, help: def.help, labelNames: [...def.labelNames], registers: [registry] };
  switch (def.type) {
    case 'counter':
      return new Counter(common);
    case 'gauge':
      return new Gauge(common);
    case 'histogram':
      return new Histogram({ ...common, buckets: [...(def.buckets ?? [])] });
  }
}

/**
 * One registry per server: every metric of the contract (constructs/contract.ts METRICS, the names
 * GpuHpa, AlertRules and the dashboards query) plus prom-client's default process metrics.
 */
export function createMetrics(): { registry: Registry; metrics: ServerMetricSet } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = Object.fromEntries(
    (Object.keys(METRICS) as MetricKey[]).map((key) => [key, create(METRICS[key], registry)]),
  ) as unknown as ServerMetricSet;
  return { registry, metrics };
}

/**
 * What a scheduler reports about the batches it runs (DirectScheduler and the dynamic batcher
 * report the same way), already bound to one model version and provider.
 */
export interface SchedulerHooks {
  /** Seconds a request waited before the compute of its batch started. */
  observeQueue(seconds: number): void;
  /** Seconds of one session.run. */
  observeCompute(seconds: number): void;
  /** Batch-dimension rows in one session.run. */
  observeBatch(size: number): void;
  /** Requests now waiting for compute. */
  setQueueDepth(depth: number): void;
  /** One successful session.run of `rows` batch-dimension rows (the statistics extension's executions). */
  observeExecution?(rows: number, seconds: number): void;
}

/** Per-model-version metric handles; the request path and the model lifecycle use them. */
export class ModelMetrics implements SchedulerHooks {
  private readonly labels: { model: string; version: string };
  private readonly providerLabels: { model: string; version: string; provider: string };

  constructor(
    private readonly m: ServerMetricSet,
    model: string,
    version: string,
    provider: string,
  ) {
    this.labels = { model, version };
    this.providerLabels = { model, version, provider };
  }

  observeQueue(seconds: number): void {
    this.m.queueDuration.observe(this.labels, seconds);
  }
  observeCompute(seconds: number): void {
    this.m.computeDuration.observe(this.providerLabels, seconds);
  }
  observeBatch(size: number): void {
    this.m.batchSize.observe(this.labels, size);
  }
  setQueueDepth(depth: number): void {
    this.m.queueDepth.set(this.labels, depth);
  }
  loaded(seconds: number): void {
    this.m.modelLoadDuration.set(this.providerLabels, seconds);
    this.m.modelReady.set(this.providerLabels, 1);
    // Create the series a model's alerts and autoscaling query before its first request (an
    // absent series makes rate() and ratios empty rather than 0); adding 0 keeps any count.
    this.m.queueDepth.inc(this.labels, 0);
    for (const protocol of PROTOCOLS) {
      this.m.inflight.inc({ ...this.labels, protocol }, 0);
      for (const outcome of OUTCOMES) this.m.requests.inc({ ...this.labels, outcome, protocol }, 0);
    }
  }
  unloaded(): void {
    this.m.modelReady.set(this.providerLabels, 0);
    this.m.queueDepth.set(this.labels, 0);
  }
}

/** Labels of a front end's per-request series: the model version and the protocol it came through. */
export type RequestLabels = {
  readonly model: string;
  readonly version: string;
  readonly protocol: Protocol;
};

/** Labels of requests for models the server does not serve (bounded: no label per unknown name). */
export const unknownModel = (protocol: Protocol): RequestLabels => ({ model: '', version: '', protocol });

/**
 * Counts one answered request of a model (or of an unknown model, under model="" version="");
 * its duration is observed when known (a body rejected by the size limit has none).
 */
export function recordRequest(
  m: ServerMetricSet,
  labels: RequestLabels,
  outcome: Outcome,
  seconds?: number,
): void {
  const { model, version, protocol } = labels;
  m.requests.inc({ model, version, outcome, protocol });
  if (seconds !== undefined) m.requestDuration.observe({ model, version, protocol }, seconds);
}
