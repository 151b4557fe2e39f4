import {
  STAGE,
  type Connector,
  type ExecResult,
  type Handler,
  type HostFacts,
  type Plan,
  type Step,
  type Task,
} from './types.ts';
import { q } from './shell.ts';
import { hostFacts, unsupportedOs } from './facts.ts';
import { lineRedactor, redact } from './redact.ts';

/** As Ansible counts them: a host that cannot be reached is `unreachable`, not `failed`. */
export type Status = 'ok' | 'changed' | 'skipped' | 'failed' | 'unreachable';

export interface TaskResult {
  host: string;
  role: string;
  task: string;
  status: Status;
  reason: string;
  /** Commands run, or that would run in check mode. */
  commands: string[];
  diff?: string;
}

export interface HostResult {
  host: string;
  unreachable: boolean;
  /** Set when the host stopped early: unreachable, unsupported OS, or a failed task. */
  error?: string;
  counts: Record<Status, number>;
  tasks: TaskResult[];
}

export interface Reporter {
  task(r: TaskResult): void;
  output?(host: string, chunk: string): void;
}

export interface HostPlan {
  name: string;
  connect(): Promise<Connector>;
  /** Roles' tasks for this host, built once its facts are known. */
  tasks(facts: HostFacts): Task[];
  handlers: Handler[];
  /** Reboot handlers only run when the inventory allows it (cluster.allowReboot). */
  allowReboot: boolean;
  /** How long to wait for a rebooted host's SSH. @default 600000 */
  rebootTimeoutMs?: number;
  /** Pause before the first reconnect attempt (the old sshd may still answer). @default 10000 */
  rebootSettleMs?: number;
  /** Seconds apt waits for a dpkg/apt lock held by another process. @default 60 */
  aptLockTimeout?: number;
}

export interface RunOptions {
  check: boolean;
  /** Run only tasks whose role or tags are in this list. */
  tags?: string[];
  /** Leave out tasks whose role or tags are in this list (wins over `tags`, as in Ansible). */
  skipTags?: string[];
  reporter: Reporter;
}

/** The tasks --tags and --skip-tags select: by role name or task tag. */
export function selectTasks(tasks: Task[], o: Pick<RunOptions, 'tags' | 'skipTags'>): Task[] {
  const hit = (t: Task, list: string[]) => list.includes(t.role) || t.tags.some((x) => list.includes(x));
  return tasks.filter(
    (t) => (!o.tags?.length || hit(t, o.tags)) && !(o.skipTags?.length && hit(t, o.skipTags)),
  );
}

const stepText = (s: Step): string => ('run' in s ? s.run : `put ${s.put.local} -> ${STAGE}/${s.put.name}`);

export class StepFailed extends Error {}

type Exec = Pick<Connector, 'exec'> & Partial<Pick<Connector, 'put' | 'stagingDir'>>;

/** The host's staging directory, made on first use (only runs that push files have one). */
interface Staging {
  dir?: string;
  get(c: Exec): Promise<string>;
}
function staging(): Staging {
  return {
    async get(c) {
      if (!this.dir) {
        if (!c.stagingDir) throw new StepFailed('no staging directory on this connection');
        this.dir = await c.stagingDir();
      }
      return this.dir;
    },
  };
}

async function runSteps(
  c: Exec,
  steps: Step[],
  host: string,
  reporter: Reporter,
  stage: Staging,
): Promise<void> {
  for (const s of steps) {
    if ('put' in s) {
      if (!c.put) throw new StepFailed(`cannot push ${s.put.local}: no file transfer on this connection`);
      await c.put(s.put.local, `${await stage.get(c)}/${s.put.name}`);
      continue;
    }
    const run = s.run.includes(STAGE) ? `CDK8S_STAGE=${q(await stage.get(c))}; ${s.run}` : s.run;
    const stream = reporter.output ? lineRedactor((text) => reporter.output!(host, text)) : undefined;
    let r: ExecResult;
    try {
      r = await c.exec(run, stream && ((chunk) => stream.write(chunk)), s.stdin);
    } finally {
      stream?.end();
    }
    if (r.code !== 0) {
      const out = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-5).join(' | ');
      throw new StepFailed(
        `command failed (exit ${r.code}): ${s.run.length > 160 ? s.run.slice(0, 160) + '…' : s.run}: ${out}`,
      );
    }
  }
}

