/**
 * What a closed-loop run looks like over time, read from the real components: the load driver's
 * window, the real HPA's status (desired and current replicas, the metric values it read, its
 * conditions) and the pods per node with their phase and readiness.
 */
import { kubectlJson } from '../../cluster/kubectl.ts';
import type { Layout } from '../../cluster/layout.ts';
import type { LoadWindow } from '../e2e/load.ts';

export interface HpaStatus {
  status: {
    currentReplicas?: number;
    desiredReplicas?: number;
    currentMetrics?: {
      type: string;
      pods?: { metric: { name: string }; current: { averageValue?: string } };
    }[];
    conditions?: { type: string; status: string; reason: string; message?: string }[];
  };
}

export interface Sample {
  readonly t: number;
  readonly load: LoadWindow;
  readonly desired: number;
  readonly current: number;
  /** The HPA's per-pod metric values, by metric name, as numbers in base units. */
  readonly metrics: Readonly<Record<string, number>>;
  readonly conditions: string;
  /** `node: ready/total` for the inference pods. */
  readonly pods: Readonly<Record<string, string>>;
  readonly readyPods: number;
}

/** A Kubernetes quantity (`1500m`, `8`, `2k`) as a number. */
export function quantity(q: string): number {
  const m = /^([0-9.]+)(m|k|M|G)?$/.exec(q);
  if (!m) return Number.NaN;
  const scale = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9 }[m[2] as 'm'] ?? 1;
  return Number(m[1]) * scale;
}

export function sample(l: Layout, namespace: string, hpa: string, t: number, load: LoadWindow): Sample {
  const h = kubectlJson<HpaStatus>(l, ['get', 'hpa', '-n', namespace, hpa]).status;
  const pods = kubectlJson<{
    items: {
      spec: { nodeName?: string };
      status: { phase?: string; conditions?: { type: string; status: string }[] };
    }[];
  }>(l, ['get', 'pods', '-n', namespace, '-l', 'app.kubernetes.io/name=inference-server']).items;
  const byNode: Record<string, [number, number]> = {};
  let readyPods = 0;
  for (const p of pods) {
    const node = p.spec.nodeName ?? 'Pending';
    const ready = p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    byNode[node] ??= [0, 0];
    byNode[node][1]++;
    if (ready) {
      byNode[node][0]++;
      readyPods++;
    }
  }
  const metrics: Record<string, number> = {};
  for (const m of h.currentMetrics ?? [])
    if (m.pods?.current.averageValue) metrics[m.pods.metric.name] = quantity(m.pods.current.averageValue);
  return {
    t,
    load,
    desired: h.desiredReplicas ?? 0,
    current: h.currentReplicas ?? 0,
    metrics,
    conditions: (h.conditions ?? []).map((c) => `${c.type}=${c.status}(${c.reason})`).join(' '),
    pods: Object.fromEntries(Object.entries(byNode).map(([n, [r, all]]) => [n, `${r}/${all}`])),
    readyPods,
  };
}

/** One line per sample, for a 100-column terminal. */
export function formatSample(s: Sample): string {
  const metrics = Object.entries(s.metrics)
    .map(([k, v]) => `${k.replace(/^inference_/, '')}=${v >= 1 ? v.toFixed(1) : v.toFixed(3)}`)
    .join(' ');
  const pods = Object.entries(s.pods)
    .map(([n, v]) => `${n}:${v}`)
    .join(' ');
  const lat = Number.isNaN(s.load.meanLatency) ? '-' : `${(s.load.meanLatency * 1000).toFixed(0)}ms`;
  return `t=${String(s.t).padStart(4)}s load=${s.load.offered.toFixed(0)}/s ok=${s.load.ok} fail=${s.load.failed} lat=${lat} hpa ${s.current}->${s.desired} ${metrics} | ${pods}`;
}
