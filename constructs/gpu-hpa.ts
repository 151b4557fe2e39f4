import { ApiObject } from 'cdk8s';
import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ScaledObject } from '../imports/scaledobject-keda.sh.ts';
import { METRICS } from './contract.ts';
import { DCGM, DCGM_LABELS } from './dcgm-metrics.ts';
import { type IGpuScalable } from './gpu-scalable.ts';
import { WARNING_METADATA, resolveGpuCapacity, type GpuTopology } from './gpu-topology.ts';
import { appLabels, ingressPolicy, networkPeer } from './k8s-helpers.ts';
import {
  PrometheusAdapter,
  RESOURCE_RULES,
  type AdapterConfig,
  type AdapterRule,
} from './prometheus-adapter.ts';
import { ADAPTER_TEMPLATE as A, histogramMean, meanOfRates, podsSelector } from './promql.ts';
import { checkScalingRules } from './scaling-rules.ts';
import { validator, type Validator } from './validate.ts';

export type HpaMetricKind = 'cpu' | 'gpu' | 'inflight' | 'queueTime';

/** One scaling signal and its target. Create with the HpaMetric factory. */
export interface HpaMetric {
  readonly kind: HpaMetricKind;
  /** cpu, gpu: percent; inflight: requests per pod; queueTime: seconds. */
  readonly target: number;
  /**
   * queueTime only: the rate() window the mean queue time is computed over.
   * @default DEFAULT_QUEUE_TIME_WINDOW ('1m')
   */
  readonly window?: string;
}

/** Options of `HpaMetric.queueTime`. */
export interface QueueTimeOptions {
  /**
   * rate() window of the mean queue time (a Prometheus duration). Shorter reacts faster and is
   * noisier; keep it at least 4 scrape intervals (Grafana's `$__rate_interval` rule), so that a
   * missed scrape does not leave the window with one sample.
   * @default DEFAULT_QUEUE_TIME_WINDOW ('1m': 4 scrapes at the ServiceMonitor's 15 s)
   */
  readonly window?: string;
}

/** The queue-time signal's rate() window: 4 scrape intervals at the default 15 s scrape. */
export const DEFAULT_QUEUE_TIME_WINDOW = '1m';

/** Factories of the scaling signals GpuHpa supports. */
export const HpaMetric = {
  /** CPU utilization of the pods' requests, percent (the recipe's 60), from the resource metrics API. */
  cpuUtilization: (percent: number): HpaMetric => ({ kind: 'cpu', target: percent }),
  /** GPU utilization per pod from dcgm-exporter, percent. */
  gpuUtilization: (percent: number): HpaMetric => ({ kind: 'gpu', target: percent }),
  /** In-flight requests per pod (the server's inference_inflight_requests). */
  inflightRequests: (perPod: number): HpaMetric => ({ kind: 'inflight', target: perPod }),
  /** Mean time requests wait in the batcher queue, seconds, over `options.window`. */
  queueTime: (seconds: number, options: QueueTimeOptions = {}): HpaMetric => ({
    kind: 'queueTime',
    target: seconds,
    ...(options.window !== undefined ? { window: options.window } : {}),
  }),
};

/**
 * GpuHpa's default signals: 8 in-flight requests per pod and 20 ms mean queue time, what Triton and
 * KServe scale on. Not GPU utilization: a batching pod's GPU reads busy long before the pod is at
 * capacity, and on time-sliced GPUs every pod sees the whole shared GPU's utilization; the planner
 * (planner/README.md) measured the former default (CPU 60 %, GPU 70 %, in-flight 8) holding 1.6x
 * the pod-hours on the recipe's steps and 1.9x over a day for the same SLO result with up to 10
 * pods (1.2x over a day under main.ts's ceiling of 5). Not CPU either: a GPU pod's CPU says little about its load.
 */
export const DEFAULT_HPA_METRICS: readonly HpaMetric[] = [
  HpaMetric.inflightRequests(8),
  HpaMetric.queueTime(0.02),
];

export interface ScalingPolicy {
  readonly type: 'Pods' | 'Percent';
  readonly value: number;
  readonly periodSeconds: number;
}

export interface ScalingRules {
  /**
   * @default scaleUp 0, scaleDown 300
   */
  readonly stabilizationWindowSeconds?: number;
  /**
   * @default 'Max'
   */
  readonly selectPolicy?: 'Max' | 'Min' | 'Disabled';
  /**
   * @default scaleUp [100 % per 15 s, 4 pods per 15 s]; scaleDown [50 % per 60 s]
   */
  readonly policies?: readonly ScalingPolicy[];
}

