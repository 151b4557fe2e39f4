import type { IConstruct } from 'constructs';
import { GPU_RESOURCE } from './gpu-inference-service.ts';
import type { Validator } from './validate.ts';

/** What GpuHpa needs to know of the device plugin: how many pods share one GPU. */
export interface GpuSharing {
  /** Pods sharing each GPU through time-slicing (NvidiaDevicePlugin `timeSlicingReplicas`). */
  readonly timeSlicingReplicas: number;
}

/**
 * The GPU nodes a GpuHpa's target schedules on, from which GpuHpa derives the `nvidia.com/gpu`
 * slices they offer: gpuNodes x gpusPerNode x the device plugin's timeSlicingReplicas.
 */
export interface GpuTopology {
  /** The device plugin advertising the GPUs (an NvidiaDevicePlugin). */
  readonly devicePlugin: GpuSharing;
  /** GPU nodes the target's pods can schedule on (an integer from 1 to 10000). */
  readonly gpuNodes: number;
  /**
   * `nvidia.com/gpu` devices per node before time-slicing: physical GPUs, or MIG instances with
   * the device plugin's migStrategy 'single' (an integer from 1 to 64).
   * @default 1
   */
  readonly gpusPerNode?: number;
}

/** The `nvidia.com/gpu` allocatable of a topology, summed over its nodes. */
export function gpuSlicesOf(topology: GpuTopology): number {
  return topology.gpuNodes * (topology.gpusPerNode ?? 1) * topology.devicePlugin.timeSlicingReplicas;
}

/** Metadata type of the warnings constructs record (`node.addMetadata`); `warningsOf` collects them. */
export const WARNING_METADATA = 'cdk8s-gpu-inference:warning';

/** Every warning recorded in `scope`'s tree, as `<construct path>: <message>`. */
export function warningsOf(scope: IConstruct): string[] {
  return scope.node
    .findAll()
    .flatMap((c) =>
      c.node.metadata
        .filter((m) => m.type === WARNING_METADATA)
        .map((m) => `${c.node.path}: ${String(m.data)}`),
    );
}

/** The slices the target's pods can get and how many pods share one GPU, resolved and validated. */
export interface ResolvedGpuCapacity {
  readonly gpuSlices: number;
  readonly timeSlicingReplicas?: number;
}

/**
 * The GPU capacity of a GpuHpa's target, from `gpuTopology` or `gpuSlices` (exactly one, when the
 * target requests GPUs), checked against maxReplicas plus the rollout's surge.
 *
 * Refused, not warned: the overflow is never a transient state. The pods past the slices stay
 * Pending, the HPA keeps counting them toward its replicas, and the signals that drove it there
 * were measured on pods that share GPUs the Pending ones never get.
 */
export function resolveGpuCapacity(
  target: { readonly gpus: number; readonly maxSurge: number },
  maxReplicas: number,
  props: { readonly gpuSlices?: number; readonly gpuTopology?: GpuTopology },
  v: Validator,
): ResolvedGpuCapacity | undefined {
  if (props.gpuSlices !== undefined && props.gpuTopology !== undefined) {
    throw v.error(
      `gpuSlices and gpuTopology are alternatives, got both (gpuSlices ${props.gpuSlices}); give gpuTopology, from which gpuSlices follow`,
    );
  }
  if (target.gpus === 0) return undefined;
  let gpuSlices: number;
  let timeSlicingReplicas: number | undefined;
  if (props.gpuTopology !== undefined) {
    const t = props.gpuTopology;
    v.integerInRange('gpuTopology.gpuNodes', t.gpuNodes, 1, 10_000);
    v.integerInRange('gpuTopology.gpusPerNode', t.gpusPerNode ?? 1, 1, 64);
    timeSlicingReplicas = t.devicePlugin.timeSlicingReplicas;
    gpuSlices = gpuSlicesOf(t);
  } else if (props.gpuSlices !== undefined) {
    gpuSlices = v.integerInRange('gpuSlices', props.gpuSlices, 1, 1_000_000);
  } else {
    throw v.error(
      `gpuTopology (or gpuSlices) is required: the target requests ${target.gpus} ${GPU_RESOURCE} per pod; give its GPU nodes and device plugin, from which the ${GPU_RESOURCE} slices follow (GPU nodes x GPUs per node x timeSlicingReplicas)`,
    );
  }
  const fit = Math.floor(gpuSlices / target.gpus) - target.maxSurge;
  if (maxReplicas > fit) {
    const source =
      props.gpuTopology !== undefined
        ? `gpuTopology's ${gpuSlices} slices: ${props.gpuTopology.gpuNodes} GPU nodes x ${props.gpuTopology.gpusPerNode ?? 1} GPUs per node x ${timeSlicingReplicas} time-slicing replicas,`
        : `gpuSlices ${gpuSlices}`;
    throw v.error(
      `maxReplicas must be at most ${fit} (${source} / ${target.gpus} ${GPU_RESOURCE} per pod, less ${target.maxSurge} for the rollout's surge pod), got ${maxReplicas}`,
    );
  }
  return { gpuSlices, ...(timeSlicingReplicas !== undefined ? { timeSlicingReplicas } : {}) };
}
