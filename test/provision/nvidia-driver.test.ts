/**
 * The NVIDIA driver fits the server image: the source picked per Debian release, and the installed
 * driver checked against the image's minimum. The nvidia role runs through the engine in check mode
 * against scripted Debian 11, 12 and 13 GPU hosts (no GPU here: the hosts answer the fact commands
 * as such hosts would, the way test/provision/engine.test.ts scripts one).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SERVER_IMAGE_CUDA } from '../../constructs/contract.ts';
import { runHost, type HostResult } from '../../provision/src/engine.ts';
import { driverOfPackageVersion, parseNvidiaModuleVersion } from '../../provision/src/facts.ts';
import { validateInventory } from '../../provision/src/inventory.ts';
import { HANDLERS, playFor } from '../../provision/src/roles/index.ts';
import { planDriverFits } from '../../provision/src/roles/nvidia.ts';
import type { Connector } from '../../provision/src/types.ts';
import {
  compareDriverVersions,
  cudaMinimumDriver,
  defaultDriverSource,
  IMAGE_MINIMUM_DRIVER,
} from '../../provision/src/versions.ts';
import { BOOKWORM_FACTS_OUTPUT } from './bookworm-facts.ts';

const RELEASES = { '11': 'bullseye', '12': 'bookworm', '13': 'trixie' } as const;
type Release = keyof typeof RELEASES;

interface HostState {
  /** /proc/driver/nvidia/version's text, absent when no module is loaded. */
  module?: string;
  /** Installed packages and their Debian versions. */
  packages?: Record<string, string>;
}

const MODULE_470 =
  'NVRM version: NVIDIA UNIX x86_64 Kernel Module  470.256.02  Thu May  2 14:37:44 UTC 2024\nGCC version:  gcc version 10.2.1 20210110 (Debian 10.2.1-6)\n';
const MODULE_570_OPEN =
  'NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.124.06  Release Build  (dvs-builder@U16-I3-B03-4-3)  Wed Feb 26 01:22:49 UTC 2025\n';

/** A Debian GPU host as the fact commands see it; every other read finds nothing. */
class ScriptedGpuHost implements Connector {
  readonly name = 'scripted';
  readonly reads: string[] = [];
  constructor(
    readonly release: Release,
    readonly state: HostState = {},
  ) {}
  async exec(cmd: string) {
    this.reads.push(cmd);
    const done = (stdout: string) => ({ code: 0, stdout, stderr: '' });
    if (cmd.startsWith('. /etc/os-release'))
      return done(
        BOOKWORM_FACTS_OUTPUT.replace(
          'os=debian|12|bookworm',
          `os=debian|${this.release}|${RELEASES[this.release]}`,
        ).replace('gpu=\n', 'gpu=65:00.0 0302: 10de:2235 (rev a1)\n'),
      );
    if (cmd.startsWith('cat /proc/driver/nvidia/version'))
      return this.state.module ? done(this.state.module) : { code: 1, stdout: '', stderr: '' };
    if (cmd.startsWith('dpkg-query')) {
      const lines = Object.entries(this.state.packages ?? {})
        .filter(([name]) => cmd.includes(` ${name}`))
        .map(([name, version]) => `${name} ${version} ii \n`);
      return done(`${lines.join('')}---\n`);
    }
    if (cmd.startsWith('if [ -f ')) return done('ABSENT\n');
    // NVIDIA's repository index, fetched (read-only) for cuda-keyring's checksum.
    if (cmd.includes(`/compute/cuda/repos/debian${this.release}/x86_64/Packages`))
      return done(
        `Package: cuda-keyring\nFilename: ./cuda-keyring_1.1-1_all.deb\nSHA256: ${'c'.repeat(64)}\n`,
      );
    return { code: 1, stdout: '', stderr: '' };
  }
  async put() {}
  async close() {}
}

/** The nvidia role of a GPU worker with this cluster spec, in check mode. */
async function checkNvidia(
  host: ScriptedGpuHost,
  cluster: Record<string, unknown> = {},
): Promise<HostResult> {
  const inv = validateInventory({
    cluster,
    hosts: {
      cp: { address: '10.0.0.10', role: 'control-plane' },
      gpu: { address: '10.0.0.11', role: 'worker', gpu: 'auto' },
    },
  });
  const h = inv.hosts.find((x) => x.name === 'gpu')!;
  return runHost(
    {
      name: 'gpu',
      connect: async () => host,
      tasks: (facts) =>
        playFor({
          host: h,
          facts,
          cluster: inv.cluster,
          site: {},
          gpu: facts.nvidiaGpu,
          controlPlane: {
            name: 'cp',
            address: '10.0.0.10',
            ready: async () => {},
            exec: async () => ({ code: 1, stdout: '', stderr: '' }),
          },
        }),
      handlers: HANDLERS,
      allowReboot: false,
    },
    { check: true, tags: ['nvidia'], reporter: { task: () => {} } },
  );
}

