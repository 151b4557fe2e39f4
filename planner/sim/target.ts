/**
 * The HPA under test: an autoscaling/v2 spec plus, for each of its metrics, which simulated signal
 * the metric measures. Built from a GpuHpa construct (its resolved public fields) or from any
 * HorizontalPodAutoscaler spec (e.g. the recipe's, or one read from dist/).
 */
import type { HpaSpec, MetricSpecV2 } from '../hpa/spec.ts';
import type { ScalingPolicy, SelectPolicy } from '../hpa/normalize.ts';

/** The per-pod quantities the simulator produces and an HPA metric can read. */
export type SignalKind = 'cpu' | 'gpu' | 'inflight' | 'queueTime';
export const SIGNAL_KINDS: readonly SignalKind[] = ['cpu', 'gpu', 'inflight', 'queueTime'];

export interface HpaUnderTest {
  readonly name: string;
  readonly spec: HpaSpec;
  /** signals[i] is what spec.metrics[i] measures. */
  readonly signals: readonly SignalKind[];
}

/**
 * What the planner reads from a GpuHpa (constructs/hpa/gpu-hpa.ts): its resolved public fields.
 * Structural, so the planner depends on the shape, not on the construct's module.
 */
export interface GpuHpaLike {
  readonly name?: string;
  readonly minReplicas: number;
  readonly maxReplicas: number;
  readonly metrics: readonly { readonly kind: SignalKind; readonly spec: Record<string, unknown> }[];
  readonly behavior?: {
    readonly scaleUp?: {
      readonly stabilizationWindowSeconds?: number;
      readonly selectPolicy?: SelectPolicy;
      readonly policies?: readonly ScalingPolicy[];
    };
    readonly scaleDown?: {
      readonly stabilizationWindowSeconds?: number;
      readonly selectPolicy?: SelectPolicy;
      readonly policies?: readonly ScalingPolicy[];
    };
  };
}

export class TargetError extends Error {
  override readonly name = 'TargetError';
}

export function fromGpuHpa(hpa: GpuHpaLike, name = hpa.name ?? 'GpuHpa'): HpaUnderTest {
  hpa.metrics.forEach((m, i) => {
    if (!SIGNAL_KINDS.includes(m.kind)) {
      throw new TargetError(
        `metrics[${i}].kind: ${JSON.stringify(m.kind)} must be one of ${SIGNAL_KINDS.join(', ')}`,
      );
    }
  });
  return {
    name,
    spec: {
      minReplicas: hpa.minReplicas,
      maxReplicas: hpa.maxReplicas,
      metrics: hpa.metrics.map((m) => m.spec as unknown as MetricSpecV2),
      ...(hpa.behavior ? { behavior: hpa.behavior } : {}),
    },
    signals: hpa.metrics.map((m) => m.kind),
  };
}

/** Custom metric names (contract.ts / the adapter rules / DCGM) and the signal each one is. */
const NAME_PATTERNS: readonly [RegExp, SignalKind][] = [
  [/gpu|DCGM_FI_DEV_GPU_UTIL/i, 'gpu'],
  [/inflight|in_flight|concurrency/i, 'inflight'],
  [/queue/i, 'queueTime'],
];

function signalOf(m: MetricSpecV2, i: number): SignalKind {
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
    `spec.metrics[${i}]: no simulated signal for metric ${JSON.stringify(name)}; pass signals[${i}] as one of ${SIGNAL_KINDS.join(', ')}`,
  );
}

/** An autoscaling/v2 spec; signals are inferred from metric names unless given. */
export function fromHpaSpec(name: string, spec: HpaSpec, signals?: readonly SignalKind[]): HpaUnderTest {
  const metrics = spec.metrics && spec.metrics.length > 0 ? spec.metrics : undefined;
  const resolved =
    signals ??
    (
      metrics ?? [
        { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization' } } } as MetricSpecV2,
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
