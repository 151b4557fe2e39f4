/**
 * The small interface GpuHpa's metric backends implement: given the resolved autoscaler, a backend
 * writes the objects that feed and run the HPA under GpuHpa's scope and says how the HPA evaluates
 * each metric. GpuHpa picks one by its `backend` prop and holds no backend logic of its own.
 */
import type { Construct } from 'constructs';
import type { IGpuScalable } from '../gpu-scalable.ts';
import type { Validator } from '../validate.ts';
import type { ResolvedScalingBehavior } from '../autoscaling-v2/types.ts';
import type { HpaMetric, ResolvedHpaMetric } from './metrics.ts';

/**
 * Where the custom metrics come from. KEDA is the default: prometheus-adapter is being deprecated
 * upstream in favour of KEDA (kubernetes-sigs/prometheus-adapter#701). prometheus-adapter stays an
 * option (the recipe's backend, and the only one here that can also serve `metrics.k8s.io`).
 */
export type HpaBackend = 'prometheus-adapter' | 'keda';

/** What a backend is given: GpuHpa's resolved, validated fields. */
export interface HpaBackendContext {
  /** GpuHpa's name (the HPA's, or the ScaledObject's). */
  readonly name: string;
  readonly namespace: string;
  /** Labels of the objects written. */
  readonly labels: Record<string, string>;
  readonly target: IGpuScalable;
  readonly scaleTargetRef: {
    readonly apiVersion: 'apps/v1';
    readonly kind: 'Deployment';
    readonly name: string;
  };
  readonly minReplicas: number;
  readonly maxReplicas: number;
  readonly behavior: ResolvedScalingBehavior;
  readonly prometheusUrl: string;
  /** The signals asked for, validated. */
  readonly metrics: readonly HpaMetric[];
  /** GpuHpa's validator: errors name GpuHpa's path and props. */
  readonly v: Validator;
}

/** What every backend reports back. */
export interface HpaBackendBinding {
  /** Name of the HorizontalPodAutoscaler object in the cluster. */
  readonly hpaName: string;
  readonly metrics: readonly ResolvedHpaMetric[];
  /** Whether the resource metrics API (`metrics.k8s.io`) is served by this backend. */
  readonly servesResourceMetrics: boolean;
}

/** A source of the HPA's custom metrics. */
export interface IHpaBackend {
  readonly kind: HpaBackend;
  /** Writes the backend's objects under `scope` (GpuHpa). */
  bind(scope: Construct, ctx: HpaBackendContext): HpaBackendBinding;
}
