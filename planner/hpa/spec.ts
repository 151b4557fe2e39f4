/**
 * The autoscaling/v2 HorizontalPodAutoscaler spec as the planner reads it, its API defaulting
 * (kubernetes/kubernetes pkg/apis/autoscaling/v2/defaults.go) and validation with messages that
 * name the field, the value and what is allowed.
 */
import { checkScalingRules } from '../../constructs/scaling-rules.ts';
import { ValidationError } from '../../constructs/validate.ts';
import type { Behavior, ScalingPolicy, ScalingRules, SelectPolicy } from './normalize.ts';
import { DEFAULT_TOLERANCE } from './replica-calculator.ts';

/** A Kubernetes quantity: "250m", "2", "1.5k", "512Mi", or a plain number. */
export type Quantity = string | number;

export interface MetricTargetV2 {
  readonly type: 'Utilization' | 'Value' | 'AverageValue';
  readonly averageUtilization?: number;
  readonly averageValue?: Quantity;
  readonly value?: Quantity;
}

export interface MetricIdentifierV2 {
  readonly name: string;
  readonly selector?: unknown;
}

/** autoscaling/v2 MetricSpec (the fields the calculation uses). */
export interface MetricSpecV2 {
  readonly type: 'Resource' | 'ContainerResource' | 'Pods' | 'Object' | 'External';
  readonly resource?: { readonly name: string; readonly target: MetricTargetV2 };
  readonly containerResource?: {
    readonly name: string;
    readonly container: string;
    readonly target: MetricTargetV2;
  };
  readonly pods?: { readonly metric: MetricIdentifierV2; readonly target: MetricTargetV2 };
  readonly object?: {
    readonly describedObject?: {
      readonly kind?: string;
      readonly name?: string;
      readonly apiVersion?: string;
    };
    readonly metric: MetricIdentifierV2;
    readonly target: MetricTargetV2;
  };
  readonly external?: { readonly metric: MetricIdentifierV2; readonly target: MetricTargetV2 };
}

export interface ScalingRulesV2 {
  readonly stabilizationWindowSeconds?: number;
  readonly selectPolicy?: SelectPolicy;
  readonly policies?: readonly ScalingPolicy[];
  readonly tolerance?: Quantity;
}

/** autoscaling/v2 HorizontalPodAutoscalerSpec (scaleTargetRef is not needed for the calculation). */
export interface HpaSpec {
  readonly minReplicas?: number;
  readonly maxReplicas: number;
  readonly metrics?: readonly MetricSpecV2[];
  readonly behavior?: { readonly scaleUp?: ScalingRulesV2; readonly scaleDown?: ScalingRulesV2 };
  readonly scaleTargetRef?: unknown;
}

export type MetricSourceType = MetricSpecV2['type'];

/** One metric after parsing: targets as integers (percent, or milli-units). */
export type ResolvedMetric =
  | {
      readonly kind: 'ResourceUtilization';
      readonly resource: string;
      readonly container?: string;
      readonly targetUtilization: number;
      readonly name: string;
    }
  | {
      readonly kind: 'ResourceAverageValue';
      readonly resource: string;
      readonly container?: string;
      readonly targetAverageMilli: number;
      readonly name: string;
    }
  | { readonly kind: 'PodsAverageValue'; readonly name: string; readonly targetAverageMilli: number }
  | { readonly kind: 'ObjectValue' | 'ExternalValue'; readonly name: string; readonly targetMilli: number }
  | {
      readonly kind: 'ObjectAverageValue' | 'ExternalAverageValue';
      readonly name: string;
      readonly targetAverageMilli: number;
    };

export interface ResolvedHpa {
  readonly minReplicas: number;
  readonly maxReplicas: number;
  readonly metrics: readonly ResolvedMetric[];
  /** null: spec.behavior was not set, so the controller takes the legacy path. */
  readonly behavior: Behavior | null;
}

export class HpaSpecError extends Error {
  override readonly name = 'HpaSpecError';
}

/** kube-controller-manager --horizontal-pod-autoscaler-downscale-stabilization default. */
export const DEFAULT_DOWNSCALE_STABILIZATION_SECONDS = 300;
/** The v2 API default metric when spec.metrics is empty (autoscaling.DefaultCPUUtilization). */
export const DEFAULT_CPU_UTILIZATION = 80;

/** Behavior defaults (defaults.go GenerateHPAScaleUpRules / GenerateHPAScaleDownRules). */
export function defaultBehavior(
  downscaleStabilizationSeconds = DEFAULT_DOWNSCALE_STABILIZATION_SECONDS,
): Behavior {
  return {
    scaleUp: {
      stabilizationWindowSeconds: 0,
      selectPolicy: 'Max',
      policies: [
        { type: 'Pods', value: 4, periodSeconds: 15 },
        { type: 'Percent', value: 100, periodSeconds: 15 },
      ],
    },
    scaleDown: {
      // nil after API defaulting; the controller fills it from its flag (maybeInitScaleDownStabilizationWindow).
      stabilizationWindowSeconds: downscaleStabilizationSeconds,
      selectPolicy: 'Max',
      policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
    },
  };
}