const task = (r: HostResult, name: string) => {
  const t = r.tasks.find((x) => x.role === 'nvidia' && x.task === name);
  if (!t) throw new Error(`no task ${name}: ${r.tasks.map((x) => x.task).join(', ')}`);
  return t;
};
const names = (r: HostResult) => r.tasks.filter((t) => t.role === 'nvidia').map((t) => t.task);

describe("the server image's minimum driver", () => {
  it("follows server/Dockerfile's CUDA base through NVIDIA's support matrix", () => {
    const dockerfile = readFileSync(join(import.meta.dirname, '..', '..', 'server', 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain(`\nFROM nvidia/cuda:${SERVER_IMAGE_CUDA}-cudnn-runtime-`);
    expect(cudaMinimumDriver(SERVER_IMAGE_CUDA)).toBe('525.60.13');
    expect(IMAGE_MINIMUM_DRIVER).toBe('525.60.13');
    expect(cudaMinimumDriver('13.0.0')).toBe('580.65.06');
    expect(() => cudaMinimumDriver('11.8.0')).toThrow(
      'no minimum NVIDIA driver known for CUDA 11.8.0; known: CUDA 12, 13',
    );
  });

  it('compares driver versions by number, not as text', () => {
    expect(compareDriverVersions('535.261.03', '525.60.13')).toBe(1);
    expect(compareDriverVersions('470.256.02', '525.60.13')).toBe(-1);
    expect(compareDriverVersions('525.60.13', '525.60.13')).toBe(0);
    expect(compareDriverVersions('525.100', '525.60.13')).toBe(1);
    expect(compareDriverVersions('525.60', '525.60.13')).toBe(-1);
  });

  it('reads the loaded module and the packaged driver versions', () => {
    expect(parseNvidiaModuleVersion(MODULE_470)).toBe('470.256.02');
    expect(parseNvidiaModuleVersion(MODULE_570_OPEN)).toBe('570.124.06');
    expect(parseNvidiaModuleVersion('')).toBeNull();
    expect(parseNvidiaModuleVersion('cat: /proc/driver/nvidia/version: No such file')).toBeNull();
    expect(driverOfPackageVersion('535.261.03-1')).toBe('535.261.03');
    expect(driverOfPackageVersion('535.309.01-0+deb11u1')).toBe('535.309.01');
    expect(driverOfPackageVersion('1:570.124.06-1')).toBe('570.124.06');
  });

  it("defaults to NVIDIA's CUDA repository where Debian's driver is too old", () => {
    expect(defaultDriverSource('11')).toBe('cuda');
    expect(defaultDriverSource('12')).toBe('debian');
    expect(defaultDriverSource('13')).toBe('debian');
    // A release this table does not know: NVIDIA's repository, not a guess at Debian's.
    expect(defaultDriverSource('14')).toBe('cuda');
  });
});

describe('nvidia role in check mode on Debian 11, 12 and 13 GPU hosts', () => {
  it("Debian 11: NVIDIA's CUDA repository, since bullseye's 470 is older than the image allows", async () => {
    const host = new ScriptedGpuHost('11');
    const r = await checkNvidia(host);
    expect(r.error).toBeUndefined();
    expect(task(r, 'driver source fits the server image')).toMatchObject({
      status: 'ok',
      reason:
        "NVIDIA's CUDA repository (cuda-drivers) for Debian 11 (bullseye), the default: Debian's nvidia-driver 470.256.02 is older than 525.60.13, the minimum of the server image (CUDA 12.8.1)",
    });
    expect(names(r)).toContain('driver (CUDA cuda-drivers)');
    expect(names(r)).not.toContain('driver (Debian nvidia-driver)');
    expect(task(r, 'download cuda-keyring').commands[0]).toContain(
      'https://developer.download.nvidia.com/compute/cuda/repos/debian11/x86_64/cuda-keyring_1.1-1_all.deb',
    );
    expect(task(r, 'driver (CUDA cuda-drivers)').commands[0]).toMatch(
      / install --no-install-recommends linux-headers-amd64 cuda-drivers$/,
    );
    expect(task(r, 'driver fits the server image')).toMatchObject({
      status: 'skipped',
      reason:
        'check mode: no NVIDIA driver installed yet (the driver task installs cuda-drivers); it must be >= 525.60.13',
    });
    expect(task(r, 'handler: reboot').status).toBe('skipped');
  });

  it('Debian 11 with nvidiaDriver debian: refused before any driver change, naming both versions', async () => {
    const r = await checkNvidia(new ScriptedGpuHost('11'), { nvidiaDriver: 'debian' });
    expect(r.error).toBe(
      `nvidia : driver source fits the server image: cluster.nvidiaDriver is "debian": Debian 11 (bullseye)'s nvidia-driver is 470.256.02, older than 525.60.13, the minimum of the server image (CUDA 12.8.1); allowed on this host: "auto" or "cuda" (NVIDIA's CUDA repository), or "none" with a driver >= 525.60.13 installed`,
    );
    expect(names(r)).toEqual(['driver source fits the server image']);
  });

  for (const [release, driver] of [
    ['12', '535.261.03'],
    ['13', '550.163.01'],
  ] as const) {
    it(`Debian ${release}: Debian's nvidia-driver ${driver}, which runs CUDA 12.8 through minor version compatibility`, async () => {
      const host = new ScriptedGpuHost(release);
      const r = await checkNvidia(host);
      expect(r.error).toBeUndefined();
      expect(task(r, 'driver source fits the server image')).toMatchObject({
        status: 'ok',
        reason: `Debian's nvidia-driver ${driver} for Debian ${release} (${RELEASES[release]}), >= 525.60.13 (the minimum of the server image (CUDA 12.8.1))`,
      });
      expect(task(r, 'driver (Debian nvidia-driver)').commands[0]).toMatch(
        / install --no-install-recommends linux-headers-amd64 nvidia-driver firmware-misc-nonfree$/,
      );
      expect(names(r)).not.toContain('driver (CUDA cuda-drivers)');
      expect(host.reads.some((c) => c.includes('developer.download.nvidia.com/compute/cuda'))).toBe(false);
      expect(task(r, 'driver fits the server image')).toMatchObject({
        status: 'skipped',
        reason:
          'check mode: no NVIDIA driver installed yet (the driver task installs nvidia-driver); it must be >= 525.60.13',
      });
    });
  }

  it('a host that already has an old driver fails the check, naming both versions', async () => {
    const host = new ScriptedGpuHost('12', {
      module: MODULE_470,
      packages: {
        'nvidia-driver': '470.256.02-2',
        'firmware-misc-nonfree': '20230210-5',
        'linux-headers-amd64': '6.1.0',
      },
    });
    const r = await checkNvidia(host);
    expect(task(r, 'driver (Debian nvidia-driver)').status).toBe('ok');
    expect(task(r, 'driver fits the server image')).toMatchObject({
      status: 'failed',
      reason:
        'installed NVIDIA driver 470.256.02 (nvidia-driver) is older than 525.60.13, the minimum of the server image (CUDA 12.8.1): upgrade it, or set cluster.nvidiaDriver to "cuda" (NVIDIA\'s CUDA repository)',
    });
  });

  it('nvidiaDriver none on Debian 13: the loaded driver is what counts', async () => {
    const fits = await checkNvidia(new ScriptedGpuHost('13', { module: MODULE_570_OPEN }), {
      nvidiaDriver: 'none',
    });
    expect(names(fits)).not.toContain('driver (Debian nvidia-driver)');
    expect(task(fits, 'driver fits the server image')).toMatchObject({
      status: 'ok',
      reason: 'NVIDIA driver 570.124.06 loaded, >= 525.60.13 (the minimum of the server image (CUDA 12.8.1))',
    });
    // No module yet (as in the Debian 11 e2e's --check): skipped, not failed.
    const none = await checkNvidia(new ScriptedGpuHost('11'), { nvidiaDriver: 'none' });
    expect(none.error).toBeUndefined();
    expect(task(none, 'driver source fits the server image').reason).toBe(
      'nvidiaDriver none: the installed driver must be >= 525.60.13',
    );
    expect(task(none, 'driver fits the server image')).toMatchObject({
      status: 'skipped',
      reason: 'check mode: no NVIDIA driver installed yet; it must be >= 525.60.13',
    });
    const old = await checkNvidia(new ScriptedGpuHost('13', { module: MODULE_470 }), {
      nvidiaDriver: 'none',
    });
    expect(task(old, 'driver fits the server image')).toMatchObject({
      status: 'failed',
      reason:
        'loaded NVIDIA driver 470.256.02 is older than 525.60.13, the minimum of the server image (CUDA 12.8.1): install a newer driver',
    });
  });
});

describe('the driver check outside check mode', () => {
  it('a fitting driver installed but not loaded yet asks for the reboot', () => {
    expect(planDriverFits('cuda', null, '570.124.06', false)).toEqual({
      status: 'changed',
      reason: 'NVIDIA driver 570.124.06 installed, >= 525.60.13; no module loaded until the reboot',
      steps: [],
      notify: ['reboot'],
    });
    expect(planDriverFits('debian', '470.256.02', '535.261.03', false)).toMatchObject({
      status: 'changed',
      reason: 'NVIDIA driver 535.261.03 installed, >= 525.60.13; 470.256.02 still loaded until the reboot',
    });
  });

  it('no driver at all fails, where check mode only skips', () => {
    expect(() => planDriverFits('none', null, null, false)).toThrow(
      'no NVIDIA driver installed or loaded; the minimum of the server image (CUDA 12.8.1) needs >= 525.60.13 (cluster.nvidiaDriver is "none": install one)',
    );
    expect(planDriverFits('none', null, null, true).status).toBe('skipped');
  });
});
