/**
 * Prometheus query results to the HPA computation's metric observations, for checking a real
 * metric pipeline against the planner: an instant vector from `/api/v1/query` becomes per-pod samples
 * (Pods metrics) or one value (Object/External), in milli-units as the HPA reads Quantities.
 */
import type { MetricObservation } from './controller.ts';
import type { PodMetric } from './replica-calculator.ts';
import { quantityToMilli } from './spec.ts';

/** One element of an instant-vector result (`data.result[i]` with `resultType: "vector"`). */
export interface PromVectorSample {
  readonly metric: Readonly<Record<string, string>>;
  /** [unix seconds, "value"] */
  readonly value: readonly [number, string];
}

function milli(sample: PromVectorSample, index: number): number {
  const v = Number(sample.value[1]);
  if (!Number.isFinite(v)) {
    throw new RangeError(`result[${index}].value: ${JSON.stringify(sample.value[1])} is not a finite number`);
  }
  return quantityToMilli(v, `result[${index}].value`);
}

/**
 * Per-pod samples keyed by `podLabel` (the adapter's `pod`, or dcgm-exporter's `exported_pod`).
 * `window` is the sample window the HPA compares against readiness for CPU (seconds).
 */
export function podSamplesFromVector(
  result: readonly PromVectorSample[],
  options: { podLabel?: string; windowSeconds?: number } = {},
): MetricObservation {
  const label = options.podLabel ?? 'pod';
  const samples = new Map<string, PodMetric>();
  result.forEach((s, i) => {
    const pod = s.metric[label];
    if (pod === undefined)
      throw new RangeError(`result[${i}]: no "${label}" label in ${JSON.stringify(s.metric)}`);
    if (samples.has(pod))
      throw new RangeError(`result[${i}]: pod ${JSON.stringify(pod)} appears twice; aggregate by (${label})`);
    samples.set(pod, { value: milli(s, i), timestamp: s.value[0], window: options.windowSeconds ?? 0 });
  });
  return { podSamples: samples };
}

/** An Object metric's value, or an External metric's value: the sum of the returned series. */
export function valueFromVector(result: readonly PromVectorSample[]): MetricObservation {
  return { valueMilli: result.reduce((sum, s, i) => sum + milli(s, i), 0) };
}
