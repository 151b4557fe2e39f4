import { Lazy } from 'cdk8s';
import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import type { AlertRules } from './alert-rules.ts';
import type { Dashboards } from './dashboards.ts';
import {
  addonWorkload,
  aggregatedApiService,
  appLabels,
  nonRootPod,
  RESTRICTED_CONTAINER,
  serviceAccountWithRbac,
} from './k8s-helpers.ts';
import { PrometheusAdapter } from './prometheus-adapter.ts';
import { scrapeAnnotations } from './scrape.ts';
import { validator } from './validate.ts';
import { IMAGES, UPSTREAM } from './versions.ts';

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
    if (this.resourceMetrics === 'metrics-server') this.metricsServer(props.kubeletInsecureTls ?? false);
    // Checked at synth, once the whole app exists: an adapter may be added after this construct.
    this.node.addValidation({ validate: () => this.resourceMetricsConflicts() });
    if (this.mode === 'bundled') {
      const retention = v.promDuration('retention', props.retention ?? '15d');
      this.prometheusConfig = this.bundledPrometheusConfig();
      this.bundledPrometheus(retention);
      this.bundledGrafana();
      this.kubeStateMetrics();
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

  private metricsServer(insecureTls: boolean): void {
    const scope = new Construct(this, 'MetricsServer');
    const name = 'metrics-server';
    const ns = 'kube-system';
    const labels = appLabels(name, name, 'resource-metrics');
    serviceAccountWithRbac(scope, {
      name,
      namespace: ns,
      labels,
      clusterRules: [
        { apiGroups: [''], resources: ['nodes/metrics'], verbs: ['get'] },
        { apiGroups: [''], resources: ['pods', 'nodes'], verbs: ['get', 'list', 'watch'] },
      ],
      boundClusterRoles: ['system:auth-delegator'],
      kubeSystemRoles: ['extension-apiserver-authentication-reader'],
    });
    new k8s.KubeClusterRole(scope, 'AggregatedReader', {
      metadata: {
        name: 'system:aggregated-metrics-reader',
        labels: {
          ...labels,
          'rbac.authorization.k8s.io/aggregate-to-admin': 'true',
          'rbac.authorization.k8s.io/aggregate-to-edit': 'true',
          'rbac.authorization.k8s.io/aggregate-to-view': 'true',
        },
      },
      rules: [
        { apiGroups: ['metrics.k8s.io'], resources: ['pods', 'nodes'], verbs: ['get', 'list', 'watch'] },
      ],
    });
    addonWorkload(scope, {
      name,
      namespace: ns,
      labels,
      deployment: { strategy: { rollingUpdate: { maxUnavailable: k8s.IntOrString.fromNumber(0) } } },
      pod: {
        serviceAccountName: name,
        priorityClassName: 'system-cluster-critical',
        nodeSelector: { 'kubernetes.io/os': 'linux' },
        containers: [
          {
            name: 'metrics-server',
            image: IMAGES.metricsServer,
            args: [
              '--cert-dir=/tmp',
              '--secure-port=10250',
              '--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname',
              '--kubelet-use-node-status-port',
              '--metric-resolution=15s',
              ...(insecureTls ? ['--kubelet-insecure-tls'] : []),
            ],
            ports: [{ name: 'https', containerPort: 10250, protocol: 'TCP' }],
            readinessProbe: {
              httpGet: { path: '/readyz', port: k8s.IntOrString.fromString('https'), scheme: 'HTTPS' },
              periodSeconds: 10,
              failureThreshold: 3,
              initialDelaySeconds: 20,
            },
            livenessProbe: {
              httpGet: { path: '/livez', port: k8s.IntOrString.fromString('https'), scheme: 'HTTPS' },
              periodSeconds: 10,
              failureThreshold: 3,
            },
            resources: {
              requests: {
                cpu: k8s.Quantity.fromString('100m'),
                memory: k8s.Quantity.fromString('200Mi'),
              },
            },
            securityContext: { ...RESTRICTED_CONTAINER, runAsUser: 1000 },
            volumeMounts: [{ name: 'tmp-dir', mountPath: '/tmp' }],
          },
        ],
        volumes: [{ name: 'tmp-dir', emptyDir: {} }],
      },
      servicePort: { name: 'https', port: 443 },
    });
    aggregatedApiService(scope, 'ApiService', 'metrics.k8s.io', 'v1beta1', { name, namespace: ns }, labels);
  }

  /**
   * Scrape jobs equivalent to what prometheus-operator generates from our ServiceMonitors: the
   * targets get `namespace`, `service`, `pod` and `container` labels, and exporters' own labels of
   * those names become `exported_*` (honor_labels false), so every query works in both modes.
   */
  private bundledPrometheusConfig(): Record<string, unknown> {
    const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
    return {
      global: { scrape_interval: '15s', evaluation_interval: '15s' },
      rule_files: ['/etc/prometheus/rules/*.yaml'],
      scrape_configs: [
        {
          job_name: 'kubernetes-service-endpoints',
          honor_labels: false,
          kubernetes_sd_configs: [{ role: 'endpoints' }],
          relabel_configs: [
            {
              source_labels: ['__meta_kubernetes_service_annotation_prometheus_io_scrape'],
              action: 'keep',
              regex: 'true',
            },
            {
              source_labels: ['__meta_kubernetes_service_name'],
              action: 'drop',
              regex: 'kube-state-metrics',
            },
            {
              source_labels: ['__meta_kubernetes_service_annotation_prometheus_io_path'],
              target_label: '__metrics_path__',
              regex: '(.+)',
            },
            {
              source_labels: ['__address__', '__meta_kubernetes_service_annotation_prometheus_io_port'],
              regex: '(.+?)(?::\\d+)?;(\\d+)',
              replacement: '$1:$2',
              target_label: '__address__',
            },
            { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
            { source_labels: ['__meta_kubernetes_service_name'], target_label: 'service' },
            { source_labels: ['__meta_kubernetes_service_name'], target_label: 'job' },
            { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
            { source_labels: ['__meta_kubernetes_pod_container_name'], target_label: 'container' },
          ],
        },
        {
          // kube-state-metrics describes other pods: its namespace/pod labels must win (as
          // kube-prometheus-stack's honorLabels: true does).
          job_name: 'kube-state-metrics',
          honor_labels: true,
          kubernetes_sd_configs: [{ role: 'endpoints', namespaces: { names: [this.namespace] } }],
          relabel_configs: [
            {
              source_labels: ['__meta_kubernetes_service_name'],
              action: 'keep',
              regex: 'kube-state-metrics',
            },
            {
              source_labels: ['__meta_kubernetes_endpoint_port_name'],
              action: 'keep',
              regex: 'http-metrics',
            },
          ],
        },
        {
          // cAdvisor through the kubelet: container CPU and memory for the dashboards.
          job_name: 'kubelet-cadvisor',
          scheme: 'https',
          metrics_path: '/metrics/cadvisor',
          kubernetes_sd_configs: [{ role: 'node' }],
          tls_config: { ca_file: `${sa}/ca.crt`, insecure_skip_verify: true },
          authorization: { credentials_file: `${sa}/token` },
        },
      ],
    };
  }

  private bundledPrometheus(retention: string): void {
    const scope = new Construct(this, 'Prometheus');
    const name = 'prometheus';
    const ns = this.namespace;
    const labels = appLabels(name, name, 'monitoring');
    serviceAccountWithRbac(scope, {
      name,
      namespace: ns,
      labels,
      clusterRules: [
        {
          apiGroups: [''],
          resources: ['nodes', 'nodes/metrics', 'services', 'endpoints', 'pods'],
          verbs: ['get', 'list', 'watch'],
        },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
        { nonResourceUrLs: ['/metrics', '/metrics/cadvisor'], verbs: ['get'] },
      ],
    });
    new k8s.KubeConfigMap(scope, 'Config', {
      metadata: { name, namespace: ns, labels },
      data: { 'prometheus.yml': JSON.stringify(this.prometheusConfig, null, 2) + '\n' },
    });
    new k8s.KubeConfigMap(scope, 'Rules', {
      metadata: { name: `${name}-rules`, namespace: ns, labels },
      data: Lazy.any({
        produce: () => Object.fromEntries(this.rules.map((r) => [`${r.name}.yaml`, r.rulesFile()])),
      }),
    });
    addonWorkload(scope, {
      name,
      namespace: ns,
      labels,
      // One writer on the TSDB: never two pods at once.
      deployment: { replicas: 1, strategy: { type: 'Recreate' } },
      pod: {
        serviceAccountName: name,
        securityContext: nonRootPod(65534, 65534),
        containers: [
          {
            name: 'prometheus',
            image: IMAGES.prometheus,
            args: [
              '--config.file=/etc/prometheus/prometheus.yml',
              '--storage.tsdb.path=/prometheus',
              `--storage.tsdb.retention.time=${retention}`,
              '--web.enable-lifecycle',
            ],
            ports: [{ name: 'web', containerPort: 9090 }],
            readinessProbe: {
              httpGet: { path: '/-/ready', port: k8s.IntOrString.fromString('web') },
              periodSeconds: 10,
            },
            livenessProbe: {
              httpGet: { path: '/-/healthy', port: k8s.IntOrString.fromString('web') },
              periodSeconds: 30,
            },
            resources: {
              requests: { cpu: k8s.Quantity.fromString('200m'), memory: k8s.Quantity.fromString('1Gi') },
              limits: { memory: k8s.Quantity.fromString('4Gi') },
            },
            securityContext: RESTRICTED_CONTAINER,
            volumeMounts: [
              { name: 'config', mountPath: '/etc/prometheus', readOnly: true },
              { name: 'rules', mountPath: '/etc/prometheus/rules', readOnly: true },
              { name: 'data', mountPath: '/prometheus' },
            ],
          },
        ],
        volumes: [
          { name: 'config', configMap: { name } },
          { name: 'rules', configMap: { name: `${name}-rules` } },
          // Data lives as long as the pod; use a PVC for anything beyond the recipe's single node.
          { name: 'data', emptyDir: {} },
        ],
      },
      servicePort: { name: 'web', port: 9090 },
    });
  }

  private bundledGrafana(): void {
    const scope = new Construct(this, 'Grafana');
    const name = 'grafana';
    const ns = this.namespace;
    const labels = appLabels(name, name, 'monitoring');
    const provisioning = {
      'datasources.yaml': JSON.stringify(
        {
          apiVersion: 1,
          datasources: [
            {
              name: 'Prometheus',
              type: 'prometheus',
              uid: 'prometheus',
              access: 'proxy',
              url: this.prometheusUrl,
              isDefault: true,
            },
          ],
        },
        null,
        2,
      ),
      'dashboards.yaml': JSON.stringify(
        {
          apiVersion: 1,
          providers: [
            { name: 'cdk8s-gpu-inference', type: 'file', options: { path: '/var/lib/grafana/dashboards' } },
          ],
        },
        null,
        2,
      ),
    };
    new k8s.KubeConfigMap(scope, 'Provisioning', {
      metadata: { name: `${name}-provisioning`, namespace: ns, labels },
      data: provisioning,
    });
    addonWorkload(scope, {
      name,
      namespace: ns,
      labels,
      deployment: { replicas: 1 },
      pod: {
        securityContext: nonRootPod(472, 472),
        containers: [
          {
            name: 'grafana',
            image: IMAGES.grafana,
            ports: [{ name: 'http', containerPort: 3000 }],
            env: [
              // Admin password from a Secret you create (`kubectl create secret generic grafana-admin
              // --from-literal=password=...`); without it Grafana keeps its first-login default.
              {
                name: 'GF_SECURITY_ADMIN_PASSWORD',
                valueFrom: { secretKeyRef: { name: 'grafana-admin', key: 'password', optional: true } },
              },
              { name: 'GF_PATHS_PROVISIONING', value: '/etc/grafana/provisioning' },
            ],
            readinessProbe: {
              httpGet: { path: '/api/health', port: k8s.IntOrString.fromString('http') },
              periodSeconds: 10,
            },
            resources: {
              requests: {
                cpu: k8s.Quantity.fromString('100m'),
                memory: k8s.Quantity.fromString('256Mi'),
              },
            },
            securityContext: { ...RESTRICTED_CONTAINER, readOnlyRootFilesystem: false },
            volumeMounts: [
              { name: 'datasources', mountPath: '/etc/grafana/provisioning/datasources', readOnly: true },
              { name: 'providers', mountPath: '/etc/grafana/provisioning/dashboards', readOnly: true },
              { name: 'dashboards', mountPath: '/var/lib/grafana/dashboards', readOnly: true },
              { name: 'data', mountPath: '/var/lib/grafana' },
            ],
          },
        ],
        volumes: [
          {
            name: 'datasources',
            configMap: {
              name: `${name}-provisioning`,
              items: [{ key: 'datasources.yaml', path: 'datasources.yaml' }],
            },
          },
          {
            name: 'providers',
            configMap: {
              name: `${name}-provisioning`,
              items: [{ key: 'dashboards.yaml', path: 'dashboards.yaml' }],
            },
          },
          {
            name: 'dashboards',
            projected: {
              sources: Lazy.any({
                produce: () => this.dashboards.map((d) => ({ configMap: { name: d.configMap.name } })),
              }),
            },
          },
          { name: 'data', emptyDir: {} },
        ],
      },
      servicePort: { name: 'http', port: 3000 },
    });
  }

  private kubeStateMetrics(): void {
    const scope = new Construct(this, 'KubeStateMetrics');
    const name = 'kube-state-metrics';
    const ns = this.namespace;
    const labels = appLabels(name, name, 'exporter');
    serviceAccountWithRbac(scope, {
      name,
      namespace: ns,
      labels,
      clusterRules: [
        { apiGroups: [''], resources: ['pods', 'nodes'], verbs: ['list', 'watch'] },
        { apiGroups: ['apps'], resources: ['deployments'], verbs: ['list', 'watch'] },
        { apiGroups: ['autoscaling'], resources: ['horizontalpodautoscalers'], verbs: ['list', 'watch'] },
      ],
    });
    addonWorkload(scope, {
      name,
      namespace: ns,
      labels,
      deployment: { replicas: 1 },
      pod: {
        serviceAccountName: name,
        securityContext: nonRootPod(65534),
        containers: [
          {
            name: 'kube-state-metrics',
            image: IMAGES.kubeStateMetrics,
            args: ['--resources=pods,nodes,deployments,horizontalpodautoscalers'],
            ports: [{ name: 'http-metrics', containerPort: 8080 }],
            readinessProbe: {
              httpGet: { path: '/readyz', port: k8s.IntOrString.fromNumber(8081) },
              periodSeconds: 10,
            },
            livenessProbe: {
              httpGet: { path: '/livez', port: k8s.IntOrString.fromString('http-metrics') },
              periodSeconds: 10,
            },
            securityContext: RESTRICTED_CONTAINER,
          },
        ],
      },
      servicePort: { name: 'http-metrics', port: 8080 },
      serviceAnnotations: scrapeAnnotations(8080, '/metrics'),
    });
  }
}
