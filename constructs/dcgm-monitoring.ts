import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ServiceMonitor } from '../imports/servicemonitor-monitoring.coreos.com.ts';
import { DCGM_COUNTERS, DCGM_PROFILING_COUNTERS } from './dcgm-metrics.ts';
import { GPU_NODE_SELECTOR, GPU_TOLERATION } from './gpu-inference-service.ts';
import { appLabels, ingressPolicy, namespacePeer, selectorLabels } from './k8s-helpers.ts';
import { resolveScrape, scrapeAnnotations, type ResolvedScrape, type ScrapeOptions } from './scrape.ts';
import { validator } from './validate.ts';
import { IMAGES } from './versions.ts';

/** dcgm-exporter's metrics port. */
export const DCGM_EXPORTER_PORT = 9400;
export const DCGM_EXPORTER_PORT_NAME = 'metrics';

export interface DcgmMonitoringProps {
  /**
   * Namespace of the exporter.
   * @default 'monitoring'
   */
  readonly namespace?: string;
  /**
   * Whether the GPUs are time-sliced (NvidiaDevicePlugin `timeSlicingReplicas` > 1): sets
   * KUBERNETES_VIRTUAL_GPUS so that every pod sharing a GPU gets that GPU's series.
   * @default false
   */
  readonly timeSliced?: boolean;
  /**
   * RuntimeClass giving the exporter access to the GPUs (NvidiaDevicePlugin's `nvidia`).
   * @default - none (nvidia is the node's default runtime)
   */
  readonly runtimeClassName?: string;
  /**
   * Collection interval in milliseconds (`DCGM_EXPORTER_INTERVAL`).
   * @default 15000
   */
  readonly collectIntervalMs?: number;
  /**
   * Node selector of the DaemonSet.
   * @default { 'nvidia.com/gpu.present': 'true' }
   */
  readonly nodeSelector?: Record<string, string>;
  /**
   * Scraping of the exporter.
   * @default - a ServiceMonitor labelled for kube-prometheus-stack, and scrape annotations
   */
  readonly scrape?: ScrapeOptions;
  /**
   * Also collect the profiling (DCP) fields, `DCGM_FI_PROF_*` (DCGM_PROFILING_COUNTERS: SM activity
   * and occupancy, tensor pipe, DRAM, PCIe bytes). They are read through the driver's profiling
   * interface, so this adds `SYS_ADMIN` to the exporter's container, which is otherwise granted no
   * capability; nothing in this library queries them.
   * @default false
   */
  readonly profilingMetrics?: boolean;
  /**
   * A NetworkPolicy that lets only Prometheus (`prometheusNamespace`) reach the exporter's metrics port.
   * @default true
   */
  readonly networkPolicy?: boolean;
  /**
   * Namespace of the Prometheus that scrapes the exporter.
   * @default 'monitoring'
   */
  readonly prometheusNamespace?: string;
  /**
   * Exporter image.
   * @default IMAGES.dcgmExporter
   */
  readonly image?: string;
}

/**
 * NVIDIA dcgm-exporter on every GPU node: GPU utilization, memory, temperature and XID errors per GPU,
 * attributed to the pods using each GPU (kubelet pod-resources API), with its Service, ServiceMonitor
 * and the counters it collects in a ConfigMap.
 */
export class DcgmMonitoring extends Construct {
  readonly namespace: string;
  readonly name = 'dcgm-exporter';
  readonly timeSliced: boolean;
  /** Whether the profiling (DCP) fields are collected, and SYS_ADMIN granted for them. */
  readonly profilingMetrics: boolean;
  readonly scrape: ResolvedScrape;
  /** The counters file (dcgm-exporter CSV format). */
  readonly countersCsv: string;
  readonly daemonSet: k8s.KubeDaemonSet;
  readonly service: k8s.KubeService;
  readonly serviceMonitor?: ServiceMonitor;
  readonly networkPolicy?: k8s.KubeNetworkPolicy;