export interface ResolvedScalingRules {
  readonly stabilizationWindowSeconds: number;
  readonly selectPolicy: 'Max' | 'Min' | 'Disabled';
  readonly policies: readonly ScalingPolicy[];
}

export interface ScalingBehavior {
  /** @default fast: no stabilization, the larger of doubling or +4 pods every 15 s */
  readonly scaleUp?: ScalingRules;
  /** @default stabilized: 5 min window, then at most half the pods per minute */
  readonly scaleDown?: ScalingRules;
}

export interface ResolvedScalingBehavior {
  readonly scaleUp: ResolvedScalingRules;
  readonly scaleDown: ResolvedScalingRules;
}

/** Defaults of `behavior`: scale up as fast as pods can start, scale down slowly (GPU pods start slowly). */
export const DEFAULT_BEHAVIOR: ResolvedScalingBehavior = {
  scaleUp: {
    stabilizationWindowSeconds: 0,
    selectPolicy: 'Max',
    policies: [
      { type: 'Percent', value: 100, periodSeconds: 15 },
      { type: 'Pods', value: 4, periodSeconds: 15 },
    ],
  },
  scaleDown: {
    stabilizationWindowSeconds: 300,
    selectPolicy: 'Max',
    policies: [{ type: 'Percent', value: 50, periodSeconds: 60 }],
  },
};

/** The port KEDA's metrics API server serves the external metrics API on (its `--secure-port`). */
export const KEDA_METRICS_API_SERVER_PORT = 6443;
/**
 * The `app` label of KEDA's metrics API server pods: `keda-operator-metrics-apiserver` from the Helm
 * chart, `keda-metrics-apiserver` from the release manifests (config/metrics-server/deployment.yaml).
 */
export const KEDA_METRICS_API_SERVER_APPS = [
  'keda-operator-metrics-apiserver',
  'keda-metrics-apiserver',
] as const;

/**
 * Where the custom metrics come from. KEDA is the default: prometheus-adapter is being deprecated
 * upstream in favour of KEDA (kubernetes-sigs/prometheus-adapter#701). prometheus-adapter stays an
 * option (the recipe's backend, and the only one here that can also serve `metrics.k8s.io`).
 */
export type HpaBackend = 'prometheus-adapter' | 'keda';

/** What KEDA scales to while a trigger's metric cannot be read (ScaledObject `fallback.behavior`). */
export type KedaFallbackBehavior =
  'static' | 'currentReplicas' | 'currentReplicasIfHigher' | 'currentReplicasIfLower';

/**
 * The ScaledObject's `fallback`: the replicas KEDA reports while Prometheus cannot be queried, after
 * `failureThreshold` failed polls in a row. KEDA's admission webhook accepts it only when every
 * trigger is of metric type AverageValue (apis/keda/v1alpha1 CheckFallbackValid): not with `cpu`
 * (Utilization) nor `queueTime` (a mean, compared as a Value); `inflight`, `gpu` and the
 * scale-to-zero demand trigger qualify.
 */
export interface KedaFallbackOptions {
  /** Consecutive failed polls of a trigger before KEDA falls back (an integer from 1 to 1000). */
  readonly failureThreshold: number;
  /** Replicas to fall back to: an integer from minReplicas to maxReplicas. */
  readonly replicas: number;
  /**
   * How `replicas` combines with the current replica count.
   * @default 'static' (exactly `replicas`)
   */
  readonly behavior?: KedaFallbackBehavior;
}

/** The `behavior` values of KEDA's fallback that apply without scalingModifiers. */
export const KEDA_FALLBACK_BEHAVIORS: readonly KedaFallbackBehavior[] = [
  'static',
  'currentReplicas',
  'currentReplicasIfHigher',
  'currentReplicasIfLower',
];

export interface AdapterBackendOptions {
  /**
   * Deploy prometheus-adapter itself (Deployment, APIService, RBAC); false emits only its rules.
   * @default true
   */
  readonly deploy?: boolean;
  /**
   * Namespace of the adapter.
   * @default 'monitoring'
   */
  readonly namespace?: string;
  /**
   * Serve the resource metrics API (`metrics.k8s.io`) from cAdvisor series too, replacing
   * metrics-server (Monitoring then must not deploy it).
   * @default false
   */
  readonly serveResourceMetrics?: boolean;
  /**
   * PrometheusAdapter's `networkPolicy`: only the aggregated API port reaches the adapter.
   * @default true
   */
  readonly networkPolicy?: boolean;
  /**
   * PrometheusAdapter's `apiServerFrom`: who may reach that port.
   * @default - any source (the API server is not a pod; see PrometheusAdapterProps.apiServerFrom)
   */
  readonly apiServerFrom?: readonly k8s.NetworkPolicyPeer[];
}

