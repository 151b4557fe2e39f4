/**
 * The autoscaling/v2 HorizontalPodAutoscaler shapes (k8s.io/api/autoscaling/v2 types.go) as this
 * repository writes them (GpuHpa, KEDA's generated HPA) and reads them (the planner), and the
 * defaulted scaling rules the controller works with.
 */
import type { Quantity } from './quantity.ts';

/** HPAScalingRules.selectPolicy values (validation.go validSelectPolicyTypes). */
export const SELECT_POLICIES = ['Max', 'Min', 'Disabled'] as const;
export type SelectPolicy = (typeof SELECT_POLICIES)[number];

/** HPAScalingPolicy.type values (validation.go validPolicyTypes). */
export const POLICY_TYPES = ['Pods', 'Percent'] as const;
export type PolicyType = (typeof POLICY_TYPES)[number];

/** MetricSpec.type values (validation.go validMetricSourceTypes). */
export const METRIC_SOURCE_TYPES = ['Resource', 'ContainerResource', 'Pods', 'Object', 'External'] as const;
export type MetricSourceType = (typeof METRIC_SOURCE_TYPES)[number];

/** MetricTarget.type values (validation.go validateMetricTarget). */
export const METRIC_TARGET_TYPES = ['Utilization', 'Value', 'AverageValue'] as const;
export type MetricTargetType = (typeof METRIC_TARGET_TYPES)[number];

/** One rate limit of a scaling direction: at most `value` pods (or percent) per `periodSeconds`. */
export interface ScalingPolicy {
  readonly type: PolicyType;
  /** Pods, or percent of the replicas at the start of the period; an integer from 1 to INT32_MAX. */
  readonly value: number;
  /** An integer from 1 to MAX_PERIOD_SECONDS (1800). */
  readonly periodSeconds: number;
}

/** HPAScalingRules's window and rate fields as a spec writes them; unset fields are defaulted. */
export interface ScalingRules {
  /**
   * Seconds of past recommendations considered; an integer from 0 to 3600.
   * @default scaleUp 0, scaleDown 300
   */
  readonly stabilizationWindowSeconds?: number;
  /**
   * Which policy's limit applies when several do.
   * @default 'Max'
   */
  readonly selectPolicy?: SelectPolicy;
  /**
   * At least one policy.
   * @default scaleUp [100 % per 15 s, 4 pods per 15 s]; scaleDown [50 % per 60 s] (GpuHpa) or [100 % per 15 s] (the API server)
   */
  readonly policies?: readonly ScalingPolicy[];
}

/** HPAScalingRules as read from any spec: the rules plus the per-direction tolerance. */
export interface HpaScalingRules extends ScalingRules {
  /** Per-direction tolerance (HPAConfigurableTolerance); unset: the controller's flag (0.1). */
  readonly tolerance?: Quantity;
}

/** HPAScalingRules after defaulting, as the controller applies them. */
export interface ResolvedScalingRules {
  readonly stabilizationWindowSeconds: number;
  readonly selectPolicy: SelectPolicy;
  readonly policies: readonly ScalingPolicy[];
  /** Per-direction tolerance as a float; undefined: the controller's flag. */
  readonly tolerance?: number;
}

/** HorizontalPodAutoscalerBehavior after defaulting. */
export interface ResolvedScalingBehavior {
  readonly scaleUp: ResolvedScalingRules;
  readonly scaleDown: ResolvedScalingRules;
}

export interface MetricTarget {
  readonly type: MetricTargetType;
  readonly averageUtilization?: number;
  readonly averageValue?: Quantity;
  readonly value?: Quantity;
}

export interface MetricIdentifier {
  readonly name: string;
  readonly selector?: unknown;
}

/** autoscaling/v2 MetricSpec (the fields the calculation uses). */
export interface MetricSpec {
  readonly type: MetricSourceType;
  readonly resource?: { readonly name: string; readonly target: MetricTarget };
  readonly containerResource?: {
    readonly name: string;
    readonly container: string;
    readonly target: MetricTarget;
  };
  readonly pods?: { readonly metric: MetricIdentifier; readonly target: MetricTarget };
  readonly object?: {
    readonly describedObject?: {
      readonly kind?: string;
      readonly name?: string;
      readonly apiVersion?: string;
    };
    readonly metric: MetricIdentifier;
    readonly target: MetricTarget;
  };
  readonly external?: { readonly metric: MetricIdentifier; readonly target: MetricTarget };
}

/** autoscaling/v2 HorizontalPodAutoscalerSpec (scaleTargetRef is not needed for the calculation). */
export interface HpaSpec {
  readonly minReplicas?: number;
  readonly maxReplicas: number;
  readonly metrics?: readonly MetricSpec[];
  readonly behavior?: { readonly scaleUp?: HpaScalingRules; readonly scaleDown?: HpaScalingRules };
  readonly scaleTargetRef?: unknown;
}
