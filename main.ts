/**
 * The recipe's whole system, composed from the construct library: GPU nodes with time-slicing,
 * DCGM monitoring, the inference service with its bundled models, GpuHpa 1..5 (one A40 shared six
 * ways: five pods and the rollout's surge pod), alerts, dashboards
 * and monitoring. `npm run synth` writes one file per chart to dist/, named in apply order.
 */
import { App, Chart, YamlOutputType } from 'cdk8s';
import { pathToFileURL } from 'node:url';
import {
  AlertRules,
  Dashboards,
  DcgmMonitoring,
  GpuHpa,
  GpuInferenceService,
  HpaMetric,
  gpuSlicesOf,
  ModelSource,
  Monitoring,
  NvidiaDevicePlugin,
  SystemNamespace,
  DefaultDenyIngress,
  KubeletCsrApprover,
  SERVER_IMAGE,
  ValidationError,
  imageReference,
  serverImageIn,
  type AlertThresholds,
  type HpaBackend,
  type KedaBackendOptions,
  type MonitoringMode,
  type PodSecurityLevel,
  type ScalingBehavior,
} from './constructs/index.ts';

export interface SystemOptions {
  /**
   * Where GpuHpa's custom metrics come from. The library's default is KEDA; the recipe's system
   * keeps prometheus-adapter (see createSystem).
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
   * @default DEFAULT_HPA_METRICS (constructs/hpa/metrics.ts)
   */
  readonly hpaMetrics?: readonly HpaMetric[];
  /**
   * AlertRules' thresholds, rate() windows and `for:` durations (the end-to-end test shortens the
   * durations to fit a CI run).
   * @default AlertRules' defaults (constructs/README.md, "AlertRules")
   */
  readonly alertThresholds?: AlertThresholds;
  /**
   * GPU nodes in the cluster, one GPU each (each shared timeSlicingReplicas ways); GpuHpa's
   * gpuTopology, and so the slices its maxReplicas must fit, follow.
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
   * @default DEFAULT_BEHAVIOR (constructs/hpa/behavior.ts)
   */
  readonly hpaBehavior?: ScalingBehavior;
  /**
   * GpuHpa's KEDA options (backend 'keda'): polling, cooldown, scale to zero.
   * @default {}
   */
  readonly keda?: KedaBackendOptions;
  /**
   * Pod Security level of the monitoring namespace. Everything this system runs there meets
   * `restricted`; kube-prometheus-stack's node-exporter (hostNetwork, hostPID, hostPath) does not:
   * install it in a namespace of its own (chart value `prometheus-node-exporter.namespaceOverride`)
   * or set `privileged` here.
   * @default 'restricted'
   */
  readonly monitoringPodSecurity?: PodSecurityLevel;
  /**
   * The inference server's image (GpuInferenceService's `image`); `npm run synth` takes it from
   * the environment (serverImageFromEnvironment).
   * @default IMAGES.inferenceServer, the local name `npm run image` commits
   */
  readonly image?: string;
}

/** Environment variables `npm run synth` reads the server image from (README.md, "Deploy"). */
export const IMAGE_ENV = {
  /** A whole image reference: `registry.example.com/team/server:0.1.0`, or a digest. */
  image: 'CDK8S_GPU_INFERENCE_IMAGE',
  /** A registry that holds `npm run image`'s build: `<registry>/cdk8s-gpu-inference/server:<version>`. */
  registry: 'CDK8S_GPU_INFERENCE_REGISTRY',
} as const;

/** The server image the environment names, validated; undefined when it names none (the default). */
export function serverImageFromEnvironment(env: NodeJS.ProcessEnv): string | undefined {
  const image = env[IMAGE_ENV.image];
  const registry = env[IMAGE_ENV.registry];
  if (image && registry)
    throw new ValidationError(
      `${IMAGE_ENV.image} (${JSON.stringify(image)}) and ${IMAGE_ENV.registry} (${JSON.stringify(registry)}) are both set; allowed: one of them, or neither for the local image ${SERVER_IMAGE}`,
    );
  if (image) return imageReference(IMAGE_ENV.image, image);
  if (registry) return serverImageIn(IMAGE_ENV.registry, registry);
  return undefined;
}

/** GPUs in the recipe's cluster: one A40. */
export const GPUS = 1;

/** Namespace of the inference service. */
export const INFERENCE_NAMESPACE = 'gpu-inference';
/** Namespace of Prometheus, Grafana and prometheus-adapter. */
export const MONITORING_NAMESPACE = 'monitoring';
/** Namespace of dcgm-exporter: the only one of this system that must run `privileged` (host access). */
export const DCGM_NAMESPACE = 'gpu-monitoring';

