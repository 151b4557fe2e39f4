import { describe, expect, it } from 'vitest';
import {
  parseFileFact,
  parsePackagesFact,
  parseServiceFact,
  parseHostFacts,
  unsupportedOs,
  type FileFact,
} from '../../provision/src/facts.ts';
import { planFile, planLine, planReplace, editLine } from '../../provision/src/ops/file.ts';
import {
  planPackages,
  planAptUpdate,
  planRepo,
  repoLine,
  aptUpdateCommand,
} from '../../provision/src/ops/apt.ts';
import { planDownload, parseChecksum } from '../../provision/src/ops/download.ts';
import { planCommand } from '../../provision/src/ops/command.ts';
import { planSysctlLive, planModuleLive } from '../../provision/src/ops/kernel.ts';
import { planService } from '../../provision/src/ops/service.ts';
import { atomicWriteCommand } from '../../provision/src/shell.ts';
import { unifiedDiff } from '../../provision/src/diff.ts';
import type { HostFacts, Plan } from '../../provision/src/types.ts';

const file = (content: string | null, mode = '0644', owner = 'root', group = 'root'): FileFact =>
  content === null
    ? { exists: false, content: '', mode: '', owner: '', group: '' }
    : { exists: true, content, mode, owner, group };
const cmds = (p: Plan): string[] =>
  p.steps.map((s) => ('run' in s ? s.run : `put ${s.put.local} ${s.put.name}`));
const host: HostFacts = {
  osId: 'debian',
  osVersionId: '12',
  osCodename: 'bookworm',
  kernel: '6.1.0-26-amd64',
  arch: 'amd64',
  container: 'none',
  modulesSupported: true,
  procSysWritable: true,
  nvidiaGpu: false,
  swapActive: false,
  kubeadmMember: false,
};

describe('file', () => {
  const spec = { path: '/etc/x.conf', content: 'a=1\n', notify: ['restart x'] };
  it('writes a missing file atomically with a diff from /dev/null and notifies', () => {
    const p = planFile(spec, file(null));
    expect(p.status).toBe('changed');
    expect(cmds(p)).toEqual([
      atomicWriteCommand({
        path: '/etc/x.conf',
        content: 'a=1\n',
        mode: '0644',
        owner: 'root',
        group: 'root',
      }),
    ]);
    expect(cmds(p)[0]).toBe(
      'mkdir -p /etc && tmp=$(mktemp /etc/x.conf.XXXXXX) && printf %s YT0xCg== | base64 -d > "$tmp" && chmod 0644 "$tmp" && chown root:root "$tmp" && mv -f "$tmp" /etc/x.conf',
    );
    expect(p.diff).toBe('--- /dev/null\n+++ /etc/x.conf\n@@ -0,0 +1,1 @@\n+a=1\n');
    expect(p.notify).toEqual(['restart x']);
  });
  it('rewrites changed content with a unified diff', () => {
    const p = planFile(spec, file('a=0\n'));
    expect(p.reason).toBe('content of /etc/x.conf differs');
    expect(p.diff).toBe('--- /etc/x.conf\n+++ /etc/x.conf\n@@ -1,1 +1,1 @@\n-a=0\n+a=1\n');
  });
  it('fixes only the mode when content matches, and does not notify a restart for content', () => {
    const p = planFile({ ...spec, mode: '0600' }, file('a=1\n'));
    expect(cmds(p)).toEqual(['chmod 0600 /etc/x.conf']);
    expect(p.reason).toBe('/etc/x.conf: mode 0644 -> 0600');
  });
  it('second run is a no-op', () => {
    expect(planFile(spec, file('a=1\n'))).toEqual({
      status: 'ok',
      reason: '/etc/x.conf is up to date',
      steps: [],
    });
  });
});

