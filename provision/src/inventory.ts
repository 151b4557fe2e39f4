import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { mirrorOk, noProxyEntryOk, proxyProblem } from './net.ts';
import { DEFAULT_APT_LOCK_TIMEOUT } from './ops/apt.ts';
import {
  CNI_PLUGINS_VERSION,
  CONTAINERD_VERSION,
  KUBERNETES_MINOR,
  LAST_MINOR_WITH_CONTAINERD_1,
  RUNC_VERSION,
} from './versions.ts';

export type NodeRole = 'control-plane' | 'worker';

export interface HostSpec {
  name: string;
  address: string;
  /** "local" runs on this machine (the address is still what other nodes use). @default "ssh" */
  connection: 'ssh' | 'local';
  role: NodeRole;
  /** "auto": decided by the host's PCI vendor ids (NVIDIA = 10de). */
  gpu: boolean | 'auto';
  ssh: { user: string; port: number; key?: string };
  become: boolean;
  proxy?: string;
  /** SSH jump host (ProxyJump) this host is reached through: its own, else the cluster's. */
  bastion?: Bastion;
}

/** A jump host: SSH to it, then a forwarded connection from it to the host's address and port. */
export interface Bastion {
  address: string;
  port: number;
  user: string;
  key?: string;
}

export interface ClusterSpec {
  kubernetesVersion: string;
  podCidr: string;
  serviceCidr: string;
  cni: 'calico' | 'none';
  /** "auto": per Debian release, the driver that fits the server image (versions.ts defaultDriverSource). */
  nvidiaDriver: 'auto' | 'debian' | 'cuda' | 'none';
  containerd: {
    source: 'release' | 'debian';
    version: string;
    runcVersion: string;
    cniPluginsVersion: string;
  };
  gpuTimeSlicingReplicas: number;
  proxy?: string;
  noProxy: string[];
  artifactsDir?: string;
  aptMirror: string;
  allowReboot: boolean;
  /** OpenSSH known_hosts file every SSH host's key is checked against. */
  knownHosts: string;
  /** Seconds apt/dpkg wait for a lock another process holds (Ansible apt lock_timeout). @default 60 */
  aptLockTimeout: number;
  /** Jump host for every SSH host that sets none of its own. */
  bastion?: Bastion;
}

export interface Inventory {
  cluster: ClusterSpec;
  hosts: HostSpec[];
}

export class InventoryError extends Error {
  constructor(public readonly problems: string[]) {
    super(`invalid inventory (no host was contacted):\n  - ${problems.join('\n  - ')}`);
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown): string => (v === undefined ? '(missing)' : JSON.stringify(v));

const CLUSTER_KEYS = [
  'kubernetesVersion',
  'podCidr',
  'serviceCidr',
  'cni',
  'nvidiaDriver',
  'containerd',
  'gpuTimeSlicingReplicas',
  'proxy',
  'noProxy',
  'artifactsDir',
  'aptMirror',
  'allowReboot',
  'knownHosts',
  'aptLockTimeout',
  'bastion',
];
const HOST_KEYS = ['address', 'connection', 'role', 'gpu', 'ssh', 'become', 'proxy', 'bastion'];
const BASTION_KEYS = ['address', 'port', 'user', 'key'];
const ADDRESS = /^[A-Za-z0-9.:-]+$/;

/** A `bastion` mapping; problems are reported through `bad`, undefined returned when it has any. */
function parseBastion(
  where: string,
  b: unknown,
  baseDir: string,
  bad: (where: string, field: string, value: unknown, allowed: string) => void,
): Bastion | undefined {
  if (!isObj(b)) {
    bad(where, 'bastion', b, `a mapping with ${BASTION_KEYS.join(', ')} (address required)`);
    return undefined;
  }
  let okay = true;
  const fail = (field: string, value: unknown, allowed: string): void => {
    okay = false;
    bad(where, `bastion.${field}`, value, allowed);
  };
  for (const k of Object.keys(b))
    if (!BASTION_KEYS.includes(k)) fail(k, b[k], `one of ${BASTION_KEYS.join(', ')}`);
  if (typeof b.address !== 'string' || !ADDRESS.test(b.address))
    fail('address', b.address, 'an IP address or DNS name of the jump host');
  const port = b.port ?? 22;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)
    fail('port', port, 'an integer 1-65535');
  const user = b.user ?? 'root';
  if (typeof user !== 'string' || !/^[a-z_][a-z0-9_-]*$/.test(user)) fail('user', user, 'a POSIX user name');
  if (b.key !== undefined && (typeof b.key !== 'string' || b.key === ''))
    fail('key', b.key, "a private key file path (omit it to use the host's ssh.key, or the SSH agent)");
  if (!okay) return undefined;
  return {
    address: b.address as string,
    port: port as number,
    user: user as string,
    ...(typeof b.key === 'string' ? { key: localPath(b.key, baseDir) } : {}),
  };
}

