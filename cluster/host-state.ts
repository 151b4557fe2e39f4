/**
 * What a real kubelet, kube-proxy and containerd change on this machine outside their own folders,
 * recorded before they start so that teardown puts it back and a test can assert that it did: the
 * kernel tunables kubelet sets (setupKernelTunables, since protectKernelDefaults is off) and those
 * kube-proxy sets (conntrack limits and timeouts, route_localnet), iptables rules and chains
 * (kubelet's canary and hint chains, kube-proxy's KUBE-SERVICES and the rest, the CNI plugins'
 * rules), kube-proxy's nfacct counters, cgroups, mounts,
 * processes, links, nf_tables tables, and the fixed paths kubelet and libcni write.
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

/**
 * kubelet's kernel tunables (pkg/kubelet/cm/container_manager_linux.go), the forwarding CNI needs,
 * and kube-proxy's: conntrack (pkg/proxy/conntrack/sysctls.go, cmd/kube-proxy/app/conntrack.go;
 * it only raises a value) and route_localnet for NodePorts on localhost (iptables mode).
 * Those missing on this kernel (nf_conntrack not loaded) are left out.
 */
const SYSCTLS = [
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
  'net/ipv4/ip_forward',
  'net/netfilter/nf_conntrack_max',
  'net/netfilter/nf_conntrack_tcp_timeout_established',
  'net/netfilter/nf_conntrack_tcp_timeout_close_wait',
  'net/netfilter/nf_conntrack_tcp_be_liberal',
  'net/ipv4/conf/all/route_localnet',
  // Not a sysctl: the conntrack module's parameter kube-proxy raises with nf_conntrack_max.
  '/sys/module/nf_conntrack/parameters/hashsize',
] as const;

/**
 * Fixed paths that kubelet and the CNI library write whatever their configuration says: kubelet's
 * device-plugin socket (pluginapi.KubeletSocket), libcni's result cache, and the symlinks folder.
 */
export const FIXED_PATHS = ['/var/lib/kubelet', '/var/lib/cni', '/var/log/containers'] as const;

// Both backends: kubelet and the CNI plugins pick one by what the host already uses.
const IPTABLES = ['iptables', 'ip6tables', 'iptables-legacy', 'ip6tables-legacy'] as const;
const TABLES = ['filter', 'nat', 'mangle', 'raw'] as const;
const CGROUP_ROOT = '/sys/fs/cgroup';
export const CONTAINER_LOG_LINKS = '/var/log/containers';

export interface HostState {
  readonly sysctls: Record<string, string>;
  /** `<tool> <table>` -> iptables-save lines (chains and rules, no counters). */
  readonly iptables: Record<string, string[]>;
  /** `nft list tables` (`ip nat`, ...). */
  readonly nftTables: string[];
  /** Netfilter accounting objects (`nfacct list`): kube-proxy's counters for its metrics. */
  readonly nfacct: string[];
  /** FIXED_PATHS that were there before (teardown removes the others). */
  readonly fixedPaths: string[];
}

const sysctlPath = (k: string) => (k.startsWith('/') ? k : join('/proc/sys', k));
const readSysctl = (k: string) => readFileSync(sysctlPath(k), 'utf8').trim();
const sysctlName = (k: string) => (k.startsWith('/') ? k : k.replaceAll('/', '.'));

/**
 * The tables a backend has now. Reading a legacy table that does not exist would create it (its
 * kernel module registers it on first use), so only those in /proc/net/*_tables_names are read;
 * the nf_tables backend creates nothing on a read.
 */
function tablesOf(tool: string): readonly string[] {
  if (!tool.endsWith('-legacy')) return TABLES;
  const names = `/proc/net/${tool.startsWith('ip6') ? 'ip6' : 'ip'}_tables_names`;
  return existsSync(names)
    ? readFileSync(names, 'utf8')
        .split('\n')
        .filter((t) => t)
    : [];
}

function iptablesSave(tool: string, table: string): string[] {
  if (!tablesOf(tool).includes(table)) return [];
  try {
    return execFileSync(`${tool}-save`, ['-t', table], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    })
      .split('\n')
      .filter((l) => l.startsWith(':') || l.startsWith('-A '))
      .map((l) => (l.startsWith(':') ? l.replace(/ \[\d+:\d+\]$/, '') : l));
  } catch {
    return []; // the table does not exist until something uses it
  }
}

/**
 * nf_tables tables (`ip filter`, `ip6 nat`, ...): kubelet's first iptables-nft rule creates its
 * table, which stays, empty, after its chains are deleted. Needs nft (Debian's nftables).
 */