describe('line and replace', () => {
  it('replaces the last matching line, else appends', () => {
    expect(editLine({ path: 'f', regexp: '^a=', line: 'a=2' }, 'a=1\nb=1\na=3\n')).toBe('a=1\nb=1\na=2\n');
    expect(editLine({ path: 'f', regexp: '^c=', line: 'c=1' }, 'a=1\n')).toBe('a=1\nc=1\n');
    expect(editLine({ path: 'f', regexp: '^a=', state: 'absent' }, 'a=1\nb=1\n')).toBe('b=1\n');
  });
  it('line: change then no-op on the second run', () => {
    const spec = { path: '/etc/default/grub', regexp: '^GRUB_TIMEOUT=', line: 'GRUB_TIMEOUT=1' };
    const first = planLine(spec, file('GRUB_TIMEOUT=5\n'));
    expect(first.status).toBe('changed');
    expect(first.diff).toContain('-GRUB_TIMEOUT=5\n+GRUB_TIMEOUT=1');
    expect(planLine(spec, file('GRUB_TIMEOUT=1\n'))).toEqual({
      status: 'ok',
      reason: '/etc/default/grub: line already present',
      steps: [],
    });
  });
  it('replace comments out swap in fstab, keeps mode and owner, then no-op', () => {
    const spec = { path: '/etc/fstab', regexp: '^([^#\\n]*\\sswap\\s.*)$', replacement: '# $1' };
    const fstab = 'UUID=1 / ext4 defaults 0 1\nUUID=2 none swap sw 0 0\n';
    const p = planReplace(spec, file(fstab, '0644'));
    expect(p.diff).toBe(
      '--- /etc/fstab\n+++ /etc/fstab\n@@ -1,2 +1,2 @@\n UUID=1 / ext4 defaults 0 1\n-UUID=2 none swap sw 0 0\n+# UUID=2 none swap sw 0 0\n',
    );
    const after = 'UUID=1 / ext4 defaults 0 1\n# UUID=2 none swap sw 0 0\n';
    expect(planReplace(spec, file(after)).status).toBe('ok');
    expect(planReplace(spec, file(null))).toEqual({
      status: 'ok',
      reason: '/etc/fstab does not exist, nothing to replace',
      steps: [],
    });
  });
});

describe('apt packages', () => {
  const facts = (s: string) => parsePackagesFact(['kubelet', 'kubeadm'], s);
  it('parses dpkg-query and apt-mark output (rc = removed counts as absent)', () => {
    expect(facts('kubelet 1.34.1-1.1 ii \nkubeadm 1.33.0-1.1 rc \n---\nkubelet\n')).toEqual({
      kubelet: { version: '1.34.1-1.1', held: true },
      kubeadm: { version: null, held: false },
    });
  });
  it('installs missing packages at the pinned version and holds them', () => {
    const p = planPackages({ names: ['kubelet', 'kubeadm'], version: '1.34.*', hold: true }, facts('---\n'));
    expect(cmds(p)).toEqual([
      "DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=60 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install --no-install-recommends 'kubelet=1.34.*' 'kubeadm=1.34.*'",
      'apt-mark hold kubelet kubeadm',
    ]);
  });
  it('moves a held package to a new pinned minor with --allow-change-held-packages', () => {
    const p = planPackages(
      { names: ['kubelet'], version: '1.34.*', hold: true },
      parsePackagesFact(['kubelet'], 'kubelet 1.33.5-1.1 ii \n---\nkubelet\n'),
    );
    expect(cmds(p)).toEqual([
      expect.stringContaining(
        "install --no-install-recommends --allow-change-held-packages 'kubelet=1.34.*'",
      ),
    ]);
    expect(p.reason).toBe('kubelet 1.33.5-1.1 (want 1.34.*)');
  });
  it('removes present packages for state absent, unholding first', () => {
    const p = planPackages(
      { names: ['kubelet', 'kubeadm'], state: 'absent' },
      facts('kubelet 1.34.1-1.1 ii \n---\nkubelet\n'),
    );
    expect(cmds(p)).toEqual(['apt-mark unhold kubelet', expect.stringMatching(/purge kubelet$/)]);
    expect(
      cmds(planPackages({ names: ['kubelet'], state: 'absent' }, facts('kubelet 1 ii \n---\n'), 7)),
    ).toEqual([expect.stringContaining('apt-get -y -q -o DPkg::Lock::Timeout=7 ')]);
    expect(planPackages({ names: ['kubeadm'], state: 'absent' }, facts('---\n')).status).toBe('ok');
  });
  it('second run is a no-op', () => {
    const p = planPackages(
      { names: ['kubelet', 'kubeadm'], version: '1.34.*', hold: true },
      facts('kubelet 1.34.1-1.1 ii \nkubeadm 1.34.1-1.1 ii \n---\nkubelet\nkubeadm\n'),
    );
    expect(p).toEqual({ status: 'ok', reason: 'kubelet 1.34.1-1.1, kubeadm 1.34.1-1.1 (held)', steps: [] });
  });
});

