/**
 * The kubelet's metrics endpoints for the nodes the agent plays the kubelet on: `/metrics/resource`
 * (what metrics-server reads for `kubectl top` and the HPA's CPU metric) and `/metrics/cadvisor`
 * (what Prometheus' kubelet job and the dashboards read), over HTTPS on each node's InternalIP
 * port 10250, computed from the real processes of the pods the agent runs.
 *
 * A container's usage is its process tree's, read from /proc at each scrape (the kubelet reads its
 * cgroup): CPU is utime + stime of every process in the tree plus cutime + cstime (the time of
 * children that already exited and were reaped), in clock ticks (`getconf CLK_TCK`); memory is the
 * sum of each process's resident set (/proc/<pid>/statm x page size), standing in for the cgroup's
 * working set. Reading (readProcessTable, treeUsage) is apart from rendering
 * (renderResourceMetrics, renderCadvisorMetrics): the renderers are pure functions of the samples.
 *
 * The exposition is written as the kubelet's Go code writes it (component-base metrics over
 * client_golang's text encoder): families sorted by name, series sorted by label values, labels
 * sorted by name, values formatted like Go's strconv 'g' (-1), timestamps in milliseconds where the
 * kubelet gives them, HELP with component-base's `[STABLE]` annotation on /metrics/resource and
 * cAdvisor's plain help on /metrics/cadvisor.
 *
 * How this differs from a kubelet: CPU in 10 ms clock ticks (a container under 10 ms reads 0 and
 * metrics-server drops it), processes that re-parent out of the tree are lost; memory is summed RSS
 * (shared pages counted twice, no page cache); node figures are the sum of the agent's pods only
 * (kwok's pods have no series); cAdvisor's families are 5 of about 30 (CPU total, user, system,
 * RSS, working set) with made-up cgroup ids `/kubepods/pod<uid>/<uid>`; timestamps are the scrape's;
 * any client certificate or bearer token is accepted (no TokenReview or SubjectAccessReview); only
 * /metrics/resource, /metrics/cadvisor and /healthz are served; the serving certificate is signed
 * by the cluster CA directly (no CSR, no rotation); each node's InternalIP becomes a /32 on the
 * pods' bridge, and nodes registered after the agent starts are not served.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { ensureServingCert } from '../pki.ts';
import type { ApiClient } from './api.ts';

/** The kubelet's HTTPS port (its `--port`), where metrics-server and Prometheus scrape it. */
export const KUBELET_PORT = 10250;

/** A container the agent runs, as PodRunner.running() lists it. */
export interface RunningContainer {
  readonly namespace: string;
  readonly pod: string;
  readonly uid: string;
  readonly container: string;
  readonly image: string;
  /** The node the pod is bound to (spec.nodeName). */
  readonly node: string;
  /** The container's process: the root of its process tree (spawned detached: also its group id). */
  readonly pid: number;
}

// ---------------------------------------------------------------------------------------------
// Reading /proc

/** What one /proc/<pid>/stat holds that is needed here. Times in clock ticks. */
export interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  readonly utime: number;
  readonly stime: number;
  /** Times of children that exited and were waited for. */
  readonly cutime: number;
  readonly cstime: number;
  /** Ticks after boot at which the process started. */
  readonly starttime: number;
}

/** Parses /proc/<pid>/stat (proc(5)): the command name may hold spaces and parentheses. */
export function parseStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`not a /proc/<pid>/stat line: ${text.slice(0, 80)}`);
  // Fields from 3 (state) on; field n of proc(5) is f[n - 3].
  const f = text
    .slice(close + 2)
    .trim()
    .split(' ');
  const n = (field: number) => Number(f[field - 3]);
  return {
    pid: Number(text.slice(0, open).trim()),
    ppid: n(4),
    utime: n(14),
    stime: n(15),
    cutime: n(16),
    cstime: n(17),
    starttime: n(22),
  };
}

/** The machine's constants the counters are converted with. */
export interface ProcInfo {
  /** USER_HZ: the unit of the times in /proc/<pid>/stat (`getconf CLK_TCK`, normally 100). */
  readonly clockTicks: number;
  /** The unit of /proc/<pid>/statm (`getconf PAGESIZE`). */
  readonly pageSize: number;
  /** Boot time in Unix seconds (`btime` in /proc/stat): process start times are relative to it. */
  readonly bootTime: number;
}