function nftTables(): string[] {
  return execFileSync('nft', ['list', 'tables'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    .split('\n')
    .filter((l) => l.startsWith('table '))
    .map((l) => l.slice('table '.length).trim());
}

/**
 * kube-proxy's nfacct counters (pkg/proxy/util/nfacct: ct_state_invalid_dropped_pkts, ...) are
 * objects of their own that outlive the rules using them. Needs nfacct (Debian's nfacct).
 */
function nfacctObjects(): string[] {
  return execFileSync('nfacct', ['list'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    .split('\n')
    .map((l) => /=\s*([^\s;]+);\s*$/.exec(l)?.[1])
    .filter((n): n is string => !!n);
}

export function recordHost(): HostState {
  const iptables: Record<string, string[]> = {};
  for (const tool of IPTABLES) for (const t of TABLES) iptables[`${tool} ${t}`] = iptablesSave(tool, t);
  return {
    sysctls: Object.fromEntries(
      SYSCTLS.filter((k) => existsSync(sysctlPath(k))).map((k) => [k, readSysctl(k)]),
    ),
    iptables,
    nftTables: nftTables(),
    nfacct: nfacctObjects(),
    fixedPaths: FIXED_PATHS.filter((f) => existsSync(f)),
  };
}

/** iptables-save's quoting (double quotes around a comment with spaces) split back into argv. */
function splitRule(line: string): string[] {
  return [...line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

/** What differs from `before`: sysctls changed, iptables chains and rules added. */
export function hostDiff(before: HostState): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(before.sysctls))
    if (readSysctl(k) !== v) out.push(`sysctl ${sysctlName(k)} = ${readSysctl(k)} (was ${v})`);
  for (const [key, lines] of Object.entries(before.iptables)) {
    const [tool, table] = key.split(' ') as [string, string];
    for (const l of iptablesSave(tool, table)) if (!lines.includes(l)) out.push(`${tool} -t ${table}: ${l}`);
  }
  for (const t of nftTables()) if (!before.nftTables.includes(t)) out.push(`nft table ${t}`);
  for (const n of nfacctObjects()) if (!before.nfacct.includes(n)) out.push(`nfacct ${n}`);
  for (const f of FIXED_PATHS) if (!before.fixedPaths.includes(f) && existsSync(f)) out.push(`${f} created`);
  return out;
}

/** Puts the sysctls back and removes the iptables rules and chains added since `before`. */
export function restoreHost(before: HostState): void {
  for (const [k, v] of Object.entries(before.sysctls)) {
    if (readSysctl(k) === v) continue;
    if (k.startsWith('/')) writeFileSync(k, v);
    else execFileSync('sysctl', ['-q', '-w', `${sysctlName(k)}=${v}`]);
  }
  for (const [key, lines] of Object.entries(before.iptables)) {
    const [tool, table] = key.split(' ') as [string, string];
    const added = iptablesSave(tool, table).filter((l) => !lines.includes(l));
    for (const rule of added.filter((l) => l.startsWith('-A ')))
      execFileSync(tool, ['-w', '-t', table, '-D', ...splitRule(rule).slice(1)]);
    // Built-in chains (a policy, not '-') go only with their table.
    for (const chain of added.filter((l) => l.startsWith(':') && l.endsWith(' -')))
      execFileSync(tool, ['-w', '-t', table, '-X', chain.slice(1).split(' ')[0]!]);
  }
  // Tables that were not there before hold only what the node added (its chains went above).
  for (const t of nftTables())
    if (!before.nftTables.includes(t)) execFileSync('nft', ['delete', 'table', ...t.split(' ')]);
  // After the rules that count into them are gone (a referenced object cannot be deleted).
  for (const n of nfacctObjects()) if (!before.nfacct.includes(n)) execFileSync('nfacct', ['delete', n]);
  for (const f of FIXED_PATHS)
    if (!before.fixedPaths.includes(f)) rmSync(f, { recursive: true, force: true });
}

/** Every mount point under dir, deepest first (from /proc/self/mountinfo, octal escapes decoded). */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m)
    .map((m) => m.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((m) => m === dir || m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

export function unmountAll(dir: string): void {
  for (const m of mountsUnder(dir))
    try {
      execFileSync('umount', [m], { stdio: 'ignore' });
    } catch {
      execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    }
}

/** `<hierarchy>/<name>` folders of a cgroup tree, in every mounted hierarchy (v1 and the unified one). */
export function cgroupsNamed(name: string): string[] {
  return readdirSync(CGROUP_ROOT)
    .map((h) => join(CGROUP_ROOT, h, name))
    .filter((d) => existsSync(d) && statSync(d).isDirectory());
}

/** Every process in a cgroup tree. */
export function cgroupProcs(dir: string): number[] {
  const own = existsSync(join(dir, 'cgroup.procs'))
    ? readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number)
    : [];
  return [
    ...own,
    ...readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .flatMap((e) => cgroupProcs(join(dir, e.name))),
  ];
}

/** Removes a cgroup tree, children first (rmdir is how cgroups are deleted; rm -r cannot). */
export function removeCgroupTree(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true }))
    if (e.isDirectory()) removeCgroupTree(join(dir, e.name));
  rmdirSync(dir);
}

/** Processes whose command line contains `needle` (by /proc; never this process). */
export function processesWith(needle: string): { pid: number; cmdline: string }[] {
  const out: { pid: number; cmdline: string }[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${d}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      if (cmdline.includes(needle)) out.push({ pid: Number(d), cmdline });
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/** The symlinks kubelet left in /var/log/containers that point into logDir. */
export function containerLogLinks(logDir: string): string[] {
  if (!existsSync(CONTAINER_LOG_LINKS)) return [];
  return readdirSync(CONTAINER_LOG_LINKS)
    .map((f) => join(CONTAINER_LOG_LINKS, f))
    .filter((f) => {
      try {
        return readlinkSync(f).startsWith(`${logDir}/`);
      } catch {
        return false;
      }
    });
}

export function removeContainerLogLinks(logDir: string): void {
  for (const f of containerLogLinks(logDir)) rmSync(f, { force: true });
}