  constructor(scope: Construct, id: string, props: DcgmMonitoringProps = {}) {
    super(scope, id);
    const v = validator(this);
    this.namespace = v.dnsLabel('namespace', props.namespace ?? 'monitoring');
    this.timeSliced = props.timeSliced ?? false;
    this.profilingMetrics = props.profilingMetrics ?? false;
    this.scrape = resolveScrape('scrape', props.scrape, v);
    const interval = v.integerInRange('collectIntervalMs', props.collectIntervalMs ?? 15000, 100, 600000);
    const name = this.name;
    const labels = appLabels(name, name, 'gpu-metrics');
    const podSelector = selectorLabels(name, name);

    this.countersCsv =
      '# Format: DCGM field, Prometheus metric type, help message\n' +
      [...DCGM_COUNTERS, ...(this.profilingMetrics ? DCGM_PROFILING_COUNTERS : [])]
        .map(([field, type, help]) => `${field}, ${type}, ${help}`)
        .join('\n') +
      '\n';
    new k8s.KubeConfigMap(this, 'Counters', {
      metadata: { name: `${name}-counters`, namespace: this.namespace, labels },
      data: { 'counters.csv': this.countersCsv },
    });

    const env: Record<string, string> = {
      DCGM_EXPORTER_LISTEN: `:${DCGM_EXPORTER_PORT}`,
      DCGM_EXPORTER_KUBERNETES: 'true',
      DCGM_EXPORTER_COLLECTORS: '/etc/dcgm-exporter/custom/counters.csv',
      DCGM_EXPORTER_INTERVAL: String(interval),
      ...(this.timeSliced ? { KUBERNETES_VIRTUAL_GPUS: 'true' } : {}),
    };

    this.daemonSet = new k8s.KubeDaemonSet(this, 'DaemonSet', {
      metadata: { name, namespace: this.namespace, labels },
      spec: {
        selector: { matchLabels: podSelector },
        updateStrategy: { type: 'RollingUpdate' },
        template: {
          metadata: { labels },
          spec: {
            runtimeClassName: props.runtimeClassName,
            nodeSelector: props.nodeSelector ?? GPU_NODE_SELECTOR,
            tolerations: [GPU_TOLERATION],
            automountServiceAccountToken: false,
            containers: [
              {
                name: 'exporter',
                image: props.image ?? IMAGES.dcgmExporter,
                ports: [
                  { name: DCGM_EXPORTER_PORT_NAME, containerPort: DCGM_EXPORTER_PORT, protocol: 'TCP' },
                ],
                env: [
                  ...Object.entries(env).map(([k, value]) => ({ name: k, value })),
                  // dcgm-exporter labels series `Hostname=$NODE_NAME` (the pod's name without it),
                  // which alerts and dashboard legends show; NVIDIA's chart sets it the same way.
                  { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                ],
                // Root for the kubelet's pod-resources socket (root-owned); no capability unless the
                // profiling (DCP) fields are collected, which NVIDIA's manifest grants SYS_ADMIN for.
                securityContext: {
                  runAsNonRoot: false,
                  runAsUser: 0,
                  allowPrivilegeEscalation: false,
                  capabilities: {
                    drop: ['ALL'],
                    ...(this.profilingMetrics ? { add: ['SYS_ADMIN'] } : {}),
                  },
                  seccompProfile: { type: 'RuntimeDefault' },
                },
                readinessProbe: {
                  httpGet: { path: '/health', port: k8s.IntOrString.fromNumber(DCGM_EXPORTER_PORT) },
                  periodSeconds: 10,
                },
                volumeMounts: [
                  { name: 'pod-resources', mountPath: '/var/lib/kubelet/pod-resources', readOnly: true },
                  { name: 'counters', mountPath: '/etc/dcgm-exporter/custom', readOnly: true },
                ],
              },
            ],
            volumes: [
              { name: 'pod-resources', hostPath: { path: '/var/lib/kubelet/pod-resources' } },
              { name: 'counters', configMap: { name: `${name}-counters` } },
            ],
          },
        },
      },
    });

    this.service = new k8s.KubeService(this, 'Service', {
      metadata: {
        name,
        namespace: this.namespace,
        labels,
        annotations: this.scrape.annotations ? scrapeAnnotations(DCGM_EXPORTER_PORT, '/metrics') : undefined,
      },
      spec: {
        selector: podSelector,
        ports: [
          {
            name: DCGM_EXPORTER_PORT_NAME,
            port: DCGM_EXPORTER_PORT,
            targetPort: k8s.IntOrString.fromString(DCGM_EXPORTER_PORT_NAME),
          },
        ],
      },
    });

    if (props.networkPolicy ?? true) {
      this.networkPolicy = ingressPolicy(this, 'NetworkPolicy', {
        name,
        namespace: this.namespace,
        labels,
        podSelector,
        rules: [
          {
            port: DCGM_EXPORTER_PORT_NAME,
            from: [
              namespacePeer(v.dnsLabel('prometheusNamespace', props.prometheusNamespace ?? 'monitoring')),
            ],
          },
        ],
      });
    }

    if (this.scrape.serviceMonitor) {
      this.serviceMonitor = new ServiceMonitor(this, 'ServiceMonitor', {
        metadata: { name, namespace: this.namespace, labels: { ...labels, ...this.scrape.labels } },
        spec: {
          selector: { matchLabels: podSelector },
          namespaceSelector: { matchNames: [this.namespace] },
          // honorLabels false: the exporter's pod/namespace labels (the GPU's workload) become
          // exported_pod/exported_namespace; GpuHpa's adapter rule maps them back onto pods.
          endpoints: [
            {
              port: DCGM_EXPORTER_PORT_NAME,
              path: '/metrics',
              interval: this.scrape.interval,
              honorLabels: false,
            },
          ],
        },
      });
    }
  }
}
