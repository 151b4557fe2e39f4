/**
 * Validation of autoscaling/v2 as the API server does it (kubernetes/kubernetes
 * pkg/apis/autoscaling/validation/validation.go), with messages naming the field, the value and what
 * is allowed. GpuHpa checks its `behavior` prop with it and the planner any HorizontalPodAutoscaler
 * spec it simulates, so both accept exactly what the API server does.
 *
 * Scaling rules (validateScalingRules, validateScalingPolicy): stabilizationWindowSeconds 0..3600,
 * selectPolicy Max/Min/Disabled, at least one policy, type Pods/Percent, value > 0 (up to the int32
 * field width), periodSeconds 1..1800; a tolerance >= 0. The spec (validateHorizontalPodAutoscalerSpec,
 * validateMetricSpec, validateMetricTarget): replica bounds, one source member per metric, positive
 * targets.
 */
import { validator, type Validator } from '../validate.ts';
import { INT32_MAX, MAX_PERIOD_SECONDS, MAX_STABILIZATION_WINDOW_SECONDS } from './limits.ts';
import { QUANTITY_EXAMPLES, parseQuantity, type Quantity } from './quantity.ts';
import {
  METRIC_SOURCE_TYPES,
  METRIC_TARGET_TYPES,
  POLICY_TYPES,
  SELECT_POLICIES,
  type HpaScalingRules,
  type HpaSpec,
  type MetricSourceType,
  type MetricSpec,
  type MetricTarget,
  type ResolvedScalingRules,
} from './types.ts';

/** The fields validated, after defaulting (strings: a value read from JSON may be anything). */
export interface ScalingRulesToCheck {
  readonly stabilizationWindowSeconds: number;
  readonly selectPolicy: string;
  readonly policies: readonly {
    readonly type: string;
    readonly value: number;
    readonly periodSeconds: number;
  }[];
}

/** Throws a ValidationError naming `${field}.<key>`, the value and the allowed range. */
export function checkScalingRules(
  field: string,
  rules: ScalingRulesToCheck,
  v: Validator = validator(),
): void {
  if (rules.policies.length === 0) {
    throw v.error(`${field}.policies must list at least one policy, got []`);
  }
  rules.policies.forEach((p, i) => {
    v.oneOf(`${field}.policies[${i}].type`, p.type, POLICY_TYPES);
    v.integerInRange(`${field}.policies[${i}].value`, p.value, 1, INT32_MAX);
    v.integerInRange(`${field}.policies[${i}].periodSeconds`, p.periodSeconds, 1, MAX_PERIOD_SECONDS);
  });
  v.integerInRange(
    `${field}.stabilizationWindowSeconds`,
    rules.stabilizationWindowSeconds,
    0,
    MAX_STABILIZATION_WINDOW_SECONDS,
  );
  v.oneOf(`${field}.selectPolicy`, rules.selectPolicy, SELECT_POLICIES);
}

/**
 * `rules` with unset fields from `defaults`, checked as the API server checks them; a tolerance is
 * read as the controller reads it (Quantity.AsApproximateFloat64, horizontal.go v1.37.2).
 */
export function resolveScalingRules(
  field: string,
  rules: HpaScalingRules | undefined,
  defaults: ResolvedScalingRules,
  v: Validator = validator(),
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
  if (rules?.tolerance === undefined) return resolved;
  return { ...resolved, tolerance: checkTolerance(`${field}.tolerance`, rules.tolerance, v) };
}

/** A quantity's value; a string is trimmed first, as Quantity.UnmarshalJSON does. */
function readQuantity(field: string, value: Quantity, v: Validator): number {
  const parsed = typeof value === 'number' ? value : parseQuantity(value.trim());
  if (parsed === undefined || !Number.isFinite(parsed)) {
    throw v.error(
      `${field} must be a Kubernetes quantity such as ${QUANTITY_EXAMPLES}, got ${JSON.stringify(value)}`,
    );
  }
  return parsed;
}

/** A tolerance: a quantity of at least 0, as a float. */
function checkTolerance(field: string, value: Quantity, v: Validator): number {
  const parsed = readQuantity(field, value, v);
  if (parsed < 0) throw v.error(`${field} must be at least 0, got ${JSON.stringify(value)}`);
  return parsed;
}

/** A metric target's quantity: greater than 0 (validateMetricTarget's Sign() == 1). */
function checkPositiveQuantity(field: string, value: Quantity, v: Validator): void {
  if (readQuantity(field, value, v) <= 0) {
    throw v.error(`${field} must be a quantity greater than 0, got ${JSON.stringify(value)}`);
  }
}

