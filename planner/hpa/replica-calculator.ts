/**
 * The HPA replica calculator: desired replicas from one metric.
 *
 * A line-by-line port of kubernetes/kubernetes pkg/controller/podautoscaler/replica_calculator.go
 * and metrics/utilization.go (the revision with per-direction tolerances and the max(100, target)
 * fallback for missing pods). Times are seconds on one axis chosen by the caller; milli-values are
 * integers, as the Go code's int64 `MilliValue()`s are.
 */
import { INT32_MAX } from '../../constructs/autoscaling-v2/limits.ts';
import { goDiv, goTrunc } from './int.ts';

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

/** What the calculator reads from one pod of the target's selector. */
export interface PodState {
  readonly name: string;
  readonly phase: PodPhase;
  /** Status of the Ready condition; null when the pod has no Ready condition. */
  readonly ready: boolean | null;
  /** lastTransitionTime of the Ready condition (seconds). Ignored when `ready` is null. */
  readonly readyTransitionTime: number;
  /** status.startTime (seconds); null when not set. */
  readonly startTime: number | null;
  /** metadata.deletionTimestamp is set. */
  readonly deleting: boolean;
  /** Sum of the containers' requests of the metric's resource (milli); null when a container has none. */
  readonly requestMilli: number | null;
}

/** One per-pod sample from the resource or custom metrics API. */
export interface PodMetric {
  readonly value: number;
  /** Sample timestamp (seconds). */
  readonly timestamp: number;
  /** Sample window (seconds). */
  readonly window: number;
}

export type PodMetrics = Map<string, PodMetric>;

/**
 * Tolerance around a usage ratio of 1 inside which the HPA does not scale:
 * `1 - scaleDown <= ratio <= 1 + scaleUp`.
 */
export interface Tolerances {
  readonly scaleDown: number;
  readonly scaleUp: number;
}

export function isWithinTolerance(ratio: number, t: Tolerances): boolean {
  return 1.0 - t.scaleDown <= ratio && ratio <= 1.0 + t.scaleUp;
}

/** Controller timing flags that affect the CPU readiness rules. */
export interface CalculatorConfig {
  /** --horizontal-pod-autoscaler-cpu-initialization-period (production default 300 s). */
  readonly cpuInitializationPeriodSeconds: number;
  /** --horizontal-pod-autoscaler-initial-readiness-delay (production default 30 s). */
  readonly delayOfInitialReadinessStatusSeconds: number;
}

export const PRODUCTION_CALCULATOR_CONFIG: CalculatorConfig = {
  cpuInitializationPeriodSeconds: 300,
  delayOfInitialReadinessStatusSeconds: 30,
};

export class ReplicaCalculationError extends Error {
  override readonly name = 'ReplicaCalculationError';
}

export interface ResourceUtilizationResult {
  readonly replicas: number;
  /** Current utilization, integer percent of request. */
  readonly utilization: number;
  /** Raw average usage per pod (milli). */
  readonly rawValue: number;
}

export interface ValueResult {
  readonly replicas: number;
  /** Average per pod (Pods), the value (Object/External Value) or ceil(value/replicas) (AverageValue). */
  readonly value: number;
}

export type PodGroup = 'ready' | 'unready' | 'missing' | 'ignored';

export interface PodGrouping {
  readonly readyCount: number;
  readonly unready: Set<string>;
  readonly missing: Set<string>;
  readonly ignored: Set<string>;
  readonly groupOf: Map<string, PodGroup>;
}

/** groupPods: classify the selector's pods. `resource` is 'cpu' only for the CPU resource metric. */
export function groupPods(
  pods: readonly PodState[],
  metrics: PodMetrics,
  resource: string | null,
  config: CalculatorConfig,
  now: number,
): PodGrouping {
  const unready = new Set<string>();
  const missing = new Set<string>();
  const ignored = new Set<string>();
  const groupOf = new Map<string, PodGroup>();
  let readyCount = 0;
  for (const pod of pods) {
    if (pod.deleting || pod.phase === 'Failed') {
      ignored.add(pod.name);
      groupOf.set(pod.name, 'ignored');
      continue;
    }
    if (pod.phase === 'Pending') {
      unready.add(pod.name);
      groupOf.set(pod.name, 'unready');
      continue;
    }
    const metric = metrics.get(pod.name);
    if (metric === undefined) {
      missing.add(pod.name);
      groupOf.set(pod.name, 'missing');
      continue;
    }
    if (resource === 'cpu') {
      let isUnready: boolean;
      if (pod.ready === null || pod.startTime === null) {
        isUnready = true;
      } else if (pod.startTime + config.cpuInitializationPeriodSeconds > now) {
        // Still initializing: trust the sample only once a full metric window follows readiness.
        isUnready = !pod.ready || metric.timestamp < pod.readyTransitionTime + metric.window;
      } else {
        // Past initialization: ignore only pods that never became ready after starting.
        isUnready =
          !pod.ready && pod.startTime + config.delayOfInitialReadinessStatusSeconds > pod.readyTransitionTime;
      }
      if (isUnready) {
        unready.add(pod.name);
        groupOf.set(pod.name, 'unready');
        continue;
      }
    }
    readyCount++;
    groupOf.set(pod.name, 'ready');
  }
  return { readyCount, unready, missing, ignored, groupOf };
}

