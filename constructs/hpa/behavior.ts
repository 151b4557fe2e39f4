/** GpuHpa's `behavior`: the autoscaling/v2 scaling rules, their defaults and their resolution. */
import { checkScalingRules } from '../scaling-rules.ts';
import { type Validator } from '../validate.ts';

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

/** `rules` with unset fields from `defaults`, checked as the API server checks them. */
export function resolveRules(
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
