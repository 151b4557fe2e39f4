/**
 * End to end against real Debian 11 hosts (debootstrap + systemd-nspawn + sshd), see
 * debian-host.ts. Needs root (namespaces, nspawn); CI runs as root, so there it always runs.
 *
 * Skipped inside the container, and why: /proc/sys is mounted read-only by systemd-nspawn and the
 * kernel is the host's (this one has no loadable modules at all), so the *live* halves of the
 * sysctl and kernel-module operations report "skipped" with that reason; their persisted halves
 * (/etc/sysctl.d, /etc/modules-load.d) are applied and checked for real.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  statSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runHost } from '../../provision/src/engine.ts';
import { SshConnector } from '../../provision/src/connector.ts';
import { downloadTask } from '../../provision/src/ops/download.ts';
import { repoTask } from '../../provision/src/ops/apt.ts';
import { createServer } from 'node:http';
import { lineReporter, recap } from '../../provision/src/report.ts';
import { validateInventory } from '../../provision/src/inventory.ts';
import type { RoleContext } from '../../provision/src/roles/context.ts';
import { controlPlaneRole } from '../../provision/src/roles/control-plane.ts';
import { freePort } from '../free-port.ts';
import { runCli, type CliRun } from './cli-helpers.ts';
import { DebianHost, ensureRootfs, makeKey } from './debian-host.ts';
import { hostResult as host, taskResult as task, TOUCHED } from './e2e-results.ts';

const isRoot = process.getuid?.() === 0;
if (!isRoot)
  console.warn(
    'SKIPPED provision e2e: it needs root (network namespaces, systemd-nspawn); CI runs it as root.',
  );

type Run = CliRun;
const cli = (args: string[]) => runCli(args);

describe.skipIf(!isRoot)('provision e2e on real Debian 11 hosts (systemd-nspawn)', () => {
  const work = mkdtempSync(join(tmpdir(), 'cdk8s-prov-e2e-'));
  const transcript = process.env.CDK8S_PROVISION_TRANSCRIPT;
  const hosts: DebianHost[] = [];
  let a: DebianHost; // the host provisioned for real
  let bad: DebianHost; // os-release says Ubuntu
  let broken: DebianHost; // its proxy refuses connections: apt fails mid-role
  let unreachablePort = 0;
  const t0 = Date.now();

  const inventory = (
    file: string,
    hs: Record<string, unknown>,
    cluster: Record<string, unknown> = {},
  ): string => {
    const p = join(work, file);
    writeFileSync(
      p,
      stringify({
        cluster: { kubernetesVersion: '1.35', containerd: { source: 'debian' }, knownHosts, ...cluster },
        hosts: hs,
      }),
    );
    return p;
  };
  const ssh = { user: 'root', key: join(work, 'id_ed25519') };
  /** The hosts' keys, read from their root file systems (the out-of-band channel an admin would use). */
  const knownHosts = join(work, 'known_hosts');
  const hostKeyLine = (h: DebianHost): string =>
    `${h.address} ${readFileSync(join(h.root, 'etc/ssh/ssh_host_ed25519_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ')}\n`;
  const verified = { knownHosts, acceptNewHostKeys: false };
  const main = () => ({ address: a.address, role: 'control-plane', gpu: false, ssh, proxy: a.proxyUrl });
  const record = (title: string, r: Run) => {
    if (transcript) appendFileSync(transcript, `\n## ${title} (exit ${r.code})\n\n${r.stdout}${r.stderr}`);
  };

  beforeAll(async () => {
    const built = ensureRootfs((s) => console.log(s));
    console.log(`rootfs: ${built.built ? `built in ${built.seconds}s` : 'cached'}`);
    makeKey(work);
    // Real hosts, booted side by side.
    [a, bad, broken] = await Promise.all([
      DebianHost.boot('deb11-a', work, {
        // A non-root login with passwordless sudo: the connector's `become` path.
        prepare: (root) => {
          execFileSync('chroot', [root, 'useradd', '-m', '-s', '/bin/bash', 'deploy']);
          writeFileSync(join(root, 'etc/sudoers.d/deploy'), 'deploy ALL=(ALL) NOPASSWD:ALL\n', {
            mode: 0o440,
          });
          mkdirSync(join(root, 'home/deploy/.ssh'), { mode: 0o700 });
          copyFileSync(
            join(root, 'root/.ssh/authorized_keys'),
            join(root, 'home/deploy/.ssh/authorized_keys'),
          );
          execFileSync('chroot', [root, 'chown', '-R', 'deploy:deploy', '/home/deploy/.ssh']);
        },
      }),
      DebianHost.boot('deb11-ubuntu', work, {
        prepare: (root) => {
          unlinkSync(join(root, 'etc/os-release'));
          writeFileSync(
            join(root, 'etc/os-release'),
            'NAME="Ubuntu"\nID=ubuntu\nVERSION_ID="22.04"\nVERSION_CODENAME=jammy\n',
          );
        },
      }),
      DebianHost.boot('deb11-broken', work),
    ]);
    hosts.push(a, bad, broken);
    writeFileSync(knownHosts, hosts.map(hostKeyLine).join(''));
    // A swap line the common role must comment out.
    appendFileSync(join(a.root, 'etc/fstab'), '/swapfile none swap sw 0 0\n');
    unreachablePort = await freePort();
    if (transcript) writeFileSync(transcript, `# provision e2e transcript ${new Date().toISOString()}\n`);
    console.log(`hosts booted after ${(Date.now() - t0) / 1000}s`);
  });

  afterAll(async () => {
    const t1 = Date.now();
    for (const r of await Promise.allSettled(hosts.map((h) => h.stop())))
      console.log(r.status === 'fulfilled' ? r.value : r.reason);
    console.log(`hosts stopped and removed in ${(Date.now() - t1) / 1000}s`);
    rmSync(work, { recursive: true, force: true });
    console.log(`provision e2e total ${(Date.now() - t0) / 1000}s`);
  });

  it("SSH host keys against the host's real sshd: unknown refused, --accept-new-host-keys records it, hashed entries accepted, a regenerated key refused with both fingerprints and nothing changed", async () => {
    const kh = join(work, 'hostkeys-known_hosts');
    const inv = inventory('hostkeys.yaml', { 'deb11-a': main() }, { knownHosts: kh });
    const fp = (pub: string) => execFileSync('ssh-keygen', ['-lf', pub], { encoding: 'utf8' }).split(' ')[1]!;
    const oldFp = fp(join(a.root, 'etc/ssh/ssh_host_ed25519_key.pub'));
    const before = a.hashes(TOUCHED);

    const unknown = await cli(['--inventory', inv, '--check', '--json']);
    expect(unknown.code, unknown.stderr).toBe(1);
    expect(host(unknown, 'deb11-a').error).toBe(
      `cannot connect to root@${a.address}:22: host key verification failed: ${a.address} is not in ${kh} (it presented ssh-ed25519 ${oldFp}). Compare with \`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub\` on the host, then run again with --accept-new-host-keys to record it (or add it to ${kh} yourself)`,
    );

    const accepted = await cli(['--inventory', inv, '--check', '--json', '--accept-new-host-keys']);
    expect(accepted.code, accepted.stdout + accepted.stderr).toBe(0);
    expect(readFileSync(kh, 'utf8')).toBe(hostKeyLine(a));
    const again = await cli(['--inventory', inv, '--check', '--json']);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    execFileSync('ssh-keygen', ['-q', '-H', '-f', kh], { stdio: 'ignore' });
    expect(readFileSync(kh, 'utf8')).toMatch(/^\|1\|[^ ]+ ssh-ed25519 /);
    const hashed = await cli(['--inventory', inv, '--check', '--json']);
    expect(hashed.code, hashed.stdout + hashed.stderr).toBe(0);

    // The host gets new keys (as a reinstall or an impostor would have) and its sshd restarts.
    const c = await SshConnector.connect({
      host: a.address,
      port: 22,
      user: 'root',
      keyPath: ssh.key,
      become: true,
      ...verified,
    });
    try {
      const r = await c.exec('rm -f /etc/ssh/ssh_host_*_key* && ssh-keygen -A && systemctl restart ssh');
      expect(r.code, r.stderr).toBe(0);
    } finally {
      await c.close();
    }
    const newFp = fp(join(a.root, 'etc/ssh/ssh_host_ed25519_key.pub'));
    expect(newFp).not.toBe(oldFp);
    const khBefore = readFileSync(kh, 'utf8');
    for (const flags of [[], ['--accept-new-host-keys']]) {
      // A real run (no --check): refused before authentication, so nothing is sent to the host.
      const changedKey = await cli(['--inventory', inv, '--json', ...flags]);
      expect(changedKey.code, changedKey.stderr).toBe(1);
      expect(host(changedKey, 'deb11-a').error).toBe(
        `cannot connect to root@${a.address}:22: host key verification failed: the host key of ${a.address} has CHANGED: it presented ssh-ed25519 ${newFp}, ${kh} has ssh-ed25519 ${oldFp}. Someone may be impersonating the host; if it was really reinstalled, remove the old key (ssh-keygen -R '${a.address}' -f ${kh}) and run again`,
      );
      expect(host(changedKey, 'deb11-a').counts).toEqual({
        ok: 0,
        changed: 0,
        skipped: 0,
        failed: 0,
        unreachable: 1,
      });
    }
    expect(readFileSync(kh, 'utf8')).toBe(khBefore);
    expect(a.hashes(TOUCHED)).toEqual(before);
    expect(before['/etc/apt/apt.conf.d/95cdk8s-proxy']).toBeNull();
    // The other tests' known_hosts learns the new key the way an admin would: from the host itself.
    writeFileSync(knownHosts, hosts.map(hostKeyLine).join(''));
  }, 180_000);

  it('--check on a fresh host reports the changes and alters nothing', async () => {
    const before = a.hashes(TOUCHED);
    const r = await cli([
      '--inventory',
      inventory('check.yaml', { 'deb11-a': main() }),
      '--check',
      '--diff',
      '--tags',
      'common,containerd',
    ]);
    record('--check --diff on a fresh Debian 11 host', r);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^changed: \[deb11-a\] common \| apt proxy - \/etc\/apt\/apt.conf.d\/95cdk8s-proxy does not exist$/m,
    );
    expect(r.stdout).toContain('+Acquire::http::Proxy');
    expect(r.stdout).toMatch(
      /changed: \[deb11-a\] containerd \| containerd \(Debian package\) - containerd not installed/,
    );
    expect(r.stdout).toMatch(/deb11-a\s+: ok=\d+ changed=([1-9]\d*) unreachable=0 failed=0/);
    expect(a.hashes(TOUCHED)).toEqual(before);
  }, 120_000);

  it('applies common + containerd for real through the proxy; other hosts fail clearly and do not stop it', async () => {
    const inv = inventory('apply.yaml', {
      'deb11-a': main(),
      'deb11-ubuntu': { address: bad.address, role: 'worker', ssh, proxy: bad.proxyUrl },
      // The proxy port is closed: the first task changes a file, apt update then fails.
      'deb11-broken': {
        address: broken.address,
        role: 'worker',
        ssh,
        proxy: `http://${broken.gateway}:${unreachablePort}`,
      },
      gone: { address: '127.0.0.1', role: 'worker', ssh: { ...ssh, port: unreachablePort } },
    });
    const badBefore = bad.hashes(TOUCHED);
    const r = await cli(['--inventory', inv, '--tags', 'common,containerd', '--json']);
    if (r.json) {
      // The same rendering the CLI prints without --json.
      let text = '';
      const rep = lineReporter({ diff: false, verbose: false, write: (x) => void (text += x) });
      for (const h of r.json.hosts) for (const t of h.tasks) rep.task(t);
      record('apply: common + containerd, four hosts (rendered from --json)', {
        ...r,
        stdout: text + recap(r.json.hosts),
      });
    }
    expect(r.code, r.stderr).toBe(1);
    const ha = host(r, 'deb11-a');
    expect(ha.error, JSON.stringify(ha.tasks.filter((t) => t.status === 'failed'))).toBeUndefined();
    expect(ha.counts.failed).toBe(0);
    expect(task(ha, 'common', 'base packages').status).toBe('changed');
    expect(task(ha, 'common', 'swap off in fstab').status).toBe('changed');
    expect(task(ha, 'containerd', 'containerd (Debian package)').status).toBe('changed');
    expect(task(ha, 'containerd', 'config.toml SystemdCgroup').status).toBe('changed');
    expect(task(ha, 'containerd', 'handler: restart containerd').status).toBe('changed');
    // Shared kernel: the live halves are skipped with the reason, never silently passed.
    expect(task(ha, 'common', 'module overlay loaded')).toMatchObject({
      status: 'skipped',
      reason: expect.stringContaining('no loadable module support'),
    });
    expect(task(ha, 'common', 'sysctl net.ipv4.ip_forward live').reason).toMatch(
      /read-only in this systemd-nspawn container|net.ipv4.ip_forward = 1/,
    );
    // kubelet and containerd agree on the systemd cgroup driver: containerd 1.4 = config version 2.
    const toml = readFileSync(join(a.root, 'etc/containerd/config.toml'), 'utf8');
    expect(toml).toMatch(
      /\[plugins\."io\.containerd\.grpc\.v1\.cri"\.containerd\.runtimes\.runc\.options\]\n\s+SystemdCgroup = true\n/,
    );
    // apt really went through the inventory's proxy (the namespace has no other way out).
    expect(a.proxyLog()).toMatch(/deb\.debian\.org/);

    const hb = host(r, 'deb11-ubuntu');
    expect(hb.error).toBe(
      'unsupported OS: ID=ubuntu VERSION_ID=22.04 in /etc/os-release; supported: debian 11 (bullseye), 12 (bookworm), 13 (trixie). Nothing was changed on this host.',
    );
    expect(hb.counts.changed).toBe(0);
    expect(bad.hashes(TOUCHED)).toEqual(badBefore);

    const hc = host(r, 'deb11-broken');
    expect(task(hc, 'common', 'apt proxy').status).toBe('changed');
    expect(task(hc, 'common', 'apt update')).toMatchObject({
      status: 'failed',
      reason: expect.stringMatching(
        /^command failed \(exit 100\): until apt-get update -q --error-on=any .*/,
      ),
    });
    expect(hc.tasks.some((t) => t.role === 'containerd')).toBe(false);

    const hd = host(r, 'gone');
    expect(hd.unreachable).toBe(true);
    // As Ansible counts it: unreachable, not failed.
    expect(hd.counts).toMatchObject({ unreachable: 1, failed: 0 });
    expect(hd.error).toMatch(/cannot connect to root@127\.0\.0\.1:\d+: .*ECONNREFUSED/);

    // The host really has what the roles promised.
    const ctd = await cli([
      '--inventory',
      inv,
      '--limit',
      'deb11-a',
      '--tags',
      'containerd',
      '--json',
      '--check',
    ]);
    expect(task(host(ctd, 'deb11-a'), 'containerd', 'service containerd').reason).toBe(
      'containerd enabled, active',
    );
  }, 480_000);

  it('a second run changes nothing (as a sudo user this time)', async () => {
    const before = a.hashes(TOUCHED);
    const r = await cli([
      '--inventory',
      inventory('again.yaml', { 'deb11-a': { ...main(), ssh: { ...ssh, user: 'deploy' }, become: true } }),
      '--tags',
      'common,containerd',
    ]);
    record('second run', r);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/deb11-a\s+: ok=\d+ changed=0 unreachable=0 failed=0 skipped=\d+/);
    expect(a.hashes(TOUCHED)).toEqual(before);
  }, 180_000);

  it("the admin kubeconfig copy is its user's: ~/.kube 0700 and config 0600 owned by the SSH user, also where an earlier run left ~/.kube root's", async () => {
    mkdirSync(join(a.root, 'etc/kubernetes'), { recursive: true });
    writeFileSync(join(a.root, 'etc/kubernetes/admin.conf'), 'apiVersion: v1\nkind: Config\n', {
      mode: 0o600,
    });
    const inv = validateInventory({
      hosts: { 'deb11-a': { address: a.address, role: 'control-plane', ssh: { user: 'deploy' } } },
    });
    const ctx = { host: inv.hosts[0]!, cluster: inv.cluster, gpu: false, site: {} } as RoleContext;
    const kubeconfig = controlPlaneRole(ctx).find((t) => t.name === 'kubeconfig for deploy')!;
    const hp = {
      name: 'deb11-a',
      connect: () =>
        SshConnector.connect({
          host: a.address,
          port: 22,
          user: 'deploy',
          keyPath: ssh.key,
          become: true,
          ...verified,
        }),
      tasks: () => [kubeconfig],
      handlers: [],
      allowReboot: false,
    };
    const deployUid = Number(
      readFileSync(join(a.root, 'etc/passwd'), 'utf8')
        .split('\n')
        .find((l) => l.startsWith('deploy:'))!
        .split(':')[2],
    );
    const owned = () =>
      ['home/deploy/.kube', 'home/deploy/.kube/config'].map((f) => {
        const st = statSync(join(a.root, f));
        return `${f} ${st.uid === deployUid ? 'deploy' : st.uid} ${(st.mode & 0o777).toString(8)}`;
      });
    const want = ['home/deploy/.kube deploy 700', 'home/deploy/.kube/config deploy 600'];
    try {
      const first = await runHost(hp, { check: false, reporter: { task: () => {} } });
      expect(first.error).toBeUndefined();
      expect(owned()).toEqual(want);
      expect((await runHost(hp, { check: false, reporter: { task: () => {} } })).counts.changed).toBe(0);
      // What `install -D` used to leave: the directory root's, the file identical.
      chownSync(join(a.root, 'home/deploy/.kube'), 0, 0);
      chmodSync(join(a.root, 'home/deploy/.kube'), 0o755);
      const fixed = await runHost(hp, { check: false, reporter: { task: () => {} } });
      expect(fixed.tasks[1]!.status).toBe('changed');
      expect(owned()).toEqual(want);
    } finally {
      rmSync(join(a.root, 'etc/kubernetes'), { recursive: true, force: true });
      rmSync(join(a.root, 'home/deploy/.kube'), { recursive: true, force: true });
    }
  }, 60_000);

  it('apt repository for real: key fetched through the proxy, dearmored into /etc/apt/keyrings, signed-by, verified by apt update', async () => {
    // The Debian archive key, served from the host end of this host's veth (its only reachable address).
    const key = execFileSync('gpg', [
      '--no-default-keyring',
      '--keyring',
      '/usr/share/keyrings/debian-archive-keyring.gpg',
      '--export',
      '--armor',
    ]);
    const server = createServer((_req, res) => res.end(key));
    await new Promise<void>((r) => server.listen(0, a.gateway, () => r()));
    try {
      const keyUrl = `http://${a.gateway}:${(server.address() as { port: number }).port}/debian-archive.asc`;
      const spec = {
        name: 'debian-updates',
        keyUrl,
        source: 'http://deb.debian.org/debian bullseye-updates main',
      };
      const hp = {
        name: 'deb11-a',
        connect: () =>
          SshConnector.connect({
            host: a.address,
            port: 22,
            user: 'root',
            keyPath: ssh.key,
            become: true,
            ...verified,
          }),
        tasks: () => [repoTask('repo', spec, { proxy: a.proxyUrl })],
        handlers: [],
        allowReboot: false,
      };
      const first = await runHost(hp, { check: false, reporter: { task: () => {} } });
      expect(first.error).toBeUndefined();
      expect(first.tasks[1]).toMatchObject({
        status: 'changed',
        reason:
          'keyring /etc/apt/keyrings/debian-updates.gpg missing; /etc/apt/sources.list.d/debian-updates.list missing',
      });
      expect(readFileSync(join(a.root, 'etc/apt/sources.list.d/debian-updates.list'), 'utf8')).toBe(
        'deb [signed-by=/etc/apt/keyrings/debian-updates.gpg] http://deb.debian.org/debian bullseye-updates main\n',
      );
      // Binary keyring (dearmored), as signed-by wants: an OpenPGP public key packet, not ASCII armor.
      expect(readFileSync(join(a.root, 'etc/apt/keyrings/debian-updates.gpg'))[0]! & 0x80).toBe(0x80);
      const second = await runHost(hp, { check: false, reporter: { task: () => {} } });
      expect(second.tasks[1]).toMatchObject({ status: 'ok', reason: 'repository debian-updates configured' });
    } finally {
      server.close();
    }
  }, 120_000);

  it('air-gapped download over SSH: pushed from the artifacts directory, checksum verified on the host', async () => {
    const art = mkdtempSync(join(work, 'artifacts-'));
    const payload = 'not really a tarball, but really pushed over SFTP\n';
    writeFileSync(join(art, 'tool-1.0.tgz'), payload);
    const sum = createHash('sha256').update(payload).digest('hex');
    writeFileSync(join(art, 'tool-1.0.tgz.sha256sum'), `${sum}  tool-1.0.tgz\n`);
    const url = 'https://example.invalid/tool-1.0.tgz';
    // As the sudo user: its pushes land where it, not root, can write.
    const connect = () =>
      SshConnector.connect({
        host: a.address,
        port: 22,
        user: 'deploy',
        keyPath: ssh.key,
        become: true,
        ...verified,
      });
    const hp = (dest: string, sha?: string) => ({
      name: 'deb11-a',
      connect,
      tasks: () => [
        downloadTask(
          'airgap',
          'tool',
          { url, dest, ...(sha ? { sha256: sha } : { sha256Url: `${url}.sha256sum` }) },
          { artifactsDir: art },
        ),
      ],
      handlers: [],
      allowReboot: false,
    });
    const quiet = { task: () => {} };
    // The container's /tmp is its own tmpfs: planted and listed through the host itself.
    const onHost = async (cmd: string) => {
      const c = await connect();
      try {
        return (await c.exec(cmd)).stdout;
      } finally {
        await c.close();
      }
    };
    const cdk8sInTmp = async () =>
      (await onHost('ls -A /tmp')).split('\n').filter((f) => f.startsWith('cdk8s-provision'));
    // Another local user plants a file at the name the push used to have in /tmp.
    await onHost(
      "printf 'planted by nobody\\n' > /tmp/cdk8s-provision-tool-1.0.tgz && chown nobody: /tmp/cdk8s-provision-tool-1.0.tgz && chmod 0644 /tmp/cdk8s-provision-tool-1.0.tgz",
    );
    const first = await runHost(hp('/opt/tool/tool.tgz'), { check: false, reporter: quiet });
    expect(first.error).toBeUndefined();
    expect(first.tasks[1]).toMatchObject({
      status: 'changed',
      commands: [
        `put ${art}/tool-1.0.tgz -> "$CDK8S_STAGE"/tool-1.0.tgz`,
        expect.stringContaining('sha256sum -c'),
      ],
    });
    // The private staging directory is gone after the run; the planted file was never used.
    expect(await cdk8sInTmp()).toEqual(['cdk8s-provision-tool-1.0.tgz']);
    expect(await onHost('cat /tmp/cdk8s-provision-tool-1.0.tgz')).toBe('planted by nobody'); // node-ssh trims stdout
    expect(readFileSync(join(a.root, 'opt/tool/tool.tgz'), 'utf8')).toBe(payload);
    expect((await runHost(hp('/opt/tool/tool.tgz'), { check: false, reporter: quiet })).counts.changed).toBe(
      0,
    );
    const bad = await runHost(hp('/opt/tool/other.tgz', '0'.repeat(64)), { check: false, reporter: quiet });
    expect(bad.error).toMatch(/checksum mismatch for https:\/\/example\.invalid\/tool-1\.0\.tgz/);
    expect(a.hashes(['/opt/tool/other.tgz'])).toEqual({ '/opt/tool/other.tgz': null });
    expect(await cdk8sInTmp()).toEqual(['cdk8s-provision-tool-1.0.tgz']);
    await onHost('rm -f /tmp/cdk8s-provision-tool-1.0.tgz');
  }, 60_000);

  it("the remaining roles (nvidia, kubernetes, control-plane, gpu-node; join as a worker) run in --check and change nothing; Debian 11's containerd 1.4 is refused before any Kubernetes package", async () => {
    const before = a.hashes(TOUCHED);
    const r = await cli([
      '--inventory',
      // nvidiaDriver none: Debian 11's default driver source is NVIDIA's CUDA repository, whose
      // index (cuda-keyring's checksum) this sandbox cannot reach; test/provision/nvidia-driver.test.ts
      // checks that source on a scripted Debian 11 host.
      inventory('all.yaml', { 'deb11-a': { ...main(), gpu: true } }, { nvidiaDriver: 'none' }),
      '--check',
      '--json',
    ]);
    record("--check of every role on the host with Debian 11's containerd 1.4", r);
    // deb11-a runs the containerd 1.4 that Debian 11 ships (the only one reachable here): kubelet
    // >= 1.26 needs CRI v1 (containerd >= 1.6), so the kubernetes role stops at its first task.
    expect(r.code, r.stderr).toBe(1);
    const h = host(r, 'deb11-a');
    expect(h.counts.failed).toBe(1);
    expect(task(h, 'kubernetes', 'container runtime speaks CRI v1')).toMatchObject({
      status: 'failed',
      reason:
        'containerd is 1.4; allowed: containerd >= 1.6 (kubelet >= 1.26 needs the CRI v1 API): set cluster.containerd.source to "release" (Debian 11\'s package is 1.4)',
    });
    expect(h.tasks.some((t) => t.role === 'kubernetes' && t.task !== 'container runtime speaks CRI v1')).toBe(
      false,
    );
    expect(task(h, 'nvidia', 'driver source fits the server image')).toMatchObject({
      status: 'ok',
      reason: 'nvidiaDriver none: the installed driver must be >= 525.60.13',
    });
    expect(task(h, 'nvidia', 'nvidia-container-toolkit').status).toBe('changed');
    // The host has no NVIDIA module (/proc/driver/nvidia/version absent): not an error in --check.
    expect(task(h, 'nvidia', 'driver fits the server image')).toMatchObject({
      status: 'skipped',
      reason: 'check mode: no NVIDIA driver installed yet; it must be >= 525.60.13',
    });
    // The common and containerd roles are still converged.
    for (const t of h.tasks.filter((x) => x.role === 'common' || x.role === 'containerd'))
      expect(t.status, `${t.task}: ${t.reason}`).not.toBe('changed');

    // A host without containerd yet (deb11-broken: only its apt proxy file was written): in
    // --check the runtime guard is skipped and the kubernetes, control-plane and gpu-node roles plan.
    const brokenBefore = broken.hashes(TOUCHED);
    const fresh = await cli([
      '--inventory',
      inventory('fresh.yaml', {
        'deb11-broken': {
          address: broken.address,
          role: 'control-plane',
          gpu: true,
          ssh,
          proxy: broken.proxyUrl,
        },
      }),
      '--check',
      '--json',
      '--tags',
      'kubernetes,control-plane,gpu-node',
    ]);
    expect(fresh.code, fresh.stderr).toBe(0);
    const f = host(fresh, 'deb11-broken');
    expect(f.counts.failed).toBe(0);
    expect(task(f, 'kubernetes', 'container runtime speaks CRI v1')).toMatchObject({
      status: 'skipped',
      reason: 'check mode: containerd not installed yet (the containerd role installs it)',
    });
    expect(task(f, 'kubernetes', 'apt repository kubernetes').commands[0]).toContain(
      'https://pkgs.k8s.io/core:/stable:/v1.35/deb/Release.key',
    );
    expect(task(f, 'kubernetes', 'kubelet kubeadm kubectl 1.35').commands[0]).toContain("'kubelet=1.35.*'");
    expect(task(f, 'control-plane', 'kubeadm init').status).toBe('changed');
    expect(task(f, 'control-plane', 'approve kubelet serving certificate')).toMatchObject({
      status: 'changed',
      commands: [
        'kubectl --kubeconfig /etc/kubernetes/admin.conf certificate approve <kubelet-serving CSR of system:node:deb11-broken>',
      ],
    });
    expect(task(f, 'gpu-node', 'nvidia-smi').status).toBe('skipped');
    expect(broken.hashes(TOUCHED)).toEqual(brokenBefore);
    const w = await cli([
      '--inventory',
      inventory('worker.yaml', {
        cp: { address: '127.0.0.1', role: 'control-plane', ssh: { ...ssh, port: unreachablePort } },
        'deb11-a': { ...main(), role: 'worker' },
      }),
      '--check',
      '--limit',
      'deb11-a',
      '--tags',
      'join',
      '--json',
    ]);
    expect(task(host(w, 'deb11-a'), 'join', 'kubeadm join')).toMatchObject({
      status: 'changed',
      reason: 'not a member: would take a join token from cp and run kubeadm join',
    });
    // Shown, not run: the control plane (unreachable here) is not contacted in check mode.
    expect(task(host(w, 'deb11-a'), 'join', 'approve kubelet serving certificate').status).toBe('changed');
    const human = await cli([
      '--inventory',
      join(work, 'fresh.yaml'),
      '--check',
      '--tags',
      'kubernetes,control-plane',
    ]);
    record('--check of the kubernetes and control-plane roles', human);
    expect(a.hashes(TOUCHED)).toEqual(before);
  }, 180_000);
});
