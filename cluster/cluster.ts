/**
 * `npm run cluster:up | cluster:down | cluster:status`: a real Kubernetes control plane on this
 * machine (cluster/control-plane.ts), nodes registered as provisioning leaves the inventory's
 * hosts (cluster/nodes.ts), the node agent that runs the serving pods as real processes
 * (cluster/agent/), and the synthesized manifests applied with server-side apply.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadInventory, type Inventory } from '../provision/src/inventory.ts';
import { podAddressing } from './addresses.ts';
import { COMPONENTS, type GoComponent } from './components.ts';
import { verify } from './build.ts';
import {
  CLIENTS,
  startApiServer,
  startControllerManager,
  startEtcd,
  startKwok,
  startScheduler,
  writeKubeconfigs,
  type ControllerManagerOptions,
} from './control-plane.ts';
import { kubectl, kubectlBinary } from './kubectl.ts';
import { layout, REPO_ROOT, type Layout } from './layout.ts';
import { createBridge, deleteNetwork, podNamespaces } from './netns.ts';
import { nodeFor } from './nodes.ts';
import { ensurePki, type Pki } from './pki.ts';
import { alive, assertPortFree, recorded, stopAll } from './processes.ts';
import { stopOnSignal } from './teardown.ts';
import { AGENT_IMAGES } from './agent/runtimes.ts';
import { startAgent, type AgentOptions } from './agent/start.ts';
import { monitoringStack, operatorCrds, type PrometheusOptions } from './monitoring-stack.ts';
import { MONITORING_NAMESPACE } from '../main.ts';
import { agentScrape } from './agent-scrape.ts';
import { kedaStack } from './keda-stack.ts';
import { stopKubeletNode } from './kubelet-node.ts';

export const DEFAULT_INVENTORY = join(REPO_ROOT, 'cluster', 'inventory.yaml');

export interface UpOptions {
  /** @default cluster/inventory.yaml */
  readonly inventory?: string;
  /** Folder of synthesized manifests to apply, in file-name order. @default dist/ */
  readonly manifests?: string;
  /** Apply the manifests (tests that check each file's dry run apply them themselves). @default true */
  readonly apply?: boolean;
  readonly controllerManager?: ControllerManagerOptions;
  readonly agent?: AgentOptions;
  /** The Prometheus that kube-prometheus-stack would run. @default its chart's intervals (30s) */
  readonly prometheus?: Omit<PrometheusOptions, 'namespace'>;
  /**
   * Install KEDA (cluster/keda-stack.ts) before the manifests.
   * @default true when a manifest holds a ScaledObject
   */
  readonly keda?: boolean;
}

export interface Cluster {
  readonly layout: Layout;
  readonly inventory: Inventory;
}

/** The files of a synthesized folder in apply order (cdk8s names them with a numeric prefix). */
export function manifestFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((f) => join(dir, f));
}

const apply = (l: Layout, args: readonly string[], input?: string) =>
  kubectl(l, ['apply', '--server-side', '--field-manager=cluster-up', ...args], input);