const SUFFIX: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
  Pi: 1024 ** 5,
  Ei: 1024 ** 6,
};

/** Quantity.AsApproximateFloat64(): the value as a float, unrounded. */
export function quantityToFloat(q: Quantity, field: string): number {
  if (typeof q === 'number') {
    if (!Number.isFinite(q)) throw new HpaSpecError(`${field}: ${q} is not a finite quantity`);
    return q;
  }
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/.exec(
    q.trim(),
  );
  if (!m) {
    throw new HpaSpecError(
      `${field}: ${JSON.stringify(q)} is not a Kubernetes quantity (e.g. "250m", "2", "1.5k", "512Mi")`,
    );
  }
  return Number(m[1]) * SUFFIX[m[2] ?? ''];
}

/** Quantity.MilliValue(): the value in milli-units, rounded up. */
export function quantityToMilli(q: Quantity, field: string): number {
  // Round up like MilliValue, but do not let float noise (0.1 * 1000) add a unit.
  return Math.ceil(quantityToFloat(q, field) * 1000 - 1e-9);
}

function requirePositiveInt(v: unknown, field: string, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new HpaSpecError(`${field}: ${JSON.stringify(v)} must be an integer >= ${min}`);
  }
  return v;
}

function resolveTarget(
  target: MetricTargetV2 | undefined,
  field: string,
): { type: MetricTargetV2['type']; milli: number } {
  if (!target) throw new HpaSpecError(`${field}: target is required`);
  switch (target.type) {
    case 'Utilization':
      return {
        type: 'Utilization',
        milli: requirePositiveInt(target.averageUtilization, `${field}.averageUtilization`, 1),
      };
    case 'AverageValue':
      if (target.averageValue === undefined)
        throw new HpaSpecError(`${field}.averageValue is required for type AverageValue`);
      return { type: 'AverageValue', milli: positiveMilli(target.averageValue, `${field}.averageValue`) };
    case 'Value':
      if (target.value === undefined) throw new HpaSpecError(`${field}.value is required for type Value`);
      return { type: 'Value', milli: positiveMilli(target.value, `${field}.value`) };
    default:
      throw new HpaSpecError(
        `${field}.type: ${JSON.stringify((target as { type: unknown }).type)} must be one of Utilization, Value, AverageValue`,
      );
  }
}

function positiveMilli(q: Quantity, field: string): number {
  const milli = quantityToMilli(q, field);
  if (milli <= 0) throw new HpaSpecError(`${field}: ${JSON.stringify(q)} must be greater than 0`);
  return milli;
}

function resolveMetric(m: MetricSpecV2, i: number): ResolvedMetric {
  const f = `spec.metrics[${i}]`;
  switch (m.type) {
    case 'Resource':
    case 'ContainerResource': {
      const src = m.type === 'Resource' ? m.resource : m.containerResource;
      const key = m.type === 'Resource' ? 'resource' : 'containerResource';
      if (!src) throw new HpaSpecError(`${f}.${key} is required for type ${m.type}`);
      const container = m.type === 'ContainerResource' ? m.containerResource?.container : undefined;
      const t = resolveTarget(src.target, `${f}.${key}.target`);
      if (t.type === 'Utilization') {
        return {
          kind: 'ResourceUtilization',
          resource: src.name,
          container,
          targetUtilization: t.milli,
          name: src.name,
        };
      }
      if (t.type === 'AverageValue') {
        return {
          kind: 'ResourceAverageValue',
          resource: src.name,
          container,
          targetAverageMilli: t.milli,
          name: src.name,
        };
      }
      throw new HpaSpecError(
        `${f}.${key}.target.type: "Value" is not allowed for ${m.type}; use Utilization or AverageValue`,
      );
    }
    case 'Pods': {
      if (!m.pods) throw new HpaSpecError(`${f}.pods is required for type Pods`);
      const t = resolveTarget(m.pods.target, `${f}.pods.target`);
      if (t.type !== 'AverageValue') {
        throw new HpaSpecError(
          `${f}.pods.target.type: ${JSON.stringify(t.type)} is not allowed; Pods metrics use AverageValue`,
        );
      }
      return { kind: 'PodsAverageValue', name: m.pods.metric.name, targetAverageMilli: t.milli };
    }
    case 'Object':
    case 'External': {
      const src = m.type === 'Object' ? m.object : m.external;
      const key = m.type === 'Object' ? 'object' : 'external';
      if (!src) throw new HpaSpecError(`${f}.${key} is required for type ${m.type}`);
      const t = resolveTarget(src.target, `${f}.${key}.target`);
      if (t.type === 'Value')
        return {
          kind: m.type === 'Object' ? 'ObjectValue' : 'ExternalValue',
          name: src.metric.name,
          targetMilli: t.milli,
        };
      if (t.type === 'AverageValue') {
        return {
          kind: m.type === 'Object' ? 'ObjectAverageValue' : 'ExternalAverageValue',
          name: src.metric.name,
          targetAverageMilli: t.milli,
        };
      }
      throw new HpaSpecError(
        `${f}.${key}.target.type: "Utilization" is not allowed for ${m.type}; use Value or AverageValue`,
      );
    }
    default:
      throw new HpaSpecError(
        `${f}.type: ${JSON.stringify((m as { type: unknown }).type)} must be one of Resource, ContainerResource, Pods, Object, External`,
      );
  }
}