/** calculatePodRequests: every listed pod must request the resource. */
function podRequests(pods: readonly PodState[], resource: string): Map<string, number> {
  const requests = new Map<string, number>();
  for (const pod of pods) {
    if (pod.requestMilli === null) {
      throw new ReplicaCalculationError(`missing request for ${resource} in pod ${pod.name}`);
    }
    requests.set(pod.name, pod.requestMilli);
  }
  return requests;
}

function removeMetricsForPods(metrics: PodMetrics, pods: Set<string>): void {
  for (const name of pods) metrics.delete(name);
}

/** metricsclient.GetResourceUtilizationRatio. */
export function resourceUtilizationRatio(
  metrics: PodMetrics,
  requests: Map<string, number>,
  targetUtilization: number,
): { ratio: number; utilization: number; rawValue: number } {
  let metricsTotal = 0;
  let requestsTotal = 0;
  let entries = 0;
  for (const [name, metric] of metrics) {
    const request = requests.get(name);
    // A sample for a pod without a known request is extraneous (an unlisted pod): skipped.
    if (request === undefined) continue;
    metricsTotal += metric.value;
    requestsTotal += request;
    entries++;
  }
  if (requestsTotal === 0) throw new ReplicaCalculationError('no metrics returned matched known pods');
  const utilization = goDiv(metricsTotal * 100, requestsTotal);
  return { ratio: utilization / targetUtilization, utilization, rawValue: goDiv(metricsTotal, entries) };
}

/** metricsclient.GetMetricUsageRatio. */
export function metricUsageRatio(metrics: PodMetrics, targetUsage: number): { ratio: number; usage: number } {
  let total = 0;
  for (const metric of metrics.values()) total += metric.value;
  const usage = goDiv(total, metrics.size);
  return { ratio: usage / targetUsage, usage };
}

function sample(value: number): PodMetric {
  return { value, timestamp: 0, window: 0 };
}

/** The pods' grouping and the samples of the ready ones (see readyPodMetrics). */
interface ReadyPodMetrics {
  readonly grouping: PodGrouping;
  readonly metrics: PodMetrics;
}

/**
 * The common tail of GetResourceReplicas / calcPlainMetricReplicas once the first ratio is known:
 * the fast path, then re-filling missing and unready pods and recomputing.
 */
function replicasFromGroups(
  args: PodMetricArgs,
  ready: ReadyPodMetrics,
  usage: {
    usageRatio: number;
    missingFill: (pod: string) => number;
    recompute: (metrics: PodMetrics) => number;
  },
): number {
  const { currentReplicas, tolerances } = args;
  const { grouping, metrics } = ready;
  const { usageRatio } = usage;
  const scaleUpWithUnready = grouping.unready.size > 0 && usageRatio > 1.0;
  if (!scaleUpWithUnready && grouping.missing.size === 0) {
    if (isWithinTolerance(usageRatio, tolerances)) return currentReplicas;
    return goTrunc(Math.ceil(usageRatio * grouping.readyCount));
  }
  if (grouping.missing.size > 0) {
    if (usageRatio < 1.0) {
      // Scale-down: a pod without a sample is assumed busy, so it cannot cause an over-eager scale-down.
      for (const name of grouping.missing) metrics.set(name, sample(usage.missingFill(name)));
    } else if (usageRatio > 1.0) {
      // Scale-up: assume it idle, so it cannot cause an over-eager scale-up.
      for (const name of grouping.missing) metrics.set(name, sample(0));
    }
  }
  if (scaleUpWithUnready) {
    for (const name of grouping.unready) metrics.set(name, sample(0));
  }
  const newUsageRatio = usage.recompute(metrics);
  if (
    isWithinTolerance(newUsageRatio, tolerances) ||
    (usageRatio > 1.0 && newUsageRatio < 1.0) ||
    (usageRatio < 1.0 && newUsageRatio > 1.0)
  ) {
    return currentReplicas;
  }
  const newReplicas = goTrunc(Math.ceil(newUsageRatio * metrics.size));
  if (
    (newUsageRatio < 1.0 && newReplicas > currentReplicas) ||
    (newUsageRatio > 1.0 && newReplicas < currentReplicas)
  ) {
    return currentReplicas;
  }
  return newReplicas;
}

export interface PodMetricArgs {
  readonly currentReplicas: number;
  readonly pods: readonly PodState[];
  /** Samples by pod name; may include pods that are not listed. Not modified. */
  readonly metrics: PodMetrics;
  readonly tolerances: Tolerances;
  readonly config: CalculatorConfig;
  readonly now: number;
}