/**
 * One host: connect, read facts, refuse unsupported systems before any change, then each task:
 * plan (facts only), execute unless in check mode, notify handlers; handlers run once at the end
 * of their role. The first failed task stops this host (as Ansible does); other hosts go on.
 */
export async function runHost(plan: HostPlan, opts: RunOptions): Promise<HostResult> {
  const result: HostResult = {
    host: plan.name,
    unreachable: false,
    counts: { ok: 0, changed: 0, skipped: 0, failed: 0, unreachable: 0 },
    tasks: [],
  };
  const record = (t: Omit<TaskResult, 'host'>): void => {
    // Whatever a task reports passes here on its way to -v, --json and the recap.
    const full: TaskResult = {
      host: plan.name,
      ...t,
      reason: redact(t.reason),
      commands: t.commands.map(redact),
      ...(t.diff ? { diff: redact(t.diff) } : {}),
    };
    result.tasks.push(full);
    result.counts[t.status]++;
    opts.reporter.task(full);
  };
  let c: Connector;
  const stage = staging();
  try {
    c = await plan.connect();
  } catch (e) {
    result.unreachable = true;
    result.error = (e as Error).message;
    record({
      role: 'connect',
      task: 'ssh',
      status: 'unreachable',
      reason: `unreachable: ${result.error}`,
      commands: [],
    });
    return result;
  }
  try {
    const facts = await hostFacts({ read: (cmd) => c.exec(cmd) });
    const refused = unsupportedOs(facts);
    if (refused) {
      result.error = refused;
      record({ role: 'facts', task: 'supported OS', status: 'failed', reason: refused, commands: [] });
      return result;
    }
    record({
      role: 'facts',
      task: 'gather',
      status: 'ok',
      reason: `debian ${facts.osVersionId} (${facts.osCodename}), kernel ${facts.kernel}, ${facts.arch}, container=${facts.container}, gpu=${facts.nvidiaGpu}`,
      commands: [],
    });
    const tasks = selectTasks(plan.tasks(facts), opts);
    const notified = new Set<string>();
    const flush = async (role: string): Promise<void> => {
      for (const h of plan.handlers) {
        if (!notified.delete(h.name)) continue;
        const commands = h.steps.map(stepText);
        if (h.reboot && !plan.allowReboot) {
          record({
            role,
            task: `handler: ${h.name}`,
            status: 'skipped',
            reason:
              'reboot required (new driver or kernel module); cluster.allowReboot is false: reboot this host yourself',
            commands,
          });
          continue;
        }
        if (!opts.check) {
          if (h.reboot) {
            c = await reboot(c, plan);
            stage.dir = undefined; // a reboot may have emptied /tmp: the next push makes a new one
          } else await runSteps(c, h.steps, plan.name, opts.reporter, stage);
        }
        record({
          role,
          task: `handler: ${h.name}`,
          status: 'changed',
          reason: opts.check ? 'notified (check mode: not run)' : 'notified',
          commands,
        });
      }
    };
    const ctx = {
      facts: { read: (cmd: string) => c.exec(cmd) },
      host: facts,
      check: opts.check,
      ...(plan.aptLockTimeout !== undefined ? { aptLockTimeout: plan.aptLockTimeout } : {}),
    };
    for (let i = 0; i < tasks.length; i++) {
      const t = tasks[i]!;
      let p: Plan | undefined;
      try {
        p = await t.plan(ctx);
        if (p.status === 'changed' && !opts.check)
          await runSteps(p.delegate ?? c, p.steps, plan.name, opts.reporter, stage);
      } catch (e) {
        result.error = redact(`${t.role} : ${t.name}: ${(e as Error).message}`);
        record({
          role: t.role,
          task: t.name,
          status: 'failed',
          reason: (e as Error).message,
          commands: p?.steps.map(stepText) ?? [],
          diff: p?.diff || undefined,
        });
        return result;
      }
      if (p.status === 'changed') for (const n of p.notify ?? []) notified.add(n);
      record({
        role: t.role,
        task: t.name,
        status: p.status,
        reason: p.reason + (p.delegate ? ` (on ${p.delegate.name})` : ''),
        commands: p.steps.map(stepText),
        diff: p.diff || undefined,
      });
      if (tasks[i + 1]?.role !== t.role) {
        try {
          await flush(t.role);
        } catch (e) {
          result.error = redact(`${t.role} handler: ${(e as Error).message}`);
          record({
            role: t.role,
            task: 'handlers',
            status: 'failed',
            reason: (e as Error).message,
            commands: [],
          });
          return result;
        }
      }
    }
    return result;
  } catch (e) {
    result.error = redact((e as Error).message);
    record({ role: 'facts', task: 'gather', status: 'failed', reason: result.error, commands: [] });
    return result;
  } finally {
    if (stage.dir) await c.exec(`rm -rf ${q(stage.dir)}`).catch(() => undefined);
    await c.close();
  }
}

