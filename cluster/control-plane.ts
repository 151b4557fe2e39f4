/**
 * etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok, started with the flags
 * kubeadm gives them (cmd/kubeadm/app/phases/controlplane/manifests.go), on loopback.
 * Differences from kubeadm, each for running on one machine: etcd speaks plain HTTP on 127.0.0.1
 * and skips fsync; leader election is off (one instance of each).
 */
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { KUBELET_PORT } from './agent/kubelet-metrics.ts';
import { parseAllDocuments, stringify } from 'yaml';
import { COMPONENTS } from './components.ts';
import { binary } from './build.ts';
import { httpsGet, writeKubeconfig } from './kubeconfig.ts';
import type { Layout } from './layout.ts';
import type { Pki } from './pki.ts';
import { start, waitFor, type Started } from './processes.ts';

/** Client identities of the control plane, as kubeadm names them (kubeconfig phase). */
export const CLIENTS = {
  admin: '/O=system:masters/CN=kubernetes-admin',
  'kube-controller-manager': '/CN=system:kube-controller-manager',
  'kube-scheduler': '/CN=system:kube-scheduler',
  kwok: '/O=system:masters/CN=kwok',
  'node-agent': '/O=system:masters/CN=node-agent',
  // What the API server presents to kubelets (logs, exec, port-forward): kubeadm's
  // apiserver-kubelet-client, in the system:masters group as kubeadm made it before 1.29.
  'apiserver-kubelet-client': '/O=system:masters/CN=kube-apiserver-kubelet-client',
} as const;

export interface ClusterNetwork {
  readonly podCidr: string;
  readonly serviceCidr: string;
}

const k8s = (name: string) => binary(COMPONENTS.kubernetes, name);

export function kubeconfigFor(l: Layout, user: keyof typeof CLIENTS): string {
  return user === 'admin' ? l.kubeconfig : join(l.dir, `${user}.kubeconfig`);
}

export function writeKubeconfigs(l: Layout, pki: Pki): void {
  for (const user of Object.keys(CLIENTS) as (keyof typeof CLIENTS)[])
    writeKubeconfig(kubeconfigFor(l, user), pki, l.ports.apiserver, user);
}

async function healthy(pki: Pki, url: string): Promise<boolean> {
  const r = await httpsGet(pki, 'admin', url, { insecure: !url.includes(':6443') });
  return r.status === 200;
}

export async function startEtcd(l: Layout): Promise<Started> {
  const client = `http://127.0.0.1:${l.ports.etcdClient}`;
  const peer = `http://127.0.0.1:${l.ports.etcdPeer}`;
  const p = start(l, 'etcd', binary(COMPONENTS.etcd, 'etcd'), [
    '--name=local',
    `--data-dir=${join(l.dir, 'etcd')}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=local=${peer}`,
    '--unsafe-no-fsync',
    '--snapshot-count=10000',
  ]);
  await waitFor(p, 'healthy', async () => {
    const r = await fetch(`${client}/health`);
    return r.ok;
  });
  return p;
}

export interface ApiServerOptions {
  /**
   * --kubelet-certificate-authority: verify the kubelets' serving certificates against the cluster
   * CA (kubeadm leaves it unset). For the real kubelet node, whose serving certificate comes from a
   * kubelet-serving CSR; the node agent's emulated kubelets are never dialled for logs or exec.
   * @default false
   */
  readonly verifyKubelets?: boolean;
}

export async function startApiServer(
  l: Layout,
  pki: Pki,
  net: ClusterNetwork,
  opts: ApiServerOptions = {},
): Promise<Started> {
  const c = pki.cert('apiserver');
  const fp = pki.cert('front-proxy-client');
  const p = start(l, 'kube-apiserver', k8s('kube-apiserver'), [
    `--etcd-servers=http://127.0.0.1:${l.ports.etcdClient}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${l.ports.apiserver}`,
    // The kubernetes Service's endpoint: pods reach it through the forward on the veth's host end.
    `--advertise-address=${l.hostIp}`,
    `--service-cluster-ip-range=${net.serviceCidr}`,
    `--client-ca-file=${pki.ca}`,
    `--tls-cert-file=${c.crt}`,
    `--tls-private-key-file=${c.key}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${pki.saPub}`,
    `--service-account-signing-key-file=${pki.saKey}`,
    '--authorization-mode=Node,RBAC',
    '--enable-admission-plugins=NodeRestriction',
    '--allow-privileged=true',
    // The aggregation layer, as kubeadm configures it.
    `--requestheader-client-ca-file=${pki.frontProxyCa}`,
    '--requestheader-allowed-names=front-proxy-client',
    '--requestheader-extra-headers-prefix=X-Remote-Extra-',
    '--requestheader-group-headers=X-Remote-Group',
    '--requestheader-username-headers=X-Remote-User',
    `--proxy-client-cert-file=${fp.crt}`,
    `--proxy-client-key-file=${fp.key}`,
    // No kube-proxy here: the aggregator dials an endpoint of the APIService's Service directly.
    '--enable-aggregator-routing=true',
    // A real kubelet (cluster/kubelet-node.ts) is reached at its node's InternalIP, as kubeadm sets it.
    `--kubelet-client-certificate=${pki.cert('apiserver-kubelet-client').crt}`,
    `--kubelet-client-key=${pki.cert('apiserver-kubelet-client').key}`,
    '--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname',
    ...(opts.verifyKubelets ? [`--kubelet-certificate-authority=${pki.ca}`] : []),
    '--profiling=false',
  ]);
  await waitFor(p, 'ready', () => healthy(pki, `https://127.0.0.1:${l.ports.apiserver}/readyz`), 90_000);
  return p;
}

