/**
 * Every target of the Grafana dashboards the cluster holds (ConfigMaps labelled `grafana_dashboard`,
 * as Grafana's sidecar finds them), evaluated against the operator-configured Prometheus the way
 * Grafana would send them: `$__rate_interval` and friends replaced by a fixed window.
 */
import { kubectlJson } from '../../cluster/kubectl.ts';
import type { Layout } from '../../cluster/layout.ts';
import { substituteGrafanaVariables } from '../constructs/promql-helpers.ts';

export interface DashboardResult {
  readonly panel: string;
  readonly expr: string;
  readonly series: number;
  readonly error?: string;
}

export async function evaluateDashboards(
  l: Layout,
  prometheus: string,
  window = '1m',
): Promise<DashboardResult[]> {
  const maps = kubectlJson<{ items: { data?: Record<string, string> }[] }>(l, [
    'get',
    'configmaps',
    '-A',
    '-l',
    'grafana_dashboard',
  ]).items;
  const targets = maps.flatMap((m) =>
    Object.values(m.data ?? {}).flatMap((json) =>
      (JSON.parse(json) as { panels: { title: string; targets?: { expr: string }[] }[] }).panels.flatMap(
        (p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })),
      ),
    ),
  );
  if (targets.length === 0)
    throw new Error('the cluster holds no Grafana dashboard ConfigMap (label grafana_dashboard)');
  const out: DashboardResult[] = [];
  for (const t of targets) {
    const r = (await (
      await fetch(
        `${prometheus}/api/v1/query?query=${encodeURIComponent(substituteGrafanaVariables(t.expr, window))}`,
      )
    ).json()) as { status: string; error?: string; data?: { result: unknown[] } };
    out.push({ ...t, series: r.data?.result.length ?? 0, ...(r.error ? { error: r.error } : {}) });
  }
  return out;
}
