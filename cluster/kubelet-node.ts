/**
 * A real node for the local control plane: containerd (CRI, runc, the CNI bridge plugins) and a
 * real kubelet, all built from the pinned modules (cluster/components.ts), running containers from
 * OCI images on this machine. Everything it writes lives under `<cluster dir>/kn/` (short: unix
 * socket paths are limited to 108 bytes); what it changes elsewhere is recorded first and put back
 * by stopKubeletNode (cluster/host-state.ts).
 *
 * Differences from a provisioned node, each because this machine has no systemd as PID 1, no GPU
 * and no registry: the cgroupfs driver on cgroup v1 (`failCgroupV1: false`), no swap check, no
 * eviction or image GC thresholds (a busy shared machine must not evict the pod under test), the
 * `nvidia` runtime handler is plain runc (a STAND-IN for nvidia-container-runtime, which would
 * add the GPU devices), and `nvidia.com/gpu` is advertised by patching the node's status as
 * Kubernetes' "Advertise Extended Resources for a Node" task does, since no device plugin can run.
 *
 * As on a provisioned node, kube-proxy runs beside it (cluster/kube-proxy.ts) and the kubelet asks
 * for its serving certificate through a kubernetes.io/kubelet-serving CSR (`serverTLSBootstrap`):
 * until a CSR is approved and signed, its port 10250 has no certificate to serve.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { GPU_RESOURCE } from '../constructs/gpu-inference-service.ts';
import { gpuRegistration } from '../provision/src/roles/gpu-node.ts';
import { binary, binDir } from './build.ts';
import { COMPONENTS } from './components.ts';
import { forward } from './forward.ts';
import {
  cgroupProcs,
  cgroupsNamed,
  containerLogLinks,
  hostDiff,
  mountsUnder,
  processesWith,
  recordHost,
  removeCgroupTree,
  removeContainerLogLinks,
  restoreHost,
  unmountAll,
  type HostState,
} from './host-state.ts';
import { startKubeProxy } from './kube-proxy.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { kubectl, kubectlJson } from './kubectl.ts';
import type { Layout } from './layout.ts';
import { ensurePauseImage } from './pause-image.ts';
import { ensureClientCert, type Pki } from './pki.ts';
import { alive, sleep, start, waitFor, type Started } from './processes.ts';

/**
 * The node's own network: a bridge and subnet apart from the agent's (cgi0, the inventory's pod
 * CIDR and 10.255.0.1) and from the service CIDR. The bridge's address is the node's InternalIP,
 * the kubelet's only listening address (the agent serves 10250 on the emulated nodes' IPs).
 */
export const KUBELET_NODE = {
  name: 'kubelet-1',
  bridge: 'cgk0',
  subnet: '10.254.0.0/24',
  nodeIp: '10.254.0.1',
  cniNetwork: 'cgi-kubelet',
} as const;

const hostStateFile = (l: Layout) => join(l.dir, 'kubelet-node-host.json');

export interface KubeletNodePaths {
  readonly dir: string;
  readonly containerdRoot: string;
  readonly containerdState: string;
  readonly socket: string;
  readonly kubeletRoot: string;
  readonly podLogs: string;
  readonly cniConf: string;
  readonly cniData: string;
  /** The kubelet's --cert-dir: the serving certificates its CSRs obtained (kubelet-server-*.pem). */
  readonly kubeletPki: string;
}

export function kubeletNodePaths(l: Layout): KubeletNodePaths {
  const dir = join(l.dir, 'kn');
  return {
    dir,
    containerdRoot: join(dir, 'containerd'),
    containerdState: join(dir, 'run'),
    socket: join(dir, 'run', 'containerd.sock'),
    kubeletRoot: join(dir, 'kubelet'),
    podLogs: join(dir, 'pod-logs'),
    cniConf: join(dir, 'cni', 'net.d'),
    cniData: join(dir, 'cni', 'data'),
    kubeletPki: join(dir, 'kubelet', 'pki'),
  };
}