/** validateMetricTarget: a known type; set values positive, a utilization at least 1 percent. */
export function checkMetricTarget(
  field: string,
  target: MetricTarget | undefined,
  v: Validator = validator(),
): void {
  if (target === undefined || target === null) throw v.error(`${field} is required, got none`);
  v.oneOf(`${field}.type`, target.type, METRIC_TARGET_TYPES);
  if (target.value !== undefined) checkPositiveQuantity(`${field}.value`, target.value, v);
  if (target.averageValue !== undefined)
    checkPositiveQuantity(`${field}.averageValue`, target.averageValue, v);
  if (target.averageUtilization !== undefined) {
    v.integerInRange(`${field}.averageUtilization`, target.averageUtilization, 1, INT32_MAX);
  }
}

/** The MetricSpec member that holds each source type's fields. */
const SOURCE_MEMBER = {
  Resource: 'resource',
  ContainerResource: 'containerResource',
  Pods: 'pods',
  Object: 'object',
  External: 'external',
} as const satisfies Record<MetricSourceType, keyof MetricSpec>;

/**
 * validateMetricSpec and the per-source checks: a known type, its member set and no other, a named
 * metric or resource, a valid target, and the target values each source requires.
 */
export function checkMetricSpec(field: string, spec: MetricSpec, v: Validator = validator()): void {
  v.oneOf(`${field}.type`, spec.type, METRIC_SOURCE_TYPES);
  const member = SOURCE_MEMBER[spec.type];
  const src = spec[member];
  if (src === undefined || src === null)
    throw v.error(`${field}.${member} is required for type ${spec.type}, got none`);
  for (const other of Object.values(SOURCE_MEMBER)) {
    if (other !== member && spec[other] !== undefined) {
      throw v.error(`${field}.${other} must be unset for type ${spec.type} (set only ${member})`);
    }
  }
  const at = `${field}.${member}`;
  if (spec.type === 'Resource' || spec.type === 'ContainerResource') {
    const resource = src as NonNullable<MetricSpec['containerResource']>;
    if (!resource.name) throw v.error(`${at}.name is required, got ${JSON.stringify(resource.name ?? '')}`);
    if (spec.type === 'ContainerResource') v.dnsLabel(`${at}.container`, resource.container ?? '');
  } else {
    const name = (src as NonNullable<MetricSpec['pods']>).metric?.name;
    if (!name) throw v.error(`${at}.metric.name is required, got ${JSON.stringify(name ?? '')}`);
  }
  checkMetricTarget(`${at}.target`, src.target, v);
  const t = src.target;
  switch (spec.type) {
    case 'Resource':
    case 'ContainerResource':
      if (t.averageUtilization === undefined && t.averageValue === undefined) {
        throw v.error(`${at}.target needs averageUtilization or averageValue, got neither`);
      }
      if (t.averageUtilization !== undefined && t.averageValue !== undefined) {
        throw v.error(`${at}.target may set averageUtilization or averageValue, got both`);
      }
      break;
    case 'Pods':
      if (t.averageValue === undefined)
        throw v.error(`${at}.target.averageValue is required for type Pods, got none`);
      break;
    case 'Object':
    case 'External':
      if (t.value === undefined && t.averageValue === undefined) {
        throw v.error(`${at}.target needs value or averageValue, got neither`);
      }
      if (spec.type === 'External' && t.value !== undefined && t.averageValue !== undefined) {
        throw v.error(`${at}.target may set value or averageValue, got both`);
      }
      break;
  }
}

/**
 * validateHorizontalPodAutoscalerSpec's replica and metric rules: maxReplicas from max(1,
 * minReplicas) to INT32_MAX, minReplicas 0 (HPAScaleToZero) only with an Object or External metric,
 * and each metric valid. `spec.behavior` is checked by resolveScalingRules.
 */
export function checkHpaSpec(field: string, spec: HpaSpec, v: Validator = validator()): void {
  const min = spec.minReplicas;
  if (min !== undefined) v.integerInRange(`${field}.minReplicas`, min, 0, INT32_MAX);
  v.integerInRange(`${field}.maxReplicas`, spec.maxReplicas, Math.max(1, min ?? 1), INT32_MAX, {
    min: min !== undefined && min > 1 ? `${field}.minReplicas` : undefined,
  });
  const metrics = spec.metrics ?? [];
  metrics.forEach((m, i) => checkMetricSpec(`${field}.metrics[${i}]`, m, v));
  if (min === 0 && !metrics.some((m) => m.type === 'Object' || m.type === 'External')) {
    throw v.error(
      `${field}.minReplicas 0 needs at least one Object or External metric (scaling to zero), got none`,
    );
  }
}
