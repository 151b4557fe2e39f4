/**
 * Normalization of a proposed replica count: stabilization windows and scaling rate limits.
 *
 * Ported from kubernetes/kubernetes pkg/controller/podautoscaler/horizontal.go
 * (stabilizeRecommendation, stabilizeRecommendationWithBehaviors, convertDesiredReplicasWithRules,
 * convertDesiredReplicasWithBehaviorRate, calculateScaleUpLimitWithScalingRules,
 * calculateScaleDownLimitWithBehaviors, storeScaleEvent). Times are seconds; `now` is passed in.
 */
import { INT32_MAX, INT32_MIN } from '../../constructs/autoscaling-v2/limits.ts';
import type { ResolvedScalingBehavior, ResolvedScalingRules } from '../../constructs/autoscaling-v2/types.ts';
import { goTrunc } from './int.ts';

export interface Recommendation {
  replicas: number;
  timestamp: number;
}

export interface ScaleEvent {
  replicaChange: number;
  timestamp: number;
  outdated: boolean;
}

/** ScalingLimited condition reasons. */
export type LimitReason =
  'DesiredWithinRange' | 'ScaleUpLimit' | 'TooManyReplicas' | 'ScaleDownLimit' | 'TooFewReplicas';

/** Legacy (no behavior) scale-up limit factor and floor: horizontal.go scaleUpLimitFactor/Minimum. */
export const SCALE_UP_LIMIT_FACTOR = 2.0;
export const SCALE_UP_LIMIT_MINIMUM = 4.0;

/**
 * stabilizeRecommendationWithBehaviors: the lowest recommendation inside the scale-up window and the
 * highest inside the scale-down window bound the result; the store receives `desired`, reusing the
 * last slot older than both windows.
 */
export function stabilizeWithBehavior(
  recommendations: Recommendation[],
  now: number,
  args: {
    currentReplicas: number;
    desiredReplicas: number;
    upWindowSeconds: number;
    downWindowSeconds: number;
  },
): number {
  const upCutoff = now - args.upWindowSeconds;
  const downCutoff = now - args.downWindowSeconds;
  let upRecommendation = args.desiredReplicas;
  let downRecommendation = args.desiredReplicas;
  let oldIndex = -1;
  recommendations.forEach((rec, i) => {
    if (rec.timestamp > upCutoff) upRecommendation = Math.min(rec.replicas, upRecommendation);
    if (rec.timestamp > downCutoff) downRecommendation = Math.max(rec.replicas, downRecommendation);
    if (rec.timestamp < upCutoff && rec.timestamp < downCutoff) oldIndex = i;
  });
  let recommendation = args.currentReplicas;
  if (recommendation < upRecommendation) recommendation = upRecommendation;
  if (recommendation > downRecommendation) recommendation = downRecommendation;
  storeRecommendation(recommendations, oldIndex, { replicas: args.desiredReplicas, timestamp: now });
  return recommendation;
}

/** stabilizeRecommendation (no behavior): the max over the downscale stabilization window. */
export function stabilizeLegacy(
  recommendations: Recommendation[],
  now: number,
  desiredReplicas: number,
  windowSeconds: number,
): number {
  const cutoff = now - windowSeconds;
  let max = desiredReplicas;
  let oldIndex = -1;
  recommendations.forEach((rec, i) => {
    if (rec.timestamp < cutoff) oldIndex = i;
    else if (rec.replicas > max) max = rec.replicas;
  });
  storeRecommendation(recommendations, oldIndex, { replicas: desiredReplicas, timestamp: now });
  return max;
}

function storeRecommendation(recommendations: Recommendation[], oldIndex: number, rec: Recommendation): void {
  if (oldIndex >= 0) recommendations[oldIndex] = rec;
  else recommendations.push(rec);
}

/** getReplicasChangePerPeriod: the replicas changed by events newer than the period. */
function changeInPeriod(events: readonly ScaleEvent[], periodSeconds: number, now: number): number {
  const cutoff = now - periodSeconds;
  let sum = 0;
  for (const e of events) if (e.timestamp > cutoff) sum += e.replicaChange;
  return sum;
}

function periodStart(
  currentReplicas: number,
  upEvents: readonly ScaleEvent[],
  downEvents: readonly ScaleEvent[],
  periodSeconds: number,
  now: number,
): number {
  return (
    currentReplicas -
    changeInPeriod(upEvents, periodSeconds, now) +
    changeInPeriod(downEvents, periodSeconds, now)
  );
}

/** calculateScaleUpLimitWithScalingRules: the raw limit (no clamping to current or max). */
export function scaleUpLimit(
  currentReplicas: number,
  upEvents: readonly ScaleEvent[],
  downEvents: readonly ScaleEvent[],
  rules: ResolvedScalingRules,
  now: number,
): number {
  if (rules.selectPolicy === 'Disabled') return currentReplicas;
  const pick = rules.selectPolicy === 'Min' ? Math.min : Math.max;
  let result = rules.selectPolicy === 'Min' ? INT32_MAX : INT32_MIN;
  for (const policy of rules.policies) {
    const start = periodStart(currentReplicas, upEvents, downEvents, policy.periodSeconds, now);
    const proposed =
      policy.type === 'Pods' ? start + policy.value : goTrunc(Math.ceil(start * (1 + policy.value / 100)));
    result = pick(result, proposed);
  }
  return result;
}