export function readProcInfo(proc = '/proc'): ProcInfo {
  const getconf = (name: string) => Number(execFileSync('getconf', [name], { encoding: 'utf8' }).trim());
  const btime = /^btime (\d+)$/m.exec(readFileSync(`${proc}/stat`, 'utf8'));
  if (!btime) throw new Error(`${proc}/stat has no btime`);
  return { clockTicks: getconf('CLK_TCK'), pageSize: getconf('PAGESIZE'), bootTime: Number(btime[1]) };
}

/** Every process on the machine, by pid (one pass over /proc; threads are not listed there). */
export function readProcessTable(proc = '/proc'): Map<number, ProcStat> {
  const table = new Map<number, ProcStat>();
  for (const name of readdirSync(proc)) {
    if (!/^\d+$/.test(name)) continue;
    try {
      table.set(Number(name), parseStat(readFileSync(`${proc}/${name}/stat`, 'utf8')));
    } catch {
      /* exited meanwhile */
    }
  }
  return table;
}

/** The pids of root and all its descendants (by parent pid), root first. */
export function descendants(table: ReadonlyMap<number, ProcStat>, root: number): number[] {
  if (!table.has(root)) return [];
  const children = new Map<number, number[]>();
  for (const p of table.values()) {
    const list = children.get(p.ppid);
    if (list) list.push(p.pid);
    else children.set(p.ppid, [p.pid]);
  }
  const out = [root];
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]!) ?? []));
  return out;
}

/**
 * A process tree's usage. CPU in integer nanoseconds, the unit of the kubelet's stats
 * (UsageCoreNanoSeconds), so that sums stay exact; the exposition divides by 1e9 as it does.
 */
export interface TreeUsage {
  readonly pids: readonly number[];
  readonly userNs: number;
  readonly systemNs: number;
  /** Sum of the processes' resident sets: the working set's stand-in. */
  readonly workingSetBytes: number;
  /** The root process's start, Unix seconds: the container's start time. */
  readonly startTime: number;
}

/**
 * A tree's usage from a process table. `rss(pid)` answers a process's resident bytes (undefined if
 * it is gone); the default reads /proc/<pid>/statm.
 */
export function treeUsage(
  table: ReadonlyMap<number, ProcStat>,
  root: number,
  info: ProcInfo,
  rss: (pid: number) => number | undefined = (pid) => readRss(pid, info.pageSize),
): TreeUsage | undefined {
  const pids = descendants(table, root);
  if (!pids.length) return undefined;
  let user = 0;
  let system = 0;
  let bytes = 0;
  for (const pid of pids) {
    const p = table.get(pid)!;
    user += p.utime + p.cutime;
    system += p.stime + p.cstime;
    bytes += rss(pid) ?? 0;
  }
  const hz = info.clockTicks;
  return {
    pids,
    userNs: Math.round((user * 1e9) / hz),
    systemNs: Math.round((system * 1e9) / hz),
    workingSetBytes: bytes,
    startTime: info.bootTime + table.get(root)!.starttime / hz,
  };
}

/** The CPU counter of a usage: user + system, in seconds. */
export const cpuSeconds = (u: TreeUsage): number => (u.userNs + u.systemNs) / 1e9;

/** Resident bytes of a process: the second field of /proc/<pid>/statm (pages) x page size. */
export function readRss(pid: number, pageSize: number, proc = '/proc'): number | undefined {
  try {
    return Number(readFileSync(`${proc}/${pid}/statm`, 'utf8').split(' ')[1]) * pageSize;
  } catch {
    return undefined;
  }
}

/** One container's usage at one moment. */
export interface ContainerSample {
  readonly c: RunningContainer;
  readonly usage: TreeUsage;
  /** When /proc was read, Unix milliseconds: the series' timestamp. */
  readonly timestampMs: number;
}

/** Reads every container's tree in one pass over /proc; containers whose process is gone are left out. */
export function sampleContainers(
  containers: readonly RunningContainer[],
  info: ProcInfo,
  proc = '/proc',
): ContainerSample[] {
  const table = readProcessTable(proc);
  const timestampMs = Date.now();
  return containers.flatMap((c) => {
    const usage = treeUsage(table, c.pid, info, (pid) => readRss(pid, info.pageSize, proc));
    return usage ? [{ c, usage, timestampMs }] : [];
  });
}

// ---------------------------------------------------------------------------------------------
// Rendering (pure)

export interface Series {
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
  readonly timestampMs?: number;
}

export interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge';
  readonly samples: readonly Series[];
}

/** A float as client_golang's text encoder writes it: strconv.AppendFloat(f, 'g', -1, 64). */
export function goFloat(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (v === 0) return '0';
  // Shortest round-trip digits (as Go's), then Go's %g choice: %e when exp < -4 or exp >= 21 is
  // JavaScript's rule; Go's is exp < -4 or exp >= 6 (the shortest form decides with precision 6).
  const [mantissa, e] = v.toExponential().split('e') as [string, string];
  const exp = Number(e);
  if (exp >= -4 && exp < 6) return String(v);
  return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
}

const escapeHelp = (s: string) => s.replaceAll('\\', '\\\\').replaceAll('\n', '\\n');
const escapeLabel = (s: string) => s.replaceAll('\\', '\\\\').replaceAll('\n', '\\n').replaceAll('"', '\\"');

/** Go's string order (bytes), which client_golang sorts series by. */
const byteCompare = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/**
 * The Prometheus text format (0.0.4) as client_golang's registry gathers and encodes it: families
 * by name, empty ones left out, series by their label values in label-name order (then
 * timestamp), labels by name.
 */
export function exposition(families: readonly Family[]): string {
  const lines: string[] = [];
  for (const f of [...families].sort((a, b) => byteCompare(a.name, b.name))) {
    if (!f.samples.length) continue;
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    const keyed = f.samples.map((s) => {
      const names = Object.keys(s.labels).sort(byteCompare);
      return { s, names, values: names.map((n) => s.labels[n]!) };
    });
    keyed.sort((a, b) => {
      for (let i = 0; i < Math.min(a.values.length, b.values.length); i++) {
        const d = byteCompare(a.values[i]!, b.values[i]!);
        if (d) return d;
      }
      return (a.s.timestampMs ?? 0) - (b.s.timestampMs ?? 0);
    });
    for (const { s, names } of keyed) {
      const labels = names.length
        ? `{${names.map((n) => `${n}="${escapeLabel(s.labels[n]!)}"`).join(',')}}`
        : '';
      const ts = s.timestampMs === undefined ? '' : ` ${Math.trunc(s.timestampMs)}`;
      lines.push(`${f.name}${labels} ${goFloat(s.value)}${ts}`);
    }
  }
  return lines.map((l) => `${l}\n`).join('');
}

/**
 * The node's own figures. The node is emulated (kwok registers it; it has no machine of its own):
 * its CPU and working set are the sums of the pods the agent runs on it, not a machine's. With no
 * running pod they are 0, and metrics-server then leaves the node out ("Failed getting complete
 * node metric") where a real kubelet always reports its system's usage.
 */
function nodeTotals(samples: readonly ContainerSample[], nowMs: number) {
  const userNs = samples.reduce((a, s) => a + s.usage.userNs, 0);
  const systemNs = samples.reduce((a, s) => a + s.usage.systemNs, 0);
  return {
    user: userNs / 1e9,
    system: systemNs / 1e9,
    cpu: (userNs + systemNs) / 1e9,
    memory: samples.reduce((a, s) => a + s.usage.workingSetBytes, 0),
    timestampMs: samples.length ? Math.max(...samples.map((s) => s.timestampMs)) : nowMs,
  };
}

/** Samples summed per pod (every pod here has one container, but the sum is what the kubelet gives). */
function podTotals(samples: readonly ContainerSample[]) {
  const pods = new Map<string, { c: RunningContainer; samples: ContainerSample[] }>();
  for (const s of samples) {
    const key = `${s.c.namespace}/${s.c.pod}`;
    const p = pods.get(key);
    if (p) p.samples.push(s);
    else pods.set(key, { c: s.c, samples: [s] });
  }
  return [...pods.values()].map(({ c, samples: ss }) => ({
    c,
    ...nodeTotals(ss, 0),
  }));
}

/**
 * `/metrics/resource` as kubelet v1.37 serves it (pkg/kubelet/metrics/collectors/resource_metrics.go):
 * CPU and memory series carry the time they were read; container_start_time_seconds does not.
 * `scrape_error` is not served: it is deprecated since 1.29.0 at ALPHA, so component-base hides it
 * from 1.30 on; `resource_scrape_error` replaces it. No swap series: nothing here reads swap.
 */
