import { parseArgs } from 'node:util';
import { LocalConnector, SshConnector } from './connector.ts';
import {
  runHost,
  runSerial,
  selectTasks,
  type HostPlan,
  type HostResult,
  type RunOptions,
} from './engine.ts';
import { InventoryError, loadInventory, type HostSpec, type Inventory } from './inventory.ts';
import { duplicateAddressProblems } from './net.ts';
import { LimitError, limitHosts, LIMIT_GROUPS } from './limit.ts';
import { anyFailed, lineReporter, notRunLine, recap, taskList, type ListedHost } from './report.ts';
import { HANDLERS, playFor, ROLE_NAMES, TASK_TAGS } from './roles/index.ts';
import type { ControlPlane } from './roles/context.ts';
import type { Connector, HostFacts } from './types.ts';

export const HELP = `Usage: zx provision/node.mjs --inventory hosts.yaml [options]
       node provision/node.mjs --inventory hosts.yaml [options]

Turns Debian 11/12/13 hosts into a kubeadm cluster with NVIDIA GPU nodes. Idempotent: a second
run reports changed=0. The inventory is validated completely before any host is contacted.

Options:
  -i, --inventory FILE  inventory YAML (required; see provision/README.md)
  -C, --check           dry run: read facts, report what would change, change nothing
  -D, --diff            show a unified diff for every file that changes (or would, with --check)
  -l, --limit PATTERNS  only these hosts: names, groups (${LIMIT_GROUPS.join(', ')}) or globs
                        (gpu-*, node-[12]), separated by , or :; !PATTERN leaves hosts out,
                        &PATTERN keeps only hosts it matches too (quote globs in the shell)
  -t, --tags T1,T2      only these roles (${ROLE_NAMES.join(', ')})
                        or task tags (${TASK_TAGS.join(', ')})
      --skip-tags T1,T2 leave out these roles or task tags (wins over --tags)
      --serial N        hosts in batches of N (or N% of the selected hosts), the control plane in
                        the first; a batch starts when the previous one is done, so --serial 1 rolls
                        a GPU driver reboot through one node at a time. A failed or unreachable host
                        stops the later batches; their hosts are listed as not run.
      --list-tasks      print each selected host's tasks (after --tags/--skip-tags) and exit;
                        connects to nothing (facts not gathered: "gpu: auto" hosts list the GPU
                        roles as conditional)
      --json            print one JSON document (per host: counts, error, every task) instead of lines
  -v, --verbose         print the commands of changed tasks and stream their output
      --accept-new-host-keys
                        record the SSH host key of a host that the known_hosts file (cluster.knownHosts)
                        has no key for (OpenSSH's StrictHostKeyChecking=accept-new); without it such a
                        host is refused. A host whose key differs from the recorded one is always refused.
  -h, --help            this help

Exit status: 0 when no host failed, 1 when a host failed or was unreachable, 2 for a usage or
inventory error (nothing was contacted).`;

export class UsageError extends Error {}

export interface CliOptions {
  inventory: string;
  check: boolean;
  diff: boolean;
  limit?: string[];
  tags?: string[];
  skipTags?: string[];
  /** Batch size: a number of hosts, or a percentage of the selected hosts ("25%"). */
  serial?: { count: number } | { percent: number };
  listTasks: boolean;
  json: boolean;
  verbose: boolean;
  acceptNewHostKeys: boolean;
  help: boolean;
}

