import { parseArgs } from 'node:util';
import { LocalConnector, SshConnector } from './connector.ts';
import { runAll, runHost, type HostPlan, type HostResult } from './engine.ts';
import { InventoryError, loadInventory, type HostSpec, type Inventory } from './inventory.ts';
import { duplicateAddressProblems } from './net.ts';
import { anyFailed, lineReporter, recap } from './report.ts';
import { HANDLERS, playFor, ROLE_NAMES, TASK_TAGS } from './roles/index.ts';
import type { ControlPlane } from './roles/context.ts';
import type { Connector } from './types.ts';

export const HELP = `Usage: zx provision/node.mjs --inventory hosts.yaml [options]
       node provision/node.mjs --inventory hosts.yaml [options]

Turns Debian 11/12/13 hosts into a kubeadm cluster with NVIDIA GPU nodes. Idempotent: a second
run reports changed=0. The inventory is validated completely before any host is contacted.

Options:
  -i, --inventory FILE  inventory YAML (required; see provision/README.md)
  -C, --check           dry run: read facts, report what would change, change nothing
  -D, --diff            show a unified diff for every file that changes (or would, with --check)
  -l, --limit H1,H2     only these hosts (names from the inventory)
  -t, --tags T1,T2      only these roles (${ROLE_NAMES.join(', ')})
                        or task tags (${TASK_TAGS.join(', ')})
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
  const tags = list(v.tags);
  const known: string[] = [...ROLE_NAMES, ...TASK_TAGS];
  for (const t of tags ?? [])
    if (!known.includes(t))
      throw new UsageError(`--tags: "${t}" is not a role or tag; allowed: ${known.join(', ')}`);
  return {
    inventory: v.inventory ?? '',
    check: v.check,
    diff: v.diff,
    limit: list(v.limit),
    tags,
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
              ...(h.bastion.key ? { keyPath: h.bastion.key } : {}),
            },
          }
        : {}),
    });
}

export interface RunSummary {
  results: HostResult[];
  failed: boolean;
}

/** Plan and run the play for the selected hosts. Inventory problems throw before any connection. */
export async function provision(
  inv: Inventory,
  o: CliOptions,
  write: (s: string) => void,
): Promise<RunSummary> {
  if (o.limit) {
    const names = inv.hosts.map((h) => h.name);
    for (const l of o.limit)
      if (!names.includes(l))
        throw new UsageError(`--limit: no host "${l}" in the inventory; hosts: ${names.join(', ')}`);
  }
  const connectorFor = (h: HostSpec) => connectTo(h, inv.cluster.knownHosts, o.acceptNewHostKeys);
  const selected = inv.hosts.filter((h) => !o.limit || o.limit.includes(h.name));
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
  const plans: HostPlan[] = selected.map((h) => ({
    name: h.name,
    connect: connectorFor(h),
    tasks: (facts) =>
      playFor({
        host: h,
        facts,
        cluster: inv.cluster,
        site: site(h),
        gpu: h.gpu === 'auto' ? facts.nvidiaGpu : h.gpu,
        controlPlane,
      }),
    handlers: HANDLERS,
    allowReboot: inv.cluster.allowReboot,
    aptLockTimeout: inv.cluster.aptLockTimeout,
  }));
  const opts = { check: o.check, tags: o.tags, reporter };
  let results: HostResult[];
  const cpPlan = plans.find((p) => p.name === cp.name);
  if (cpPlan) {
    // Workers wait for the control plane only where they need it (join, labels); the rest runs in parallel.
    const cpRun = runHost(cpPlan, opts);
    cpDone = cpRun.then((r) => {
      if (r.error) throw new Error(`control plane ${cp.name} failed: ${r.error}`);
    });
    cpDone.catch(() => {});
    const others = runAll(
      plans.filter((p) => p !== cpPlan),
      opts,
    );
    const [cpResult, rest] = await Promise.all([cpRun, others]);
    results = [cpResult, ...rest];
  } else results = await runAll(plans, opts);
  results.sort(
    (a, b) => selected.findIndex((h) => h.name === a.host) - selected.findIndex((h) => h.name === b.host),
  );
  return { results, failed: anyFailed(results) };
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
  if (o.json)
    write(JSON.stringify({ check: o.check, failed: summary.failed, hosts: summary.results }, null, 2) + '\n');
  else write(recap(summary.results));
  return summary.failed ? 1 : 0;
}