export function renderResourceMetrics(
  samples: readonly ContainerSample[],
  nowMs: number,
  scrapeError = 0,
): string {
  const node = nodeTotals(samples, nowMs);
  const pods = podTotals(samples);
  const cl = (s: ContainerSample) => ({ container: s.c.container, pod: s.c.pod, namespace: s.c.namespace });
  const pl = (c: RunningContainer) => ({ pod: c.pod, namespace: c.namespace });
  return exposition([
    {
      name: 'container_cpu_usage_seconds_total',
      help: '[STABLE] Cumulative cpu time consumed by the container in core-seconds',
      type: 'counter',
      samples: samples.map((s) => ({
        labels: cl(s),
        value: cpuSeconds(s.usage),
        timestampMs: s.timestampMs,
      })),
    },
    {
      name: 'container_memory_working_set_bytes',
      help: '[STABLE] Current working set of the container in bytes',
      type: 'gauge',
      samples: samples.map((s) => ({
        labels: cl(s),
        value: s.usage.workingSetBytes,
        timestampMs: s.timestampMs,
      })),
    },
    {
      name: 'container_start_time_seconds',
      help: '[STABLE] Start time of the container since unix epoch in seconds',
      type: 'gauge',
      samples: samples.map((s) => ({ labels: cl(s), value: s.usage.startTime })),
    },
    {
      name: 'node_cpu_usage_seconds_total',
      help: '[STABLE] Cumulative cpu time consumed by the node in core-seconds',
      type: 'counter',
      samples: [{ labels: {}, value: node.cpu, timestampMs: node.timestampMs }],
    },
    {
      name: 'node_memory_working_set_bytes',
      help: '[STABLE] Current working set of the node in bytes',
      type: 'gauge',
      samples: [{ labels: {}, value: node.memory, timestampMs: node.timestampMs }],
    },
    {
      name: 'pod_cpu_usage_seconds_total',
      help: '[STABLE] Cumulative cpu time consumed by the pod in core-seconds',
      type: 'counter',
      samples: pods.map((p) => ({ labels: pl(p.c), value: p.cpu, timestampMs: p.timestampMs })),
    },
    {
      name: 'pod_memory_working_set_bytes',
      help: '[STABLE] Current working set of the pod in bytes',
      type: 'gauge',
      samples: pods.map((p) => ({ labels: pl(p.c), value: p.memory, timestampMs: p.timestampMs })),
    },
    {
      name: 'resource_scrape_error',
      help: '[STABLE] 1 if there was an error while getting container metrics, 0 otherwise',
      type: 'gauge',
      samples: [{ labels: {}, value: scrapeError }],
    },
  ]);
}

/** The cgroup a pod's container would have under the cgroupfs driver (no QoS level here). */
export const podCgroup = (c: RunningContainer) => `/kubepods/pod${c.uid}`;
/** The container's id: PodRunner reports `agent://<pod uid>` as its containerID. */
export const containerCgroup = (c: RunningContainer) => `${podCgroup(c)}/${c.uid}`;

/**
 * `/metrics/cadvisor` for the CPU and memory families, as the kubelet's cAdvisor collector writes
 * them (cadvisor lib/metrics/prometheus.go with the kubelet's containerPrometheusLabelsFunc): every
 * series carries container, id, image, name, namespace and pod (blank where not known), the CPU
 * usage also `cpu="total"` (cgroup v2 has no per-CPU figures), and the read time. Three kinds of
 * cgroup, as the kubelet lists them: the root `/` (the node: the pods' sum, see nodeTotals), each
 * pod's (pod and namespace set, container, image and name blank) and each container's.
 * container_cpu_usage_seconds_total is left out where it is 0, as cAdvisor does.
 */