const ctd = (name: string) => binary(COMPONENTS.containerd, name);
const runc = () => binary(COMPONENTS.runc, 'runc');

/** `ctr` against this node's containerd, in the CRI's namespace. */
export function ctr(p: KubeletNodePaths, args: readonly string[]): string {
  return execFileSync(ctd('ctr'), ['--address', p.socket, '--namespace', 'k8s.io', ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function containerdConfig(p: KubeletNodePaths, sandboxImage: string): string {
  const runcRuntime = {
    runtime_type: 'io.containerd.runc.v2',
    // cgroupfs: no systemd is PID 1 here to own the cgroups (kubelet's cgroupDriver matches).
    // Root: runc's state beside containerd's, not /run/containerd/runc.
    options: { BinaryName: runc(), SystemdCgroup: false, Root: join(p.containerdState, 'runc') },
  };
  const config = {
    version: 3,
    root: p.containerdRoot,
    state: p.containerdState,
    // Nothing of /etc/containerd is read: this containerd is the node's alone.
    imports: [],
    grpc: { address: p.socket },
    ttrpc: { address: `${p.socket}.ttrpc` },
    // NRI would listen on /var/run/nri; nothing here uses it.
    disabled_plugins: ['io.containerd.nri.v1.nri'],
    plugins: {
      'io.containerd.internal.v1.opt': { path: join(p.dir, 'opt') },
      // The shims' sockets, /run/containerd/s by default.
      'io.containerd.shim.v1.manager': { socket_dir: join(p.containerdState, 's') },
      'io.containerd.cri.v1.images': {
        snapshotter: 'overlayfs',
        pinned_images: { sandbox: sandboxImage },
      },
      'io.containerd.cri.v1.runtime': {
        // Pod network namespaces under the state folder, not /var/run/netns.
        netns_mounts_under_state_dir: true,
        // This machine refuses to lower an oom_score_adj below the parent's (kubelet asks -998 for
        // the sandbox): containerd raises what is asked to its own, as it does for rootless nodes.
        restrict_oom_score_adj: true,
        containerd: {
          default_runtime_name: 'runc',
          // The `nvidia` handler of dist/'s RuntimeClass: STAND-IN, plain runc (no GPU here).
          runtimes: { runc: runcRuntime, nvidia: runcRuntime },
        },
        cni: { bin_dirs: [binDir(COMPONENTS.cniPlugins)], conf_dir: p.cniConf, max_conf_num: 1 },
      },
      'io.containerd.grpc.v1.cri': { stream_server_address: '127.0.0.1', stream_server_port: '0' },
    },
  };
  return tomlOf(config);
}

/** TOML for the nested tables above (strings, numbers, booleans, arrays of strings). */
function tomlOf(obj: Record<string, unknown>, path: string[] = []): string {
  const scalar = (v: unknown): string =>
    Array.isArray(v)
      ? `[${v.map(scalar).join(', ')}]`
      : typeof v === 'string'
        ? JSON.stringify(v)
        : String(v);
  const key = (k: string) => (/^[A-Za-z0-9_-]+$/.test(k) ? k : JSON.stringify(k));
  const lines: string[] = [];
  const tables: [string, Record<string, unknown>][] = [];
  for (const [k, v] of Object.entries(obj)) {
    if (v && typeof v === 'object' && !Array.isArray(v)) tables.push([k, v as Record<string, unknown>]);
    else lines.push(`${key(k)} = ${scalar(v)}`);
  }
  let out = (path.length ? `\n[${path.map(key).join('.')}]\n` : '') + lines.map((l) => `${l}\n`).join('');
  for (const [k, v] of tables) out += tomlOf(v, [...path, k]);
  return out;
}

/** The CNI network: bridge, host-local, loopback and portmap, as a kubeadm guide's bridge config. */
function cniConfig(p: KubeletNodePaths, serviceCidr: string): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: KUBELET_NODE.cniNetwork,
      plugins: [
        {
          type: 'bridge',
          bridge: KUBELET_NODE.bridge,
          isGateway: true,
          // No masquerade and no default route: pods reach the host, each other and the Services
          // (kube-proxy's DNAT on the host), nothing beyond this machine.
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: KUBELET_NODE.subnet, gateway: KUBELET_NODE.nodeIp }]],
            routes: [{ dst: serviceCidr }],
            dataDir: p.cniData,
          },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

/** kubeadm's KubeletConfiguration (cmd/kubeadm/app/componentconfigs/kubelet.go) with this machine's differences. */
function kubeletConfig(pki: Pki, p: KubeletNodePaths, taints: readonly object[]): string {
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: KUBELET_NODE.nodeIp,
    port: 10250,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    healthzPort: 10248,
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true, cacheTTL: '0s' },
      x509: { clientCAFile: pki.ca },
    },
    authorization: { mode: 'Webhook' },
    cgroupDriver: 'cgroupfs',
    // kubelet 1.35+ refuses cgroup v1 unless told; this machine mounts v1 hierarchies.
    failCgroupV1: false,
    failSwapOn: false,
    clusterDomain: 'cluster.local',
    containerRuntimeEndpoint: `unix://${p.socket}`,
    podLogsDir: p.podLogs,
    // The client certificate comes from pki.ts and is not rotated (no bootstrap kubeconfig); the
    // serving certificate is requested from the certificates API, as provisioning configures it
    // (provision/src/roles/control-plane.ts), and approved by dist/'s KubeletCsrApprover.
    rotateCertificates: false,
    serverTLSBootstrap: true,
    staticPodPath: '',
    // Nothing may be evicted or garbage collected for the machine's own load: 0% turns a threshold off.
    evictionHard: {
      'memory.available': '0%',
      'nodefs.available': '0%',
      'nodefs.inodesFree': '0%',
      'imagefs.available': '0%',
      'imagefs.inodesFree': '0%',
    },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    registerWithTaints: taints,
    // A stopped test must not wait minutes for a node lease.
    nodeStatusUpdateFrequency: '10s',
    shutdownGracePeriod: '0s',
  });
}