describe('apt update and repository', () => {
  it('updates stale or never-updated lists, then no-op', () => {
    expect(cmds(planAptUpdate({}, null))).toEqual([aptUpdateCommand(60)]);
    expect(cmds(planAptUpdate({}, null, 5))[0]).toContain('${apt_end:=$(($(date +%s)+5))}');
    expect(planAptUpdate({ validSeconds: 3600 }, 7200).reason).toBe('package lists 7200s old');
    expect(planAptUpdate({ validSeconds: 3600 }, 10).status).toBe('ok');
  });
  const spec = {
    name: 'kubernetes',
    keyUrl: 'https://pkgs.k8s.io/core:/stable:/v1.34/deb/Release.key',
    source: 'https://pkgs.k8s.io/core:/stable:/v1.34/deb/ /',
  };
  it('adds keyring (dearmored, through the proxy) and signed-by source, then updates', () => {
    const p = planRepo(spec, { proxy: 'http://10.0.0.1:8888' }, false, file(null));
    expect(cmds(p)).toEqual([
      'install -d -m 0755 /etc/apt/keyrings && tmp=$(mktemp) && curl -fsSL --retry 3 --proxy http://10.0.0.1:8888 -o "$tmp" https://pkgs.k8s.io/core:/stable:/v1.34/deb/Release.key && gpg --dearmor --yes -o /etc/apt/keyrings/kubernetes.gpg.new < "$tmp" && chmod 0644 /etc/apt/keyrings/kubernetes.gpg.new && mv -f /etc/apt/keyrings/kubernetes.gpg.new /etc/apt/keyrings/kubernetes.gpg && rm -f "$tmp"',
      atomicWriteCommand({
        path: '/etc/apt/sources.list.d/kubernetes.list',
        content:
          'deb [signed-by=/etc/apt/keyrings/kubernetes.gpg] https://pkgs.k8s.io/core:/stable:/v1.34/deb/ /\n',
        mode: '0644',
        owner: 'root',
        group: 'root',
      }),
      aptUpdateCommand(60),
    ]);
  });
  it('air-gapped: pushes the key from the artifacts directory', () => {
    const p = planRepo(spec, { artifactsDir: '/srv/art' }, false, file(repoLine(spec)));
    expect(cmds(p)).toEqual([
      'put /srv/art/Release.key kubernetes.key',
      'install -d -m 0755 /etc/apt/keyrings && gpg --dearmor --yes -o /etc/apt/keyrings/kubernetes.gpg.new < "$CDK8S_STAGE"/kubernetes.key && chmod 0644 /etc/apt/keyrings/kubernetes.gpg.new && mv -f /etc/apt/keyrings/kubernetes.gpg.new /etc/apt/keyrings/kubernetes.gpg && rm -f "$CDK8S_STAGE"/kubernetes.key',
      aptUpdateCommand(60),
    ]);
  });
  it('a new minor changes only the source line; second run is a no-op', () => {
    const old = repoLine({ ...spec, source: 'https://pkgs.k8s.io/core:/stable:/v1.33/deb/ /' });
    expect(planRepo(spec, {}, true, file(old)).diff).toContain(
      '-deb [signed-by=/etc/apt/keyrings/kubernetes.gpg] https://pkgs.k8s.io/core:/stable:/v1.33/deb/ /',
    );
    expect(planRepo(spec, {}, true, file(repoLine(spec)))).toEqual({
      status: 'ok',
      reason: 'repository kubernetes configured',
      steps: [],
    });
  });
});

