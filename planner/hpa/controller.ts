/**
 * The HPA controller loop for one HorizontalPodAutoscaler: what kube-controller-manager's
 * reconcileAutoscaler does at every sync (kubernetes/kubernetes pkg/controller/podautoscaler/horizontal.go):
 * a proposal per metric (the max wins), min/max and scaling-disabled guards, stabilization and rate
 * limits (behavior) or the legacy rules (no behavior), and the recommendation / scale-event history
 * those need between syncs.
 */
import {
  applyBehaviorRate,
  applyLegacyRules,
  stabilizeLegacy,
  stabilizeWithBehavior,
  storeScaleEvent,
  type LimitReason,
  type Recommendation,
  type ScaleEvent,
} from './normalize.ts';
import {
  averageValueReplicas,
  objectAverageValueReplicas,
  objectValueReplicas,
  resourceUtilizationReplicas,
  type CalculatorConfig,
  type PodMetric,
  type PodMetrics,
  type PodState,
} from './replica-calculator.ts';
import {
  DEFAULT_DOWNSCALE_STABILIZATION_SECONDS,
  DEFAULT_TOLERANCE,
} from '../../constructs/autoscaling-v2/defaults.ts';
import type { HpaSpec } from '../../constructs/autoscaling-v2/types.ts';
import { resolveHpaSpec, tolerancesFor, type ResolvedHpa, type ResolvedMetric } from './spec.ts';

/** kube-controller-manager flags the computation depends on, with their production defaults. */
export interface ControllerConfig extends CalculatorConfig {
  /** --horizontal-pod-autoscaler-sync-period. @default 15 */
  readonly syncPeriodSeconds: number;
  /** --horizontal-pod-autoscaler-tolerance. @default 0.1 */
  readonly tolerance: number;
  /** --horizontal-pod-autoscaler-downscale-stabilization. @default 300 */
  readonly downscaleStabilizationSeconds: number;
}

export const DEFAULT_CONTROLLER_CONFIG: ControllerConfig = {
  syncPeriodSeconds: 15,
  tolerance: DEFAULT_TOLERANCE,
  downscaleStabilizationSeconds: DEFAULT_DOWNSCALE_STABILIZATION_SECONDS,
  cpuInitializationPeriodSeconds: 300,
  delayOfInitialReadinessStatusSeconds: 30,
};

/**
 * What the metrics APIs returned for one metric of the spec. Values are milli-units of the metric
 * (Quantity.MilliValue()): CPU in millicores, a Pods/Object/External metric value × 1000.
 * `undefined`/`null` means the metrics API call failed for this metric.
 */
export type MetricObservation =
  /** Resource and Pods metrics: one sample per pod name (a number is a sample taken `now`). */
  | {
      readonly podSamples:
        ReadonlyMap<string, PodMetric | number> | Readonly<Record<string, PodMetric | number>>;
    }
  /** Object metrics: the object's value; External: the sum of the returned samples. */
  | { readonly valueMilli: number };

export interface SyncInput {
  /** The scale subresource's spec.replicas. */
  readonly currentReplicas: number;
  /** The scale subresource's status.replicas (per-pod Object/External targets divide by it). @default currentReplicas */
  readonly statusReplicas?: number;
  /** Pods matched by the scale target's selector. */
  readonly pods: readonly PodState[];
  /** One observation per entry of the resolved spec's metrics, in order. */
  readonly metrics: readonly (MetricObservation | null | undefined)[];
}

export interface MetricProposal {
  readonly metric: ResolvedMetric;
  /** Proposed replicas, or null when the calculation failed. */
  readonly replicas: number | null;
  /** Current utilization percent (Resource Utilization). */
  readonly utilization?: number;
  /** Current value in milli-units (average per pod, or the object's value). */
  readonly value?: number;
  readonly error?: string;
}

export interface SyncResult {
  /** Scale spec.replicas after this sync. */
  readonly desiredReplicas: number;
  readonly rescale: boolean;
  /** The max over metrics before normalization (-1: every metric failed). */
  readonly proposal: number;
  readonly proposals: readonly MetricProposal[];
  /** ScalingLimited reason of the last normalization, when it ran. */
  readonly limitReason?: LimitReason;
  /** Why no scaling was computed (all metrics failed, or scaling disabled at 0 replicas). */
  readonly error?: string;
}