export interface KubeletNode {
  readonly name: string;
  readonly paths: KubeletNodePaths;
  readonly host: HostState;
  readonly containerd: Started;
  readonly kubelet: Started;
  readonly kubeProxy: Started;
  /** The pause image's name, and its build time (0 when cached). */
  readonly pause: { name: string; seconds: number };
}

function createBridge(): void {
  const ip = (args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  try {
    ip(['link', 'show', KUBELET_NODE.bridge]);
    throw new Error(`network device ${KUBELET_NODE.bridge} already exists: run npm run cluster:down first`);
  } catch (e) {
    if ((e as Error).message.includes('already exists')) throw e;
  }
  // Made here (the CNI bridge plugin reuses it) so that kubelet can bind its address before any pod.
  ip(['link', 'add', KUBELET_NODE.bridge, 'type', 'bridge']);
  ip([
    'addr',
    'add',
    `${KUBELET_NODE.nodeIp}/${KUBELET_NODE.subnet.split('/')[1]}`,
    'dev',
    KUBELET_NODE.bridge,
  ]);
  ip(['link', 'set', KUBELET_NODE.bridge, 'up']);
}

/** Imports an OCI archive into the CRI's namespace; the name is the archive's ref.name. */
export function importImage(p: KubeletNodePaths, archive: string, name: string): void {
  ctr(p, ['images', 'import', '--platform', 'linux/amd64', archive]);
  const names = ctr(p, ['images', 'ls', '-q']).split('\n');
  if (!names.includes(name))
    throw new Error(`containerd: ${archive} imported, but no image ${name} (has: ${names.join(', ')})`);
}

export interface KubeletNodeOptions {
  /** OCI archives to import, by the name the pods use. @default none but the pause image */
  readonly images?: Readonly<Record<string, string>>;
  /** `nvidia.com/gpu` capacity advertised on the node's status. @default 1 */
  readonly gpus?: number;
  /**
   * The cluster's Service CIDR (the API server's --service-cluster-ip-range): the pods' route to it
   * goes through the node, where kube-proxy translates it.
   * @default '10.96.0.0/12' (kubeadm's serviceSubnet, cluster/inventory.yaml's)
   */
  readonly serviceCidr?: string;
}

/**
 * Starts containerd and kubelet as a GPU node (provisioning's label and taint), waits until the
 * node is Ready, then advertises its GPUs. Needs the control plane's PKI and API server running.
 */
export async function startKubeletNode(
  l: Layout,
  pki: Pki,
  o: KubeletNodeOptions = {},
): Promise<KubeletNode> {
  const p = kubeletNodePaths(l);
  if (existsSync(p.dir)) throw new Error(`${p.dir} exists: a kubelet node is still there (stopKubeletNode)`);
  const host = recordHost();
  // Beside the node's folder, which teardown removes: cluster:down finds it there (cluster.ts).
  writeFileSync(hostStateFile(l), JSON.stringify(host));
  const pause = ensurePauseImage();
  for (const d of [p.containerdRoot, p.containerdState, p.kubeletRoot, p.podLogs, p.cniConf, p.cniData])
    mkdirSync(d, { recursive: true });
  createBridge();
  await forwardApiServer(l);
  writeFileSync(join(p.cniConf, '10-cgi-kubelet.conflist'), cniConfig(p, o.serviceCidr ?? '10.96.0.0/12'));
  writeFileSync(join(p.dir, 'containerd.toml'), containerdConfig(p, pause.name));
  const containerd = start(l, 'containerd', ctd('containerd'), ['--config', join(p.dir, 'containerd.toml')], {
    // The shim and runc find each other through PATH (the shim runs BinaryName, ctr the shim).
    env: {
      ...process.env,
      PATH: `${binDir(COMPONENTS.containerd)}:${binDir(COMPONENTS.runc)}:${process.env.PATH}`,
    },
  });
  await waitFor(containerd, 'serving its socket', async () => {
    ctr(p, ['version']);
    return true;
  });
  importImage(p, pause.archive, pause.name);
  for (const [name, archive] of Object.entries(o.images ?? {})) importImage(p, archive, name);

  const name = KUBELET_NODE.name;
  const reg = gpuRegistration(true, false) as {
    taints: object[];
    kubeletExtraArgs: { name: string; value: string }[];
  };
  ensureClientCert(pki.dir, `kubelet-${name}`, `/O=system:nodes/CN=system:node:${name}`);
  const kubeconfig = join(p.dir, 'kubelet.kubeconfig');
  writeKubeconfig(kubeconfig, pki, l.ports.apiserver, `kubelet-${name}`);
  writeFileSync(join(p.dir, 'kubelet.yaml'), kubeletConfig(pki, p, reg.taints));
  writeFileSync(
    kubeletArgsFile(p),
    JSON.stringify([
      `--config=${join(p.dir, 'kubelet.yaml')}`,
      `--kubeconfig=${kubeconfig}`,
      `--root-dir=${p.kubeletRoot}`,
      // Its serving certificates; /var/lib/kubelet/pki whatever --root-dir says.
      `--cert-dir=${p.kubeletPki}`,
      `--hostname-override=${name}`,
      `--node-ip=${KUBELET_NODE.nodeIp}`,
      ...reg.kubeletExtraArgs.map((a) => `--${a.name}=${a.value}`),
    ]),
  );
  const kubelet = startKubelet(l, p);
  await waitFor(
    kubelet,
    `node ${name} Ready`,
    async () => {
      const node = kubectlJson<{ status: { conditions?: { type: string; status: string }[] } }>(l, [
        'get',
        'node',
        name,
      ]);
      return node.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
    },
    120_000,
  );
  // "Advertise Extended Resources for a Node": a JSON patch on the status' capacity; the kubelet
  // copies it to allocatable.
  kubectl(l, [
    'patch',
    'node',
    name,
    '--subresource=status',
    '--type=json',
    '-p',
    JSON.stringify([
      { op: 'add', path: `/status/capacity/${GPU_RESOURCE.replace('/', '~1')}`, value: String(o.gpus ?? 1) },
    ]),
  ]);
  const kubeProxy = await startKubeProxy(l, pki, {
    nodeName: name,
    nodeIp: KUBELET_NODE.nodeIp,
    clusterCidr: KUBELET_NODE.subnet,
    dir: p.dir,
  });
  return {
    name,
    paths: p,
    host,
    containerd,
    kubelet,
    kubeProxy,
    pause: { name: pause.name, seconds: pause.seconds },
  };
}

const kubeletArgsFile = (p: KubeletNodePaths) => join(p.dir, 'kubelet.args.json');

function startKubelet(l: Layout, p: KubeletNodePaths): Started {
  const args = JSON.parse(readFileSync(kubeletArgsFile(p), 'utf8')) as string[];
  return start(l, 'kubelet', binary(COMPONENTS.kubelet, 'kubelet'), args);
}

/** The serving certificates the kubelet holds (kubelet-server-<date>.pem and the -current link). */
export function servingCertFiles(p: KubeletNodePaths): string[] {
  return existsSync(p.kubeletPki)
    ? readdirSync(p.kubeletPki).filter((f) => f.startsWith('kubelet-server-'))
    : [];
}

/**
 * Stops the kubelet (its containers keep running under containerd, as on a kubelet restart),
 * removes its serving certificates when asked, so that it must request a new one through a CSR,
 * and starts it again with the same arguments; returns the new process.
 */
export async function restartKubelet(l: Layout, o: { dropServingCert: boolean }): Promise<Started> {
  const p = kubeletNodePaths(l);
  const pidFile = join(l.pids, 'kubelet.pid');
  if (existsSync(pidFile)) await stopProcess(Number(readFileSync(pidFile, 'utf8').trim()), 10_000);
  if (o.dropServingCert) for (const f of servingCertFiles(p)) rmSync(join(p.kubeletPki, f), { force: true });
  return startKubelet(l, p);
}

/**
 * The `kubernetes` Service's endpoint is the API server's advertise address (the layout's hostIp);
 * the API server listens on loopback only, so that address is put on the node's bridge and
 * forwarded to it, as the node agent does for its pods (cluster/forward.ts). kube-proxy's DNAT
 * from the ClusterIP lands here.
 */
let apiForward: Server | undefined;
async function forwardApiServer(l: Layout): Promise<void> {
  execFileSync('ip', ['addr', 'add', `${l.hostIp}/32`, 'dev', KUBELET_NODE.bridge], { stdio: 'ignore' });
  apiForward = await forward({
    listenHost: l.hostIp,
    listenPort: l.ports.apiserver,
    targetHost: '127.0.0.1',
    targetPort: l.ports.apiserver,
  });
}

async function stopProcess(pid: number, graceMs: number): Promise<void> {
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-pid, s);
    } catch {
      try {
        process.kill(pid, s);
      } catch {
        /* gone */
      }
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(100);
  if (alive(pid)) signal('SIGKILL');
  while (alive(pid)) await sleep(50);
}

