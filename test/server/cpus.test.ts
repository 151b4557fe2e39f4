import { mkdtempSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  availableCpus,
  cgroupCpuQuota,
  cgroupCpusetSize,
  cpuListSize,
  processCpus,
} from '../../server/cpus.ts';
import { DEFAULT_MODEL_CONFIG } from '../../server/config.ts';
import { intraOpThreads, sessionOptions } from '../../server/session-options.ts';
import { removeDir, writeFile } from './helpers.ts';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

/** A cgroup filesystem root holding `files` (path relative to the root -> content). */
function cgroupRoot(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'cgroup-'));
  dirs.push(root);
  for (const [path, content] of Object.entries(files)) writeFile(join(root, path), content);
  return root;
}

describe('the CPU quota of the cgroup', () => {
  it.each<[string, Record<string, string>, number | undefined]>([
    ['v2, 2 CPUs', { 'cpu.max': '200000 100000\n' }, 2],
    ['v2, 1.5 CPUs rounded up', { 'cpu.max': '150000 100000\n' }, 2],
    ['v2, 0.1 CPU is still one thread', { 'cpu.max': '10000 100000\n' }, 1],
    ['v2, another period', { 'cpu.max': '400000 50000\n' }, 8],
    ['v2, no quota', { 'cpu.max': 'max 100000\n' }, undefined],
    [
      'v1, 4 CPUs (cpu,cpuacct)',
      { 'cpu,cpuacct/cpu.cfs_quota_us': '400000\n', 'cpu,cpuacct/cpu.cfs_period_us': '100000\n' },
      4,
    ],
    ['v1, 3 CPUs (cpu)', { 'cpu/cpu.cfs_quota_us': '250000\n', 'cpu/cpu.cfs_period_us': '100000\n' }, 3],
    ['v1, no quota (-1)', { 'cpu/cpu.cfs_quota_us': '-1\n', 'cpu/cpu.cfs_period_us': '100000\n' }, undefined],
    ['v1, quota without its period', { 'cpu/cpu.cfs_quota_us': '200000\n' }, undefined],
    ['garbage', { 'cpu.max': 'lots\n' }, undefined],
    ['no files', {}, undefined],
  ])('%s', (_what, files, cpus) => {
    expect(cgroupCpuQuota(cgroupRoot(files))).toBe(cpus);
  });

  it('reads a root that does not exist as no limit', () => {
    expect(cgroupCpuQuota('/nonexistent/cgroup')).toBeUndefined();
    expect(cgroupCpusetSize('/nonexistent/cgroup')).toBeUndefined();
    expect(availableCpus('/nonexistent/cgroup')).toBe(availableParallelism());
  });
});

describe('the cpuset of the cgroup', () => {
  it.each<[string, number | undefined]>([
    ['0', 1],
    ['0-3', 4],
    ['0-3,8,10-11', 7],
    ['2,4', 2],
    ['', undefined],
    ['3-1', undefined],
    ['a-b', undefined],
  ])('list %j has %s CPUs', (list, n) => {
    expect(cpuListSize(list)).toBe(n);
  });

  it.each<[string, Record<string, string>, number | undefined]>([
    ['v2', { 'cpuset.cpus.effective': '0-1\n' }, 2],
    ['v1 effective', { 'cpuset/cpuset.effective_cpus': '0,2,4\n' }, 3],
    ['v1', { 'cpuset/cpuset.cpus': '5\n' }, 1],
    ['v2, empty', { 'cpuset.cpus.effective': '\n' }, undefined],
  ])('%s', (_what, files, n) => {
    expect(cgroupCpusetSize(cgroupRoot(files))).toBe(n);
  });
});

describe('the CPUs this process may use', () => {
  it('is the least of affinity, quota and cpuset, at least 1', () => {
    const host = availableParallelism();
    expect(availableCpus(cgroupRoot({ 'cpu.max': '100000 100000' }))).toBe(1);
    expect(availableCpus(cgroupRoot({ 'cpu.max': `${(host + 4) * 100000} 100000` }))).toBe(host);
    expect(availableCpus(cgroupRoot({ 'cpu.max': 'max 100000', 'cpuset.cpus.effective': '0' }))).toBe(1);
    expect(
      availableCpus(
        cgroupRoot({
          'cpu/cpu.cfs_quota_us': '100000',
          'cpu/cpu.cfs_period_us': '100000',
          'cpuset/cpuset.cpus': '0-63',
        }),
      ),
    ).toBe(1);
    expect(processCpus()).toBe(availableCpus());
  });

  it('sizes intra_op_threads 0 from them, not from the host', () => {
    // A 2-CPU quota on a host with more: availableParallelism alone gave every thread of the host.
    const cpus = availableCpus(cgroupRoot({ 'cpu.max': '200000 100000' }));
    expect(cpus).toBe(Math.min(2, availableParallelism()));
    expect(intraOpThreads(DEFAULT_MODEL_CONFIG, 1, 2)).toBe(2);
    expect(intraOpThreads(DEFAULT_MODEL_CONFIG, 2, 2)).toBe(1);
    expect(intraOpThreads(DEFAULT_MODEL_CONFIG, 4, 2)).toBe(1);
    expect(intraOpThreads({ intra_op_threads: 3 }, 1, 2)).toBe(3);
    expect(sessionOptions(DEFAULT_MODEL_CONFIG, 'cpu').intraOpNumThreads).toBe(processCpus());
  });
});