function toPodMetrics(samples: MetricObservation, now: number, window: number): PodMetrics {
  if (!('podSamples' in samples)) throw new Error('expected per-pod samples, got a single value');
  const entries =
    samples.podSamples instanceof Map
      ? [...samples.podSamples.entries()]
      : Object.entries(samples.podSamples as Record<string, PodMetric | number>);
  return new Map(
    entries.map(([name, s]) => [name, typeof s === 'number' ? { value: s, timestamp: now, window } : s]),
  );
}

/** Default sample window for samples given as plain numbers (metrics-server's resolution). */
const DEFAULT_SAMPLE_WINDOW_SECONDS = 15;

/**
 * computeReplicasForMetric for one metric: stateless, so the cluster tests can feed it values read from a
 * real Prometheus and compare with the HPA in a cluster.
 */
export function computeMetricProposal(
  hpa: ResolvedHpa,
  metric: ResolvedMetric,
  observation: MetricObservation | null | undefined,
  input: { currentReplicas: number; statusReplicas?: number; pods: readonly PodState[]; now: number },
  config: ControllerConfig = DEFAULT_CONTROLLER_CONFIG,
): MetricProposal {
  const tolerances = tolerancesFor(hpa, config.tolerance);
  try {
    if (observation === null || observation === undefined)
      throw new Error(`unable to get metric ${metric.name}`);
    const common = () => ({
      currentReplicas: input.currentReplicas,
      pods: input.pods,
      metrics: toPodMetrics(observation, input.now, DEFAULT_SAMPLE_WINDOW_SECONDS),
      tolerances,
      config,
      now: input.now,
    });
    const valueMilli = (): number => {
      if (!('valueMilli' in observation)) throw new Error(`metric ${metric.name}: expected a single value`);
      return observation.valueMilli;
    };
    switch (metric.kind) {
      case 'ResourceUtilization': {
        const r = resourceUtilizationReplicas({
          ...common(),
          resource: metric.resource,
          targetUtilization: metric.targetUtilization,
        });
        return { metric, replicas: r.replicas, utilization: r.utilization, value: r.rawValue };
      }
      case 'ResourceAverageValue':
      case 'PodsAverageValue': {
        const resource = metric.kind === 'ResourceAverageValue' ? metric.resource : null;
        const r = averageValueReplicas({
          ...common(),
          resource,
          targetAverageMilli: metric.targetAverageMilli,
        });
        return { metric, replicas: r.replicas, value: r.value };
      }
      case 'ObjectValue':
      case 'ExternalValue': {
        const r = objectValueReplicas({
          currentReplicas: input.currentReplicas,
          valueMilli: valueMilli(),
          targetMilli: metric.targetMilli,
          tolerances,
          pods: input.pods,
        });
        return { metric, replicas: r.replicas, value: r.value };
      }
      case 'ObjectAverageValue':
      case 'ExternalAverageValue': {
        const r = objectAverageValueReplicas({
          statusReplicas: input.statusReplicas ?? input.currentReplicas,
          valueMilli: valueMilli(),
          targetAverageMilli: metric.targetAverageMilli,
          tolerances,
        });
        return { metric, replicas: r.replicas, value: r.value };
      }
    }
  } catch (e) {
    return { metric, replicas: null, error: e instanceof Error ? e.message : String(e) };
  }
}

/**
 * computeReplicasForMetrics: the max over the metrics' proposals. Returns -1 when every metric failed,
 * or when some failed and the rest would scale down (the HPA does not scale down on partial data).
 */
export function computeDesiredReplicas(
  hpa: ResolvedHpa,
  input: SyncInput & { now: number },
  config: ControllerConfig = DEFAULT_CONTROLLER_CONFIG,
): { proposal: number; proposals: MetricProposal[]; error?: string } {
  if (input.metrics.length !== hpa.metrics.length) {
    throw new RangeError(
      `metrics: got ${input.metrics.length} observations for ${hpa.metrics.length} metrics in the spec; pass one per metric, in order`,
    );
  }
  const proposals = hpa.metrics.map((m, i) => computeMetricProposal(hpa, m, input.metrics[i], input, config));
  let replicas = 0;
  let invalid = 0;
  let firstError: string | undefined;
  for (const p of proposals) {
    if (p.replicas === null) {
      if (invalid === 0) firstError = p.error;
      invalid++;
      continue;
    }
    if (replicas === 0 || p.replicas > replicas) replicas = p.replicas;
  }
  if (invalid >= proposals.length || (invalid > 0 && replicas < input.currentReplicas)) {
    return {
      proposal: -1,
      proposals,
      error: `invalid metrics (${invalid} invalid out of ${proposals.length}), first error is: ${firstError}`,
    };
  }
  return { proposal: replicas, proposals };
}

