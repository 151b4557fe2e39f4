/**
 * What a closed-loop run looks like over time, read from the real components: the load driver's
 * window, the real HPA's status (desired and current replicas, the metric values it read, its
 * conditions) and the pods per node with their phase and readiness.
 */
import { kubectlJson } from '../../cluster/kubectl.ts';
import { quantityToFloat } from '../../planner/hpa/spec.ts';
import type { Layout } from '../../cluster/layout.ts';
import type { LoadWindow } from './load.ts';
import { MONITORING_NAMESPACE } from '../../main.ts';
import { waitUntil } from './wait.ts';

/** The kube-prometheus-stack Prometheus pod's address, once it has one. */
export async function prometheusUrl(l: Layout): Promise<string> {
  const ip = await waitUntil('the Prometheus pod has an address', 60_000, () => {
    const p = kubectlJson<{ status: { podIP?: string } }>(l, [
      'get',
      'pod',
      '-n',
      MONITORING_NAMESPACE,
      'prometheus-kube-prometheus-stack-prometheus-0',
    ]);
    return p.status.podIP ?? { pending: 'no pod IP' };
  });
  return `http://${ip}:9090`;
}

export interface HpaStatus {
  status: {
    currentReplicas?: number;
    desiredReplicas?: number;
    currentMetrics?: {
      type: string;
      pods?: { metric: { name: string }; current: { averageValue?: string; value?: string } };
      external?: { metric: { name: string }; current: { averageValue?: string; value?: string } };
    }[];
    conditions?: { type: string; status: string; reason: string; message?: string }[];
  };
}

export interface Sample {
  readonly t: number;
  readonly load: LoadWindow;
  readonly desired: number;
  readonly current: number;
  /** The HPA's metric values (per pod, or External as KEDA serves them), by name, in base units. */
  readonly metrics: Readonly<Record<string, number>>;
  readonly conditions: string;
  /** `node: ready/total` for the inference pods. */
  readonly pods: Readonly<Record<string, string>>;
  readonly readyPods: number;
  /**
   * Alert states in Prometheus (pending, firing), by alert name; inactive ones are absent. Unset
   * when there was no Prometheus to ask or it did not answer.
   */
  readonly alerts?: Readonly<Record<string, string>>;
}

/** A Kubernetes quantity (`1500m`, `8`, `44675601n`, `167472Ki`) as a number: the planner's grammar. */
export const quantity = (q: string): number => quantityToFloat(q, 'quantity');

/** Where to read alert states: the operator-generated Prometheus (prometheusUrl()). */
export interface SampleSource {
  readonly layout: Layout;
  readonly namespace: string;
  /** The HorizontalPodAutoscaler (KEDA's is `keda-hpa-<ScaledObject>`). */
  readonly hpa: string;
  readonly prometheus?: string;
}

export async function sample(src: SampleSource, t: number, load: LoadWindow): Promise<Sample> {
  const { layout: l, namespace, hpa } = src;
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
  for (const m of h.currentMetrics ?? []) {
    const v = m.pods ?? m.external;
    const q = v?.current.averageValue ?? v?.current.value;
    if (v && q) metrics[v.metric.name] = quantity(q);
  }
  // Absent (not empty) when Prometheus cannot answer: "no alert" must not be read from a failure.
  let alerts: Record<string, string> | undefined;
  const res = src.prometheus
    ? await fetch(`${src.prometheus}/api/v1/alerts`).catch(() => undefined)
    : undefined;
  if (res?.ok) {
    const r = (await res.json()) as { data: { alerts: { labels: { alertname: string }; state: string }[] } };
    alerts = {};
    for (const a of r.data.alerts)
      if (alerts[a.labels.alertname] !== 'firing') alerts[a.labels.alertname] = a.state;
  }
  return {
    t,
    load,
    desired: h.desiredReplicas ?? 0,
    current: h.currentReplicas ?? 0,
    metrics,
    conditions: (h.conditions ?? []).map((c) => `${c.type}=${c.status}(${c.reason})`).join(' '),
    pods: Object.fromEntries(Object.entries(byNode).map(([n, [r, all]]) => [n, `${r}/${all}`])),
    readyPods,
    ...(alerts ? { alerts } : {}),
  };
}