function componentFlags(l: Layout, user: keyof typeof CLIENTS, port: number): string[] {
  const kc = kubeconfigFor(l, user);
  return [
    `--kubeconfig=${kc}`,
    `--authentication-kubeconfig=${kc}`,
    `--authorization-kubeconfig=${kc}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`,
    '--leader-elect=false',
  ];
}

export interface ControllerManagerOptions {
  /** --horizontal-pod-autoscaler-sync-period. @default 15s (the controller's default) */
  readonly hpaSyncPeriod?: string;
}

export async function startControllerManager(
  l: Layout,
  pki: Pki,
  net: ClusterNetwork,
  opts: ControllerManagerOptions = {},
): Promise<Started> {
  const p = start(l, 'kube-controller-manager', k8s('kube-controller-manager'), [
    ...componentFlags(l, 'kube-controller-manager', l.ports.controllerManager),
    `--service-account-private-key-file=${pki.saKey}`,
    `--root-ca-file=${pki.ca}`,
    `--cluster-signing-cert-file=${pki.ca}`,
    `--cluster-signing-key-file=${pki.caKey}`,
    `--requestheader-client-ca-file=${pki.frontProxyCa}`,
    '--use-service-account-credentials=true',
    '--controllers=*,bootstrapsigner,tokencleaner',
    `--cluster-cidr=${net.podCidr}`,
    `--service-cluster-ip-range=${net.serviceCidr}`,
    `--horizontal-pod-autoscaler-sync-period=${opts.hpaSyncPeriod ?? '15s'}`,
    // Every HPA sync's proposal and decision (horizontal.go's V(4) lines, about three per HPA per
    // sync), which test/cluster/hpa-replay.ts replays through the planner's port.
    '--vmodule=horizontal=4',
  ]);
  await waitFor(p, 'healthy', () => healthy(pki, `https://127.0.0.1:${l.ports.controllerManager}/healthz`));
  return p;
}

export async function startScheduler(l: Layout, pki: Pki): Promise<Started> {
  const p = start(
    l,
    'kube-scheduler',
    k8s('kube-scheduler'),
    componentFlags(l, 'kube-scheduler', l.ports.scheduler),
  );
  await waitFor(p, 'healthy', () => healthy(pki, `https://127.0.0.1:${l.ports.scheduler}/healthz`));
  return p;
}

/**
 * kwok manages every node (initialize, heartbeats, leases) and every pod except those whose image
 * the node agent runs as a real process (`agentImages`): each of kwok's pod stages gets a selector
 * expression that excludes those images.
 */
export async function startKwok(
  l: Layout,
  pki: Pki,
  podCidr: string,
  agentImages: readonly string[],
): Promise<Started> {
  const stagesDir = join(import.meta.dirname, 'kwok');
  const stages = [
    'pod-create',
    'pod-init-container-running',
    'pod-init-container-completed',
    'pod-ready',
    'pod-complete',
    'pod-delete',
  ].map((name) => {
    const stage = parseAllDocuments(readFileSync(join(stagesDir, `${name}.yaml`), 'utf8'))[0]!.toJS() as {
      spec: { selector: { matchExpressions: unknown[] } };
    };
    stage.spec.selector.matchExpressions.push({
      key: '.spec.containers.[0].image',
      operator: 'NotIn',
      values: [...agentImages],
    });
    return stringify(stage);
  });
  const nodeStages = ['node-initialize', 'node-heartbeat-with-lease'].map((n) =>
    readFileSync(join(stagesDir, `${n}.yaml`), 'utf8'),
  );
  const config = join(l.dir, 'kwok.yaml');
  writeFileSync(config, [...nodeStages, ...stages].join('---\n'));
  const p = start(l, 'kwok', binary(COMPONENTS.kwok, 'kwok'), [
    `--kubeconfig=${kubeconfigFor(l, 'kwok')}`,
    `--config=${config}`,
    '--manage-all-nodes=true',
    `--cidr=${podCidr}`,
    `--node-ip=${l.hostIp}`,
    // Node status' daemonEndpoints: where the agent serves each node's kubelet metrics.
    `--node-port=${KUBELET_PORT}`,
    '--node-lease-duration-seconds=40',
    `--server-address=127.0.0.1:${l.ports.kwok}`,
  ]);
  await waitFor(p, 'healthy', async () => (await fetch(`http://127.0.0.1:${l.ports.kwok}/healthz`)).ok);
  return p;
}