/**
 * One HPA object as the controller sees it across syncs. Call `sync(now, input)` every
 * `config.syncPeriodSeconds`; it returns the scale's new spec.replicas.
 */
export class HpaController {
  readonly hpa: ResolvedHpa;
  readonly config: ControllerConfig;
  private recommendations: Recommendation[] | undefined;
  private readonly upEvents: ScaleEvent[] = [];
  private readonly downEvents: ScaleEvent[] = [];
  /**
   * The HPA's ScaledToZero condition (HPAScaleToZero, on by default since 1.36): true after this
   * controller itself rescaled the target to zero. Only then does it compute at zero replicas; a
   * target scaled to zero by someone else stays disabled (horizontal.go
   * shouldComputeMetricsForZeroReplicas, v1.37.2).
   */
  private scaledToZero = false;

  /** @param spec an autoscaling/v2 HorizontalPodAutoscaler spec (defaulted and validated here). */
  constructor(spec: HpaSpec, config: Partial<ControllerConfig> = {}) {
    this.config = { ...DEFAULT_CONTROLLER_CONFIG, ...config };
    this.hpa = resolveHpaSpec(spec, this.config.downscaleStabilizationSeconds);
  }

  /** The stored recommendations (replicas, timestamp), oldest slot first: for inspection. */
  get recommendationHistory(): readonly Recommendation[] {
    return this.recommendations ?? [];
  }

  sync(now: number, input: SyncInput): SyncResult {
    const { minReplicas, maxReplicas, behavior } = this.hpa;
    const current = input.currentReplicas;
    // The first reconcile seeds the store with the current count, so a fresh HPA does not scale down at once.
    this.recommendations ??= [{ replicas: current, timestamp: now }];
    // minReplicas 0 needs an Object or External metric (spec.ts), so upstream's two conditions for
    // computing at zero both come down to the ScaledToZero condition.
    if (current === 0 && !this.scaledToZero) {
      return {
        desiredReplicas: 0,
        rescale: false,
        proposal: -1,
        proposals: [],
        error: 'scaling is disabled since the replica count of the target is zero',
      };
    }
    let desired: number;
    let proposal = -1;
    let proposals: MetricProposal[] = [];
    let limitReason: LimitReason | undefined;
    if (current !== 0 && current > maxReplicas) {
      desired = maxReplicas;
    } else if (current !== 0 && current < minReplicas) {
      desired = minReplicas;
    } else {
      const computed = computeDesiredReplicas(this.hpa, { ...input, now }, this.config);
      proposals = computed.proposals;
      proposal = computed.proposal;
      if (computed.proposal === -1) {
        return { desiredReplicas: current, rescale: false, proposal: -1, proposals, error: computed.error };
      }
      desired = Math.max(0, computed.proposal);
      if (behavior === null) {
        const stabilized = stabilizeLegacy(
          this.recommendations,
          now,
          desired,
          this.config.downscaleStabilizationSeconds,
        );
        const r = applyLegacyRules({
          currentReplicas: current,
          desiredReplicas: stabilized,
          minReplicas,
          maxReplicas,
        });
        desired = r.replicas;
        limitReason = r.reason;
      } else {
        const stabilized = stabilizeWithBehavior(this.recommendations, now, {
          currentReplicas: current,
          desiredReplicas: desired,
          upWindowSeconds: behavior.scaleUp.stabilizationWindowSeconds,
          downWindowSeconds: behavior.scaleDown.stabilizationWindowSeconds,
        });
        const r = applyBehaviorRate({
          currentReplicas: current,
          desiredReplicas: stabilized,
          minReplicas,
          maxReplicas,
          behavior,
          upEvents: this.upEvents,
          downEvents: this.downEvents,
          now,
        });
        desired = r.replicas;
        limitReason = r.reason;
      }
      // From zero with a minReplicas raised since, at least minReplicas.
      if (current === 0 && minReplicas !== 0 && desired < minReplicas) desired = minReplicas;
    }
    const rescale = desired !== current;
    if (rescale) this.scaledToZero = desired === 0;
    if (rescale && behavior !== null)
      storeScaleEvent(behavior, this.upEvents, this.downEvents, current, desired, now);
    return { desiredReplicas: desired, rescale, proposal, proposals, limitReason };
  }
}
