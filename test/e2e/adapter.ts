/**
 * What prometheus-adapter does with a custom-metrics rule, for the signal-chain test: discover the
 * series (`seriesQuery` through `/api/v1/series`, `seriesFilters`, `name.matches`/`name.as`, the
 * resources a series' labels map to), then answer "metric M for these pods in namespace N" by
 * templating `metricsQuery` exactly as the adapter does and reading one value per pod from the result.
 *
 * Upstream (kubernetes-sigs/prometheus-adapter):
 * - pkg/naming/metrics_query.go: Build() — LabelMatchers is the namespace matcher then the resource
 *   matcher, joined by ","; one name gives `pod="a"`, several give `pod=~"a|b"` (values %q-quoted);
 *   GroupBy is the resource label; LabelValuesByName maps label -> "a|b".
 * - pkg/naming/metric_namer.go: name.matches (default `.*`), name.as (default `$0`, or `$1` with one
 *   capture group), expanded with Go's Regexp.ExpandString.
 * - pkg/naming/resource_converter.go: overrides map label -> group-resource; otherwise the
 *   `resources.template` (e.g. `<<.Resource>>`) renders the singular resource name.
 * - pkg/client/helpers.go: LabelEq/LabelMatches format `%s=%q` / `%s=~%q`.
 */
import { executeTemplate, type TemplateData } from './go-template.ts';
import type { Prometheus, Sample } from './prometheus.ts';

export interface GroupResource {
  readonly group?: string;
  readonly resource: string;
}

/** One entry of the adapter config's `rules` (or `externalRules`). */
export interface AdapterRule {
  readonly seriesQuery: string;
  readonly seriesFilters?: readonly { readonly is?: string; readonly isNot?: string }[];
  readonly resources?: {
    readonly overrides?: Readonly<Record<string, GroupResource>>;
    readonly template?: string;
  };
  readonly name?: { readonly matches?: string; readonly as?: string };
  readonly metricsQuery: string;
}

// The RESTMapper's singular/plural forms of the resources a metrics rule can name.
const RESOURCES: Readonly<Record<string, { plural: string; group: string }>> = {
  pod: { plural: 'pods', group: '' },
  namespace: { plural: 'namespaces', group: '' },
  node: { plural: 'nodes', group: '' },
  service: { plural: 'services', group: '' },
  deployment: { plural: 'deployments', group: 'apps' },
  statefulset: { plural: 'statefulsets', group: 'apps' },
  daemonset: { plural: 'daemonsets', group: 'apps' },
  replicaset: { plural: 'replicasets', group: 'apps' },
  job: { plural: 'jobs', group: 'batch' },
};

/** The normalized (plural, lower-case) resource name, as the adapter's RESTMapper gives it. */
export function normalizeResource(resource: string): string {
  const lower = resource.toLowerCase();
  if (RESOURCES[lower]) return RESOURCES[lower].plural;
  const known = Object.values(RESOURCES).find((r) => r.plural === lower);
  if (known) return known.plural;
  throw new Error(
    `resource ${JSON.stringify(resource)} is not one this harness knows (known: ${Object.keys(RESOURCES).join(', ')})`,
  );
}

function singular(plural: string): string {
  const entry = Object.entries(RESOURCES).find(([, r]) => r.plural === plural);
  if (!entry) throw new Error(`no singular form known for resource ${plural}`);
  return entry[0];
}

/** ResourceConverter.LabelForResource: the Prometheus label holding a resource's name. */
export function labelForResource(rule: AdapterRule, resource: string): string {
  const wanted = normalizeResource(resource);
  for (const [label, gr] of Object.entries(rule.resources?.overrides ?? {})) {
    if (normalizeResource(gr.resource) === wanted) return label;
  }
  const template = rule.resources?.template;
  if (!template) {
    throw new Error(
      `rule ${JSON.stringify(rule.seriesQuery)}: no resources.overrides entry for ${wanted} and no resources.template`,
    );
  }
  const group = (RESOURCES[singular(wanted)].group ?? '').replace(/[.-]/g, '_');
  const label = executeTemplate(template, { Group: group, Resource: singular(wanted) });
  if (label === '') throw new Error('empty label produced by label template');
  return label;
}

/** ResourceConverter.ResourcesForSeries: the resources a series' labels name. */
export function resourcesForSeries(rule: AdapterRule, labels: Readonly<Record<string, string>>): string[] {
  const out: string[] = [];
  for (const label of Object.keys(labels)) {
    const override = rule.resources?.overrides?.[label];
    if (override) {
      out.push(normalizeResource(override.resource));
      continue;
    }
    if (rule.resources?.template) {
      for (const name of Object.keys(RESOURCES)) {
        if (labelForResource({ ...rule, resources: { template: rule.resources.template } }, name) === label) {
          out.push(RESOURCES[name].plural);
        }
      }
    }
  }
  return out;
}

/** Go's %q for the label values the adapter quotes (ASCII names: backslash and quote escaped). */
function goQuote(value: string): string {
  return JSON.stringify(value);
}

/**
 * Go's Regexp.ExpandString: `$name` takes the longest run of [A-Za-z0-9_] (so `$1_total` names a
 * group called "1_total", which expands to ""), `${name}` is explicit, `$$` is a dollar.
 */
