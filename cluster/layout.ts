/**
 * Where the local cluster keeps its files and which addresses and ports it uses: one place, read
 * by cluster:up, cluster:down, the node agent and the tests.
 */
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '..');

export interface Layout {
  /** `.cluster/` in the repository (ignored by git). */
  readonly dir: string;
  readonly kubeconfig: string;
  readonly kubectlLink: string;
  readonly logs: string;
  readonly pids: string;
  readonly pki: string;
  /** Pods' network namespaces are `<netnsPrefix>-<n>`, their veths' host ends `<vethPrefix><n>`. */
  readonly netnsPrefix: string;
  readonly vethPrefix: string;
  /** The bridge the pods' veths attach to (cluster/netns.ts). */
  readonly bridge: string;
  /** The host's node address on the bridge: the API server's advertise address, reached from pods. */
  readonly hostIp: string;
  readonly ports: {
    readonly apiserver: number;
    readonly etcdClient: number;
    readonly etcdPeer: number;
    readonly controllerManager: number;
    readonly scheduler: number;
    readonly kwok: number;
    readonly prometheus: number;
    /** The node agent's /metrics (the load balancer's counters), on hostIp: kube-proxy's port. */
    readonly agentMetrics: number;
  };
}

/** The default layout; `CDK8S_CLUSTER_DIR` moves the folder (tests use their own). */
export function layout(dir = process.env.CDK8S_CLUSTER_DIR ?? join(REPO_ROOT, '.cluster')): Layout {
  return {
    dir,
    kubeconfig: join(dir, 'kubeconfig'),
    kubectlLink: join(dir, 'bin', 'kubectl'),
    logs: join(dir, 'logs'),
    pids: join(dir, 'pids'),
    pki: join(dir, 'pki'),
    netnsPrefix: 'cgi-pod',
    vethPrefix: 'cgiv',
    bridge: 'cgi0',
    hostIp: '10.255.0.1',
    ports: {
      apiserver: 6443,
      etcdClient: 2379,
      etcdPeer: 2380,
      controllerManager: 10257,
      scheduler: 10259,
      kwok: 10247,
      prometheus: 9090,
      agentMetrics: 10249,
    },
  };
}