export interface ScaleToZeroOptions {
  /**
   * PromQL of the demand, measured in front of the pods (an ingress or gateway request rate): at zero
   * pods the server exports nothing, so only an upstream signal can activate the workload.
   */
  readonly demandQuery: string;
  /** Demand per pod the trigger scales to (AverageValue). */
  readonly targetPerPod: number;
  /**
   * Demand above which the workload is woken from zero.
   * @default 0
   */
  readonly activationThreshold?: number;
}

export interface KedaBackendOptions {
  /**
   * Seconds between KEDA's trigger polls.
   * @default 15
   */
  readonly pollingIntervalSeconds?: number;
  /**
   * Seconds after the last active trigger before scaling to zero (only with scaleToZero).
   * @default 300
   */
  readonly cooldownPeriodSeconds?: number;
  /**
   * Scale to zero replicas when there is no demand. GPU utilization never activates the workload.
   * @default - no scale to zero: minReplicas >= 1
   */
  readonly scaleToZero?: ScaleToZeroOptions;
  /**
   * A NetworkPolicy in KEDA's namespace that lets only the aggregated API port (6443) reach KEDA's
   * metrics API server (pods labelled `app` keda-operator-metrics-apiserver, as KEDA's Helm chart
   * labels them, or keda-metrics-apiserver, as its release manifests do), from `apiServerFrom`.
   * @default true
   */
  readonly networkPolicy?: boolean;
  /**
   * Namespace KEDA is installed in.
   * @default 'keda'
   */
  readonly namespace?: string;
  /**
   * Who may reach KEDA's metrics API server: the API server's aggregation layer, which is not a
   * pod, so no selector matches it; list the control plane's CIDRs to narrow it.
   * @default - any source
   */
  readonly apiServerFrom?: readonly k8s.NetworkPolicyPeer[];
  /**
   * Replicas to hold while Prometheus cannot be queried (ScaledObject `fallback`); needs every
   * metric to be of AverageValue type (inflight, gpu).
   * @default - none: while a trigger fails, KEDA's HPA keeps the replicas it has
   */
  readonly fallback?: KedaFallbackOptions;
}

export interface GpuHpaProps {
  /** The workload to scale. */
  readonly target: IGpuScalable;
  /**
   * Name of the HPA (or ScaledObject).
   * @default the target's name
   */
  readonly name?: string;
  /**
   * @default 1 (0 with KEDA scaleToZero)
   */
  readonly minReplicas?: number;
  /**
   * @default 10
   */
  readonly maxReplicas?: number;
  /**
   * The GPU nodes the target's pods schedule on and their device plugin: GpuHpa derives the
   * `nvidia.com/gpu` slices they offer (gpuNodes x gpusPerNode x `timeSlicingReplicas`) and refuses
   * a `maxReplicas` that, with the rollout's surge pod, does not fit them (the pods past them would
   * stay Pending while the HPA counts them). With time-slicing, `HpaMetric.gpuUtilization` records a
   * warning (`warningsOf`). Required (or `gpuSlices`) when the target requests GPUs.
   * @default none
   */
  readonly gpuTopology?: GpuTopology;
  /**
   * The slices as one number instead of `gpuTopology`: the `nvidia.com/gpu` allocatable of the
   * target's nodes, summed. Without the topology GpuHpa cannot tell whether the GPUs are time-sliced.
   * @default - from gpuTopology
   */
  readonly gpuSlices?: number;
  /**
   * Scaling signals; the HPA takes the largest replica count any of them asks for.
   * @default DEFAULT_HPA_METRICS: [inflightRequests(8), queueTime(0.02)]
   */
  readonly metrics?: readonly HpaMetric[];
  /**
   * Scaling behavior; unset fields take DEFAULT_BEHAVIOR's.
   * @default DEFAULT_BEHAVIOR
   */
  readonly behavior?: ScalingBehavior;
  /**
   * Where the custom metrics come from: a KEDA ScaledObject (KEDA installed separately), or
   * prometheus-adapter rules and the adapter.
   * @default 'keda'
   */
  readonly backend?: HpaBackend;
  /** Prometheus queried by the adapter or by KEDA, e.g. Monitoring's `prometheusUrl`. */
  readonly prometheusUrl: string;
  /**
   * prometheus-adapter options (backend 'prometheus-adapter' only; with KEDA they are refused).
   * @default {}
   */
  readonly adapter?: AdapterBackendOptions;
  /**
   * KEDA options (backend 'keda'); KEDA itself is installed separately (its Helm chart).
   * @default {}
   */
  readonly keda?: KedaBackendOptions;
}

