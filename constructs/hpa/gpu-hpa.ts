/**
 * GpuHpa: validates the autoscaler's props, resolves its metrics and behaviour, and hands them to
 * one backend (hpa/adapter-backend.ts or hpa/keda-backend.ts) that writes the objects.
 */
import type { ApiObject } from 'cdk8s';
import type { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import type { ScaledObject } from '../../imports/scaledobject-keda.sh.ts';
import { type IGpuScalable } from '../gpu-scalable.ts';
import { resolveGpuCapacity, type GpuTopology } from '../gpu-topology.ts';
import { addWarning } from '../warnings.ts';
import { appLabels } from '../k8s-helpers.ts';
import type { AdapterConfig, AdapterRule, PrometheusAdapter } from '../prometheus-adapter.ts';
import { validator } from '../validate.ts';
import { AdapterHpaBackend, type AdapterBackendOptions } from './adapter-backend.ts';
import type { HpaBackend, IHpaBackend } from './backend.ts';
import type { ResolvedScalingBehavior } from '../autoscaling-v2/types.ts';
import { resolveBehavior, type ScalingBehavior } from './behavior.ts';
import {
  KedaHpaBackend,
  type KedaBackendOptions,
  type KedaFallbackOptions,
  type KedaTrigger,
} from './keda-backend.ts';
import { DEFAULT_HPA_METRICS, checkMetrics, type HpaMetric, type ResolvedHpaMetric } from './metrics.ts';

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
   * `nvidia.com/gpu` slices they offer (gpuNodes x gpusPerNode x `timeSlicingReplicas`, summed over
   * the device plugin's default config and each of its `nodeGroups` with its own replicas) and refuses
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
      addWarning(
        this,
        `metrics include gpuUtilization on GPUs time-sliced ${sharing} ways (gpuTopology): every pod on a GPU reads the whole GPU's utilization, so more pods do not lower it (positive feedback); scale on inflightRequests or queueTime`,
      );
    }
    checkMetrics(requested, v);
    const backend: IHpaBackend =
      this.backend === 'keda' ? new KedaHpaBackend(keda, requested, v) : new AdapterHpaBackend(props.adapter);

    this.behavior = resolveBehavior(props.behavior, v);
    this.scaleTargetRef = { apiVersion: 'apps/v1', kind: 'Deployment', name: target.deploymentName };
    const labels = appLabels('inference-server', target.name, 'autoscaler');
    target.markAutoscaled(`GpuHpa ${this.name}`);

    const bound = backend.bind(this, {
      name: this.name,
      namespace: this.namespace,
      labels,
      target,
      scaleTargetRef: this.scaleTargetRef,
      minReplicas: this.minReplicas,
      maxReplicas: this.maxReplicas,
      behavior: this.behavior,
      prometheusUrl: this.prometheusUrl,
      metrics: requested,
      v,
    });
    this.hpaName = bound.hpaName;
    this.metrics = bound.metrics;
    this.servesResourceMetrics = bound.servesResourceMetrics;
    // The backends' own objects, kept as GpuHpa's fields for callers and tests.
    const adapter = backend instanceof AdapterHpaBackend ? backend : undefined;
    this.adapterRules = adapter?.rules ?? [];
    this.adapterConfig = adapter?.config;
    this.hpa = adapter?.hpa;
    this.adapter = adapter?.adapter;
    this.adapterConfigMap = adapter?.configMap;
    const kedaBackend = backend instanceof KedaHpaBackend ? backend : undefined;
    this.kedaTriggers = kedaBackend?.triggers ?? [];
    this.kedaFallback = kedaBackend?.fallback;
    this.scaledObject = kedaBackend?.scaledObject;
    this.kedaNetworkPolicy = kedaBackend?.networkPolicy;
  }
}
