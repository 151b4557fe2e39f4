/**
 * Checks of the links between the synthesized objects, each answering with a message that names
 * the link when it is broken: a pod's tolerations against the nodes' taints, a ServiceMonitor's
 * port against its Service's ports and Prometheus' targets, an HPA metric against what the
 * custom metrics API serves.
 */
import { kubectlJson, kubectlRun } from '../../cluster/kubectl.ts';
import type { Layout } from '../../cluster/layout.ts';
import { tolerates, type Taint, type Toleration } from '../tolerations.ts';

/** Per node, the NoSchedule/NoExecute taints none of the pod's tolerations tolerate. */
export function untoleratedTaints(l: Layout, namespace: string, pod: string): string {
  const p = kubectlJson<{ spec: { tolerations?: Toleration[] } }>(l, ['get', 'pod', '-n', namespace, pod]);
  const nodes = kubectlJson<{ items: { metadata: { name: string }; spec: { taints?: Taint[] } }[] }>(l, [
    'get',
    'nodes',
  ]);
  return nodes.items
    .map((n) => {
      const bad = (n.spec.taints ?? []).filter(
        (taint) =>
          taint.effect !== 'PreferNoSchedule' && !(p.spec.tolerations ?? []).some((t) => tolerates(t, taint)),
      );
      return bad.length
        ? `${n.metadata.name}: ${bad.map((t) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`).join(', ')}`
        : '';
    })
    .filter(Boolean)
    .join('; ');
}

interface Target {
  scrapePool: string;
  health: string;
  labels: Record<string, string>;
  lastError: string;
}

/** Prometheus' active targets of a job, or a message naming why there are none. */
export async function scrapeLink(
  l: Layout,
  prometheus: string,
  sm: { namespace: string; name: string },
): Promise<{ healthy: Target[]; problem?: string }> {
  const job = `serviceMonitor/${sm.namespace}/${sm.name}/0`;
  const r = (await (await fetch(`${prometheus}/api/v1/targets?state=active`)).json()) as {
    data: { activeTargets: Target[] };
  };
  const healthy = r.data.activeTargets.filter((t) => t.scrapePool === job && t.health === 'up');
  if (healthy.length) return { healthy };
  const monitor = kubectlJson<{
    spec: { endpoints: { port?: string }[]; selector: { matchLabels?: Record<string, string> } };
  }>(l, ['get', 'servicemonitor', '-n', sm.namespace, sm.name]);
  const selector = Object.entries(monitor.spec.selector.matchLabels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const services = kubectlJson<{
    items: { metadata: { name: string }; spec: { ports: { name?: string }[] } }[];
  }>(l, ['get', 'svc', '-n', sm.namespace, '-l', selector]).items;
  const port = monitor.spec.endpoints[0]?.port;
  const ports = services.flatMap((s) => s.spec.ports.map((p) => `${s.metadata.name}:${p.name}`));
  return {
    healthy,
    problem:
      `no healthy target in Prometheus job ${job}: ServiceMonitor ${sm.namespace}/${sm.name} scrapes port ${JSON.stringify(port)}, ` +
      `its selector ${selector} matches Service ports ${ports.join(', ') || '(no Service)'}`,
  };
}

/** The custom metrics API's per-pod values of a metric, or its error (naming the metric). */
export function customMetric(
  l: Layout,
  namespace: string,
  metric: string,
): { values: number; problem?: string } {
  const r = kubectlRun(l, [
    'get',
    '--raw',
    `/apis/custom.metrics.k8s.io/v1beta1/namespaces/${namespace}/pods/*/${metric}`,
  ]);
  if (r.code !== 0) return { values: 0, problem: `custom.metrics.k8s.io ${metric}: ${r.stderr.trim()}` };
  const items = (JSON.parse(r.stdout) as { items: unknown[] }).items;
  return items.length
    ? { values: items.length }
    : { values: 0, problem: `custom.metrics.k8s.io ${metric}: no pod has a value` };
}