export function renderCadvisorMetrics(samples: readonly ContainerSample[], nowMs: number): string {
  const node = nodeTotals(samples, nowMs);
  const blank = { container: '', image: '', name: '', namespace: '', pod: '' };
  type Row = { labels: Record<string, string> } & ReturnType<typeof nodeTotals>;
  const rows: Row[] = [
    { labels: { ...blank, id: '/' }, ...node },
    ...podTotals(samples).map((p) => ({
      ...p,
      labels: { ...blank, id: podCgroup(p.c), namespace: p.c.namespace, pod: p.c.pod },
    })),
    ...samples.map((s) => ({
      ...nodeTotals([s], 0),
      labels: {
        container: s.c.container,
        id: containerCgroup(s.c),
        image: s.c.image,
        name: s.c.uid,
        namespace: s.c.namespace,
        pod: s.c.pod,
      },
    })),
  ];
  const series = (value: (r: Row) => number, extra: Record<string, string> = {}) =>
    rows.map((r) => ({ labels: { ...r.labels, ...extra }, value: value(r), timestampMs: r.timestampMs }));
  return exposition([
    {
      name: 'container_cpu_usage_seconds_total',
      help: 'Cumulative cpu time consumed in seconds.',
      type: 'counter',
      samples: series((r) => r.cpu, { cpu: 'total' }).filter((s) => s.value > 0),
    },
    {
      name: 'container_cpu_user_seconds_total',
      help: 'Cumulative user cpu time consumed in seconds.',
      type: 'counter',
      samples: series((r) => r.user),
    },
    {
      name: 'container_cpu_system_seconds_total',
      help: 'Cumulative system cpu time consumed in seconds.',
      type: 'counter',
      samples: series((r) => r.system),
    },
    {
      name: 'container_memory_rss',
      help: 'Size of RSS in bytes.',
      type: 'gauge',
      samples: series((r) => r.memory),
    },
    {
      name: 'container_memory_working_set_bytes',
      help: 'Current working set in bytes.',
      type: 'gauge',
      samples: series((r) => r.memory),
    },
  ]);
}

// ---------------------------------------------------------------------------------------------
// The HTTPS server per node

/** A node the agent plays the kubelet on, at its InternalIP. */
export interface KubeletNode {
  readonly name: string;
  readonly address: string;
}

/** The nodes registered in the API server, each with its InternalIP. */
export async function registeredNodes(api: ApiClient): Promise<KubeletNode[]> {
  const list = await api.get<{
    items: { metadata: { name: string }; status?: { addresses?: { type: string; address: string }[] } }[];
  }>('/api/v1/nodes');
  return list.items.flatMap((n) => {
    const ip = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    return ip ? [{ name: n.metadata.name, address: ip }] : [];
  });
}

export interface KubeletEndpointsOptions {
  /** The cluster's PKI folder (Layout.pki): its CA signs each node's serving certificate there. */
  readonly pkiDir: string;
  /**
   * The device each node address is added to (as /32) unless the host already holds it: the pods'
   * bridge (Layout.bridge). See KubeletEndpoints.start.
   */
  readonly device: string;
  /** @default KUBELET_PORT (10250) */
  readonly port?: number;
  readonly log?: (msg: string) => void;
  /** @default '/proc' */
  readonly proc?: string;
}

interface Served {
  readonly node: KubeletNode;
  readonly server: Server;
}

const counterKey = (c: RunningContainer) => `${c.uid}/${c.container}`;

const ip = (args: string[]) =>
  execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/**
 * The kubelet's HTTPS port for every node: `GET /metrics/resource`, `/metrics/cadvisor` and
 * `/healthz` on `<InternalIP>:10250`, with a serving certificate for that IP (and the node's name)
 * signed by the cluster CA, as a kubelet with `serverTLSBootstrap` and an approved kubelet-serving
 * CSR has (subject `O=system:nodes, CN=system:node:<name>`).
 *
 * Authentication: any client certificate or any bearer token is accepted, unchecked, and there is
 * no authorization; a request with neither gets 401. A real kubelet (kubeadm's config) verifies
 * client certificates against its client CA, reviews bearer tokens with a TokenReview (webhook
 * authentication) and asks a SubjectAccessReview for `nodes/metrics` (webhook authorization).
 */
export class KubeletEndpoints {
  private readonly served: Served[] = [];
  private readonly added: string[] = [];
  private containers: readonly RunningContainer[] = [];
  private info?: ProcInfo;
  /** The highest CPU counters seen per container, with the start they belong to (monotonic()). */
  private readonly last = new Map<string, { start: number; userNs: number; systemNs: number }>();

  constructor(private readonly o: KubeletEndpointsOptions) {}

