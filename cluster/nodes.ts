/**
 * Node objects shaped exactly as provisioning leaves the inventory's hosts: kubeadm's control-plane
 * label and taint, the GPU label and taint of the contract as provisioning's gpu-node role applies them,
 * and `nvidia.com/gpu` allocatable equal to the device plugin's time-slicing replicas.
 */
import { GPU_NODE_LABEL, GPU_NODE_LABEL_VALUE } from '../constructs/contract.ts';
import { GPU_RESOURCE } from '../constructs/gpu-inference-service.ts';
import { CONTROL_PLANE_TAINT_KEY } from '../constructs/k8s-helpers.ts';
import type { HostSpec, Inventory } from '../provision/src/inventory.ts';
import { gpuRegistration } from '../provision/src/roles/gpu-node.ts';
import { KUBERNETES_VERSION } from './components.ts';

/** kubeadm labels and taints its control plane with the same key. */
const CONTROL_PLANE_LABEL = CONTROL_PLANE_TAINT_KEY;
const CONTROL_PLANE_TAINT = { key: CONTROL_PLANE_TAINT_KEY, effect: 'NoSchedule' };

/**
 * Emulated node size (provisioning does not know the hardware). The GPU count per GPU host is 1:
 * the README's topology, one A40 time-sliced by the device plugin.
 */
export const EMULATED_NODE = { cpu: '16', memory: '64Gi', pods: '110', gpusPerGpuHost: 1 } as const;

export interface NodeObject {
  apiVersion: 'v1';
  kind: 'Node';
  metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> };
  spec: { taints: { key: string; value?: string; effect: string }[] };
  status: {
    capacity: Record<string, string>;
    allocatable: Record<string, string>;
    addresses: { type: string; address: string }[];
    nodeInfo: Record<string, string>;
  };
}

/** `gpu: auto` decides by the host's PCI devices; with no host to read, it counts as a GPU host. */
export const isGpuHost = (h: HostSpec): boolean => h.gpu !== false;

export function nodeFor(h: HostSpec, inv: Inventory): NodeObject {
  const gpu = isGpuHost(h);
  const controlPlane = h.role === 'control-plane';
  const reg = gpuRegistration(gpu, controlPlane) as { taints?: NodeObject['spec']['taints'] };
  // kubeadm taints a control plane unless nodeRegistration.taints is given (then those replace it).
  const taints = reg.taints ?? (controlPlane ? [CONTROL_PLANE_TAINT] : []);
  const labels: Record<string, string> = {
    'kubernetes.io/hostname': h.name,
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': 'amd64',
    'beta.kubernetes.io/os': 'linux',
    'beta.kubernetes.io/arch': 'amd64',
    type: 'kwok',
    ...(controlPlane
      ? { [CONTROL_PLANE_LABEL]: '', 'node.kubernetes.io/exclude-from-external-load-balancers': '' }
      : {}),
    ...(gpu ? { [GPU_NODE_LABEL]: GPU_NODE_LABEL_VALUE } : {}),
  };
  const resources: Record<string, string> = {
    cpu: EMULATED_NODE.cpu,
    memory: EMULATED_NODE.memory,
    pods: EMULATED_NODE.pods,
    ...(gpu
      ? { [GPU_RESOURCE]: String(EMULATED_NODE.gpusPerGpuHost * inv.cluster.gpuTimeSlicingReplicas) }
      : {}),
  };
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: h.name, labels, annotations: { 'kwok.x-k8s.io/node': 'fake' } },
    spec: { taints },
    status: {
      capacity: resources,
      allocatable: resources,
      addresses: [
        { type: 'InternalIP', address: h.address },
        { type: 'Hostname', address: h.name },
      ],
      nodeInfo: {
        kubeletVersion: KUBERNETES_VERSION,
        kubeProxyVersion: '',
        containerRuntimeVersion: 'kwok',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
    },
  };
}
