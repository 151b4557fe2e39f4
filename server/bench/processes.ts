/**
 * Starting, measuring and stopping the servers the benchmarks run: shared by bench.ts (our server's
 * scenarios) and peers.ts (the peer table). Loopback only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** Every process started here and not yet stopped: killed when the bench exits early. */
export const children = new Set<ChildProcess>();
/** The pids of those started as process-group leaders. */
const groups = new Set<number>();

export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => ok(port));
    });
  });
}

export interface Started {
  readonly name: string;
  readonly child: ChildProcess;
  readonly port: number;
  /** Seconds from spawn to the first 200 from the readiness probe. */
  readonly coldStart: number;
  /** Its gRPC port (KServe V2 / Triton), for the stacks that serve one (perf_analyzer's -i grpc). */
  readonly grpcPort?: number;
  /** The file holding the process's stdout and stderr. */
  readonly log: string;
  /** Started in its own process group, stopped as a group (servers that spawn their own children). */
  readonly group: boolean;
}

export interface StartOptions {
  readonly cwd: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Where logs go: `<logDir>/<name>.log`. */
  readonly logDir: string;
  /** Spawn in a new process group and signal the whole group on stop (default false). */
  readonly group?: boolean;
  /** Seconds to wait for the readiness path to answer 200 (default 120). */
  readonly readySeconds?: number;
  /** The path that answers 200 once every model is served (default `/v2/health/ready`). */
  readonly readyPath?: string;
}

/** Spawns `cmd` on a free loopback port and waits for its readiness path to answer 200. */
export async function start(
  name: string,
  cmd: string,
  args: (port: number) => string[],
  opts: StartOptions,
): Promise<Started> {
  const port = await freePort();
  const log = join(opts.logDir, `${name}.log`);
  const t0 = performance.now();
  // Logs go straight to a file: piping them through this process would cost it CPU under load.
  const fd = openSync(log, 'a');
  const child = spawn(cmd, args(port), {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', fd, fd],
    detached: opts.group ?? false,
  });
  closeSync(fd);
  children.add(child);
  if (opts.group && child.pid) groups.add(child.pid);
  const spawnError = new Promise<Error>((r) => child.once('error', r));
  let failure: Error | undefined;
  void spawnError.then((e) => (failure = e));
  const started = { name, child, port, log, group: opts.group ?? false };
  const deadline = t0 + (opts.readySeconds ?? 120) * 1000;
  for (;;) {
    if (failure) throw new Error(`${name}: cannot run ${cmd}: ${failure.message}`);
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${name} exited with ${child.exitCode ?? child.signalCode}; log ${log}:\n${tail(log)}`);
    }
    try {
      const res = await fetch(`http://127.0.0.1:${port}${opts.readyPath ?? '/v2/health/ready'}`);
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline) {
      await stop({ ...started, coldStart: NaN });
      throw new Error(`${name} not ready after ${opts.readySeconds ?? 120} s; log ${log}:\n${tail(log)}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return { ...started, coldStart: (performance.now() - t0) / 1000 };
}

/** The last lines of a log, for error messages. */
function tail(file: string, lines = 20): string {
  return existsSync(file) ? readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') : '';
}

function signal(s: Started, sig: NodeJS.Signals): void {
  try {
    if (s.group) process.kill(-s.child.pid!, sig);
    else s.child.kill(sig);
  } catch {
    // already gone
  }
}

/**
 * SIGTERM, then SIGKILL after 30 s; for a group, every process of it. Then every process of the
 * tree it had is waited for, and killed after 10 s: TorchServe's workers leave the group.
 */
export async function stop(s: Started): Promise<void> {
  const tree = s.child.pid ? processTree(s.child.pid) : [];
  const alive = s.child.exitCode === null && s.child.signalCode === null;
  if (alive) {
    const exited = new Promise((r) => s.child.once('exit', r));
    signal(s, 'SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
  }
  // A group's other processes may outlive its leader.
  if (s.group || s.child.exitCode === null) signal(s, 'SIGKILL');
  children.delete(s.child);
  groups.delete(s.child.pid!);
  const deadline = performance.now() + 10_000;
  let left = tree.slice(1).filter(running);
  while (left.length && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    left = left.filter(running);
  }
  for (const pid of left) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

/** Whether a pid is a live process (not a zombie). */
function running(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

export function killChildren(): void {
  for (const c of children) {
    if (c.pid && groups.has(c.pid)) {
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  }
}

/** CPU seconds (user + system, all threads) a process has used so far. */
export function cpuSeconds(pid: number): number {
  // Fields 14 and 15 of /proc/PID/stat, after the parenthesized command name; in clock ticks (100/s on Linux).
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Peak resident set (VmHWM) of a process, in MiB. */
export function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
}

/** A process and all its live descendants (gunicorn's workers, tritonserver and its stubs). */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    // Each thread lists the children it forked: Java and tritonserver spawn from other threads than the main one.
    let threads: string[];
    try {
      threads = readdirSync(`/proc/${out[i]}/task`);
    } catch {
      continue; // exited meanwhile
    }
    for (const tid of threads) {
      try {
        const children = readFileSync(`/proc/${out[i]}/task/${tid}/children`, 'utf8').trim();
        for (const c of children.split(/\s+/)) if (c) out.push(Number(c));
      } catch {
        // the thread ended meanwhile
      }
    }
  }
  return out;
}

/** CPU seconds used so far by a process tree's live members. */
export function treeCpuSeconds(pid: number): number {
  return processTree(pid).reduce((sum, p) => {
    try {
      return sum + cpuSeconds(p);
    } catch {
      return sum;
    }
  }, 0);
}

/**
 * Proportional set size of a process tree, in MiB: pages shared between its processes (gunicorn's
 * forked workers, a shared library) are counted once in total, not once per process as RSS would.
 */
export function treePssMiB(pid: number): number {
  return processTree(pid).reduce((sum, p) => {
    try {
      const rollup = readFileSync(`/proc/${p}/smaps_rollup`, 'utf8');
      return sum + Number(/^Pss:\s+(\d+) kB/m.exec(rollup)?.[1] ?? 0) / 1024;
    } catch {
      return sum;
    }
  }, 0);
}
