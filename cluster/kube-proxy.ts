/**
 * kube-proxy beside the real kubelet node (cluster/kubelet-node.ts), in iptables mode with
 * kubeadm's KubeProxyConfiguration defaults (cmd/kubeadm/app/componentconfigs/kubeproxy.go: the
 * component's own defaults, clusterCIDR from the cluster's pod subnet, the kubeconfig kubeadm
 * mounts), so that the node's pods reach the API server through the `kubernetes` Service's
 * ClusterIP as on a provisioned node. Differences, each for this machine: a process, not kubeadm's
 * DaemonSet; its identity is a client certificate for `system:kube-proxy`, the user Kubernetes'
 * bootstrap policy binds to `system:node-proxier` (kubeadm binds the same ClusterRole to its
 * kube-proxy ServiceAccount instead); healthz on the node's address rather than 0.0.0.0 (this
 * machine is shared). What it changes on the host (iptables chains, conntrack and route_localnet
 * sysctls) is recorded and put back by cluster/host-state.ts with the kubelet's.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { binary } from './build.ts';
import { COMPONENTS } from './components.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import type { Layout } from './layout.ts';
import { ensureClientCert, type Pki } from './pki.ts';
import { start, waitFor, type Started } from './processes.ts';

export const KUBE_PROXY_HEALTHZ_PORT = 10256;

export interface KubeProxyOptions {
  /** The node it runs for (--hostname-override: its Node's InternalIP is the node IP). */
  readonly nodeName: string;
  readonly nodeIp: string;
  /** The pods' CIDR on this node: traffic from outside it to a ClusterIP is masqueraded. */
  readonly clusterCidr: string;
  /** Where its config and kubeconfig are written. */
  readonly dir: string;
}

export function kubeProxyConfig(o: KubeProxyOptions, kubeconfig: string): string {
  return stringify({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    mode: 'iptables',
    clusterCIDR: o.clusterCidr,
    clientConnection: { kubeconfig },
    hostnameOverride: o.nodeName,
    healthzBindAddress: `${o.nodeIp}:${KUBE_PROXY_HEALTHZ_PORT}`,
  });
}

/**
 * Starts kube-proxy and waits until it has synced its rules once (its healthz answers 200 only
 * then). Needs the node's Node object (kube-proxy reads its addresses) and the API server.
 */
export async function startKubeProxy(l: Layout, pki: Pki, o: KubeProxyOptions): Promise<Started> {
  ensureClientCert(pki.dir, 'kube-proxy', '/CN=system:kube-proxy');
  const kubeconfig = join(o.dir, 'kube-proxy.kubeconfig');
  writeKubeconfig(kubeconfig, pki, l.ports.apiserver, 'kube-proxy');
  const config = join(o.dir, 'kube-proxy.yaml');
  writeFileSync(config, kubeProxyConfig(o, kubeconfig));
  const p = start(l, 'kube-proxy', binary(COMPONENTS.kubeProxy, 'kube-proxy'), [`--config=${config}`]);
  await waitFor(
    p,
    'rules synced (healthz)',
    async () => (await fetch(`http://${o.nodeIp}:${KUBE_PROXY_HEALTHZ_PORT}/healthz`)).ok,
    60_000,
  );
  return p;
}
