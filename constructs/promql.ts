/**
 * The PromQL vocabulary of the constructs: label escaping, the selectors of "this workload's
 * series" and "this workload's pods", the histogram mean, and prometheus-adapter's Go-template
 * forms of them. GpuHpa, AlertRules, Dashboards and GpuInferenceService build their queries here,
 * so a selector or a mean is written once.
 */
import { DCGM, DCGM_LABELS } from './dcgm-metrics.ts';

/** A label matcher list `{a="x",b=~"y"}` from equality matchers plus raw extra matchers. */
export function selector(labels: Record<string, string>, extra: readonly string[] = []): string {
  const matchers = Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return `{${[...matchers, ...extra].join(',')}}`;
}

/** A regex matching the pods of a Deployment: `<name>-<replicaset hash>-<suffix>`. */
export function deploymentPodRegex(deployment: string): string {
  return `${deployment}-[a-z0-9]+-[a-z0-9]+`;
}

/** What the pod selectors need of a workload. */
export interface PodsOf {
  readonly namespace: string;
  /** Regex matching the names of the workload's pods. */
  readonly podNameRegex: string;
}

/** Names of the namespace and pod labels a series carries its pod in. */
export interface PodLabelNames {
  readonly namespace: string;
  readonly pod: string;
}

/** The labels Prometheus's Kubernetes service discovery gives a scraped pod. */
export const SCRAPED_POD_LABELS: PodLabelNames = { namespace: 'namespace', pod: 'pod' };
/** dcgm-exporter's labels of the workload pod using a GPU (after a prometheus-operator scrape). */
export const DCGM_POD_LABELS: PodLabelNames = {
  namespace: DCGM_LABELS.workloadNamespace,
  pod: DCGM_LABELS.workloadPod,
};

/**
 * The per-pod selector: `{namespace="ns",<labels>,pod=~"<regex>"}`, the series of the workload's
 * pods whatever the Service scraping them (`names` picks the label names, e.g. DCGM_POD_LABELS).
 */
export function podsSelector(
  workload: PodsOf,
  labels: Record<string, string> = {},
  names: PodLabelNames = SCRAPED_POD_LABELS,
): string {
  return selector({ [names.namespace]: workload.namespace, ...labels }, [
    `${names.pod}=~${JSON.stringify(workload.podNameRegex)}`,
  ]);
}

/**
 * The per-workload selector: the labels all of a workload's metric series carry (e.g. namespace and
 * scraping Service), plus raw extra matchers.
 */
export function workloadSelector(
  metricLabels: Record<string, string>,
  extra: readonly string[] = [],
): string {
  return selector(metricLabels, extra);
}

/** kube-state-metrics' selector of a Deployment's series. */
export function deploymentSelector(namespace: string, deployment: string): string {
  return selector({ namespace, deployment });
}

/** ` by (a, b)`, or nothing for no labels. */
export function byClause(labels: readonly string[]): string {
  return labels.length ? ` by (${labels.join(', ')})` : '';
}

/**
 * The mean of a histogram's observations over a rate() window, 0 when nothing was observed:
 * `sum by (...) (rate(<sum>[w])) / clamp_min(sum by (...) (rate(<count>[w])), 1e-9)`. `sumSeries`
 * and `countSeries` are the selected `_sum` and `_count` series.
 */
export function meanOfRates(
  sumSeries: string,
  countSeries: string,
  window: string,
  groupBy: readonly string[] = [],
): string {
  const by = byClause(groupBy);
  return `sum${by} (rate(${sumSeries}[${window}])) / clamp_min(sum${by} (rate(${countSeries}[${window}])), 1e-9)`;
}

/** {@link meanOfRates} of histogram `metric` under one selector. */
export function histogramMean(
  metric: string,
  sel: string,
  window: string,
  groupBy: readonly string[] = [],
): string {
  return meanOfRates(`${metric}_sum${sel}`, `${metric}_count${sel}`, window, groupBy);
}

/**
 * GPU utilization (percent) of each of a workload's pods, from dcgm-exporter's workload-pod labels,
 * as a series with a `pod` label.
 */
export function gpuUtilizationByPod(workload: PodsOf): string {
  const sel = podsSelector(workload, {}, DCGM_POD_LABELS);
  return `label_replace(avg by (${DCGM_LABELS.workloadPod}) (${DCGM.gpuUtil}${sel}), "pod", "$1", "${DCGM_LABELS.workloadPod}", "(.*)")`;
}

/**
 * prometheus-adapter's template forms (its `metricsQuery` is a Go template): the matched series,
 * the label matchers selecting the pods asked for, and the grouping labels.
 */
export const ADAPTER_TEMPLATE = {
  series: '<<.Series>>',
  labelMatchers: '<<.LabelMatchers>>',
  groupBy: '<<.GroupBy>>',
  /** `{<<.LabelMatchers>>}`: the adapter's selector of the pods (or objects) asked for. */
  selector: '{<<.LabelMatchers>>}',
} as const;

/** kube-state-metrics' selector of a HorizontalPodAutoscaler's series. */
export function hpaSelector(namespace: string, hpaName: string): string {
  return selector({ namespace, horizontalpodautoscaler: hpaName });
}