/** A metric as the HPA evaluates it, resolved for simulators and for checking the metric pipeline. */
export interface ResolvedHpaMetric {
  readonly kind: HpaMetricKind;
  /** The target in the metric's unit (percent, requests per pod, seconds). */
  readonly target: number;
  /** autoscaling/v2 metric source type. */
  readonly type: 'Resource' | 'Pods' | 'External';
  /** `cpu`, the custom metric's name in the adapter's API, or KEDA's external metric name (`s<i>-prometheus`). */
  readonly metricName: string;
  /**
   * How the HPA compares: Utilization (percent of requests, averaged over pods), AverageValue
   * (metric / current replicas vs target) or Value (metric vs target, scaled by current replicas).
   */
  readonly targetType: 'Utilization' | 'AverageValue' | 'Value';
  /** The autoscaling/v2 MetricSpec (in the HPA, or the one KEDA generates). */
  readonly spec: Record<string, unknown>;
  /** PromQL the HPA's value comes from, for this workload: one series per pod (label `pod`) for Pods metrics, one value for KEDA's triggers; absent for cpu. */
  readonly query?: string;
  /** queueTime only: the rate() window of `query` (and of the adapter rule). */
  readonly window?: string;
}

/** A KEDA trigger as written to the ScaledObject. */
export interface KedaTrigger {
  readonly type: 'prometheus' | 'cpu';
  readonly name: string;
  readonly metricType: 'Utilization' | 'AverageValue' | 'Value';
  readonly metadata: Record<string, string>;
}

const ADAPTER_METRIC_NAMES: Record<Exclude<HpaMetricKind, 'cpu'>, string> = {
  gpu: 'gpu_utilization_percent',
  inflight: METRICS.inflight.name,
  queueTime: `${METRICS.queueDuration.name}_mean`,
};

/**
 * prometheus-adapter rules producing each custom metric (one rule per metric, for every pod in the
 * cluster); `window` is queueTime's rate() window.
 */
export function adapterRuleFor(
  kind: Exclude<HpaMetricKind, 'cpu'>,
  window: string = DEFAULT_QUEUE_TIME_WINDOW,
): AdapterRule {
  const podLabels = { overrides: { namespace: { resource: 'namespace' }, pod: { resource: 'pod' } } };
  switch (kind) {
    case 'gpu':
      return {
        seriesQuery: `${DCGM.gpuUtil}{${DCGM_LABELS.workloadNamespace}!="",${DCGM_LABELS.workloadPod}!=""}`,
        // The workload's pod is in exported_pod/exported_namespace after a prometheus-operator scrape.
        resources: {
          overrides: {
            [DCGM_LABELS.workloadNamespace]: { resource: 'namespace' },
            [DCGM_LABELS.workloadPod]: { resource: 'pod' },
          },
        },
        name: { matches: `^${DCGM.gpuUtil}$`, as: ADAPTER_METRIC_NAMES.gpu },
        metricsQuery: `avg by (${A.groupBy}) (${A.series}${A.selector})`,
      };
    case 'inflight':
      return {
        seriesQuery: `${METRICS.inflight.name}{namespace!="",pod!=""}`,
        resources: podLabels,
        name: { matches: `^${METRICS.inflight.name}$`, as: ADAPTER_METRIC_NAMES.inflight },
        metricsQuery: `sum by (${A.groupBy}) (${A.series}${A.selector})`,
      };
    case 'queueTime': {
      const m = METRICS.queueDuration.name;
      return {
        seriesQuery: `${m}_sum{namespace!="",pod!=""}`,
        resources: podLabels,
        name: { matches: `^${m}_sum$`, as: ADAPTER_METRIC_NAMES.queueTime },
        metricsQuery: meanOfRates(`${A.series}${A.selector}`, `${m}_count${A.selector}`, window, [A.groupBy]),
      };
    }
  }
}

/** The resolved rate() window of a queueTime metric (none for the other kinds). */
function windowOf(m: HpaMetric): Pick<ResolvedHpaMetric, 'window'> {
  return m.kind === 'queueTime' ? { window: m.window ?? DEFAULT_QUEUE_TIME_WINDOW } : {};
}