/** How a metric of the HPA's status is shown: a short label, a unit and a scale from base units. */
export interface MetricColumn {
  readonly label: string;
  /** Written right after the value (`/pod`, `ms`, `/s`). */
  readonly unit: string;
  readonly scale?: number;
}

/** prometheus-adapter's per-pod metrics: in-flight requests per pod, mean queue time. */
export const ADAPTER_COLUMNS: Readonly<Record<string, MetricColumn>> = {
  inference_inflight_requests: { label: 'inflight', unit: '/pod' },
  inference_queue_duration_seconds_mean: { label: 'queue', unit: 'ms', scale: 1000 },
};

/** KEDA's external metrics: its triggers `s<i>-prometheus` in the ScaledObject's order. */
export const KEDA_COLUMNS: Readonly<Record<string, MetricColumn>> = {
  's0-prometheus': { label: 'inflight', unit: '/pod' },
  's1-prometheus': { label: 'queue', unit: 'ms', scale: 1000 },
  's2-prometheus': { label: 'demand', unit: '/s' },
};

const short = (v: number) => (Math.abs(v) >= 10 || v === 0 ? v.toFixed(0) : v.toFixed(1));

/** What each column of formatSample's line holds. */
export const TIMELINE_HEADER =
  '    t load ok/fail   mean | HPA metrics as it read them | cur->desired | ready/pods by node';
/**
 * One line per sample that fits a 100-column terminal: seconds since start, offered load, answered
 * and failed requests with their mean latency, the HPA's metric values with units, its current and
 * desired replicas, inference pods ready/total per node (`Pending` when unscheduled).
 */
export function formatSample(
  s: Sample,
  columns: Readonly<Record<string, MetricColumn>> = ADAPTER_COLUMNS,
): string {
  const lat = Number.isNaN(s.load.meanLatency) ? '-' : `${(s.load.meanLatency * 1000).toFixed(0)}ms`;
  const metrics = Object.entries(s.metrics)
    .map(([k, v]) => {
      const c = columns[k];
      return c ? `${c.label} ${short(v * (c.scale ?? 1))}${c.unit}` : `${k} ${short(v)}`;
    })
    .join(' ');
  const pods = Object.entries(s.pods)
    .map(([n, v]) => `${n} ${v}`)
    .join(' ');
  const okFail = `${s.load.ok}/${s.load.failed}`;
  return [
    `${String(s.t).padStart(4)}s ${s.load.offered.toFixed(0).padStart(3)}/s ${okFail.padStart(7)} ${lat.padStart(6)}`,
    metrics || '-',
    `${s.current}->${s.desired}`,
    pods || 'no pods',
  ].join(' | ');
}

/**
 * The timeline as lines to print: each sample's line, followed by the HPA's conditions and the
 * alert states (pending, firing) whenever they change. Call once per sample, in order.
 */
export function timelinePrinter(
  columns: Readonly<Record<string, MetricColumn>> = ADAPTER_COLUMNS,
): (s: Sample) => string[] {
  let conditions = '';
  let alerts = '';
  return (s) => {
    const lines = [formatSample(s, columns)];
    // One condition a line: three of them with their reasons do not fit 100 columns.
    if (s.conditions !== conditions)
      lines.push(...(s.conditions ? s.conditions.split(' ') : ['-']).map((c) => `        condition ${c}`));
    conditions = s.conditions;
    if (s.alerts) {
      // Prometheus lists alerts in no fixed order: sorted, a reordering is not a change.
      const now = Object.entries(s.alerts)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([a, state]) => `${a}:${state}`)
        .join(' ');
      if (now !== alerts) lines.push(`        alerts: ${now || 'none'}`);
      alerts = now;
    }
    return lines;
  };
}
