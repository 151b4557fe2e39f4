/**
 * The defaults the API server and the controller give an autoscaling/v2 HPA:
 * kubernetes/kubernetes pkg/apis/autoscaling/v2/defaults.go (SetDefaults_HorizontalPodAutoscalerBehavior,
 * GenerateHPAScaleUpRules, GenerateHPAScaleDownRules, autoscaling.DefaultCPUUtilization) and
 * kube-controller-manager's --horizontal-pod-autoscaler-* flags.
 */
import type { ResolvedScalingBehavior } from './types.ts';

/** kube-controller-manager --horizontal-pod-autoscaler-downscale-stabilization default. */
export const DEFAULT_DOWNSCALE_STABILIZATION_SECONDS = 300;
/** kube-controller-manager --horizontal-pod-autoscaler-tolerance default. */
export const DEFAULT_TOLERANCE = 0.1;
/** The metric the API server defaults an empty spec.metrics to: cpu averageUtilization 80. */
export const DEFAULT_CPU_UTILIZATION = 80;

/**
 * The behavior defaults: scale up without a window, the larger of 4 pods or 100 % per 15 s; scale
 * down 100 % per 15 s after the downscale window (nil after API defaulting; the controller fills it
 * from its flag, maybeInitScaleDownStabilizationWindow).
 */
export function apiDefaultBehavior(
  downscaleStabilizationSeconds = DEFAULT_DOWNSCALE_STABILIZATION_SECONDS,
): ResolvedScalingBehavior {
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
      stabilizationWindowSeconds: downscaleStabilizationSeconds,
      selectPolicy: 'Max',
      policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
    },
  };
}
