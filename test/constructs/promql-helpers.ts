/**
 * What the tests do to the constructs' PromQL before running it, done by Grafana or
 * prometheus-adapter in a cluster. Test-only: the package does not export them.
 */
import type { AdapterRule } from '../../constructs/index.ts';

/** Replace Grafana's built-in interval variables with a fixed window, for validating with promtool. */
export function substituteGrafanaVariables(expr: string, window = '5m'): string {
  return expr.replace(/\$__rate_interval|\$__interval|\$__range/g, window);
}

/**
 * Render a rule's metricsQuery the way prometheus-adapter does for one request: `<<.Series>>` is the
 * series name, `<<.LabelMatchers>>` the comma-joined matchers (namespace and pods, on the labels the
 * rule's overrides name), `<<.GroupBy>>` the resource label (the pod label).
 */
export function renderAdapterQuery(
  rule: AdapterRule,
  series: string,
  labelMatchers: readonly string[],
  groupBy: readonly string[],
): string {
  return rule.metricsQuery
    .replaceAll('<<.Series>>', series)
    .replaceAll('<<.LabelMatchers>>', labelMatchers.join(','))
    .replaceAll('<<.GroupBy>>', groupBy.join(','));
}