function cidr(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(v);
  return !!m && m.slice(1, 5).every((x) => Number(x) <= 255) && Number(m[5]) <= 32;
}
const PROXY_ALLOWED =
  'an http(s) URL of scheme, host and port only, like http://proxy.example:3128 (no user:password@, path, query or fragment)';

/** A path on this machine: `~/` is the user's home, relative paths are relative to the inventory file. */
const localPath = (p: string, baseDir: string): string =>
  isAbsolute(p) ? p : resolve(baseDir, p.replace(/^~(?=\/)/, process.env.HOME ?? homedir()));

/** Parse and validate; every problem is collected so one run shows them all. */
export function validateInventory(raw: unknown, baseDir = process.cwd()): Inventory {
  const problems: string[] = [];
  const bad = (where: string, field: string, value: unknown, allowed: string): void => {
    problems.push(`${where}: field "${field}" is ${show(value)}; allowed: ${allowed}`);
  };
  if (!isObj(raw))
    throw new InventoryError([
      `inventory: top level must be a mapping with "cluster" and "hosts"; got ${show(raw)}`,
    ]);
  for (const k of Object.keys(raw))
    if (k !== 'cluster' && k !== 'hosts') bad('inventory', k, raw[k], 'only "cluster" and "hosts"');
  const c = raw.cluster === undefined ? {} : raw.cluster;
  if (!isObj(c)) throw new InventoryError([`cluster: must be a mapping; got ${show(c)}`]);
  for (const k of Object.keys(c))
    if (!CLUSTER_KEYS.includes(k)) bad('cluster', k, c[k], `one of ${CLUSTER_KEYS.join(', ')}`);

  const kv = c.kubernetesVersion ?? KUBERNETES_MINOR;
  if (typeof kv !== 'string' || !/^1\.(2[89]|[3-9]\d)(\.\d+)?$/.test(kv))
    bad(
      'cluster',
      'kubernetesVersion',
      kv,
      'a string "1.MINOR" or "1.MINOR.PATCH" with MINOR >= 28 (pkgs.k8s.io has v1.28 and later; quote it in YAML)',
    );
  const podCidr = c.podCidr ?? '192.168.0.0/16';
  if (!cidr(podCidr)) bad('cluster', 'podCidr', podCidr, 'an IPv4 CIDR like 192.168.0.0/16');
  const serviceCidr = c.serviceCidr ?? '10.96.0.0/12';
  if (!cidr(serviceCidr)) bad('cluster', 'serviceCidr', serviceCidr, 'an IPv4 CIDR like 10.96.0.0/12');
  const cni = c.cni ?? 'calico';
  if (cni !== 'calico' && cni !== 'none') bad('cluster', 'cni', cni, '"calico" or "none"');
  const nvidiaDriver = c.nvidiaDriver ?? 'auto';
  if (!['auto', 'debian', 'cuda', 'none'].includes(nvidiaDriver as string))
    bad(
      'cluster',
      'nvidiaDriver',
      nvidiaDriver,
      '"auto" (per Debian release: NVIDIA CUDA repository on 11, Debian nvidia-driver on 12 and 13), "debian" (non-free nvidia-driver), "cuda" (NVIDIA CUDA repository cuda-drivers) or "none" (already installed)',
    );
  const ctd = c.containerd === undefined ? {} : c.containerd;
  let containerd: ClusterSpec['containerd'] = {
    source: 'release',
    version: CONTAINERD_VERSION,
    runcVersion: RUNC_VERSION,
    cniPluginsVersion: CNI_PLUGINS_VERSION,
  };
  if (!isObj(ctd))
    bad('cluster', 'containerd', ctd, 'a mapping with source, version, runcVersion, cniPluginsVersion');
  else {
    for (const k of Object.keys(ctd))
      if (!['source', 'version', 'runcVersion', 'cniPluginsVersion'].includes(k))
        bad('cluster.containerd', k, ctd[k], 'source, version, runcVersion, cniPluginsVersion');
    const source = ctd.source ?? 'release';
    if (source !== 'release' && source !== 'debian')
      bad(
        'cluster.containerd',
        'source',
        source,
        '"release" (containerd GitHub release tarball) or "debian" (the distribution package)',
      );
    const ver = (k: string, d: string): string => {
      const v = ctd[k] ?? d;
      if (typeof v !== 'string' || !/^\d+\.\d+\.\d+$/.test(v))
        bad('cluster.containerd', k, v, 'a version string "X.Y.Z" (quote it in YAML)');
      return String(v);
    };
    containerd = {
      source: source as 'release' | 'debian',
      version: ver('version', CONTAINERD_VERSION),
      runcVersion: ver('runcVersion', RUNC_VERSION),
      cniPluginsVersion: ver('cniPluginsVersion', CNI_PLUGINS_VERSION),
    };
    const minor = typeof kv === 'string' ? Number(kv.split('.')[1]) : NaN;
    if (source === 'debian' && minor > LAST_MINOR_WITH_CONTAINERD_1)
      bad(
        'cluster.containerd',
        'source',
        source,
        `"release": Kubernetes ${kv} needs containerd 2 and Debian 11-13 ship containerd 1.4-1.7 (the Debian package is only for kubernetesVersion 1.${LAST_MINOR_WITH_CONTAINERD_1} or older, on Debian 12/13: Debian 11's 1.4 lacks the CRI v1 API every Kubernetes >= 1.26 needs)`,
      );
    if (source === 'release' && /^1\./.test(containerd.version))
      bad(
        'cluster.containerd',
        'version',
        containerd.version,
        'a 2.x release (containerd 1.x support ends with Kubernetes 1.35)',
      );
  }
  const replicas = c.gpuTimeSlicingReplicas ?? 1;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 1 || replicas > 64)
    bad('cluster', 'gpuTimeSlicingReplicas', replicas, 'an integer from 1 (no sharing) to 64');
  const proxyWrong = c.proxy === undefined ? null : proxyProblem(c.proxy);
  if (proxyWrong) bad('cluster', 'proxy', c.proxy, `${PROXY_ALLOWED}: ${proxyWrong}`);
  const noProxy = c.noProxy ?? [];
  if (!Array.isArray(noProxy)) bad('cluster', 'noProxy', noProxy, 'a list of host names, domains or CIDRs');
  else
    noProxy.forEach((x, i) => {
      if (!noProxyEntryOk(x))
        bad(
          'cluster',
          `noProxy[${i}]`,
          x,
          'a host name, a domain (.example.com), an IPv4/IPv6 address or a CIDR (10.0.0.0/8)',
        );
    });
  let artifactsDir: string | undefined;
  if (c.artifactsDir !== undefined) {
    if (typeof c.artifactsDir !== 'string' || c.artifactsDir === '')
      bad('cluster', 'artifactsDir', c.artifactsDir, 'a local directory path (air-gapped mode)');
    else artifactsDir = isAbsolute(c.artifactsDir) ? c.artifactsDir : resolve(baseDir, c.artifactsDir);
  }
  const aptMirror = c.aptMirror ?? 'http://deb.debian.org/debian';
  if (!mirrorOk(aptMirror))
    bad(
      'cluster',
      'aptMirror',
      aptMirror,
      'an http(s) URL of a Debian mirror: scheme, host, optional port and a path of letters, digits and ._~%+/-',
    );
  let knownHosts = join(homedir(), '.ssh', 'known_hosts');
  if (c.knownHosts !== undefined) {
    if (typeof c.knownHosts !== 'string' || c.knownHosts === '')
      bad('cluster', 'knownHosts', c.knownHosts, 'an OpenSSH known_hosts file path');
    else knownHosts = localPath(c.knownHosts, baseDir);
  }
  const aptLockTimeout = c.aptLockTimeout ?? DEFAULT_APT_LOCK_TIMEOUT;
  if (
    typeof aptLockTimeout !== 'number' ||
    !Number.isInteger(aptLockTimeout) ||
    aptLockTimeout < 0 ||
    aptLockTimeout > 3600
  )
    bad(
      'cluster',
      'aptLockTimeout',
      aptLockTimeout,
      'an integer number of seconds from 0 (fail at once when another apt holds the lock) to 3600',
    );
  const bastion = c.bastion === undefined ? undefined : parseBastion('cluster', c.bastion, baseDir, bad);
  const allowReboot = c.allowReboot ?? false;
  if (typeof allowReboot !== 'boolean') bad('cluster', 'allowReboot', allowReboot, 'true or false');

  const hostsRaw = raw.hosts;
  const hosts: HostSpec[] = [];
  if (!isObj(hostsRaw) || Object.keys(hostsRaw).length === 0)
    bad('inventory', 'hosts', hostsRaw, 'a mapping of host name -> host settings, at least one host');
  else {
    const addresses = new Map<string, string>();
    for (const [name, h] of Object.entries(hostsRaw)) {
      const where = `host "${name}"`;
      if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(name))
        bad(
          where,
          '(name)',
          name,
          'a DNS label: lower-case letters, digits and "-" (it becomes the Kubernetes node name)',
        );
      if (!isObj(h)) {
        bad(where, '(settings)', h, `a mapping with ${HOST_KEYS.join(', ')}`);
        continue;
      }
      for (const k of Object.keys(h))
        if (!HOST_KEYS.includes(k)) bad(where, k, h[k], `one of ${HOST_KEYS.join(', ')}`);
      const address = h.address;
      if (typeof address !== 'string' || !ADDRESS.test(address))
        bad(where, 'address', address, 'an IP address or DNS name');
      else if (addresses.has(address))
        bad(
          where,
          'address',
          address,
          `an address no other host uses (host "${addresses.get(address)}" has it)`,
        );
      else addresses.set(address, name);
      const connection = h.connection ?? 'ssh';
      if (connection !== 'ssh' && connection !== 'local')
        bad(where, 'connection', connection, '"ssh" or "local"');
      const role = h.role;
      if (role !== 'control-plane' && role !== 'worker')
        bad(where, 'role', role, '"control-plane" or "worker"');
      const gpu = h.gpu ?? 'auto';
      if (gpu !== true && gpu !== false && gpu !== 'auto') bad(where, 'gpu', gpu, 'true, false or "auto"');
      const ssh = h.ssh ?? {};
      let sshOut: HostSpec['ssh'] = { user: 'root', port: 22 };
      if (!isObj(ssh))
        bad(where, 'ssh', ssh, 'a mapping with user, port, key (omit key to use the SSH agent)');
      else {
        for (const k of Object.keys(ssh))
          if (!['user', 'port', 'key', 'agent'].includes(k))
            bad(`${where} ssh`, k, ssh[k], 'user, port, key, agent');
        const user = ssh.user ?? 'root';
        if (typeof user !== 'string' || !/^[a-z_][a-z0-9_-]*$/.test(user))
          bad(where, 'ssh.user', user, 'a POSIX user name');
        const port = ssh.port ?? 22;
        if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535)
          bad(where, 'ssh.port', port, 'an integer 1-65535');
        if (ssh.key !== undefined && typeof ssh.key !== 'string')
          bad(where, 'ssh.key', ssh.key, 'a private key file path');
        if (ssh.agent !== undefined && typeof ssh.agent !== 'boolean')
          bad(where, 'ssh.agent', ssh.agent, 'true or false');
        if (ssh.key !== undefined && ssh.agent === true)
          bad(where, 'ssh.agent', ssh.agent, 'false (or omitted) when ssh.key is set');
        const key = typeof ssh.key === 'string' ? localPath(ssh.key, baseDir) : undefined;
        sshOut = { user: String(user), port: Number(port), ...(key ? { key } : {}) };
      }
      const become = h.become ?? true;
      if (typeof become !== 'boolean')
        bad(where, 'become', become, 'true (sudo -n for a non-root user) or false');
      // `bastion: false` reaches this host directly although the cluster has a bastion.
      let hostBastion = connection === 'local' || h.bastion === false ? undefined : bastion;
      if (h.bastion !== undefined && h.bastion !== false) {
        if (connection === 'local')
          bad(where, 'bastion', h.bastion, 'omitted (or false) for connection "local"');
        else hostBastion = parseBastion(where, h.bastion, baseDir, bad);
      }
      const hostProxyWrong = h.proxy === undefined ? null : proxyProblem(h.proxy);
      if (hostProxyWrong) bad(where, 'proxy', h.proxy, `${PROXY_ALLOWED}: ${hostProxyWrong}`);
      const proxy = (h.proxy as string | undefined) ?? (c.proxy as string | undefined);
      hosts.push({
        name,
        address: String(address),
        connection: connection as 'ssh' | 'local',
        role: role as NodeRole,
        gpu: gpu as boolean | 'auto',
        ssh: sshOut,
        become: become as boolean,
        ...(proxy ? { proxy } : {}),
        ...(hostBastion ? { bastion: hostBastion } : {}),
      });
    }
    const cps = hosts.filter((x) => x.role === 'control-plane');
    if (cps.length > 1)
      problems.push(
        `hosts: ${cps.length} hosts have role "control-plane" (${cps.map((x) => x.name).join(', ')}); allowed: exactly one (stacked HA control planes are not supported yet)`,
      );
    if (cps.length === 0 && hosts.length > 0)
      problems.push('hosts: no host has role "control-plane"; allowed: exactly one');
  }
  if (problems.length) throw new InventoryError(problems);
  return {
    cluster: {
      kubernetesVersion: kv as string,
      podCidr: podCidr as string,
      serviceCidr: serviceCidr as string,
      cni: cni as 'calico' | 'none',
      nvidiaDriver: nvidiaDriver as ClusterSpec['nvidiaDriver'],
      containerd,
      gpuTimeSlicingReplicas: replicas as number,
      ...(c.proxy ? { proxy: c.proxy as string } : {}),
      noProxy: noProxy as string[],
      ...(artifactsDir ? { artifactsDir } : {}),
      aptMirror: aptMirror as string,
      allowReboot: allowReboot as boolean,
      knownHosts,
      aptLockTimeout: aptLockTimeout as number,
      ...(bastion ? { bastion } : {}),
    },
    hosts,
  };
}

export function loadInventory(path: string): Inventory {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new InventoryError([`--inventory ${path}: cannot read: ${(e as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (e) {
    throw new InventoryError([`${path}: not valid YAML: ${(e as Error).message}`]);
  }
  return validateInventory(raw, dirname(resolve(path)));
}
