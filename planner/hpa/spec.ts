/**
 * An autoscaling/v2 HorizontalPodAutoscaler spec resolved for the controller: checked and defaulted
 * by the shared model (constructs/autoscaling-v2/: the API server's validation and defaults.go),
 * then each metric's target read as the controller reads it (percent, or milli-units). Errors are
 * HpaSpecErrors naming the field, the value and what is allowed.
 */
import {
  DEFAULT_CPU_UTILIZATION,
  DEFAULT_DOWNSCALE_STABILIZATION_SECONDS,
  DEFAULT_TOLERANCE,
  apiDefaultBehavior,
} from '../../constructs/autoscaling-v2/defaults.ts';
import {
  QUANTITY_EXAMPLES,
  milliOf,
  parseQuantity,
  type Quantity,
} from '../../constructs/autoscaling-v2/quantity.ts';
import type {
  HpaSpec,
  MetricSpec,
  MetricTarget,
  ResolvedScalingBehavior,
} from '../../constructs/autoscaling-v2/types.ts';
import { checkHpaSpec, resolveScalingRules } from '../../constructs/autoscaling-v2/validation.ts';
import { ValidationError } from '../../constructs/validate.ts';

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
  readonly behavior: ResolvedScalingBehavior | null;
}

export class HpaSpecError extends Error {
  override readonly name = 'HpaSpecError';
}

/** Quantity.AsApproximateFloat64() of a quantity read from a manifest (trimmed, as JSON decoding does). */
export function quantityToFloat(q: Quantity, field: string): number {
  if (typeof q === 'number') {
    if (!Number.isFinite(q)) throw new HpaSpecError(`${field}: ${q} is not a finite quantity`);
    return q;
  }
  const value = parseQuantity(q.trim());
  if (value === undefined) {
    throw new HpaSpecError(
      `${field}: ${JSON.stringify(q)} is not a Kubernetes quantity (e.g. ${QUANTITY_EXAMPLES})`,
    );
  }
  return value;
}

/** Quantity.MilliValue(): the value in milli-units, rounded up. */
export function quantityToMilli(q: Quantity, field: string): number {
  return milliOf(quantityToFloat(q, field));
}

/** The target as the controller reads it for its type (checkMetricSpec has checked the values). */
function resolveTarget(target: MetricTarget, field: string): { type: MetricTarget['type']; milli: number } {
  switch (target.type) {
    case 'Utilization':
      if (target.averageUtilization === undefined)
        throw new HpaSpecError(`${field}.averageUtilization is required for type Utilization`);
      return { type: 'Utilization', milli: target.averageUtilization };
    case 'AverageValue':
      if (target.averageValue === undefined)
        throw new HpaSpecError(`${field}.averageValue is required for type AverageValue`);
      return { type: 'AverageValue', milli: quantityToMilli(target.averageValue, `${field}.averageValue`) };
    case 'Value':
      if (target.value === undefined) throw new HpaSpecError(`${field}.value is required for type Value`);
      return { type: 'Value', milli: quantityToMilli(target.value, `${field}.value`) };
  }
}

function resolveMetric(m: MetricSpec, i: number): ResolvedMetric {
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

/** Runs a check of the shared model, its ValidationError as the planner's HpaSpecError. */
function asSpecError<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof ValidationError) throw new HpaSpecError(err.message, { cause: err });
    throw err;
  }
}

/** Defaults and validates an autoscaling/v2 spec, as the API server and the controller would. */
export function resolveHpaSpec(
  spec: HpaSpec,
  downscaleStabilizationSeconds = DEFAULT_DOWNSCALE_STABILIZATION_SECONDS,
): ResolvedHpa {
  if (typeof spec !== 'object' || spec === null)
    throw new HpaSpecError(`spec: ${JSON.stringify(spec)} must be an object`);
  // The API server's rules, shared with the constructs (constructs/autoscaling-v2/validation.ts).
  asSpecError(() => checkHpaSpec('spec', spec));
  const minReplicas = spec.minReplicas ?? 1;
  const maxReplicas = spec.maxReplicas;
  const metricSpecs: readonly MetricSpec[] =
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
  let behavior: ResolvedScalingBehavior | null = null;
  if (spec.behavior) {
    const d = apiDefaultBehavior(downscaleStabilizationSeconds);
    behavior = {
      scaleUp: asSpecError(() =>
        resolveScalingRules('spec.behavior.scaleUp', spec.behavior?.scaleUp, d.scaleUp),
      ),
      scaleDown: asSpecError(() =>
        resolveScalingRules('spec.behavior.scaleDown', spec.behavior?.scaleDown, d.scaleDown),
      ),
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
