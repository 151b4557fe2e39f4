import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

/**
 * The CPUs this process may use: `os.availableParallelism()` (the CPUs of its affinity mask),
 * bounded by the cgroup's CPU quota and cpuset. A pod's CPU limit is a CFS quota, which
 * availableParallelism ignores: a 2-CPU pod on a 20-thread node would run 20 threads and be
 * throttled. `root` is where the cgroup filesystem is mounted (the container's own cgroup, with
 * Kubernetes' cgroup namespaces); tests pass a fixture directory.
 */
export function availableCpus(root = '/sys/fs/cgroup'): number {
  const limits = [availableParallelism(), cgroupCpuQuota(root), cgroupCpusetSize(root)];
  return Math.max(1, Math.min(...limits.filter((n): n is number => n !== undefined)));
}

let cached: number | undefined;
/** availableCpus() of this process, read once (the quota of a running container does not change). */
export function processCpus(): number {
  return (cached ??= availableCpus());
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined; // absent (no cgroup, or this controller not mounted): no limit from it
  }
}

/**
 * CPUs of the CFS quota, rounded up (1.5 CPUs: 2 threads, as the JVM and Go round it), or
 * undefined when there is none. cgroup v2: `cpu.max` is "QUOTA PERIOD" or "max PERIOD";
 * v1: `cpu.cfs_quota_us` (-1: none) and `cpu.cfs_period_us` under `cpu/` or `cpu,cpuacct/`.
 */
export function cgroupCpuQuota(root: string): number | undefined {
  const v2 = read(join(root, 'cpu.max'));
  if (v2 !== undefined) {
    const [quota, period] = v2.split(/\s+/);
    return quotaCpus(quota, period ?? '100000');
  }
  for (const dir of ['cpu', 'cpu,cpuacct']) {
    const quota = read(join(root, dir, 'cpu.cfs_quota_us'));
    const period = read(join(root, dir, 'cpu.cfs_period_us'));
    if (quota !== undefined && period !== undefined) return quotaCpus(quota, period);
  }
  return undefined;
}

function quotaCpus(quota: string | undefined, period: string): number | undefined {
  const q = Number(quota);
  const p = Number(period);
  // "max" (v2) and -1 (v1) mean no quota; anything unparsable is treated as none too.
  if (!Number.isFinite(q) || !Number.isFinite(p) || q <= 0 || p <= 0) return undefined;
  return Math.max(1, Math.ceil(q / p));
}

/**
 * CPUs in the cgroup's cpuset, or undefined when it names none. v2: `cpuset.cpus.effective`;
 * v1: `cpuset/cpuset.effective_cpus` or `cpuset/cpuset.cpus`. The list format is "0-3,8,10-11".
 */
export function cgroupCpusetSize(root: string): number | undefined {
  for (const file of ['cpuset.cpus.effective', 'cpuset/cpuset.effective_cpus', 'cpuset/cpuset.cpus']) {
    const list = read(join(root, file));
    if (list === undefined || list === '') continue;
    const n = cpuListSize(list);
    if (n !== undefined) return n;
  }
  return undefined;
}

/** Size of a kernel CPU list ("0-3,8"), undefined if it is not one. */
export function cpuListSize(list: string): number | undefined {
  let n = 0;
  for (const part of list.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return undefined;
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) return undefined;
    n += hi - lo + 1;
  }
  return n > 0 ? n : undefined;
}