/** Reboot through a transient timer (so the SSH command returns), then wait for SSH to answer again. */
async function reboot(c: Connector, plan: HostPlan): Promise<Connector> {
  const r = await c.exec('systemd-run --on-active=2 --timer-property=AccuracySec=1s systemctl reboot');
  if (r.code !== 0) throw new StepFailed(`cannot schedule reboot: ${r.stderr.trim()}`);
  await c.close();
  await new Promise((res) => setTimeout(res, plan.rebootSettleMs ?? 10_000));
  const deadline = Date.now() + (plan.rebootTimeoutMs ?? 600_000);
  for (;;) {
    try {
      return await plan.connect();
    } catch (e) {
      if (Date.now() > deadline)
        throw new StepFailed(`host did not come back after reboot: ${(e as Error).message}`);
      await new Promise((res) => setTimeout(res, Math.min(5_000, plan.rebootSettleMs ?? 5_000)));
    }
  }
}

/** All hosts in parallel; one host's failure never stops another. */
export async function runAll(hosts: HostPlan[], opts: RunOptions): Promise<HostResult[]> {
  return Promise.all(hosts.map((h) => runHost(h, opts)));
}

export interface BatchRun {
  results: HostResult[];
  /** Hosts never contacted because a host in an earlier batch failed or was unreachable. */
  notRun: string[];
}

/**
 * Ansible's `serial`: the hosts in batches of `serial` (all in one batch when undefined), each
 * batch in parallel, the next only once the whole batch is done; so `serial: 1` rolls a driver
 * reboot through one node at a time. Any failed or unreachable host stops the later batches
 * (Ansible's max_fail_percentage 0), and the hosts they held are reported as not run.
 */
export async function runSerial(
  hosts: HostPlan[],
  opts: RunOptions,
  serial?: number,
  run: (h: HostPlan, o: RunOptions) => Promise<HostResult> = runHost,
): Promise<BatchRun> {
  const size = serial ?? Math.max(hosts.length, 1);
  const results: HostResult[] = [];
  for (let i = 0; i < hosts.length; i += size) {
    const batch = await Promise.all(hosts.slice(i, i + size).map((h) => run(h, opts)));
    results.push(...batch);
    if (batch.some((r) => r.counts.failed > 0 || r.counts.unreachable > 0))
      return { results, notRun: hosts.slice(i + size).map((h) => h.name) };
  }
  return { results, notRun: [] };
}