/** A Kubernetes quantity for a target: integers as is, fractions in milli-units ("50m" for 0.05). */
function toQuantity(value: number): string {
  return Number.isInteger(value) ? String(value) : `${Math.round(value * 1000)}m`;
}

function resolveRules(
  field: string,
  rules: ScalingRules | undefined,
  defaults: ResolvedScalingRules,
  v: Validator,
): ResolvedScalingRules {
  const resolved: ResolvedScalingRules = {
    stabilizationWindowSeconds: rules?.stabilizationWindowSeconds ?? defaults.stabilizationWindowSeconds,
    selectPolicy: rules?.selectPolicy ?? defaults.selectPolicy,
    policies: (rules?.policies ?? defaults.policies).map((p) => ({
      type: p.type,
      value: p.value,
      periodSeconds: p.periodSeconds,
    })),
  };
  checkScalingRules(field, resolved, v);
  return resolved;
}

/**
 * An autoscaling/v2 HorizontalPodAutoscaler for an IGpuScalable (a GpuInferenceService or another workload) on any mix of CPU, GPU
 * utilization, in-flight requests and queue time, fed by prometheus-adapter (its rules, and
 * optionally the adapter) or by KEDA (a ScaledObject with Prometheus triggers).
 */
export class GpuHpa extends Construct {
  readonly name: string;
  readonly namespace: string;
  /** Name of the HorizontalPodAutoscaler object in the cluster (KEDA creates it from the ScaledObject). */
  readonly hpaName: string;
  readonly backend: HpaBackend;
  readonly minReplicas: number;
  readonly maxReplicas: number;
  /** The `nvidia.com/gpu` slices the target's nodes offer (absent when it requests no GPU). */
  readonly gpuSlices?: number;
  /** Deployment the HPA scales. */
  readonly scaleTargetRef: {
    readonly apiVersion: 'apps/v1';
    readonly kind: 'Deployment';
    readonly name: string;
  };
  readonly metrics: readonly ResolvedHpaMetric[];
  readonly behavior: ResolvedScalingBehavior;
  readonly prometheusUrl: string;
  /** prometheus-adapter rules, one per custom metric (empty with KEDA). */
  readonly adapterRules: readonly AdapterRule[];
  /** The adapter's whole config file (with resourceRules when it serves resource metrics). */
  readonly adapterConfig?: AdapterConfig;
  /** KEDA triggers (empty with prometheus-adapter). */
  readonly kedaTriggers: readonly KedaTrigger[];
  /** The ScaledObject's `fallback` (backend keda, `keda.fallback`). */
  readonly kedaFallback?: Required<KedaFallbackOptions>;
  /** Whether the resource metrics API (`metrics.k8s.io`) is served by this construct's adapter. */
  readonly servesResourceMetrics: boolean;
  /** The NetworkPolicy of KEDA's metrics API server (backend keda, `keda.networkPolicy`). */
  readonly kedaNetworkPolicy?: k8s.KubeNetworkPolicy;
  /** The autoscaling/v2 HorizontalPodAutoscaler (backend prometheus-adapter). */
  readonly hpa?: ApiObject;
  readonly scaledObject?: ScaledObject;
  readonly adapter?: PrometheusAdapter;
  /** The adapter rules ConfigMap when the adapter is not deployed here. */
  readonly adapterConfigMap?: k8s.KubeConfigMap;