/**
 * The common head of GetResourceReplicas / calcPlainMetricReplicas: group the pods, then keep only
 * the samples of ready pods (a copy; `args.metrics` is not modified). Fails without pods or samples.
 */
function readyPodMetrics(args: PodMetricArgs & { readonly resource: string | null }): ReadyPodMetrics {
  const metrics: PodMetrics = new Map(args.metrics);
  if (args.pods.length === 0) {
    throw new ReplicaCalculationError('no pods returned by selector while calculating replica count');
  }
  const grouping = groupPods(args.pods, metrics, args.resource, args.config, args.now);
  removeMetricsForPods(metrics, grouping.ignored);
  removeMetricsForPods(metrics, grouping.unready);
  if (metrics.size === 0) {
    throw new ReplicaCalculationError('did not receive metrics for targeted pods (pods might be unready)');
  }
  return { metrics, grouping };
}

/** GetResourceReplicas: a Resource metric with a Utilization target (integer percent of request). */
export function resourceUtilizationReplicas(
  args: PodMetricArgs & { readonly resource: string; readonly targetUtilization: number },
): ResourceUtilizationResult {
  const ready = readyPodMetrics(args);
  const requests = podRequests(args.pods, args.resource);
  const first = resourceUtilizationRatio(ready.metrics, requests, args.targetUtilization);
  const fallbackUtilization = Math.max(100, args.targetUtilization);
  const replicas = replicasFromGroups(args, ready, {
    usageRatio: first.ratio,
    missingFill: (name) => goDiv((requests.get(name) ?? 0) * fallbackUtilization, 100),
    recompute: (m) => resourceUtilizationRatio(m, requests, args.targetUtilization).ratio,
  });
  return { replicas, utilization: first.utilization, rawValue: first.rawValue };
}

/**
 * calcPlainMetricReplicas: a Pods metric (resource = null) or a Resource metric with an
 * AverageValue target (resource = its name), against a per-pod average target in milli.
 */
export function averageValueReplicas(
  args: PodMetricArgs & { readonly resource: string | null; readonly targetAverageMilli: number },
): ValueResult {
  const ready = readyPodMetrics(args);
  const first = metricUsageRatio(ready.metrics, args.targetAverageMilli);
  const replicas = replicasFromGroups(args, ready, {
    usageRatio: first.ratio,
    missingFill: () => args.targetAverageMilli,
    recompute: (m) => metricUsageRatio(m, args.targetAverageMilli).ratio,
  });
  return { replicas, value: first.usage };
}

/** getReadyPodsCount: Running pods whose Ready condition is True. */
export function readyPodCount(pods: readonly PodState[]): number {
  if (pods.length === 0) {
    throw new ReplicaCalculationError('no pods returned by selector while calculating replica count');
  }
  return pods.filter((p) => p.phase === 'Running' && p.ready === true).length;
}

/**
 * GetObjectMetricReplicas / GetExternalMetricReplicas (Value target): `valueMilli` is the object's
 * value, or the sum of the external samples.
 */
export function objectValueReplicas(args: {
  readonly currentReplicas: number;
  readonly valueMilli: number;
  readonly targetMilli: number;
  readonly tolerances: Tolerances;
  readonly pods: readonly PodState[];
}): ValueResult {
  const usageRatio = args.valueMilli / args.targetMilli;
  if (args.currentReplicas === 0) {
    // Scale from zero: no tolerance and no pods to count.
    return { replicas: goTrunc(Math.ceil(usageRatio)), value: args.valueMilli };
  }
  if (isWithinTolerance(usageRatio, args.tolerances)) {
    return { replicas: args.currentReplicas, value: args.valueMilli };
  }
  const replicas = usageRatio * readyPodCount(args.pods);
  return {
    // Proposals beyond int32 are capped, as upstream does for Object/External metrics.
    replicas: replicas > INT32_MAX ? INT32_MAX : goTrunc(Math.ceil(replicas)),
    value: args.valueMilli,
  };
}

/**
 * GetObjectPerPodMetricReplicas / GetExternalPerPodMetricReplicas (AverageValue target on an
 * Object or External metric). `statusReplicas` is the scale's status replica count; pods are not consulted.
 */
export function objectAverageValueReplicas(args: {
  readonly statusReplicas: number;
  readonly valueMilli: number;
  readonly targetAverageMilli: number;
  readonly tolerances: Tolerances;
}): ValueResult {
  let replicas = args.statusReplicas;
  const usageRatio = args.valueMilli / (args.targetAverageMilli * replicas);
  if (!isWithinTolerance(usageRatio, args.tolerances)) {
    const wanted = Math.ceil(args.valueMilli / args.targetAverageMilli);
    replicas = wanted > INT32_MAX ? INT32_MAX : goTrunc(wanted);
  }
  return { replicas, value: goTrunc(Math.ceil(args.valueMilli / args.statusReplicas)) };
}