/**
 * Stops the node and puts the machine back: kubelet first (so it restarts nothing), then every
 * container through containerd, containerd, any shim left, the mounts under the node's folder, the
 * cgroups kubelet made, the bridge, the CNI and kubelet traces, the sysctls and iptables rules.
 * Its pid files go, so the control plane's stopAll does not signal them again.
 */
export async function stopKubeletNode(l: Layout): Promise<HostState | undefined> {
  if (!existsSync(hostStateFile(l))) return undefined;
  const host = JSON.parse(readFileSync(hostStateFile(l), 'utf8')) as HostState;
  const p = kubeletNodePaths(l);
  const pidFile = (n: string) => join(l.pids, `${n}.pid`);
  const pidOf = (n: string) =>
    existsSync(pidFile(n)) ? Number(execFileSync('cat', [pidFile(n)], { encoding: 'utf8' })) : 0;
  const proxyPid = pidOf('kube-proxy');
  if (proxyPid) await stopProcess(proxyPid, 10_000);
  rmSync(pidFile('kube-proxy'), { force: true });
  apiForward?.close();
  apiForward = undefined;
  const kubeletPid = pidOf('kubelet');
  if (kubeletPid) await stopProcess(kubeletPid, 10_000);
  rmSync(pidFile('kubelet'), { force: true });
  const containerdPid = pidOf('containerd');
  if (containerdPid && alive(containerdPid)) {
    try {
      for (const id of ctr(p, ['tasks', 'ls', '-q']).split('\n').filter(Boolean)) {
        try {
          ctr(p, ['tasks', 'kill', '--signal', 'SIGKILL', id]);
        } catch {
          /* already stopped */
        }
      }
      await sleep(500);
      for (const id of ctr(p, ['tasks', 'ls', '-q']).split('\n').filter(Boolean))
        ctr(p, ['tasks', 'delete', '--force', id]);
      for (const id of ctr(p, ['containers', 'ls', '-q']).split('\n').filter(Boolean))
        ctr(p, ['containers', 'delete', id]);
    } catch {
      /* containerd not answering: its shims are killed below */
    }
    await stopProcess(containerdPid, 10_000);
  }
  rmSync(pidFile('containerd'), { force: true });
  // Shims outlive containerd by design (containers survive its restarts): each names our socket.
  for (const s of processesWith(p.socket)) await stopProcess(s.pid, 2_000);
  for (const s of processesWith(p.dir)) await stopProcess(s.pid, 2_000);
  // A container whose shim was killed has no parent left that would stop it.
  for (const cg of cgroupsNamed('kubepods')) for (const pid of cgroupProcs(cg)) await stopProcess(pid, 2_000);
  unmountAll(p.dir);
  for (const cg of cgroupsNamed('kubepods')) removeCgroupTree(cg);
  try {
    execFileSync('ip', ['link', 'delete', KUBELET_NODE.bridge], { stdio: 'ignore' });
  } catch {
    /* not there */
  }
  removeContainerLogLinks(p.podLogs);
  restoreHost(host);
  rmSync(p.dir, { recursive: true, force: true });
  rmSync(hostStateFile(l), { force: true });
  return host;
}

/** What the node left on this machine; empty when teardown was complete. */
export function kubeletNodeLeftovers(l: Layout, host: HostState): string[] {
  const p = kubeletNodePaths(l);
  const out: string[] = [];
  for (const proc of [...processesWith(p.socket), ...processesWith(p.dir)])
    out.push(`process ${proc.pid}: ${proc.cmdline.slice(0, 200)}`);
  for (const cg of cgroupsNamed('kubepods'))
    for (const pid of cgroupProcs(cg)) out.push(`process ${pid} in ${cg}`);
  for (const m of mountsUnder(p.dir)) out.push(`mount ${m}`);
  for (const cg of cgroupsNamed('kubepods')) out.push(`cgroup ${cg}`);
  try {
    execFileSync('ip', ['link', 'show', KUBELET_NODE.bridge], { stdio: 'ignore' });
    out.push(`link ${KUBELET_NODE.bridge}`);
  } catch {
    /* gone, as it should be */
  }
  for (const f of containerLogLinks(p.podLogs)) out.push(`symlink ${f}`);
  out.push(...hostDiff(host));
  if (existsSync(p.dir)) out.push(`folder ${p.dir}: ${readdirSync(p.dir).join(', ')}`);
  return [...new Set(out)];
}
