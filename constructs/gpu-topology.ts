import { GPU_RESOURCE } from './gpu-inference-service.ts';
import type { Validator } from './validate.ts';

/** What GpuHpa needs to know of the device plugin: how many pods share one GPU, per config. */
export interface GpuSharing {
  /** Pods sharing each GPU through time-slicing on the default config (NvidiaDevicePlugin `timeSlicingReplicas`). */
  readonly timeSlicingReplicas: number;
  /** The named node-group configs and their time-slicing (NvidiaDevicePlugin `nodeGroups`). */
  readonly nodeGroups?: readonly { readonly name: string; readonly timeSlicingReplicas: number }[];
}

/** GPU nodes of one device plugin node group (`nvidia.com/device-plugin.config=<config>`). */
export interface GpuNodeGroup {
  /** The device plugin node group's config name (NvidiaDevicePlugin `nodeGroups[].name`). */
  readonly config: string;
  /** Nodes labelled with that config that the target's pods can schedule on (1 to 10000). */
  readonly gpuNodes: number;
  /**
   * `nvidia.com/gpu` devices per node before time-slicing (1 to 64).
   * @default 1
   */
  readonly gpusPerNode?: number;
}

/**
 * The GPU nodes a GpuHpa's target schedules on, from which GpuHpa derives the `nvidia.com/gpu`
 * slices they offer: gpuNodes x gpusPerNode x the device plugin's timeSlicingReplicas.
 */
export interface GpuTopology {
  /** The device plugin advertising the GPUs (an NvidiaDevicePlugin). */
  readonly devicePlugin: GpuSharing;
  /**
   * GPU nodes on the device plugin's default config (no node-group label) that the target's pods
   * can schedule on (an integer from 1 to 10000; from 0 with `nodeGroups`).
   * @default 0 with nodeGroups; required without
   */
  readonly gpuNodes?: number;
  /**
   * `nvidia.com/gpu` devices per node before time-slicing: physical GPUs, or MIG instances with
   * the device plugin's migStrategy 'single' (an integer from 1 to 64).
   * @default 1
   */
  readonly gpusPerNode?: number;
  /**
   * GPU nodes of the device plugin's named node groups: each group's slices are its nodes x GPUs
   * per node x its own config's time-slicing replicas.
   * @default [] (every node on the default config)
   */
  readonly nodeGroups?: readonly GpuNodeGroup[];
}

/** One term of a topology's slices: nodes x GPUs per node x time-slicing replicas of a config. */
interface SliceTerm {
  readonly config: string;
  readonly gpuNodes: number;
  readonly gpusPerNode: number;
  readonly timeSlicingReplicas: number;
}

function sliceTerms(topology: GpuTopology): SliceTerm[] {
  const plugin = topology.devicePlugin;
  const terms: SliceTerm[] = [];
  if ((topology.gpuNodes ?? 0) > 0 || topology.nodeGroups === undefined) {
    terms.push({
      config: 'default',
      gpuNodes: topology.gpuNodes ?? 0,
      gpusPerNode: topology.gpusPerNode ?? 1,
      timeSlicingReplicas: plugin.timeSlicingReplicas,
    });
  }
  for (const g of topology.nodeGroups ?? []) {
    const config = plugin.nodeGroups?.find((c) => c.name === g.config);
    if (config === undefined) {
      const names = (plugin.nodeGroups ?? []).map((c) => JSON.stringify(c.name)).join(', ') || 'none';
      throw new Error(
        `gpuTopology.nodeGroups config must name one of the device plugin's node groups (${names}), got ${JSON.stringify(g.config)}`,
      );
    }
    terms.push({
      config: g.config,
      gpuNodes: g.gpuNodes,
      gpusPerNode: g.gpusPerNode ?? 1,
      timeSlicingReplicas: config.timeSlicingReplicas,
    });
  }
  return terms;
}

/** The `nvidia.com/gpu` allocatable of a topology, summed over its nodes and node groups. */
export function gpuSlicesOf(topology: GpuTopology): number {
  return sliceTerms(topology).reduce((n, t) => n + t.gpuNodes * t.gpusPerNode * t.timeSlicingReplicas, 0);
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
  let terms: SliceTerm[] = [];
  if (props.gpuTopology !== undefined) {
    const t = props.gpuTopology;
    const groups = t.nodeGroups ?? [];
    if (t.gpuNodes === undefined && groups.length === 0) {
      throw v.error(
        'gpuTopology needs gpuNodes (nodes on the default device plugin config) or nodeGroups, got neither',
      );
    }
    v.integerInRange('gpuTopology.gpuNodes', t.gpuNodes ?? 0, groups.length > 0 ? 0 : 1, 10_000);
    v.integerInRange('gpuTopology.gpusPerNode', t.gpusPerNode ?? 1, 1, 64);
    const known = (t.devicePlugin.nodeGroups ?? []).map((c) => c.name);
    const seen = new Set<string>();
    groups.forEach((g, i) => {
      const field = `gpuTopology.nodeGroups[${i}]`;
      if (!known.includes(g.config)) {
        throw v.error(
          `${field}.config must name one of the device plugin's node groups (${known.map((n) => JSON.stringify(n)).join(', ') || 'it has none'}), got ${JSON.stringify(g.config)}`,
        );
      }
      if (seen.has(g.config))
        throw v.error(
          `${field}.config ${JSON.stringify(g.config)} is listed twice; list each node group once`,
        );
      seen.add(g.config);
      v.integerInRange(`${field}.gpuNodes`, g.gpuNodes, 1, 10_000);
      v.integerInRange(`${field}.gpusPerNode`, g.gpusPerNode ?? 1, 1, 64);
    });
    terms = sliceTerms(t);
    // The most pods sharing one GPU on any of the target's nodes.
    timeSlicingReplicas = Math.max(...terms.map((x) => x.timeSlicingReplicas));
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
    const named = (props.gpuTopology?.nodeGroups?.length ?? 0) > 0;
    const term = (x: SliceTerm) =>
      `${x.gpuNodes} GPU nodes x ${x.gpusPerNode} GPUs per node x ${x.timeSlicingReplicas} time-slicing replicas${named ? ` (${x.config})` : ''}`;
    const source =
      props.gpuTopology !== undefined
        ? `gpuTopology's ${gpuSlices} slices: ${terms.map(term).join(' + ')},`
        : `gpuSlices ${gpuSlices}`;
    throw v.error(
      `maxReplicas must be at most ${fit} (${source} / ${target.gpus} ${GPU_RESOURCE} per pod, less ${target.maxSurge} for the rollout's surge pod), got ${maxReplicas}`,
    );
  }
  return { gpuSlices, ...(timeSlicingReplicas !== undefined ? { timeSlicingReplicas } : {}) };
}
