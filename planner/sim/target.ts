/**
 * The HPA under test: an autoscaling/v2 spec plus, for each of its metrics, which simulated signal
 * the metric measures. Built from a GpuHpa construct (its resolved public fields) or from any
 * HorizontalPodAutoscaler spec (e.g. the recipe's, or one read from dist/).
 */
import type { HpaSpec, MetricSpec, ScalingRules } from '../../constructs/autoscaling-v2/types.ts';
import { HPA_METRIC_KINDS, type HpaMetricKind } from '../../constructs/hpa/metrics.ts';

export interface HpaUnderTest {
  readonly name: string;
  readonly spec: HpaSpec;
  /** signals[i] is what spec.metrics[i] measures. */
  readonly signals: readonly HpaMetricKind[];
}

/**
 * What the planner reads from a GpuHpa (constructs/hpa/gpu-hpa.ts): its resolved public fields.
 * Structural, so the planner depends on the shape, not on the construct's module.
 */
export interface GpuHpaLike {
  readonly name?: string;
  readonly minReplicas: number;
  readonly maxReplicas: number;
  readonly metrics: readonly { readonly kind: HpaMetricKind; readonly spec: MetricSpec }[];
  readonly behavior?: { readonly scaleUp?: ScalingRules; readonly scaleDown?: ScalingRules };
}

export class TargetError extends Error {
  override readonly name = 'TargetError';
}

export function fromGpuHpa(hpa: GpuHpaLike, name = hpa.name ?? 'GpuHpa'): HpaUnderTest {
  hpa.metrics.forEach((m, i) => {
    if (!(HPA_METRIC_KINDS as readonly string[]).includes(m.kind)) {
      throw new TargetError(
        `metrics[${i}].kind: ${JSON.stringify(m.kind)} must be one of ${HPA_METRIC_KINDS.join(', ')}`,
      );
    }
  });
  return {
    name,
    spec: {
      minReplicas: hpa.minReplicas,
      maxReplicas: hpa.maxReplicas,
      metrics: hpa.metrics.map((m) => m.spec),
      ...(hpa.behavior ? { behavior: hpa.behavior } : {}),
    },
    signals: hpa.metrics.map((m) => m.kind),
  };
}

/** Custom metric names (contract.ts / the adapter rules / DCGM) and the signal each one is. */
const NAME_PATTERNS: readonly [RegExp, HpaMetricKind][] = [
  [/gpu|DCGM_FI_DEV_GPU_UTIL/i, 'gpu'],
  [/inflight|in_flight|concurrency/i, 'inflight'],
  [/queue/i, 'queueTime'],
];

function signalOf(m: MetricSpec, i: number): HpaMetricKind {
  if (m.type === 'Resource' || m.type === 'ContainerResource') {
    const name = m.resource?.name ?? m.containerResource?.name;
    if (name === 'cpu') return 'cpu';
    throw new TargetError(
      `spec.metrics[${i}]: resource ${JSON.stringify(name)} is not simulated; only cpu is`,
    );
  }
  const src = m.type === 'Pods' ? m.pods : m.type === 'Object' ? m.object : m.external;
  const name = src?.metric?.name ?? '';
  for (const [re, kind] of NAME_PATTERNS) if (re.test(name)) return kind;
  throw new TargetError(
    `spec.metrics[${i}]: no simulated signal for metric ${JSON.stringify(name)}; pass signals[${i}] as one of ${HPA_METRIC_KINDS.join(', ')}`,
  );
}

/** An autoscaling/v2 spec; signals are inferred from metric names unless given. */
export function fromHpaSpec(name: string, spec: HpaSpec, signals?: readonly HpaMetricKind[]): HpaUnderTest {
  const metrics = spec.metrics && spec.metrics.length > 0 ? spec.metrics : undefined;
  const resolved =
    signals ??
    (
      metrics ?? [
        { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization' } } } as MetricSpec,
      ]
    ).map(signalOf);
  if (metrics && resolved.length !== metrics.length) {
    throw new TargetError(
      `signals: ${resolved.length} given for ${metrics.length} metrics; give one per spec.metrics entry`,
    );
  }
  return { name, spec, signals: resolved };
}

/** The recipe's HPA (its HPA step): min 1, max 10, CPU averageUtilization 60, no behavior. */
export const RECIPE_HPA: HpaUnderTest = fromHpaSpec('recipe HPA (CPU 60 %)', {
  minReplicas: 1,
  maxReplicas: 10,
  metrics: [
    { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } } },
  ],
});
