/**
 * Validation of autoscaling/v2 HPAScalingRules, shared by GpuHpa (its `behavior` prop) and the
 * planner (any HorizontalPodAutoscaler spec it simulates), so both accept exactly what the API
 * server does. Ranges from kubernetes/kubernetes pkg/apis/autoscaling/validation/validation.go
 * (validateScalingRules: stabilizationWindowSeconds 0..3600, at least one policy, periodSeconds
 * 1..1800, value > 0) with the int32 field width as the upper bound of a policy's value.
 */
import { validator, type Validator } from './validate.ts';

/** Largest value of an int32 API field. */
const INT32_MAX = 2147483647;

/** The fields validated, after defaulting. */
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
    v.oneOf(`${field}.policies[${i}].type`, p.type, ['Pods', 'Percent']);
    v.integerInRange(`${field}.policies[${i}].value`, p.value, 1, INT32_MAX);
    v.integerInRange(`${field}.policies[${i}].periodSeconds`, p.periodSeconds, 1, 1800);
  });
  v.integerInRange(`${field}.stabilizationWindowSeconds`, rules.stabilizationWindowSeconds, 0, 3600);
  v.oneOf(`${field}.selectPolicy`, rules.selectPolicy, ['Max', 'Min', 'Disabled']);
}