/** Compose the system into `app` (one chart per dist/ file) and return its constructs. */
export function createSystem(app: App, options: SystemOptions = {}) {
  const namespaces = new Chart(app, '00-namespaces');
  // Pod Security admission: each namespace enforces, audits and warns at the level its workloads
  // need. The inference pods and everything this system runs in monitoring meet `restricted`;
  // dcgm-exporter needs `privileged` (the kubelet's pod-resources socket through hostPath, root), so
  // it has a namespace of its own. The device plugin stays in kube-system, which the cluster
  // administers (no labels: Pod Security admission's default is privileged).
  // Ingress is denied by default where this system owns every pod (inference, dcgm-exporter:
  // DefaultDenyIngress, in the workloads' charts); each workload opens its own ports. Monitoring
  // also holds kube-prometheus-stack, whose pods have no policy of ours, so its ingress stays open
  // but for prometheus-adapter's own policy.
  new SystemNamespace(namespaces, INFERENCE_NAMESPACE, {
    name: INFERENCE_NAMESPACE,
    podSecurity: 'restricted',
  });
  new SystemNamespace(namespaces, MONITORING_NAMESPACE, {
    name: MONITORING_NAMESPACE,
    podSecurity: options.monitoringPodSecurity ?? 'restricted',
  });
  new SystemNamespace(namespaces, DCGM_NAMESPACE, { name: DCGM_NAMESPACE, podSecurity: 'privileged' });

  // The recipe's peak runs six pods on one A40 (GPUS): share each GPU six ways.
  const gpuNodes = new Chart(app, '10-gpu-nodes');
  const devicePlugin = new NvidiaDevicePlugin(gpuNodes, 'DevicePlugin', { timeSlicingReplicas: 6 });

  const monitoringChart = new Chart(app, '20-monitoring');
  const monitoring = new Monitoring(monitoringChart, 'Monitoring', {
    mode: options.monitoring,
    namespace: MONITORING_NAMESPACE,
    // metrics-server verifies the kubelets' serving certificates: provision/ bootstraps them from
    // the cluster CA (serverTLSBootstrap) and approves the first CSRs, KubeletCsrApprover the
    // rotated ones, so no --kubelet-insecure-tls.
    resourceMetrics: 'metrics-server',
  });
  // Keeps approving the kubelets' rotated serving certificates that metrics-server verifies
  // (provisioning approves only each node's first one); it runs from the server image.
  const csrApprover = new KubeletCsrApprover(monitoringChart, 'KubeletCsrApprover', { image: options.image });
  const scrape = { serviceMonitor: monitoring.operator, labels: monitoring.resourceLabels };
  const dcgm = new DcgmMonitoring(monitoringChart, 'Dcgm', {
    namespace: DCGM_NAMESPACE,
    prometheusNamespace: MONITORING_NAMESPACE,
    timeSliced: devicePlugin.timeSliced,
    runtimeClassName: devicePlugin.runtimeClassName,
    scrape,
  });
  new DefaultDenyIngress(monitoringChart, 'DcgmDenyIngress', { namespace: DCGM_NAMESPACE });

  const inference = new Chart(app, '30-inference');
  new DefaultDenyIngress(inference, 'DenyIngress', { namespace: INFERENCE_NAMESPACE });
  const service = new GpuInferenceService(inference, 'Inference', {
    namespace: INFERENCE_NAMESPACE,
    name: 'inference',
    modelSource: ModelSource.image(),
    image: options.image,
    runtimeClassName: devicePlugin.runtimeClassName,
    gpus: 1,
    cpu: '2000m',
    memory: '8Gi',
    serviceType: 'LoadBalancer',
    // Any source may reach the inference port (it is the public LoadBalancer); only Prometheus the
    // metrics port.
    prometheusNamespace: MONITORING_NAMESPACE,
    scrape,
  });

  const autoscaling = new Chart(app, '40-autoscaling');
  // The topology the bounds fit: GPUS GPU nodes (the recipe: one) with one A40 each, time-sliced
  // six ways by the device plugin: 6 slices, so at most 5 replicas plus the rollout's surge pod.
  // GpuHpa refuses a maxReplicas that does not fit (pods past the slices would stay Pending).
  const gpuTopology = { devicePlugin, gpuNodes: options.gpus ?? GPUS, gpusPerNode: 1 };
  const backend = options.backend ?? 'prometheus-adapter';
  const hpa = new GpuHpa(autoscaling, 'Autoscaler', {
    target: service,
    minReplicas: options.minReplicas,
    gpuTopology,
    maxReplicas: options.maxReplicas ?? gpuSlicesOf(gpuTopology) / service.gpus - service.maxSurge,
    behavior: options.hpaBehavior,
    // Unset: GpuHpa's DEFAULT_HPA_METRICS (8 in-flight requests per pod, 20 ms mean queue time).
    metrics: options.hpaMetrics,
    // backend: the recipe's, kept explicitly although GpuHpa defaults to KEDA: the recipe this system
    // reproduces deploys prometheus-adapter, its HPA is a plain autoscaling/v2 object that needs no
    // operator (KEDA is installed separately, from its chart), and dist/ stays the recipe's YAML;
    // `backend: 'keda'` (npm run demo:autoscale -- --backend keda) runs the same signals through KEDA.
    backend,
    keda: options.keda,
    prometheusUrl: monitoring.prometheusUrl,
    ...(backend === 'prometheus-adapter' ? { adapter: { namespace: MONITORING_NAMESPACE } } : {}),
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

  return { app, devicePlugin, monitoring, csrApprover, dcgm, service, hpa, alerts, dashboards };
}

export type RecipeSystem = ReturnType<typeof createSystem>;

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // The cdk8s CLI sets CDK8S_OUTDIR; tests set it to a scratch folder.
  try {
    const app = new App({ yamlOutputType: YamlOutputType.FILE_PER_CHART });
    createSystem(app, { image: serverImageFromEnvironment(process.env) });
    // The constructs' warnings (e.g. GPU utilization on time-sliced GPUs) print as it validates.
    app.synth();
  } catch (e) {
    // A bad prop or variable: its message, not a stack trace through cdk8s.
    if (!(e instanceof ValidationError)) throw e;
    console.error(`synth: ${e.message}`);
    process.exit(1);
  }
}