describe('download', () => {
  const h = 'a'.repeat(64);
  const spec = {
    url: 'https://example.invalid/r/runc.amd64',
    dest: '/usr/local/sbin/runc',
    sha256: h,
    mode: '0755',
  };
  it('parses sha256sum listings', () => {
    expect(parseChecksum(`${'b'.repeat(64)}  runc.arm64\n${h}  runc.amd64\n`, 'runc.amd64')).toBe(h);
    expect(parseChecksum(`${h} *cni.tgz\n`, 'cni.tgz')).toBe(h);
    expect(parseChecksum(`${h}\n`, 'anything')).toBe(h);
    expect(parseChecksum('garbage', 'x')).toBeNull();
    // An apt Packages index (NVIDIA's CUDA repository publishes no .sha256 next to cuda-keyring).
    const packages = `Package: cuda-keyring\nVersion: 1.0-1\nFilename: ./cuda-keyring_1.0-1_all.deb\nSHA256: ${'b'.repeat(64)}\n\nPackage: cuda-keyring\nVersion: 1.1-1\nFilename: ./cuda-keyring_1.1-1_all.deb\nSize: 4328\nSHA256: ${h}\n`;
    expect(parseChecksum(packages, 'cuda-keyring_1.1-1_all.deb')).toBe(h);
    expect(parseChecksum(packages, 'cuda-keyring_9.9-1_all.deb')).toBeNull();
  });
  it('downloads through the proxy, verifies the checksum, installs atomically', () => {
    expect(cmds(planDownload(spec, { proxy: 'http://p:3128' }, h, null))).toEqual([
      `tmp=$(mktemp) && curl -fsSL --retry 3 --proxy http://p:3128 -o "$tmp" https://example.invalid/r/runc.amd64 && { printf '%s  %s\\n' ${h} "$tmp" | sha256sum -c --quiet || { rm -f "$tmp"; echo "checksum mismatch for https://example.invalid/r/runc.amd64" >&2; exit 1; }; } && install -D -m 0755 "$tmp" /usr/local/sbin/runc.cdk8s-new && mv -f /usr/local/sbin/runc.cdk8s-new /usr/local/sbin/runc && rm -f "$tmp"`,
    ]);
  });
  it('air-gapped: pushes the artifact and verifies it on the host', () => {
    const p = planDownload(spec, { artifactsDir: '/srv/art' }, h, 'c'.repeat(64));
    expect(cmds(p)[0]).toBe('put /srv/art/runc.amd64 runc.amd64');
    expect(cmds(p)[1]).toContain(`printf '%s  %s\\n' ${h} "$CDK8S_STAGE"/runc.amd64 | sha256sum -c --quiet`);
  });
  it('second run is a no-op', () => {
    expect(planDownload(spec, {}, h, h).status).toBe('ok');
  });
});

describe('command guards', () => {
  it('runs when the guard fails, no-op when creates exists or unless succeeds', () => {
    const spec = {
      run: 'kubeadm init --config /etc/kubernetes/kubeadm-config.yaml',
      creates: '/etc/kubernetes/admin.conf',
    };
    expect(cmds(planCommand(spec, { createsExists: false }))).toEqual([spec.run]);
    expect(planCommand(spec, { createsExists: true })).toEqual({
      status: 'ok',
      reason: '/etc/kubernetes/admin.conf exists',
      steps: [],
    });
    const u = { run: 'swapoff -a', unless: 'test -z "$(tail -n +2 /proc/swaps)"' };
    expect(planCommand(u, { unlessSucceeded: false }).reason).toBe(
      'guard failed: test -z "$(tail -n +2 /proc/swaps)"',
    );
    expect(planCommand(u, { unlessSucceeded: true }).status).toBe('ok');
  });
});

describe('sysctl and module (live)', () => {
  it('sets a differing sysctl, no-op when equal', () => {
    expect(cmds(planSysctlLive('net.ipv4.ip_forward', '1', '0', host))).toEqual([
      'sysctl -w net.ipv4.ip_forward=1',
    ]);
    expect(planSysctlLive('net.ipv4.ip_forward', '1', '1', host).status).toBe('ok');
  });
  it('skips with the reason in a container with read-only /proc/sys or a missing key', () => {
    const p = planSysctlLive('net.ipv4.ip_forward', '1', '0', {
      ...host,
      procSysWritable: false,
      container: 'systemd-nspawn',
    });
    expect(p.status).toBe('skipped');
    expect(p.reason).toContain('/proc/sys is read-only in this systemd-nspawn container');
    expect(planSysctlLive('net.bridge.bridge-nf-call-iptables', '1', null, host).status).toBe('skipped');
  });
  it('loads a missing module, no-op when loaded, skipped where the kernel is shared', () => {
    expect(cmds(planModuleLive('br_netfilter', false, host))).toEqual(['modprobe br_netfilter']);
    expect(planModuleLive('br_netfilter', true, host).status).toBe('ok');
    expect(planModuleLive('overlay', false, { ...host, container: 'systemd-nspawn' }).status).toBe('skipped');
    expect(planModuleLive('overlay', false, { ...host, modulesSupported: false }).reason).toContain(
      'no loadable module support',
    );
  });
});

