import type { ClusterSpec, HostSpec } from '../inventory.ts';
import type { Site } from '../ops/site.ts';
import type { ExecResult, HostFacts } from '../types.ts';

/** Access to the control plane from other hosts' tasks (join tokens, node labels). */
export interface ControlPlane {
  name: string;
  address: string;
  /** Resolves once the control plane's own run succeeded (immediately when it is not in this run). */
  ready(): Promise<void>;
  exec(command: string): Promise<ExecResult>;
}

export interface RoleContext {
  host: HostSpec;
  facts: HostFacts;
  cluster: ClusterSpec;
  site: Site;
  /** Whether this host gets the GPU roles (gpu: true, or "auto" and an NVIDIA PCI device was found). */
  gpu: boolean;
  controlPlane: ControlPlane;
}

export const ADMIN_KUBECONFIG = '/etc/kubernetes/admin.conf';
/** kubectl as the cluster admin, for commands run on the control plane. */
export const KUBECTL = `kubectl --kubeconfig ${ADMIN_KUBECONFIG}`;
export const CRI_SOCKET = 'unix:///var/run/containerd/containerd.sock';
/**
 * Lifetime of every bootstrap token provisioning creates: a join needs its token for the few
 * seconds of TLS bootstrap, so 15 minutes covers slow image pulls and leaves a leaked token (e.g.
 * from a terminal log) little time; kubeadm's default is 24 hours.
 */
export const BOOTSTRAP_TOKEN_TTL = '15m0s';
