/**
 * The recipe's whole system, composed from the construct library: GPU nodes with time-slicing,
 * DCGM monitoring, the inference service with its bundled models, GpuHpa 1..10, alerts, dashboards
 * and monitoring. `npm run synth` writes one file per chart to dist/, named in apply order.
 */
import { App, Chart, YamlOutputType } from 'cdk8s';
import { k8s } from 'cdk8s-plus-27';
import { pathToFileURL } from 'node:url';
import {
  AlertRules,
  Dashboards,
  DcgmMonitoring,
  GpuHpa,
  GpuInferenceService,
  HpaMetric,
  ModelSource,
  Monitoring,
  NvidiaDevicePlugin,
  type AlertThresholds,
  type HpaBackend,
  type KedaBackendOptions,
  type MonitoringMode,
  type ScalingBehavior,
} from './constructs/index.ts';

export interface SystemOptions {
  /**
   * Where GpuHpa's custom metrics come from (the recipe: prometheus-adapter).
   * @default 'prometheus-adapter'
   */
  readonly backend?: HpaBackend;
  /**
   * Monitoring stack (see constructs/README.md, "Monitoring").
   * @default 'kube-prometheus-stack'
   */
  readonly monitoring?: MonitoringMode;
  /**
   * GpuHpa's scaling signals (`npm run plan -- --metrics ...` compares others on the same system).
   * @default DEFAULT_HPA_METRICS (constructs/gpu-hpa.ts)
   */
  readonly hpaMetrics?: readonly HpaMetric[];
  /**
   * AlertRules' thresholds, rate() windows and `for:` durations (the end-to-end test shortens the
   * durations to fit a CI run).
   * @default AlertRules' defaults (constructs/README.md, "AlertRules")
   */
  readonly alertThresholds?: AlertThresholds;
  /**
   * GPUs in the cluster (each shared timeSlicingReplicas ways); GpuHpa's gpuSlices follow.
   * @default GPUS
   */
  readonly gpus?: number;
  /**
   * GpuHpa's minReplicas.
   * @default GpuHpa's: 1, or 0 with `keda.scaleToZero`
   */
  readonly minReplicas?: number;
  /**
   * GpuHpa's maxReplicas.
   * @default every GPU slice but the rollout's surge pod
   */
  readonly maxReplicas?: number;
  /**
   * GpuHpa's behavior (the cluster tests shorten the scale-down stabilization).
   * @default DEFAULT_BEHAVIOR (constructs/gpu-hpa.ts)
   */
  readonly hpaBehavior?: ScalingBehavior;
  /**
   * GpuHpa's KEDA options (backend 'keda'): polling, cooldown, scale to zero.
   * @default {}
   */
  readonly keda?: KedaBackendOptions;
}

/** GPUs in the recipe's cluster: one A40. */
export const GPUS = 1;

/** Namespace of the inference service. */
export const INFERENCE_NAMESPACE = 'gpu-inference';
/** Namespace of Prometheus, Grafana, dcgm-exporter and prometheus-adapter. */
export const MONITORING_NAMESPACE = 'monitoring';

/** Compose the system into `app` (one chart per dist/ file) and return its constructs. */
export function createSystem(app: App, options: SystemOptions = {}) {
  const namespaces = new Chart(app, '00-namespaces');
  // Pod Security admission: each namespace enforces the level its workloads need, and warns and
  // audits at that same level. The inference pods meet `restricted`; dcgm-exporter needs
  // `privileged` (hostPath pod-resources, SYS_ADMIN).
  const podSecurity = { [INFERENCE_NAMESPACE]: 'restricted', [MONITORING_NAMESPACE]: 'privileged' };
  for (const [name, level] of Object.entries(podSecurity)) {
    const labels = Object.fromEntries(
      ['enforce', 'warn', 'audit'].map((mode) => [`pod-security.kubernetes.io/${mode}`, level]),
    );
    new k8s.KubeNamespace(namespaces, name, { metadata: { name, labels } });
  }

  // The recipe's peak runs six pods on one A40 (GPUS): share each GPU six ways.
  const gpuNodes = new Chart(app, '10-gpu-nodes');
  const devicePlugin = new NvidiaDevicePlugin(gpuNodes, 'DevicePlugin', { timeSlicingReplicas: 6 });

  const monitoringChart = new Chart(app, '20-monitoring');
  const monitoring = new Monitoring(monitoringChart, 'Monitoring', {
    mode: options.monitoring,
    namespace: MONITORING_NAMESPACE,
    // metrics-server verifies the kubelets' serving certificates: provision/ bootstraps them from
    // the cluster CA (serverTLSBootstrap) and approves their CSRs, so no --kubelet-insecure-tls.
    resourceMetrics: 'metrics-server',
  });
  const scrape = { serviceMonitor: monitoring.operator, labels: monitoring.resourceLabels };
  const dcgm = new DcgmMonitoring(monitoringChart, 'Dcgm', {
    namespace: MONITORING_NAMESPACE,
    timeSliced: devicePlugin.timeSlicingReplicas > 1,
    runtimeClassName: devicePlugin.runtimeClassName,
    scrape,
  });

  const inference = new Chart(app, '30-inference');
  const service = new GpuInferenceService(inference, 'Inference', {
    namespace: INFERENCE_NAMESPACE,
    name: 'inference',
    modelSource: ModelSource.image(),
    runtimeClassName: devicePlugin.runtimeClassName,
    gpus: 1,
    cpu: '2000m',
    memory: '8Gi',
    serviceType: 'LoadBalancer',
    scrape,
  });

  const autoscaling = new Chart(app, '40-autoscaling');
  const gpuSlices = (options.gpus ?? GPUS) * devicePlugin.timeSlicingReplicas;
  const hpa = new GpuHpa(autoscaling, 'Autoscaler', {
    target: service,
    minReplicas: options.minReplicas,
    // One A40 shared six ways holds six pods: five, plus the rollout's surge pod.
    gpuSlices,
    maxReplicas: options.maxReplicas ?? gpuSlices - service.maxSurge * service.gpus,
    behavior: options.hpaBehavior,
    // Unset: GpuHpa's DEFAULT_HPA_METRICS (8 in-flight requests per pod, 20 ms mean queue time).
    metrics: options.hpaMetrics,
    backend: options.backend,
    keda: options.keda,
    prometheusUrl: monitoring.prometheusUrl,
    adapter: { namespace: MONITORING_NAMESPACE },
  });

  const observability = new Chart(app, '50-alerts-dashboards');
  const alerts = new AlertRules(observability, 'Alerts', {
    service,
    hpa,
    prometheusRule: monitoring.operator,
    ruleLabels: monitoring.resourceLabels,
    thresholds: options.alertThresholds,
  });
  const dashboards = new Dashboards(observability, 'Dashboards', {
    service,
    hpa,
    namespace: MONITORING_NAMESPACE,
  });
  monitoring.addAlertRules(alerts);
  monitoring.addDashboards(dashboards);

  return { app, devicePlugin, monitoring, dcgm, service, hpa, alerts, dashboards };
}

export type RecipeSystem = ReturnType<typeof createSystem>;

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // The cdk8s CLI sets CDK8S_OUTDIR; tests set it to a scratch folder.
  const app = new App({ yamlOutputType: YamlOutputType.FILE_PER_CHART });
  createSystem(app);
  app.synth();
}