  constructor(scope: Construct, id: string, props: GpuHpaProps) {
    super(scope, id);
    const v = validator(this);
    const target = props.target;
    this.namespace = target.namespace;
    this.name = v.dnsLabel('name', props.name ?? target.name);
    this.backend = v.oneOf('backend', props.backend ?? 'keda', ['prometheus-adapter', 'keda']);
    const keda = props.keda ?? {};
    const scaleToZero = this.backend === 'keda' ? keda.scaleToZero : undefined;
    if (keda.scaleToZero && this.backend !== 'keda') {
      throw v.error(`keda.scaleToZero needs backend "keda", got backend ${JSON.stringify(this.backend)}`);
    }
    if (props.adapter !== undefined && this.backend !== 'prometheus-adapter') {
      throw v.error(
        `adapter needs backend "prometheus-adapter" (GpuHpa's default backend is "keda"), got backend ${JSON.stringify(this.backend)}`,
      );
    }
    if (keda.fallback && this.backend !== 'keda') {
      throw v.error(`keda.fallback needs backend "keda", got backend ${JSON.stringify(this.backend)}`);
    }
    const minAllowed = scaleToZero ? 0 : 1;
    this.minReplicas = v.integerInRange('minReplicas', props.minReplicas ?? minAllowed, minAllowed, 1000);
    this.maxReplicas = v.integerInRange(
      'maxReplicas',
      props.maxReplicas ?? 10,
      Math.max(1, this.minReplicas),
      1000,
      { min: this.minReplicas >= 1 ? 'minReplicas' : undefined },
    );
    const capacity = resolveGpuCapacity(target, this.maxReplicas, props, v);
    this.gpuSlices = capacity?.gpuSlices;
    this.prometheusUrl = v.httpUrl('prometheusUrl', props.prometheusUrl);

    const requested = props.metrics ?? DEFAULT_HPA_METRICS;
    if (requested.length === 0 && !scaleToZero) {
      throw v.error('metrics must list at least one metric (cpu, gpu, inflight or queueTime), got []');
    }
    // A warning, not an error: the signal works, but it is positive feedback. Every pod on a
    // time-sliced GPU reads that whole GPU's utilization, so adding a pod to a busy GPU raises its
    // neighbours' readings instead of lowering them.
    const sharing = capacity?.timeSlicingReplicas ?? 1;
    if (sharing > 1 && requested.some((m) => m.kind === 'gpu')) {
      this.node.addMetadata(
        WARNING_METADATA,
        `metrics include gpuUtilization on GPUs time-sliced ${sharing} ways (gpuTopology): every pod on a GPU reads the whole GPU's utilization, so more pods do not lower it (positive feedback); scale on inflightRequests or queueTime`,
      );
    }
    const seen = new Set<string>();
    requested.forEach((m, i) => {
      const field = `metrics[${i}]`;
      v.oneOf(`${field}.kind`, m.kind, ['cpu', 'gpu', 'inflight', 'queueTime']);
      if (seen.has(m.kind))
        throw v.error(`${field}.kind ${JSON.stringify(m.kind)} is listed twice; list each kind once`);
      seen.add(m.kind);
      if (m.kind === 'cpu' || m.kind === 'gpu')
        v.integerInRange(`${field}.target (percent)`, m.target, 1, 100);
      if (m.kind === 'inflight')
        v.numberInRange(`${field}.target (requests per pod)`, m.target, 0, 10000, true);
      if (m.kind === 'queueTime') v.numberInRange(`${field}.target (seconds)`, m.target, 0.001, 600);
      if (m.window !== undefined) {
        if (m.kind !== 'queueTime') {
          throw v.error(
            `${field}.window applies to queueTime only, got window ${JSON.stringify(m.window)} on kind ${JSON.stringify(m.kind)}`,
          );
        }
        v.promDuration(`${field}.window`, m.window);
      }
    });
    if (scaleToZero) {
      v.numberInRange('keda.scaleToZero.targetPerPod', scaleToZero.targetPerPod, 0, 1e9, true);
      v.numberInRange('keda.scaleToZero.activationThreshold', scaleToZero.activationThreshold ?? 0, 0, 1e9);
      if (scaleToZero.demandQuery.trim() === '') {
        throw v.error('keda.scaleToZero.demandQuery must be a PromQL expression, got ""');
      }
      if (seen.has('cpu')) {
        throw v.error(
          'metrics must not include cpu with keda.scaleToZero: KEDA cannot scale to zero on CPU (no pods, no CPU metric); use gpu, inflight or queueTime',
        );
      }
    }

    this.behavior = {
      scaleUp: resolveRules('behavior.scaleUp', props.behavior?.scaleUp, DEFAULT_BEHAVIOR.scaleUp, v),
      scaleDown: resolveRules('behavior.scaleDown', props.behavior?.scaleDown, DEFAULT_BEHAVIOR.scaleDown, v),
    };
    this.scaleTargetRef = { apiVersion: 'apps/v1', kind: 'Deployment', name: target.deploymentName };
    const labels = appLabels('inference-server', target.name, 'autoscaler');
    target.markAutoscaled(`GpuHpa ${this.name}`);

    if (this.backend === 'prometheus-adapter') {
      const adapterOptions = props.adapter ?? {};
      this.hpaName = this.name;
      this.kedaTriggers = [];
      this.servesResourceMetrics = adapterOptions.serveResourceMetrics ?? false;
      const custom = requested.filter((m) => m.kind !== 'cpu');
      this.adapterRules = custom.map((m) =>
        adapterRuleFor(m.kind as Exclude<HpaMetricKind, 'cpu'>, m.window ?? DEFAULT_QUEUE_TIME_WINDOW),
      );
      this.adapterConfig = {
        rules: this.adapterRules,
        ...(this.servesResourceMetrics ? { resourceRules: RESOURCE_RULES } : {}),
      };
      this.metrics = requested.map((m) => this.adapterMetric(m, target));
      // Plain JSON (not the L1 class): the resolved specs above are exactly what is written.
      this.hpa = new ApiObject(this, 'Hpa', {
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        metadata: { name: this.hpaName, namespace: this.namespace, labels },
        spec: {
          scaleTargetRef: this.scaleTargetRef,
          minReplicas: this.minReplicas,
          maxReplicas: this.maxReplicas,
          metrics: this.metrics.map((m) => m.spec),
          behavior: this.behavior,
        },
      });
      if (adapterOptions.deploy ?? true) {
        this.adapter = new PrometheusAdapter(this, 'Adapter', {
          namespace: adapterOptions.namespace,
          prometheusUrl: this.prometheusUrl,
          config: this.adapterConfig,
          networkPolicy: adapterOptions.networkPolicy,
          apiServerFrom: adapterOptions.apiServerFrom,
        });
      } else {
        if (this.servesResourceMetrics) {
          throw v.error('adapter.serveResourceMetrics needs adapter.deploy true, got deploy false');
        }
        this.adapterConfigMap = new k8s.KubeConfigMap(this, 'AdapterRules', {
          metadata: { name: `${this.name}-adapter-rules`, namespace: this.namespace, labels },
          data: { 'config.yaml': JSON.stringify(this.adapterConfig, null, 2) + '\n' },
        });
      }
    } else {
      this.hpaName = `keda-hpa-${this.name}`;
      this.adapterRules = [];
      this.servesResourceMetrics = false;
      const pollingInterval = v.integerInRange(
        'keda.pollingIntervalSeconds',
        keda.pollingIntervalSeconds ?? 15,
        1,
        3600,
      );
      const cooldownPeriod = v.integerInRange(
        'keda.cooldownPeriodSeconds',
        keda.cooldownPeriodSeconds ?? 300,
        0,
        86400,
      );
      const built = requested.map((m) => this.kedaMetric(m, target, scaleToZero !== undefined));
      if (scaleToZero) {
        built.push({
          trigger: {
            type: 'prometheus',
            name: 'demand',
            metricType: 'AverageValue',
            metadata: {
              serverAddress: this.prometheusUrl,
              query: scaleToZero.demandQuery,
              threshold: String(scaleToZero.targetPerPod),
              activationThreshold: String(scaleToZero.activationThreshold ?? 0),
            },
          },
          metric: undefined,
        });
      }
      this.kedaTriggers = built.map((b) => b.trigger);
      this.kedaFallback = keda.fallback && this.resolveFallback(keda.fallback, v);
      // KEDA names the external metric of trigger i `s<i>-<type>`.
      this.metrics = built.flatMap((b, i) =>
        b.metric
          ? [{ ...b.metric, ...(b.metric.type === 'External' ? this.externalSpec(b.metric, i) : {}) }]
          : [],
      );
      this.scaledObject = new ScaledObject(this, 'ScaledObject', {
        metadata: { name: this.name, namespace: this.namespace, labels },
        spec: {
          scaleTargetRef: this.scaleTargetRef,
          minReplicaCount: this.minReplicas,
          maxReplicaCount: this.maxReplicas,
          pollingInterval,
          ...(scaleToZero ? { cooldownPeriod } : {}),
          ...(this.kedaFallback ? { fallback: { ...this.kedaFallback } as never } : {}),
          advanced: {
            horizontalPodAutoscalerConfig: {
              name: this.hpaName,
              behavior: this.behavior as never,
            },
          },
          triggers: this.kedaTriggers.map((t) => ({ ...t, metadata: { ...t.metadata } })),
        },
      });
      if (keda.networkPolicy ?? true) {
        const from = keda.apiServerFrom?.map((p, i) => networkPeer(`keda.apiServerFrom[${i}]`, p, v));
        this.kedaNetworkPolicy = ingressPolicy(this, 'KedaMetricsApiServerPolicy', {
          name: 'keda-operator-metrics-apiserver',
          namespace: v.dnsLabel('keda.namespace', keda.namespace ?? 'keda'),
          labels: appLabels('network-policy', 'keda-operator-metrics-apiserver'),
          podSelector: {
            matchExpressions: [{ key: 'app', operator: 'In', values: [...KEDA_METRICS_API_SERVER_APPS] }],
          },
          rules: [{ port: KEDA_METRICS_API_SERVER_PORT, from }],
        });
      }
    }
  }

