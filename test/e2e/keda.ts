/**
 * What KEDA's Prometheus scaler does with a ScaledObject trigger, for the signal-chain test.
 *
 * Upstream (kedacore/keda pkg/scalers/prometheus_scaler.go, ExecutePromQuery and
 * GetMetricsAndActivity): the trigger's `query` runs as an instant query; an empty result is 0 when
 * `ignoreNullValues` (default true) and an error otherwise; more than one element is an error
 * ("prometheus query ... returned multiple elements"); NaN/Inf is 0 or an error the same way. The
 * trigger is active when the value is > `activationThreshold` (default 0). The HPA KEDA creates
 * gets an External metric named `s<index>-prometheus` whose target is `threshold` as an AverageValue
 * unless the trigger sets `metricType: Value` (pkg/scalers/scaler.go GetMetricTargetType).
 */
import type { Prometheus } from './prometheus.ts';

export interface KedaPrometheusTrigger {
  readonly type: string;
  readonly name?: string;
  readonly metricType?: 'AverageValue' | 'Value' | 'Utilization';
  readonly metadata: Readonly<Record<string, string>>;
}

export interface KedaTriggerResult {
  /** The External metric name on the HPA KEDA creates. */
  readonly metricName: string;
  readonly query: string;
  readonly value: number;
  readonly active: boolean;
  readonly targetType: 'AverageValue' | 'Value';
  readonly threshold: number;
  /** How many series the query returned (0 or 1 where it succeeded). */
  readonly elements: number;
}

function parseNumber(trigger: KedaPrometheusTrigger, key: string, fallback?: number): number {
  const raw = trigger.metadata[key];
  if (raw === undefined) {
    if (fallback !== undefined) return fallback;
    throw new Error(`KEDA prometheus trigger: metadata.${key} is required`);
  }
  const value = Number(raw);
  if (!Number.isFinite(value)) {
    throw new Error(`KEDA prometheus trigger: metadata.${key} ${JSON.stringify(raw)} is not a number`);
  }
  return value;
}

export async function evaluateKedaTrigger(
  prometheus: Prometheus,
  trigger: KedaPrometheusTrigger,
  index: number,
): Promise<KedaTriggerResult> {
  if (trigger.type !== 'prometheus') {
    throw new Error(`KEDA trigger ${index}: type ${JSON.stringify(trigger.type)} is not "prometheus"`);
  }
  const query = trigger.metadata.query;
  if (!query) throw new Error(`KEDA trigger ${index}: metadata.query is required`);
  const threshold = parseNumber(trigger, 'threshold');
  const activationThreshold = parseNumber(trigger, 'activationThreshold', 0);
  const ignoreNull = !['false', 'f', '0'].includes(
    (trigger.metadata.ignoreNullValues ?? 'true').toLowerCase(),
  );
  if (trigger.metricType === 'Utilization') {
    throw new Error(
      `KEDA trigger ${index}: metricType Utilization is not supported by the prometheus scaler`,
    );
  }
  const targetType = trigger.metricType ?? 'AverageValue';

  const samples = await prometheus.query(query);
  let value: number;
  if (samples.length === 0) {
    if (!ignoreNull)
      throw new Error(`prometheus metrics 'prometheus' target may be lost, the result is empty`);
    value = 0;
  } else if (samples.length > 1) {
    throw new Error(`prometheus query ${query} returned multiple elements`);
  } else if (!Number.isFinite(samples[0].value)) {
    if (!ignoreNull) throw new Error(`prometheus query returns ${samples[0].value}`);
    value = 0;
  } else {
    value = samples[0].value;
  }
  return {
    metricName: `s${index}-prometheus`,
    query,
    value,
    active: value > activationThreshold,
    targetType,
    threshold,
    elements: samples.length,
  };
}
