/**
 * GpuHpa's `behavior`: its defaults, and their resolution with the autoscaling/v2 model's
 * defaulting and validation (../autoscaling-v2/).
 */
import type { ResolvedScalingBehavior, ScalingRules } from '../autoscaling-v2/types.ts';
import { resolveScalingRules } from '../autoscaling-v2/validation.ts';
import type { Validator } from '../validate.ts';

export interface ScalingBehavior {
  /** @default fast: no stabilization, the larger of doubling or +4 pods every 15 s */
  readonly scaleUp?: ScalingRules;
  /** @default stabilized: 5 min window, then at most half the pods per minute */
  readonly scaleDown?: ScalingRules;
}

/**
 * Defaults of `behavior`: scale up as fast as pods can start (the API server's default), scale down
 * slower than the API server's 100 % per 15 s (GPU pods start slowly, so a pod given back is costly).
 */
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

/** `behavior` with unset fields from DEFAULT_BEHAVIOR, checked as the API server checks it. */
export function resolveBehavior(
  behavior: ScalingBehavior | undefined,
  v: Validator,
): ResolvedScalingBehavior {
  return {
    scaleUp: resolveScalingRules('behavior.scaleUp', behavior?.scaleUp, DEFAULT_BEHAVIOR.scaleUp, v),
    scaleDown: resolveScalingRules('behavior.scaleDown', behavior?.scaleDown, DEFAULT_BEHAVIOR.scaleDown, v),
  };
}