/** The CRDs the manifests use but do not ship, from the pinned components; waits until established. */
export function applyCrds(l: Layout): void {
  apply(
    l,
    ['-f', '-'],
    operatorCrds()
      .map((c) => JSON.stringify(c))
      .join('\n'),
  );
  kubectl(l, ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
}

export function applyManifests(l: Layout, dir: string): void {
  for (const f of manifestFiles(dir)) apply(l, ['-f', f]);
}

/**
 * kube-prometheus-stack's part (cluster/monitoring-stack.ts), in the manifests' monitoring
 * namespace, and the scrape of the load balancer's counters (cluster/agent-scrape.ts).
 */
export function applyMonitoringStack(l: Layout, o: PrometheusOptions): void {
  applyObjects(l, [...monitoringStack(o), ...agentScrape(l, o.namespace)]);
}

/** KEDA as its release manifest installs it (cluster/keda-stack.ts); CRDs established first. */
export function applyKeda(l: Layout): void {
  const objs = kedaStack(l);
  const crds = objs.filter((o) => o.kind === 'CustomResourceDefinition');
  applyObjects(l, crds);
  kubectl(l, [
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    ...crds.map((c) => `crd/${c.metadata.name}`),
  ]);
  applyObjects(
    l,
    objs.filter((o) => o.kind !== 'CustomResourceDefinition'),
  );
}

const applyObjects = (l: Layout, objs: readonly object[]) =>
  apply(l, ['-f', '-'], objs.map((c) => JSON.stringify(c)).join('\n'));

const holdsScaledObject = (dir: string) =>
  manifestFiles(dir).some((f) => /^kind: ScaledObject$/m.test(readFileSync(f, 'utf8')));

/** The signal handlers of the clusters this process started, by folder. */
const teardowns = new Map<string, () => void>();

export async function up(opts: UpOptions = {}): Promise<Cluster> {
  const l = layout();
  const inventory = loadInventory(opts.inventory ?? DEFAULT_INVENTORY);
  const manifests = resolve(opts.manifests ?? join(REPO_ROOT, 'dist'));
  const withKeda = opts.keda ?? holdsScaledObject(manifests);
  for (const c of Object.values(COMPONENTS)) {
    // kubeadm is for test/provision/kubeadm-validate, containerd, runc and the CNI plugins for
    // provisioning's air-gapped artifacts, kube-proxy for the real kubelet node (kubelet-node.ts);
    // the local control plane runs without them.
    const unused =
      (
        [
          COMPONENTS.kubeadm,
          COMPONENTS.containerd,
          COMPONENTS.runc,
          COMPONENTS.cniPlugins,
          COMPONENTS.kubeProxy,
        ] as GoComponent[]
      ).includes(c) ||
      (c === COMPONENTS.keda && !withKeda);
    const problem = unused ? undefined : verify(c);
    if (problem) throw new Error(problem);
  }
  if (recorded(l).some((p) => alive(p.pid)) || podNamespaces(l).length)
    throw new Error(`a cluster from ${l.dir} is still running: run npm run cluster:down first`);
  for (const [component, port] of [
    ['etcd', l.ports.etcdClient],
    ['etcd', l.ports.etcdPeer],
    ['kube-apiserver', l.ports.apiserver],
    ['kube-controller-manager', l.ports.controllerManager],
    ['kube-scheduler', l.ports.scheduler],
    ['kwok', l.ports.kwok],
  ] as const)
    await assertPortFree(component, '127.0.0.1', port);

  const net = { podCidr: inventory.cluster.podCidr, serviceCidr: inventory.cluster.serviceCidr };
  const pods = podAddressing(net.podCidr);
  await freshFolder(l);
  try {
    const pki = await startControlPlane(l, net, {
      beforeEtcd: () => createBridge(l, pods.gateway, pods.prefix),
      controllerManager: opts.controllerManager,
    });
    for (const h of inventory.hosts) registerNode(l, nodeFor(h, inventory));
    await startKwok(l, pki, pods.kwokCidr, AGENT_IMAGES);
    await startAgent(l, net.podCidr, opts.agent);
    applyCrds(l);
    if (withKeda) applyKeda(l);
    if (opts.apply !== false) {
      applyManifests(l, manifests);
      applyMonitoringStack(l, { namespace: MONITORING_NAMESPACE, ...opts.prometheus });
    }
  } catch (e) {
    await down(l);
    throw e;
  }
  return { layout: l, inventory };
}

/**
 * The control plane alone (etcd, API server, controller manager, scheduler), with no emulated
 * node, kwok or node agent: for a real kubelet (cluster/kubelet-node.ts), which must be the only
 * one playing the kubelet for its node. Stopped by down(), also on a signal.
 */
export async function upControlPlane(inventoryFile = DEFAULT_INVENTORY): Promise<Cluster & { pki: Pki }> {
  const l = layout();
  const inventory = loadInventory(inventoryFile);
  for (const c of [COMPONENTS.etcd, COMPONENTS.kubernetes]) {
    const problem = verify(c);
    if (problem) throw new Error(problem);
  }
  if (recorded(l).some((p) => alive(p.pid)))
    throw new Error(`a cluster from ${l.dir} is still running: run npm run cluster:down first`);
  for (const [component, port] of [
    ['etcd', l.ports.etcdClient],
    ['kube-apiserver', l.ports.apiserver],
  ] as const)
    await assertPortFree(component, '127.0.0.1', port);
  const net = { podCidr: inventory.cluster.podCidr, serviceCidr: inventory.cluster.serviceCidr };
  await freshFolder(l);
  try {
    // The API server verifies the real kubelet's serving certificate (signed from its CSR).
    const pki = await startControlPlane(l, net, { verifyKubelets: true });
    return { layout: l, inventory, pki };
  } catch (e) {
    await down(l);
    throw e;
  }
}

/**
 * Empties the cluster folder and stops this cluster on a signal until down() (cluster:up's own CLI
 * exits normally and leaves it running). A kubelet node left by a crashed run is stopped first,
 * while its record of the host state is still there.
 */
async function freshFolder(l: Layout): Promise<void> {
  await stopKubeletNode(l);
  rmSync(l.dir, { recursive: true, force: true });
  mkdirSync(join(l.dir, 'bin'), { recursive: true });
  teardowns.get(l.dir)?.();
  teardowns.set(
    l.dir,
    stopOnSignal(() => down(l)),
  );
}

/** Certificates, kubeconfigs, then etcd, the API server, the controller manager and the scheduler. */
async function startControlPlane(
  l: Layout,
  net: { podCidr: string; serviceCidr: string },
  opts: {
    beforeEtcd?: () => void;
    controllerManager?: UpOptions['controllerManager'];
    verifyKubelets?: boolean;
  },
): Promise<Pki> {
  const pki = ensurePki(l.pki, {
    apiServerIps: ['127.0.0.1', l.hostIp, firstServiceIp(net.serviceCidr)],
    clients: CLIENTS,
  });
  writeKubeconfigs(l, pki);
  symlinkSync(kubectlBinary(), l.kubectlLink);
  opts.beforeEtcd?.();
  await startEtcd(l);
  await startApiServer(l, pki, net, { verifyKubelets: opts.verifyKubelets });
  await startControllerManager(l, pki, net, opts.controllerManager);
  await startScheduler(l, pki);
  return pki;
}

function registerNode(l: Layout, node: ReturnType<typeof nodeFor>): void {
  const { status, ...object } = node;
  kubectl(l, ['apply', '--server-side', '--field-manager=cluster-up', '-f', '-'], JSON.stringify(object));
  kubectl(l, [
    'patch',
    'node',
    node.metadata.name,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status }),
  ]);
}