describe('service', () => {
  it('enables and starts, then no-op', () => {
    expect(
      cmds(planService({ name: 'containerd' }, parseServiceFact('enabled=disabled\nactive=inactive\n'))),
    ).toEqual(['systemctl enable containerd', 'systemctl start containerd']);
    expect(
      cmds(planService({ name: 'containerd' }, parseServiceFact('enabled=enabled\nactive=failed\n'))),
    ).toEqual(['systemctl start containerd']);
    expect(planService({ name: 'containerd' }, parseServiceFact('enabled=\nactive=inactive\n')).reason).toBe(
      'containerd is-enabled: not-found, is-active: inactive',
    );
    expect(
      planService(
        { name: 'kubelet', state: 'unmanaged' },
        parseServiceFact('enabled=enabled\nactive=activating\n'),
      ).status,
    ).toBe('ok');
    expect(planService({ name: 'containerd' }, parseServiceFact('enabled=enabled\nactive=active\n'))).toEqual(
      {
        status: 'ok',
        reason: 'containerd enabled, active',
        steps: [],
      },
    );
  });
});

describe('facts', () => {
  it('parses file facts and host facts; refuses non-Debian hosts with the reason', () => {
    expect(parseFileFact(`644 root adm\n${Buffer.from('x\n').toString('base64')}`)).toEqual({
      exists: true,
      content: 'x\n',
      mode: '0644',
      owner: 'root',
      group: 'adm',
    });
    const f = parseHostFacts(
      'os=ubuntu|22.04|jammy\nkernel=5.15\narch=amd64\ncontainer=none\nmodules=yes\nprocsys=yes\ngpu=0x10de\nswap=1\nkubeadm=no\n',
    );
    expect(f).toMatchObject({ osId: 'ubuntu', nvidiaGpu: true, swapActive: true, kubeadmMember: false });
    expect(unsupportedOs(f)).toBe(
      'unsupported OS: ID=ubuntu VERSION_ID=22.04 in /etc/os-release; supported: debian 11 (bullseye), 12 (bookworm), 13 (trixie). Nothing was changed on this host.',
    );
    expect(unsupportedOs({ ...f, osId: 'debian', osVersionId: '11' })).toBeNull();
    expect(unsupportedOs({ ...f, osId: 'debian', osVersionId: '10' })).toContain('VERSION_ID=10');
    for (const v of ['12', '13']) expect(unsupportedOs({ ...f, osId: 'debian', osVersionId: v })).toBeNull();
    // The next release, and testing/sid (whose os-release has no VERSION_ID), are not supported yet.
    expect(unsupportedOs({ ...f, osId: 'debian', osVersionId: '14' })).toContain('ID=debian VERSION_ID=14 ');
    expect(unsupportedOs(parseHostFacts('os=debian||forky\nkernel=6.12\narch=amd64\n'))).toContain(
      'ID=debian VERSION_ID=(none) ',
    );
    expect(unsupportedOs(parseHostFacts('os=||\n'))).toContain('ID=(none) VERSION_ID=(none) ');
  });
  it('diff: multiple hunks with context', () => {
    const a = Array.from({ length: 20 }, (_, i) => `l${i}`).join('\n') + '\n';
    const b = a.replace('l2\n', 'L2\n').replace('l17\n', 'L17\n');
    expect(unifiedDiff('f', a, b)).toBe(
      '--- f\n+++ f\n@@ -1,6 +1,6 @@\n l0\n l1\n-l2\n+L2\n l3\n l4\n l5\n@@ -15,6 +15,6 @@\n l14\n l15\n l16\n-l17\n+L17\n l18\n l19\n',
    );
    expect(unifiedDiff('f', a, a)).toBe('');
  });
  it('diff: a file differing only in its trailing newline is changed, and the diff says so', () => {
    const p = planFile({ path: '/etc/x.conf', content: 'a=1\n' }, file('a=1'));
    expect(p.status).toBe('changed');
    expect(p.diff).toBe(
      '--- /etc/x.conf\n+++ /etc/x.conf\n@@ -1,1 +1,1 @@\n-a=1\n\\ No newline at end of file\n+a=1\n',
    );
    expect(unifiedDiff('f', 'x\n', 'x')).toBe(
      '--- f\n+++ f\n@@ -1,1 +1,1 @@\n-x\n+x\n\\ No newline at end of file\n',
    );
  });
});
