import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { CADVISOR, DCGM, DCGM_LABELS, KUBE_STATE_METRICS } from './dcgm-metrics.ts';
import type { GpuHpa } from './hpa/gpu-hpa.ts';
import type { IGpuScalable } from './gpu-scalable.ts';
import { appLabels } from './k8s-helpers.ts';
import { DCGM_POD_LABELS, hpaSelector, podsSelector } from './promql.ts';
import { validator } from './validate.ts';

export interface DashboardsProps {
  readonly service: IGpuScalable;
  /**
   * Its autoscaler, for the replicas panel.
   * @default - no replicas panel
   */
  readonly hpa?: GpuHpa;
  /**
   * Namespace of the ConfigMap: the one Grafana's dashboard sidecar watches (kube-prometheus-stack:
   * the release's namespace, unless `sidecar.dashboards.searchNamespace` is ALL).
   * @default 'monitoring'
   */
  readonly namespace?: string;
  /**
   * Labels Grafana's dashboard sidecar selects ConfigMaps by.
   * @default { grafana_dashboard: '1' }
   */
  readonly sidecarLabels?: Record<string, string>;
}

export interface DashboardTarget {
  readonly expr: string;
  readonly legendFormat: string;
  readonly refId: string;
}

export interface DashboardPanel {
  readonly title: string;
  readonly unit: string;
  readonly targets: readonly DashboardTarget[];
}

/** Grafana's rate window variable; the queries use it so panels follow the dashboard's zoom. */
const RI = '$__rate_interval';

/**
 * A Grafana dashboard of the service in a ConfigMap for Grafana's sidecar: GPU utilization, memory
 * and temperature per GPU and per pod, CPU and memory, request rate, latency quantiles, queue depth,
 * batch size, current vs desired replicas, errors.
 */
export class Dashboards extends Construct {
  readonly namespace: string;
  readonly panels: readonly DashboardPanel[];
  /** The dashboard model (Grafana JSON). */
  readonly dashboard: Record<string, unknown>;
  readonly configMap: k8s.KubeConfigMap;

  constructor(scope: Construct, id: string, props: DashboardsProps) {
    super(scope, id);
    const v = validator(this);
    const svc = props.service;
    this.namespace = v.dnsLabel('namespace', props.namespace ?? 'monitoring');
    const podSel = podsSelector(svc, { container: 'server' });
    const workload = podsSelector(svc, {}, DCGM_POD_LABELS);
    const w = { window: RI };
    const perGpu = `{{${DCGM_LABELS.hostname}}} GPU {{${DCGM_LABELS.gpu}}}`;
    const t = (expr: string, legendFormat: string, i = 0): DashboardTarget => ({
      expr,
      legendFormat,
      refId: String.fromCharCode(65 + i),
    });

    const panels: DashboardPanel[] = [
      {
        title: 'GPU utilization per GPU',
        unit: 'percent',
        targets: [t(`${DCGM.gpuUtil}`, perGpu)],
      },
      {
        title: 'GPU utilization per pod',
        unit: 'percent',
        targets: [t(svc.gpuUtilizationQuery(), '{{pod}}')],
      },
      {
        title: 'GPU memory used per GPU',
        unit: 'decmbytes',
        targets: [t(`${DCGM.fbUsed}`, `${perGpu} used`), t(`${DCGM.fbFree}`, `${perGpu} free`, 1)],
      },
      {
        title: 'GPU memory used per pod',
        unit: 'decmbytes',
        targets: [
          t(
            `max by (${DCGM_LABELS.workloadPod}) (${DCGM.fbUsed}${workload})`,
            `{{${DCGM_LABELS.workloadPod}}}`,
          ),
        ],
      },
      {
        title: 'GPU temperature',
        unit: 'celsius',
        targets: [t(`${DCGM.gpuTemp}`, perGpu)],
      },
      {
        title: 'CPU per pod',
        unit: 'cores',
        targets: [t(`sum by (pod) (rate(${CADVISOR.cpuSeconds}${podSel}[${RI}]))`, '{{pod}}')],
      },
      {
        title: 'Memory per pod',
        unit: 'bytes',
        targets: [t(`sum by (pod) (${CADVISOR.memoryWorkingSet}${podSel})`, '{{pod}}')],
      },
      {
        title: 'Request rate',
        unit: 'reqps',
        targets: [
          t(svc.requestRateQuery(w), 'total'),
          t(svc.requestRateQuery({ ...w, byPod: true }), '{{pod}}', 1),
        ],
      },
      {
        title: 'Latency quantiles',
        unit: 's',
        targets: [0.5, 0.9, 0.99].map((q, i) => t(svc.latencyQuantileQuery(q, w), `p${q * 100}`, i)),
      },
      {
        title: 'Queue depth and in-flight requests',
        unit: 'short',
        targets: [
          t(svc.queueDepthQuery({ byPod: true }), 'queued {{pod}}'),
          t(svc.inflightQuery({ byPod: true }), 'in flight {{pod}}', 1),
        ],
      },
      { title: 'Queue time (mean)', unit: 's', targets: [t(svc.queueTimeQuery(w), 'mean queue time')] },
      { title: 'Batch size (mean)', unit: 'short', targets: [t(svc.batchSizeQuery(w), 'mean batch size')] },
      {
        title: 'Errors',
        unit: 'percentunit',
        targets: [
          t(svc.errorRatioQuery(w), 'error ratio'),
          t(svc.rejectionRateQuery(w), 'rejected req/s', 1),
        ],
      },
    ];
    if (props.hpa) {
      const hpaSel = hpaSelector(props.hpa.namespace, props.hpa.hpaName);
      panels.push({
        title: 'Replicas: current vs desired',
        unit: 'short',
        targets: [
          t(`${KUBE_STATE_METRICS.hpaCurrentReplicas}${hpaSel}`, 'current'),
          t(`${KUBE_STATE_METRICS.hpaDesiredReplicas}${hpaSel}`, 'desired', 1),
          t(`${KUBE_STATE_METRICS.hpaMaxReplicas}${hpaSel}`, 'max', 2),
        ],
      });
    }
    this.panels = panels;

    const uid = `gpu-inference-${svc.namespace}-${svc.name}`.slice(0, 40);
    this.dashboard = {
      uid,
      title: `GPU inference: ${svc.namespace}/${svc.name}`,
      tags: ['gpu', 'inference', 'cdk8s-gpu-inference'],
      timezone: 'browser',
      schemaVersion: 39,
      refresh: '30s',
      time: { from: 'now-1h', to: 'now' },
      templating: {
        list: [{ name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Prometheus' }],
      },
      panels: panels.map((p, i) => ({
        id: i + 1,
        type: 'timeseries',
        title: p.title,
        datasource: { type: 'prometheus', uid: '${datasource}' },
        fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
        gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 8 },
        targets: p.targets.map((x) => ({ ...x, datasource: { type: 'prometheus', uid: '${datasource}' } })),
      })),
    };

    this.configMap = new k8s.KubeConfigMap(this, 'Dashboard', {
      metadata: {
        name: `${svc.name}-dashboard`,
        namespace: this.namespace,
        labels: {
          ...appLabels('inference-server', svc.name, 'dashboard'),
          ...(props.sidecarLabels ?? { grafana_dashboard: '1' }),
        },
      },
      data: { [`${uid}.json`]: JSON.stringify(this.dashboard, null, 2) + '\n' },
    });
  }

  /** Every PromQL expression of the dashboard (with Grafana variables). */
  queries(): string[] {
    return this.panels.flatMap((p) => p.targets.map((t) => t.expr));
  }
}