function firstServiceIp(cidr: string): string {
  const [a, b, c, d] = cidr.split('/')[0]!.split('.').map(Number) as [number, number, number, number];
  return `${a}.${b}.${c}.${d + 1}`;
}

/** Stops every process cluster:up started and removes the pod networks; says what it stopped. */
export async function down(l: Layout = layout()): Promise<string[]> {
  teardowns.get(l.dir)?.();
  teardowns.delete(l.dir);
  // A real kubelet node first: its containers and mounts go before the API server does.
  const node = (await stopKubeletNode(l)) ? ['kubelet node (containerd, kubelet, containers)'] : [];
  const stopped = await stopAll(l);
  const removed = deleteNetwork(l);
  return [...node, ...stopped, ...removed];
}

export function status(l: Layout = layout()): string {
  if (!existsSync(l.dir)) return `no cluster: ${l.dir} does not exist (npm run cluster:up starts one)`;
  const procs = recorded(l);
  const lines = procs.map(
    (p) =>
      `${alive(p.pid) ? 'running' : 'exited '}  ${p.name} (pid ${p.pid}, log ${join(l.logs, `${p.name}.log`)})`,
  );
  const nets = podNamespaces(l);
  lines.push(`pod network namespaces: ${nets.length ? nets.join(' ') : 'none'}`);
  return lines.join('\n');
}