function resolveRules(user: ScalingRulesV2 | undefined, defaults: ScalingRules, field: string): ScalingRules {
  const u = user ?? {};
  const policies = u.policies ?? defaults.policies;
  const select = u.selectPolicy ?? defaults.selectPolicy;
  const window = u.stabilizationWindowSeconds ?? defaults.stabilizationWindowSeconds;
  try {
    // The API server's ranges, shared with GpuHpa's behavior prop.
    checkScalingRules(field, { stabilizationWindowSeconds: window, selectPolicy: select, policies });
  } catch (err) {
    if (err instanceof ValidationError) throw new HpaSpecError(err.message, { cause: err });
    throw err;
  }
  const rules: ScalingRules = { stabilizationWindowSeconds: window, selectPolicy: select, policies };
  if (u.tolerance === undefined) return rules;
  // The controller reads it with AsApproximateFloat64 (horizontal.go v1.37.2), not MilliValue.
  const tolerance = quantityToFloat(u.tolerance, `${field}.tolerance`);
  if (tolerance < 0)
    throw new HpaSpecError(`${field}.tolerance: ${JSON.stringify(u.tolerance)} must be >= 0`);
  return { ...rules, tolerance };
}

/** Defaults and validates an autoscaling/v2 spec, as the API server and the controller would. */
export function resolveHpaSpec(
  spec: HpaSpec,
  downscaleStabilizationSeconds = DEFAULT_DOWNSCALE_STABILIZATION_SECONDS,
): ResolvedHpa {
  if (typeof spec !== 'object' || spec === null)
    throw new HpaSpecError(`spec: ${JSON.stringify(spec)} must be an object`);
  const minReplicas = requirePositiveInt(spec.minReplicas ?? 1, 'spec.minReplicas', 0);
  const maxReplicas = requirePositiveInt(spec.maxReplicas, 'spec.maxReplicas', 1);
  if (maxReplicas < minReplicas) {
    throw new HpaSpecError(`spec.maxReplicas: ${maxReplicas} must be >= spec.minReplicas (${minReplicas})`);
  }
  const metricSpecs: readonly MetricSpecV2[] =
    spec.metrics && spec.metrics.length > 0
      ? spec.metrics
      : [
          {
            type: 'Resource',
            resource: {
              name: 'cpu',
              target: { type: 'Utilization', averageUtilization: DEFAULT_CPU_UTILIZATION },
            },
          },
        ];
  const metrics = metricSpecs.map(resolveMetric);
  if (
    minReplicas === 0 &&
    !metrics.some((m) => m.kind.startsWith('Object') || m.kind.startsWith('External'))
  ) {
    throw new HpaSpecError('spec.minReplicas: 0 is allowed only with at least one Object or External metric');
  }
  let behavior: Behavior | null = null;
  if (spec.behavior) {
    const d = defaultBehavior(downscaleStabilizationSeconds);
    behavior = {
      scaleUp: resolveRules(spec.behavior.scaleUp, d.scaleUp, 'spec.behavior.scaleUp'),
      scaleDown: resolveRules(spec.behavior.scaleDown, d.scaleDown, 'spec.behavior.scaleDown'),
    };
  }
  return { minReplicas, maxReplicas, metrics, behavior };
}

/** Per-direction tolerances: behavior.scaleUp/scaleDown.tolerance, else the controller flag. */
export function tolerancesFor(
  hpa: ResolvedHpa,
  flag = DEFAULT_TOLERANCE,
): { scaleUp: number; scaleDown: number } {
  return {
    scaleUp: hpa.behavior?.scaleUp.tolerance ?? flag,
    scaleDown: hpa.behavior?.scaleDown.tolerance ?? flag,
  };
}
