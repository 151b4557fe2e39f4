/**
 * The cluster's processes: started detached (they outlive `npm run cluster:up`), each with a log
 * file and a pid file under .cluster/, so cluster:down and cluster:status find every one of them.
 */
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import type { Layout } from './layout.ts';

export class ComponentError extends Error {
  constructor(
    readonly component: string,
    readonly logFile: string | undefined,
    detail: string,
  ) {
    super(
      `${component}: ${detail}` +
        (logFile ? `\n  log: ${logFile}\n${tail(logFile)}` : '') +
        '\n  what to do: fix the cause above, then run npm run cluster:down and npm run cluster:up again',
    );
  }
}

function tail(file: string, lines = 15): string {
  if (!existsSync(file)) return '  (no log written)';
  return readFileSync(file, 'utf8')
    .trimEnd()
    .split('\n')
    .slice(-lines)
    .map((l) => `  | ${l.slice(0, 300)}`)
    .join('\n');
}

export interface Started {
  readonly name: string;
  readonly pid: number;
  readonly log: string;
}

/** Starts `cmd args` detached, in its own process group, logging to .cluster/logs/<name>.log. */
export function start(
  l: Layout,
  name: string,
  cmd: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Started {
  mkdirSync(l.logs, { recursive: true });
  mkdirSync(l.pids, { recursive: true });
  const log = join(l.logs, `${name}.log`);
  const fd = openSync(log, 'a');
  const child = spawn(cmd, args, {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: opts.env ?? process.env,
    cwd: opts.cwd,
  });
  closeSync(fd);
  if (child.pid === undefined) throw new ComponentError(name, log, `could not start ${cmd}`);
  child.unref();
  writeFileSync(join(l.pids, `${name}.pid`), `${child.pid}\n`);
  return { name, pid: child.pid, log };
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The processes cluster:up recorded, by name. */
export function recorded(l: Layout): { name: string; pid: number }[] {
  if (!existsSync(l.pids)) return [];
  return readdirSync(l.pids)
    .filter((f) => f.endsWith('.pid'))
    .map((f) => ({ name: f.slice(0, -4), pid: Number(readFileSync(join(l.pids, f), 'utf8').trim()) }));
}

/** Stops every recorded process group: SIGTERM, then SIGKILL after graceMs. */
export async function stopAll(l: Layout, graceMs = 10_000): Promise<string[]> {
  const procs = recorded(l);
  for (const p of procs) signal(p.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (procs.some((p) => alive(p.pid)) && Date.now() < deadline) await sleep(100);
  for (const p of procs) if (alive(p.pid)) signal(p.pid, 'SIGKILL');
  while (procs.some((p) => alive(p.pid))) await sleep(50);
  rmSync(l.pids, { recursive: true, force: true });
  return procs.map((p) => p.name);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      /* already gone */
    }
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Fails with the component's name when something already listens on host:port. */
export async function assertPortFree(component: string, host: string, port: number): Promise<void> {
  const inUse = await new Promise<boolean>((resolve) => {
    const s = createConnection({ host, port });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
  if (inUse)
    throw new ComponentError(
      component,
      undefined,
      `port ${host}:${port} is already in use (another cluster:up, or another program)`,
    );
}

/**
 * Waits until probe() is true; fails naming the component and its log when the process exits or
 * the time runs out.
 */
export async function waitFor(
  p: Started,
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (!alive(p.pid)) throw new ComponentError(p.name, p.log, `exited before ${what}`);
    if (Date.now() > deadline)
      throw new ComponentError(p.name, p.log, `not ${what} after ${timeoutMs / 1000} s`);
    await sleep(250);
  }
}