export function parseCli(argv: string[]): CliOptions {
  let v;
  try {
    v = parseArgs({
      args: argv,
      options: {
        inventory: { type: 'string', short: 'i' },
        check: { type: 'boolean', short: 'C', default: false },
        diff: { type: 'boolean', short: 'D', default: false },
        limit: { type: 'string', short: 'l' },
        tags: { type: 'string', short: 't' },
        'skip-tags': { type: 'string' },
        serial: { type: 'string' },
        'list-tasks': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        verbose: { type: 'boolean', short: 'v', default: false },
        'accept-new-host-keys': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const list = (s: string | undefined) =>
    s === undefined
      ? undefined
      : s
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean);
  if (!v.help && !v.inventory) throw new UsageError('--inventory FILE is required');
  const known: string[] = [...ROLE_NAMES, ...TASK_TAGS];
  const tagList = (flag: string, value: string | undefined): string[] | undefined => {
    const out = list(value);
    if (value !== undefined && out!.length === 0)
      throw new UsageError(`${flag}: "${value}" names no role or tag; allowed: ${known.join(', ')}`);
    for (const t of out ?? [])
      if (!known.includes(t))
        throw new UsageError(`${flag}: "${t}" is not a role or tag; allowed: ${known.join(', ')}`);
    return out;
  };
  const tags = tagList('--tags', v.tags);
  const skipTags = tagList('--skip-tags', v['skip-tags']);
  const limit = list(v.limit?.replace(/:/g, ','));
  if (v.limit !== undefined && limit!.length === 0)
    throw new UsageError(`--limit: "${v.limit}" names no host; allowed: host names, groups or globs`);
  let serial: CliOptions['serial'];
  if (v.serial !== undefined) {
    const m = /^([1-9]\d{0,5})(%?)$/.exec(v.serial);
    if (!m || (m[2] && Number(m[1]) > 100))
      throw new UsageError(
        `--serial: "${v.serial}" is not a batch size; allowed: a whole number of hosts >= 1, or a percentage 1%-100% of the selected hosts`,
      );
    serial = m[2] ? { percent: Number(m[1]) } : { count: Number(m[1]) };
  }
  return {
    inventory: v.inventory ?? '',
    check: v.check,
    diff: v.diff,
    ...(limit ? { limit } : {}),
    ...(tags ? { tags } : {}),
    ...(skipTags ? { skipTags } : {}),
    ...(serial ? { serial } : {}),
    listTasks: v['list-tasks'],
    json: v.json,
    verbose: v.verbose,
    acceptNewHostKeys: v['accept-new-host-keys'],
    help: v.help,
  };
}

function connectTo(h: HostSpec, knownHosts: string, acceptNewHostKeys: boolean): () => Promise<Connector> {
  if (h.connection === 'local') return async () => new LocalConnector(h.become);
  return () =>
    SshConnector.connect({
      host: h.address,
      port: h.ssh.port,
      user: h.ssh.user,
      keyPath: h.ssh.key,
      become: h.become,
      knownHosts,
      acceptNewHostKeys,
      ...(h.bastion
        ? {
            jump: {
              host: h.bastion.address,
              port: h.bastion.port,
              user: h.bastion.user,
              ...((h.bastion.key ?? h.ssh.key) ? { keyPath: h.bastion.key ?? h.ssh.key } : {}),
            },
          }
        : {}),
    });
}

export interface RunSummary {
  results: HostResult[];
  /** Hosts a failed batch kept from running (--serial). */
  notRun: string[];
  failed: boolean;
}

/**
 * Facts for --list-tasks, which contacts no host: tasks are listed as for a Debian 12 amd64 host
 * (the task list differs between releases only in download details, not in names).
 */
const UNGATHERED: HostFacts = {
  osId: 'debian',
  osVersionId: '12',
  osCodename: 'bookworm',
  kernel: '(not gathered)',
  arch: 'amd64',
  container: 'none',
  modulesSupported: true,
  procSysWritable: true,
  nvidiaGpu: false,
  swapActive: false,
  kubeadmMember: false,
};

/** The hosts --limit selects (all without it), in inventory order. */
export function selectHosts(inv: Inventory, o: Pick<CliOptions, 'limit'>): HostSpec[] {
  try {
    return o.limit ? limitHosts(inv.hosts, o.limit) : inv.hosts;
  } catch (e) {
    if (e instanceof LimitError) throw new UsageError(e.message);
    throw e;
  }
}

/** Plan and run the play for the selected hosts. Inventory problems throw before any connection. */
export async function provision(
  inv: Inventory,
  o: CliOptions,
  write: (s: string) => void,
): Promise<RunSummary> {
  const selected = selectHosts(inv, o);
  const connectorFor = (h: HostSpec) => connectTo(h, inv.cluster.knownHosts, o.acceptNewHostKeys);
  const cp = inv.hosts.find((h) => h.role === 'control-plane')!;
  const site = (h: HostSpec) => ({
    ...(h.proxy ? { proxy: h.proxy } : {}),
    ...(inv.cluster.artifactsDir ? { artifactsDir: inv.cluster.artifactsDir } : {}),
  });
  const reporter = o.json ? { task: () => {} } : lineReporter({ diff: o.diff, verbose: o.verbose, write });

  let cpDone: Promise<void> = Promise.resolve();
  const controlPlane: ControlPlane = {
    name: cp.name,
    address: cp.address,
    ready: () => cpDone,
    exec: async (cmd) => {
      const c = await connectorFor(cp)();
      try {
        return await c.exec(cmd);
      } finally {
        await c.close();
      }
    },
  };
  const play = (h: HostSpec, facts: HostFacts, gpu: boolean) =>
    playFor({ host: h, facts, cluster: inv.cluster, site: site(h), gpu, controlPlane });

  if (o.listTasks) {
    const listed: ListedHost[] = selected.map((h) => {
      const tasks = selectTasks(play(h, UNGATHERED, h.gpu !== false), o);
      // "auto" is decided by the host's PCI devices: tasks only a GPU host gets are conditional.
      const without =
        h.gpu === 'auto'
          ? new Set(selectTasks(play(h, UNGATHERED, false), o).map((t) => `${t.role}\0${t.name}`))
          : undefined;
      return {
        name: h.name,
        role: h.role,
        gpu: h.gpu,
        tasks: tasks.map((t) => ({
          role: t.role,
          name: t.name,
          tags: t.tags,
          conditional: !!without && !without.has(`${t.role}\0${t.name}`),
        })),
      };
    });
    write(taskList(o.inventory, listed));
    return { results: [], notRun: [], failed: false };
  }

  // The control plane first: with --serial it is in the first batch, so no worker waits for it
  // across batches.
  const ordered = [...selected].sort((a, b) => Number(b === cp) - Number(a === cp));
  const plans: HostPlan[] = ordered.map((h) => ({
    name: h.name,
    connect: connectorFor(h),
    tasks: (facts) => play(h, facts, h.gpu === 'auto' ? facts.nvidiaGpu : h.gpu),
    handlers: HANDLERS,
    allowReboot: inv.cluster.allowReboot,
    aptLockTimeout: inv.cluster.aptLockTimeout,
  }));
  const opts: RunOptions = { check: o.check, tags: o.tags, skipTags: o.skipTags, reporter };
  // Workers wait for the control plane only where they need it (join, labels); the rest runs in parallel.
  const run = (p: HostPlan, ro: RunOptions): Promise<HostResult> => {
    const r = runHost(p, ro);
    if (p.name === cp.name) {
      cpDone = r.then((x) => {
        if (x.error) throw new Error(`control plane ${cp.name} failed: ${x.error}`);
      });
      cpDone.catch(() => {});
    }
    return r;
  };
  const serial =
    o.serial === undefined
      ? undefined
      : 'count' in o.serial
        ? o.serial.count
        : Math.max(1, Math.ceil((plans.length * o.serial.percent) / 100));
  const { results, notRun } = await runSerial(plans, opts, serial, run);
  results.sort(
    (a, b) => selected.findIndex((h) => h.name === a.host) - selected.findIndex((h) => h.name === b.host),
  );
  return { results, notRun, failed: anyFailed(results) || notRun.length > 0 };
}

export async function main(
  argv: string[],
  write = (s: string) => void process.stdout.write(s),
  writeErr = (s: string) => void process.stderr.write(s),
): Promise<number> {
  let o: CliOptions;
  let inv: Inventory;
  try {
    o = parseCli(argv);
    if (o.help) {
      write(HELP + '\n');
      return 0;
    }
    inv = loadInventory(o.inventory);
    const duplicates = await duplicateAddressProblems(inv.hosts);
    if (duplicates.length) throw new InventoryError(duplicates);
  } catch (e) {
    if (e instanceof UsageError || e instanceof InventoryError) {
      writeErr(`error: ${e.message}\n${e instanceof UsageError ? 'Try --help.\n' : ''}`);
      return 2;
    }
    throw e;
  }
  let summary: RunSummary;
  try {
    summary = await provision(inv, o, write);
  } catch (e) {
    if (e instanceof UsageError) {
      writeErr(`error: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (o.listTasks) return 0;
  if (o.json)
    write(
      JSON.stringify(
        { check: o.check, failed: summary.failed, hosts: summary.results, notRun: summary.notRun },
        null,
        2,
      ) + '\n',
    );
  else write(recap(summary.results) + notRunLine(summary.notRun));
  return summary.failed ? 1 : 0;
}
