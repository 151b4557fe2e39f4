/**
 * GpuHpa's scaling signals: the HpaMetric factories, their defaults, the resolved form simulators
 * and checks read, and the cpu metric every backend writes alike (the resource metrics API).
 */
import type { MetricSpec } from '../autoscaling-v2/types.ts';
import type { Validator } from '../validate.ts';

/**
 * The signals GpuHpa scales on, which are also the per-pod quantities the planner simulates
 * (planner/sim/): CPU and GPU utilization, in-flight requests, batcher queue time.
 */
export const HPA_METRIC_KINDS = ['cpu', 'gpu', 'inflight', 'queueTime'] as const;
export type HpaMetricKind = (typeof HPA_METRIC_KINDS)[number];

/** One scaling signal and its target. Create with the HpaMetric factory. */
export interface HpaMetric {
  readonly kind: HpaMetricKind;
  /** cpu, gpu: percent; inflight: requests per pod; queueTime: seconds. */
  readonly target: number;
  /**
   * queueTime only: the rate() window the mean queue time is computed over.
   * @default DEFAULT_QUEUE_TIME_WINDOW ('1m')
   */
  readonly window?: string;
}

/** Options of `HpaMetric.queueTime`. */
export interface QueueTimeOptions {
  /**
   * rate() window of the mean queue time (a Prometheus duration). Shorter reacts faster and is
   * noisier; keep it at least 4 scrape intervals (Grafana's `$__rate_interval` rule), so that a
   * missed scrape does not leave the window with one sample.
   * @default DEFAULT_QUEUE_TIME_WINDOW ('1m': 4 scrapes at the ServiceMonitor's 15 s)
   */
  readonly window?: string;
}

/** The queue-time signal's rate() window: 4 scrape intervals at the default 15 s scrape. */
export const DEFAULT_QUEUE_TIME_WINDOW = '1m';

/** Factories of the scaling signals GpuHpa supports. */
export const HpaMetric = {
  /** CPU utilization of the pods' requests, percent (the recipe's 60), from the resource metrics API. */
  cpuUtilization: (percent: number): HpaMetric => ({ kind: 'cpu', target: percent }),
  /** GPU utilization per pod from dcgm-exporter, percent. */
  gpuUtilization: (percent: number): HpaMetric => ({ kind: 'gpu', target: percent }),
  /** In-flight requests per pod (the server's inference_inflight_requests). */
  inflightRequests: (perPod: number): HpaMetric => ({ kind: 'inflight', target: perPod }),
  /** Mean time requests wait in the batcher queue, seconds, over `options.window`. */
  queueTime: (seconds: number, options: QueueTimeOptions = {}): HpaMetric => ({
    kind: 'queueTime',
    target: seconds,
    ...(options.window !== undefined ? { window: options.window } : {}),
  }),
};

/**
 * GpuHpa's default signals: 8 in-flight requests per pod and 20 ms mean queue time, what Triton and
 * KServe scale on. Not GPU utilization: a batching pod's GPU reads busy long before the pod is at
 * capacity, and on time-sliced GPUs every pod sees the whole shared GPU's utilization; the planner
 * (planner/README.md) measured the former default (CPU 60 %, GPU 70 %, in-flight 8) holding 1.6x
 * the pod-hours on the recipe's steps and 1.9x over a day for the same SLO result with up to 10
 * pods (1.2x over a day under main.ts's ceiling of 5). Not CPU either: a GPU pod's CPU says little about its load.
 */
export const DEFAULT_HPA_METRICS: readonly HpaMetric[] = [
  HpaMetric.inflightRequests(8),
  HpaMetric.queueTime(0.02),
];

/** A metric as the HPA evaluates it, resolved for simulators and for checking the metric pipeline. */
export interface ResolvedHpaMetric {
  readonly kind: HpaMetricKind;
  /** The target in the metric's unit (percent, requests per pod, seconds). */
  readonly target: number;
  /** autoscaling/v2 metric source type. */
  readonly type: 'Resource' | 'Pods' | 'External';
  /** `cpu`, the custom metric's name in the adapter's API, or KEDA's external metric name (`s<i>-prometheus`). */
  readonly metricName: string;
  /**
   * How the HPA compares: Utilization (percent of requests, averaged over pods), AverageValue
   * (metric / current replicas vs target) or Value (metric vs target, scaled by current replicas).
   */
  readonly targetType: 'Utilization' | 'AverageValue' | 'Value';
  /** The autoscaling/v2 MetricSpec (in the HPA, or the one KEDA generates). */
  readonly spec: MetricSpec;
  /** PromQL the HPA's value comes from, for this workload: one series per pod (label `pod`) for Pods metrics, one value for KEDA's triggers; absent for cpu. */
  readonly query?: string;
  /** queueTime only: the rate() window of `query` (and of the adapter rule). */
  readonly window?: string;
}

/** The resolved rate() window of a queueTime metric (none for the other kinds). */
export function windowOf(m: HpaMetric): Pick<ResolvedHpaMetric, 'window'> {
  return m.kind === 'queueTime' ? { window: m.window ?? DEFAULT_QUEUE_TIME_WINDOW } : {};
}

/** A cpu metric as every backend resolves it: the resource metrics API's Utilization of requests. */
export function cpuMetric(m: HpaMetric): ResolvedHpaMetric {
  return {
    kind: 'cpu',
    target: m.target,
    type: 'Resource',
    metricName: 'cpu',
    targetType: 'Utilization',
    spec: {
      type: 'Resource',
      resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: m.target } },
    },
  };
}

/** Throws a ValidationError naming `metrics[i]` unless each metric is a known kind, once, in range. */
export function checkMetrics(requested: readonly HpaMetric[], v: Validator): void {
  const seen = new Set<string>();
  requested.forEach((m, i) => {
    const field = `metrics[${i}]`;
    v.oneOf(`${field}.kind`, m.kind, HPA_METRIC_KINDS);
    if (seen.has(m.kind))
      throw v.error(`${field}.kind ${JSON.stringify(m.kind)} is listed twice; list each kind once`);
    seen.add(m.kind);
    if (m.kind === 'cpu' || m.kind === 'gpu') v.integerInRange(`${field}.target (percent)`, m.target, 1, 100);
    if (m.kind === 'inflight')
      v.numberInRange(`${field}.target (requests per pod)`, m.target, 0, 10000, true);
    if (m.kind === 'queueTime') v.numberInRange(`${field}.target (seconds)`, m.target, 0.001, 600);
    if (m.window !== undefined) {
      if (m.kind !== 'queueTime') {
        throw v.error(
          `${field}.window applies to queueTime only, got window ${JSON.stringify(m.window)} on kind ${JSON.stringify(m.kind)}`,
        );
      }
      v.promDuration(`${field}.window`, m.window);
    }
  });
}