/** calculateScaleDownLimitWithBehaviors: the raw limit; Percent truncates toward zero (may go negative). */
export function scaleDownLimit(
  currentReplicas: number,
  upEvents: readonly ScaleEvent[],
  downEvents: readonly ScaleEvent[],
  rules: ResolvedScalingRules,
  now: number,
): number {
  if (rules.selectPolicy === 'Disabled') return currentReplicas;
  // For a scale-down the biggest change ('Max') is the lowest count.
  const pick = rules.selectPolicy === 'Min' ? Math.max : Math.min;
  let result = rules.selectPolicy === 'Min' ? INT32_MIN : INT32_MAX;
  for (const policy of rules.policies) {
    const start = periodStart(currentReplicas, upEvents, downEvents, policy.periodSeconds, now);
    const proposed =
      policy.type === 'Pods' ? start - policy.value : goTrunc(start * (1 - policy.value / 100));
    result = pick(result, proposed);
  }
  return result;
}

export interface LimitedReplicas {
  readonly replicas: number;
  readonly reason: LimitReason;
}

/** convertDesiredReplicasWithBehaviorRate. */
export function applyBehaviorRate(args: {
  currentReplicas: number;
  desiredReplicas: number;
  minReplicas: number;
  maxReplicas: number;
  behavior: ResolvedScalingBehavior;
  upEvents: readonly ScaleEvent[];
  downEvents: readonly ScaleEvent[];
  now: number;
}): LimitedReplicas {
  const { currentReplicas, desiredReplicas } = args;
  if (desiredReplicas > currentReplicas) {
    let limit = scaleUpLimit(
      currentReplicas,
      args.upEvents,
      args.downEvents,
      args.behavior.scaleUp,
      args.now,
    );
    // Events still inside the period can push the limit below current: hold, do not shrink.
    if (limit < currentReplicas) limit = currentReplicas;
    let maxAllowed = args.maxReplicas;
    let reason: LimitReason;
    if (maxAllowed > limit) {
      maxAllowed = limit;
      reason = 'ScaleUpLimit';
    } else {
      reason = 'TooManyReplicas';
    }
    if (desiredReplicas > maxAllowed) return { replicas: maxAllowed, reason };
  } else if (desiredReplicas < currentReplicas) {
    let limit = scaleDownLimit(
      currentReplicas,
      args.upEvents,
      args.downEvents,
      args.behavior.scaleDown,
      args.now,
    );
    if (limit > currentReplicas) limit = currentReplicas;
    let minAllowed = args.minReplicas;
    let reason: LimitReason;
    if (minAllowed < limit) {
      minAllowed = limit;
      reason = 'ScaleDownLimit';
    } else {
      reason = 'TooFewReplicas';
    }
    if (desiredReplicas < minAllowed) return { replicas: minAllowed, reason };
  }
  return { replicas: desiredReplicas, reason: 'DesiredWithinRange' };
}

/** convertDesiredReplicasWithRules (no behavior): min/max and scaleUpLimit = max(2 * current, 4). */
export function applyLegacyRules(args: {
  currentReplicas: number;
  desiredReplicas: number;
  minReplicas: number;
  maxReplicas: number;
  scaleUpLimitFactor?: number;
}): LimitedReplicas {
  const factor = args.scaleUpLimitFactor ?? SCALE_UP_LIMIT_FACTOR;
  const upLimit = goTrunc(Math.max(factor * args.currentReplicas, SCALE_UP_LIMIT_MINIMUM));
  let maxAllowed: number;
  let reason: LimitReason;
  if (args.maxReplicas > upLimit) {
    maxAllowed = upLimit;
    reason = 'ScaleUpLimit';
  } else {
    maxAllowed = args.maxReplicas;
    reason = 'TooManyReplicas';
  }
  if (args.desiredReplicas < args.minReplicas)
    return { replicas: args.minReplicas, reason: 'TooFewReplicas' };
  if (args.desiredReplicas > maxAllowed) return { replicas: maxAllowed, reason };
  return { replicas: args.desiredReplicas, reason: 'DesiredWithinRange' };
}

function longestPeriod(rules: ResolvedScalingRules): number {
  return rules.policies.reduce((m, p) => Math.max(m, p.periodSeconds), 0);
}

/** storeScaleEvent: record a rescale, reusing slots of events older than the longest policy period. */
export function storeScaleEvent(
  behavior: ResolvedScalingBehavior,
  upEvents: ScaleEvent[],
  downEvents: ScaleEvent[],
  prevReplicas: number,
  newReplicas: number,
  now: number,
): void {
  const scalingUp = newReplicas > prevReplicas;
  const events = scalingUp ? upEvents : downEvents;
  const cutoff = now - longestPeriod(scalingUp ? behavior.scaleUp : behavior.scaleDown);
  for (const e of events) if (e.timestamp < cutoff) e.outdated = true;
  const event: ScaleEvent = {
    replicaChange: Math.abs(newReplicas - prevReplicas),
    timestamp: now,
    outdated: false,
  };
  // The last outdated slot is reused, as upstream's loop leaves it.
  let slot = -1;
  events.forEach((e, i) => {
    if (e.outdated) slot = i;
  });
  if (slot >= 0) events[slot] = event;
  else events.push(event);
}
