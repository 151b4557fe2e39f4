/**
 * The numeric limits of autoscaling/v2: the int32 width of its integer fields (minReplicas,
 * maxReplicas, policy values, windows) and the ranges kubernetes/kubernetes
 * pkg/apis/autoscaling/validation/validation.go enforces (MaxPeriodSeconds,
 * MaxStabilizationWindowSeconds).
 */

/** Largest value of an int32 API field (Go's math.MaxInt32). */
export const INT32_MAX = 2147483647;
/** Smallest value of an int32 API field (Go's math.MinInt32). */
export const INT32_MIN = -2147483648;

/** validation.go MaxStabilizationWindowSeconds: a window is 0..3600 s (one hour). */
export const MAX_STABILIZATION_WINDOW_SECONDS = 3600;
/** validation.go MaxPeriodSeconds: a policy's period is 1..1800 s. */
export const MAX_PERIOD_SECONDS = 1800;
