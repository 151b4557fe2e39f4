/**
 * Validation and defaulting of autoscaling/v2 HPAScalingRules, shared by GpuHpa (its `behavior`
 * prop) and the planner (any HorizontalPodAutoscaler spec it simulates), so both accept exactly what
 * the API server does: kubernetes/kubernetes pkg/apis/autoscaling/validation/validation.go
 * validateScalingRules and validateScalingPolicy (stabilizationWindowSeconds 0..3600, selectPolicy
 * Max/Min/Disabled, at least one policy, type Pods/Percent, value > 0, periodSeconds 1..1800), with
 * the int32 field width as the upper bound of a policy's value, and a tolerance >= 0.
 */
import { validator, type Validator } from '../validate.ts';
import { INT32_MAX, MAX_PERIOD_SECONDS, MAX_STABILIZATION_WINDOW_SECONDS } from './limits.ts';
import { QUANTITY_EXAMPLES, parseQuantity } from './quantity.ts';
import { POLICY_TYPES, SELECT_POLICIES, type HpaScalingRules, type ResolvedScalingRules } from './types.ts';

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

/** A tolerance: a quantity of at least 0, as a float. */
function checkTolerance(field: string, value: string | number, v: Validator): number {
  const parsed = typeof value === 'number' ? value : parseQuantity(value.trim());
  if (parsed === undefined || !Number.isFinite(parsed)) {
    throw v.error(
      `${field} must be a Kubernetes quantity such as ${QUANTITY_EXAMPLES}, got ${JSON.stringify(value)}`,
    );
  }
  if (parsed < 0) throw v.error(`${field} must be at least 0, got ${JSON.stringify(value)}`);
  return parsed;
}
