import { Construct } from 'constructs';
import type { AlertRules } from '../alert-rules.ts';
import type { Dashboards } from '../dashboards.ts';
import { validator } from '../validate.ts';
import { UPSTREAM } from '../versions.ts';
import { PrometheusAdapter } from '../prometheus-adapter.ts';
import { addBundledGrafana } from './grafana.ts';
import { addKubeStateMetrics } from './kube-state-metrics.ts';
import { addMetricsServer } from './metrics-server.ts';
import { addBundledPrometheus } from './prometheus.ts';
import { bundledPrometheusConfig } from './prometheus-config.ts';

export type MonitoringMode = 'kube-prometheus-stack' | 'bundled';
export type ResourceMetricsProvider = 'metrics-server' | 'prometheus-adapter' | 'none';

export interface MonitoringProps {
  /**
   * `kube-prometheus-stack`: objects for an existing kube-prometheus-stack (ServiceMonitors and
   * PrometheusRules carrying its release label). `bundled`: a single Prometheus, Grafana and
   * kube-state-metrics from plain manifests, for clusters without one (the recipe's setup).
   * @default 'kube-prometheus-stack'
   */
  readonly mode?: MonitoringMode;
  /**
   * Namespace of the monitoring components.
   * @default 'monitoring'
   */
  readonly namespace?: string;
  /**
   * Helm release name of kube-prometheus-stack; its Prometheus selects ServiceMonitors and
   * PrometheusRules labelled `release: <releaseName>`.
   * @default 'kube-prometheus-stack'
   */
  readonly releaseName?: string;
  /**
   * Prometheus URL that the adapter, KEDA and Grafana query.
   * @default kube-prometheus-stack: http://<releaseName>-prometheus.<namespace>.svc:9090 (the service
   * name when the release is called kube-prometheus-stack); bundled: http://prometheus.<namespace>.svc:9090
   */
  readonly prometheusUrl?: string;
  /**
   * Who serves the resource metrics API (`metrics.k8s.io`) the CPU metric needs: metrics-server
   * (deployed here), GpuHpa's prometheus-adapter (`serveResourceMetrics`), or something already in
   * the cluster ('none'). Never two at once: both would register the same APIService.
   * @default 'metrics-server'
   */
  readonly resourceMetrics?: ResourceMetricsProvider;
  /**
   * Pass `--kubelet-insecure-tls` to metrics-server: it then does not verify the kubelets' serving
   * certificates ("for testing purposes only", metrics-server's README). Needed only on clusters
   * whose kubelets serve self-signed certificates, e.g. kubeadm without `serverTLSBootstrap: true`
   * and approved kubelet-serving CSRs
   * (https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/kubeadm-certs/#kubelet-serving-certs).
   * Clusters from provision/ have signed ones: leave it off.
   * @default false
   */
  readonly kubeletInsecureTls?: boolean;
  /**
   * Data retention of the bundled Prometheus.
   * @default '15d'
   */
  readonly retention?: string;
}

/**
 * Monitoring for the system: integration with kube-prometheus-stack (default) or a bundled
 * Prometheus + Grafana + kube-state-metrics, and metrics-server for the resource metrics API.
 */
export class Monitoring extends Construct {
  readonly mode: MonitoringMode;
  readonly namespace: string;
  readonly prometheusUrl: string;
  /** Labels to put on ServiceMonitors and PrometheusRules so this Prometheus picks them up. */
  readonly resourceLabels: Record<string, string>;
  /** Whether the prometheus-operator CRDs (ServiceMonitor, PrometheusRule) are served. */
  readonly operator: boolean;
  readonly resourceMetrics: ResourceMetricsProvider;
  /** The bundled Prometheus's configuration (bundled mode). */
  readonly prometheusConfig?: Record<string, unknown>;
  private readonly rules: AlertRules[] = [];
  private readonly dashboards: Dashboards[] = [];

  constructor(scope: Construct, id: string, props: MonitoringProps = {}) {
    super(scope, id);
    const v = validator(this);
    this.mode = v.oneOf('mode', props.mode ?? 'kube-prometheus-stack', ['kube-prometheus-stack', 'bundled']);
    this.namespace = v.dnsLabel('namespace', props.namespace ?? 'monitoring');
    const release = v.dnsLabel('releaseName', props.releaseName ?? UPSTREAM.kubePrometheusStackRelease, 53);
    this.resourceMetrics = v.oneOf('resourceMetrics', props.resourceMetrics ?? 'metrics-server', [
      'metrics-server',
      'prometheus-adapter',
      'none',
    ]);
    this.operator = this.mode === 'kube-prometheus-stack';
    this.resourceLabels = this.operator ? { release } : {};
    const defaultUrl = this.operator
      ? `http://${release}-prometheus.${this.namespace}.svc:9090`
      : `http://prometheus.${this.namespace}.svc:9090`;
    this.prometheusUrl = v.httpUrl('prometheusUrl', props.prometheusUrl ?? defaultUrl);
    if (props.kubeletInsecureTls !== undefined && this.resourceMetrics !== 'metrics-server') {
      throw v.error(
        `kubeletInsecureTls applies to metrics-server only, got it with resourceMetrics ${JSON.stringify(this.resourceMetrics)}`,
      );
    }
    if (this.resourceMetrics === 'metrics-server') addMetricsServer(this, props.kubeletInsecureTls ?? false);
    // Checked at synth, once the whole app exists: an adapter may be added after this construct.
    this.node.addValidation({ validate: () => this.resourceMetricsConflicts() });
    if (this.mode === 'bundled') {
      const retention = v.promDuration('retention', props.retention ?? '15d');
      this.prometheusConfig = bundledPrometheusConfig(this.namespace);
      addBundledPrometheus(this, this.namespace, retention, this.prometheusConfig, this.rules);
      addBundledGrafana(this, this.namespace, this.prometheusUrl, this.dashboards);
      addKubeStateMetrics(this, this.namespace);
    }
  }

  /**
   * Exactly one server of `metrics.k8s.io` from this app when it deploys one: metrics-server and a
   * prometheus-adapter serving resource metrics would both register APIService
   * v1beta1.metrics.k8s.io, and 'prometheus-adapter' with no such adapter leaves the CPU metric
   * without data.
   */
  private resourceMetricsConflicts(): string[] {
    if (this.resourceMetrics === 'none') return [];
    const adapters = this.node.root.node
      .findAll()
      .filter((c): c is PrometheusAdapter => c instanceof PrometheusAdapter && c.servesResourceMetrics);
    if (this.resourceMetrics === 'prometheus-adapter') {
      return adapters.length > 0
        ? []
        : [
            'resourceMetrics is "prometheus-adapter", but no prometheus-adapter in this app serves resource metrics: set a GpuHpa\'s adapter.serveResourceMetrics, or resourceMetrics "none" if the cluster has its own',
          ];
    }
    return adapters.map(
      (a) =>
        `resourceMetrics is "metrics-server", but the prometheus-adapter at ${a.node.path} serves resource metrics too (adapter.serveResourceMetrics): both would register APIService v1beta1.metrics.k8s.io; set resourceMetrics to "prometheus-adapter" or drop serveResourceMetrics`,
    );
  }

  /** Load these alert rules into the bundled Prometheus (the operator reads the PrometheusRule instead). */
  addAlertRules(rules: AlertRules): void {
    this.rules.push(rules);
  }

  /** Provision this dashboard into the bundled Grafana (kube-prometheus-stack's sidecar finds it by label). */
  addDashboards(dashboards: Dashboards): void {
    this.dashboards.push(dashboards);
  }
}