  /**
   * Serves each node. Its InternalIP is added to `device` as a /32 unless the host already has it
   * (and removed on close). On the pods' bridge that address is reachable both from the host (a
   * local address) and from every pod's network namespace: their default route goes to the
   * bridge's gateway, and the kernel delivers a packet for any of its own addresses whatever the
   * interface it holds it on, as it does for the API server's forward on 10.255.0.1. It also goes
   * with the bridge when cluster:down deletes it, should the agent die before close(). A /32 adds
   * no subnet route, so the rest of the inventory's network is not captured; only that one address
   * is, which a real inventory host on this network would also answer.
   */
  async start(nodes: readonly KubeletNode[]): Promise<void> {
    this.info ??= readProcInfo(this.o.proc);
    for (const node of nodes) {
      if (!ip(['-o', '-4', 'addr', 'show', 'to', `${node.address}/32`]).trim()) {
        ip(['addr', 'add', `${node.address}/32`, 'dev', this.o.device]);
        this.added.push(node.address);
      }
      const { crt, key } = ensureServingCert(
        this.o.pkiDir,
        `kubelet-${node.name}`,
        `/O=system:nodes/CN=system:node:${node.name}`,
        [`IP:${node.address}`, `DNS:${node.name}`],
      );
      const server = createServer(
        { cert: readFileSync(crt), key: readFileSync(key), requestCert: true, rejectUnauthorized: false },
        (req, res) => this.handle(node, req, res),
      );
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.o.port ?? KUBELET_PORT, node.address, () => resolve());
      });
      this.served.push({ node, server });
      this.o.log?.(`kubelet endpoints of ${node.name} on https://${node.address}:${this.port(node.name)}`);
    }
  }

  /** The running containers (PodRunner.running()); each node serves those bound to it. */
  update(containers: readonly RunningContainer[]): void {
    this.containers = containers;
    const live = new Set(containers.map(counterKey));
    for (const k of this.last.keys()) if (!live.has(k)) this.last.delete(k);
  }

  /** The port a node is served on (the one given, or the kernel's choice for port 0). */
  port(node: string): number {
    const s = this.served.find((x) => x.node.name === node);
    if (!s) throw new Error(`node ${node} is not served`);
    return (s.server.address() as { port: number }).port;
  }

  /**
   * Stops serving and removes the addresses start added. Everything but waiting for the servers'
   * close is done before the first await, so a caller that exits at once (the agent on SIGTERM)
   * still leaves no address behind.
   */
  async close(): Promise<void> {
    const closed = this.served.splice(0).map(
      ({ server }) =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    for (const address of this.added.splice(0)) {
      try {
        ip(['addr', 'del', `${address}/32`, 'dev', this.o.device]);
      } catch {
        /* the device went first (cluster:down deletes the bridge) */
      }
    }
    await Promise.all(closed);
  }

  /** The node's containers, read now. */
  samples(node: string): ContainerSample[] {
    const mine = this.containers.filter((c) => c.node === node);
    return sampleContainers(mine, this.info!, this.o.proc).map((s) => this.monotonic(s));
  }

  /**
   * A cgroup's CPU counter never goes down; a process tree's sum can, when a descendant exits
   * before its parent waits for it, or is re-parented out of the tree. The counters are held at
   * their highest value per container start (a new start begins again, as a new cgroup does).
   */
  private monotonic(s: ContainerSample): ContainerSample {
    const key = counterKey(s.c);
    const prev = this.last.get(key);
    const same = prev?.start === s.usage.startTime;
    const userNs = same ? Math.max(prev.userNs, s.usage.userNs) : s.usage.userNs;
    const systemNs = same ? Math.max(prev.systemNs, s.usage.systemNs) : s.usage.systemNs;
    this.last.set(key, { start: s.usage.startTime, userNs, systemNs });
    return { ...s, usage: { ...s.usage, userNs, systemNs } };
  }

  private handle(node: KubeletNode, req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket as TLSSocket;
    const bearer = /^Bearer \S+/i.test(req.headers.authorization ?? '');
    const cert = Object.keys(socket.getPeerCertificate?.() ?? {}).length > 0;
    if (!bearer && !cert) {
      res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8' }).end('Unauthorized\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain; charset=utf-8' }).end('Method Not Allowed\n');
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end('ok');
      return;
    }
    if (path !== '/metrics/resource' && path !== '/metrics/cadvisor') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('404 page not found\n');
      return;
    }
    let samples: ContainerSample[] = [];
    let error = 0;
    try {
      samples = this.samples(node.name);
    } catch (e) {
      error = 1;
      this.o.log?.(`kubelet metrics of ${node.name}: ${(e as Error).message}`);
    }
    const body =
      path === '/metrics/resource'
        ? renderResourceMetrics(samples, Date.now(), error)
        : renderCadvisorMetrics(samples, Date.now());
    res
      .writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8; escaping=underscores' })
      .end(body);
  }
}