  private resolveFallback(fallback: KedaFallbackOptions, v: Validator): Required<KedaFallbackOptions> {
    const notAverage = this.kedaTriggers.filter((t) => t.metricType !== 'AverageValue');
    if (notAverage.length > 0) {
      throw v.error(
        `keda.fallback needs every trigger to be of metric type AverageValue (KEDA's admission webhook rejects the rest), got ${notAverage.map((t) => `${t.name} (${t.metricType})`).join(', ')}; scale on inflight or gpu, or leave fallback unset`,
      );
    }
    return {
      failureThreshold: v.integerInRange(
        'keda.fallback.failureThreshold',
        fallback.failureThreshold,
        1,
        1000,
      ),
      replicas: v.integerInRange(
        'keda.fallback.replicas',
        fallback.replicas,
        this.minReplicas,
        this.maxReplicas,
        { min: 'minReplicas', max: 'maxReplicas' },
      ),
      behavior: v.oneOf('keda.fallback.behavior', fallback.behavior ?? 'static', KEDA_FALLBACK_BEHAVIORS),
    };
  }

  private adapterMetric(m: HpaMetric, target: IGpuScalable): ResolvedHpaMetric {
    if (m.kind === 'cpu') {
      return {
        kind: 'cpu',
        target: m.target,
        type: 'Resource',
        metricName: 'cpu',
        targetType: 'Utilization',
        spec: {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: m.target } },
        },
      };
    }
    const metricName = ADAPTER_METRIC_NAMES[m.kind];
    return {
      kind: m.kind,
      target: m.target,
      ...windowOf(m),
      type: 'Pods',
      metricName,
      targetType: 'AverageValue',
      spec: {
        type: 'Pods',
        pods: {
          metric: { name: metricName },
          target: { type: 'AverageValue', averageValue: toQuantity(m.target) },
        },
      },
      query: this.perPodQuery(m, target),
    };
  }

  /** The per-pod PromQL a Pods metric resolves to for this workload. */
  private perPodQuery(metric: HpaMetric, target: IGpuScalable): string {
    if (metric.kind === 'gpu') return target.gpuUtilizationQuery();
    const sel = podsSelector(target);
    if (metric.kind === 'inflight') return `sum by (pod) (${METRICS.inflight.name}${sel})`;
    const w = metric.window ?? DEFAULT_QUEUE_TIME_WINDOW;
    return histogramMean(METRICS.queueDuration.name, sel, w, ['pod']);
  }

  private kedaMetric(
    m: HpaMetric,
    target: IGpuScalable,
    scaleToZero: boolean,
  ): { trigger: KedaTrigger; metric?: ResolvedHpaMetric } {
    if (m.kind === 'cpu') {
      return {
        trigger: {
          type: 'cpu',
          name: 'cpu',
          metricType: 'Utilization',
          metadata: { value: String(m.target) },
        },
        metric: this.adapterMetric(m, target),
      };
    }
    // Sums over pods compare per pod (AverageValue); a mean (queue time) compares as a Value.
    const query =
      m.kind === 'gpu'
        ? `sum(${target.gpuUtilizationQuery()})`
        : m.kind === 'inflight'
          ? target.inflightQuery()
          : target.queueTimeQuery({ window: m.window ?? DEFAULT_QUEUE_TIME_WINDOW });
    const metricType = m.kind === 'queueTime' ? 'Value' : 'AverageValue';
    const metadata: Record<string, string> = {
      serverAddress: this.prometheusUrl,
      query,
      threshold: String(m.target),
    };
    // Demand wakes the workload, never GPU utilization: an idle GPU pod would otherwise keep itself alive.
    if (scaleToZero && m.kind === 'gpu') metadata.activationThreshold = String(100 * this.maxReplicas);
    return {
      trigger: { type: 'prometheus', name: m.kind, metricType, metadata },
      metric: {
        kind: m.kind,
        target: m.target,
        ...windowOf(m),
        type: 'External',
        metricName: '',
        targetType: metricType,
        spec: {},
        query,
      },
    };
  }

  private externalSpec(
    metric: ResolvedHpaMetric,
    index: number,
  ): Pick<ResolvedHpaMetric, 'metricName' | 'spec'> {
    const metricName = `s${index}-prometheus`;
    const target =
      metric.targetType === 'Value'
        ? { type: 'Value', value: toQuantity(metric.target) }
        : { type: 'AverageValue', averageValue: toQuantity(metric.target) };
    return {
      metricName,
      spec: {
        type: 'External',
        external: {
          metric: { name: metricName, selector: { matchLabels: { scaledobject_name: this.name } } },
          target,
        },
      },
    };
  }
}