export function goExpand(template: string, match: RegExpExecArray): string {
  return template.replace(/\$(\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g, (_all, dollar, braced, bare) => {
    if (dollar === '$') return '$';
    const name: string = braced ?? bare;
    if (/^[0-9]+$/.test(name)) return match[Number(name)] ?? '';
    return match.groups?.[name] ?? '';
  });
}

/** RE2 syntax that JavaScript spells differently: `(?P<name>` is `(?<name>`. */
function goRegExp(source: string): RegExp {
  return new RegExp(source.replace(/\(\?P</g, '(?<'));
}

/** MetricNamer.MetricNameForSeries plus the series filters: the API name, or undefined if filtered. */
export function metricNameForSeries(rule: AdapterRule, seriesName: string): string | undefined {
  for (const filter of rule.seriesFilters ?? []) {
    if (filter.is !== undefined && !goRegExp(filter.is).test(seriesName)) return undefined;
    if (filter.isNot !== undefined && goRegExp(filter.isNot).test(seriesName)) return undefined;
  }
  const matches = goRegExp(rule.name?.matches || '.*');
  const match = matches.exec(seriesName);
  if (!match) return undefined;
  let as = rule.name?.as;
  if (!as) {
    const groups = new RegExp(`${matches.source}|`).exec('')!.length - 1;
    if (groups === 0) as = '$0';
    else if (groups === 1) as = '$1';
    else throw new Error(`must specify an 'as' value for name matcher ${JSON.stringify(rule.name?.matches)}`);
  }
  return goExpand(as, match);
}

/** MetricsQuery.Build for a namespaced resource and the named objects, with an empty metric selector. */
export function buildQuery(
  rule: AdapterRule,
  series: string,
  resource: string,
  namespace: string,
  names: readonly string[],
): string {
  const exprs: string[] = [];
  const valuesByName: Record<string, string> = {};
  if (namespace !== '') {
    const nsLabel = labelForResource(rule, 'namespaces');
    exprs.push(`${nsLabel}=${goQuote(namespace)}`);
    valuesByName[nsLabel] = namespace;
  }
  const resourceLabel = labelForResource(rule, resource);
  const target = names.join('|');
  exprs.push(
    names.length > 1 ? `${resourceLabel}=~${goQuote(target)}` : `${resourceLabel}=${goQuote(target)}`,
  );
  valuesByName[resourceLabel] = target;
  const args: TemplateData = {
    Series: series,
    LabelMatchers: exprs.join(','),
    LabelValuesByName: valuesByName,
    GroupBy: resourceLabel,
    GroupBySlice: [resourceLabel],
  };
  const query = executeTemplate(rule.metricsQuery, args);
  if (query === '') throw new Error('empty query produced by metrics query template');
  return query;
}

export interface DiscoveredMetric {
  readonly name: string;
  readonly series: string;
  readonly resources: readonly string[];
  readonly namespaced: boolean;
  readonly rule: AdapterRule;
}

/** The adapter's discovery: every custom metric the rules offer, from the series Prometheus holds. */
export async function discoverMetrics(
  prometheus: Prometheus,
  rules: readonly AdapterRule[],
): Promise<DiscoveredMetric[]> {
  const out: DiscoveredMetric[] = [];
  for (const rule of rules) {
    const seen = new Set<string>();
    for (const labels of await prometheus.series(rule.seriesQuery)) {
      const series = labels.__name__;
      const name = metricNameForSeries(rule, series);
      if (name === undefined) continue;
      const resources = resourcesForSeries(rule, labels);
      const key = `${name}|${series}|${resources.join(',')}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ name, series, resources, namespaced: resources.includes('namespaces'), rule });
    }
  }
  return out;
}

export interface PodMetricValues {
  readonly query: string;
  /** Value per pod name; a pod with no sample is absent (the HPA treats it as missing). */
  readonly values: ReadonlyMap<string, number>;
}

/**
 * What the HPA's `type: Pods` metric gets from `custom.metrics.k8s.io` for the pods of a workload:
 * find the discovered metric offered for pods, build its query for the pod names, read the values
 * by the pod label. Throws the adapter's "could not find the metric" when discovery has no match.
 */
export async function podsMetric(
  prometheus: Prometheus,
  rules: readonly AdapterRule[],
  metricName: string,
  namespace: string,
  pods: readonly string[],
): Promise<PodMetricValues> {
  const discovered = await discoverMetrics(prometheus, rules);
  const metric = discovered.find(
    (m) => m.name === metricName && m.namespaced && m.resources.includes('pods'),
  );
  if (!metric) {
    const offered = discovered.map((m) => `${m.name} (${m.resources.join(',') || 'no resources'})`);
    throw new Error(
      `the server could not find the metric ${metricName} for pods (adapter rules offer: ${offered.join('; ') || 'nothing'})`,
    );
  }
  const query = buildQuery(metric.rule, metric.series, 'pods', namespace, pods);
  const podLabel = labelForResource(metric.rule, 'pods');
  const samples: Sample[] = await prometheus.query(query);
  const values = new Map<string, number>();
  for (const sample of samples) {
    const pod = sample.metric[podLabel];
    if (pod !== undefined && pods.includes(pod) && Number.isFinite(sample.value))
      values.set(pod, sample.value);
  }
  return { query, values };
}
