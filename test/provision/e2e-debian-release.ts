/**
 * The provisioning e2e that every later Debian release gets (12 and 13, one test file each so a
 * failure names its release and vitest runs them in parallel): one real host of that release
 * (debian-host.ts) taken through `--check` (alters nothing), a real apply of the roles that can
 * run here (common + containerd from Debian's package, through the proxy), a second run with
 * changed=0, and the kubernetes role accepting the release's containerd. Beside it, a host of the
 * same root whose os-release names an unsupported Debian release (10 beside 12, 14 beside 13) is refused before any change.
 * The Debian 11 file (e2e-debian11.test.ts) holds the release-independent cases (host keys, sudo,
 * apt repository, air-gapped download).
 */
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { SshConnector } from '../../provision/src/connector.ts';
import { runCli, type CliRun } from './cli-helpers.ts';
import { DebianHost, ensureRootfs, makeKey, type DebianRelease } from './debian-host.ts';
import { hostResult as host, taskResult as task, TOUCHED } from './e2e-results.ts';

export interface ReleaseExpectations {
  /** The containerd major.minor Debian ships in this release. */
  containerd: string;
  /** The unsupported Debian release the neighbour host's os-release claims (older or newer). */
  unsupported: { versionId: string; codename: string };
}

export function describeDebianRelease(release: DebianRelease, want: ReleaseExpectations): void {
  const isRoot = process.getuid?.() === 0;
  const tag = `deb${release.versionId}`;
  if (!isRoot)
    console.warn(
      `SKIPPED provision e2e on Debian ${release.versionId}: it needs root (network namespaces, systemd-nspawn); CI runs it as root.`,
    );

  describe.skipIf(!isRoot)(
    `provision e2e on a real Debian ${release.versionId} (${release.codename}) host (systemd-nspawn)`,
    () => {
      const work = mkdtempSync(join(tmpdir(), `cdk8s-prov-e2e-${release.codename}-`));
      const transcript = process.env.CDK8S_PROVISION_TRANSCRIPT?.replace(
        /(\.\w+)?$/,
        `-${release.codename}$1`,
      );
      const hosts: DebianHost[] = [];
      let a: DebianHost;
      let other: DebianHost; // os-release names an unsupported Debian release
      const t0 = Date.now();
      const name = `${tag}-a`;
      const knownHosts = join(work, 'known_hosts');
      const ssh = { user: 'root', key: join(work, 'id_ed25519') };
      const hostKeyLine = (h: DebianHost): string =>
        `${h.address} ${readFileSync(join(h.root, 'etc/ssh/ssh_host_ed25519_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ')}\n`;
      const inventory = (file: string, hs: Record<string, unknown>): string => {
        const p = join(work, file);
        writeFileSync(
          p,
          stringify({
            cluster: { kubernetesVersion: '1.35', containerd: { source: 'debian' }, knownHosts },
            hosts: hs,
          }),
        );
        return p;
      };
      const main = () => ({ address: a.address, role: 'control-plane', gpu: false, ssh, proxy: a.proxyUrl });
      const cli = async (title: string, args: string[]): Promise<CliRun> => {
        const r = await runCli(args);
        if (transcript)
          appendFileSync(transcript, `\n## ${title} (exit ${r.code})\n\n${r.stdout}${r.stderr}`);
        return r;
      };

      beforeAll(async () => {
        const built = ensureRootfs((s) => console.log(s), release);
        console.log(`${release.codename} rootfs: ${built.built ? `built in ${built.seconds}s` : 'cached'}`);
        makeKey(work);
        [a, other] = await Promise.all([
          DebianHost.boot(name, work, { release }),
          DebianHost.boot(`${tag}-unsupported`, work, {
            release,
            // Same root, but os-release claims a Debian release provisioning does not support.
            prepare: (root) => {
              const osRelease = join(root, 'usr/lib/os-release'); // /etc/os-release links here
              writeFileSync(
                osRelease,
                readFileSync(osRelease, 'utf8')
                  .replace(/^VERSION_ID=.*$/m, `VERSION_ID="${want.unsupported.versionId}"`)
                  .replace(/^VERSION_CODENAME=.*$/m, `VERSION_CODENAME=${want.unsupported.codename}`),
              );
            },
          }),
        ]);
        hosts.push(a, other);
        writeFileSync(knownHosts, hosts.map(hostKeyLine).join(''));
        if (transcript)
          writeFileSync(
            transcript,
            `# provision e2e transcript, Debian ${release.versionId} ${new Date().toISOString()}\n`,
          );
        console.log(`${release.codename} hosts booted after ${(Date.now() - t0) / 1000}s`);
      }, 600_000);

      afterAll(async () => {
        for (const r of await Promise.allSettled(hosts.map((h) => h.stop())))
          console.log(r.status === 'fulfilled' ? r.value : r.reason);
        rmSync(work, { recursive: true, force: true });
        console.log(`provision e2e on Debian ${release.versionId} total ${(Date.now() - t0) / 1000}s`);
      });

      it(`the host is what it claims: Debian ${release.versionId} (${release.codename}), systemd running, apt sources as installed`, async () => {
        const osRelease = readFileSync(join(a.root, 'etc/os-release'), 'utf8');
        expect(osRelease).toMatch(new RegExp(`^VERSION_ID="${release.versionId}"$`, 'm'));
        expect(osRelease).toMatch(new RegExp(`^VERSION_CODENAME=${release.codename}$`, 'm'));
        expect(existsSync(join(a.root, 'etc/apt/sources.list.d/debian.sources'))).toBe(
          release.sources === 'deb822',
        );
        expect(existsSync(join(a.root, 'etc/apt/sources.list'))).toBe(release.sources === 'one-line');
        const c = await SshConnector.connect({
          host: a.address,
          port: 22,
          user: 'root',
          keyPath: ssh.key,
          knownHosts,
          become: false,
          acceptNewHostKeys: false,
        });
        try {
          // "degraded" would mean a unit failed to start in this container: name them.
          const r = await c.exec('systemctl is-system-running; systemctl --failed --no-legend --plain');
          expect(r.stdout.trim()).toBe('running');
        } finally {
          await c.close();
        }
      }, 60_000);

      it('--check on the fresh host reports the changes and alters nothing', async () => {
        const before = a.hashes(TOUCHED);
        const r = await cli(`--check --diff on a fresh Debian ${release.versionId} host`, [
          '--inventory',
          inventory('check.yaml', { [name]: main() }),
          '--check',
          '--diff',
          '--tags',
          'common,containerd',
        ]);
        expect(r.code, r.stdout + r.stderr).toBe(0);
        expect(r.stdout).toMatch(
          new RegExp(
            `^ok: \\[${name}\\] facts \\| gather - debian ${release.versionId} \\(${release.codename}\\),`,
            'm',
          ),
        );
        expect(r.stdout).toMatch(
          new RegExp(
            `^changed: \\[${name}\\] common \\| apt proxy - /etc/apt/apt.conf.d/95cdk8s-proxy does not exist$`,
            'm',
          ),
        );
        expect(r.stdout).toMatch(
          new RegExp(
            `changed: \\[${name}\\] containerd \\| containerd \\(Debian package\\) - containerd not installed`,
          ),
        );
        expect(r.stdout).toMatch(
          new RegExp(`${name}\\s+: ok=\\d+ changed=([1-9]\\d*) unreachable=0 failed=0`),
        );
        expect(a.hashes(TOUCHED)).toEqual(before);
      }, 120_000);

      it(`applies common + containerd (Debian's ${want.containerd}) for real through the proxy; the Debian ${want.unsupported.versionId} host beside it is refused with nothing changed`, async () => {
        const otherBefore = other.hashes(TOUCHED);
        const r = await cli(`apply common + containerd on Debian ${release.versionId}`, [
          '--inventory',
          inventory('apply.yaml', {
            [name]: main(),
            [`${tag}-unsupported`]: { address: other.address, role: 'worker', ssh, proxy: other.proxyUrl },
          }),
          '--tags',
          'common,containerd',
          '--json',
        ]);
        expect(r.code, r.stderr).toBe(1); // the refused host
        const h = host(r, name);
        expect(h.error, JSON.stringify(h.tasks.filter((t) => t.status === 'failed'))).toBeUndefined();
        expect(h.counts.failed).toBe(0);
        expect(task(h, 'common', 'base packages').status).toBe('changed');
        expect(task(h, 'containerd', 'containerd (Debian package)').status).toBe('changed');
        expect(task(h, 'containerd', 'config.toml SystemdCgroup').status).toBe('changed');
        expect(task(h, 'containerd', 'handler: restart containerd').status).toBe('changed');
        expect(task(h, 'common', 'module overlay loaded')).toMatchObject({
          status: 'skipped',
          reason: expect.stringContaining('no loadable module support'),
        });
        // containerd 1.x: config version 2, runc options under the grpc.v1.cri plugin.
        const toml = readFileSync(join(a.root, 'etc/containerd/config.toml'), 'utf8');
        expect(toml).toMatch(
          /\[plugins\."io\.containerd\.grpc\.v1\.cri"\.containerd\.runtimes\.runc\.options\]\n(\s+\w+ = .*\n)*?\s+SystemdCgroup = true\n/,
        );
        expect(a.proxyLog()).toMatch(/deb\.debian\.org/);

        const n = host(r, `${tag}-unsupported`);
        expect(n.error).toBe(
          `unsupported OS: ID=debian VERSION_ID=${want.unsupported.versionId} in /etc/os-release; supported: debian 11 (bullseye), 12 (bookworm), 13 (trixie). Nothing was changed on this host.`,
        );
        expect(n.tasks.map((t) => `${t.role}|${t.task}|${t.status}`)).toEqual(['facts|supported OS|failed']);
        expect(other.hashes(TOUCHED)).toEqual(otherBefore);
        expect(other.proxyLog()).not.toMatch(/deb\.debian\.org/);

        // The service really runs the release's containerd, and the kubernetes role accepts it.
        const k = await cli(`--check containerd + kubernetes on Debian ${release.versionId}`, [
          '--inventory',
          inventory('k8s.yaml', { [name]: main() }),
          '--tags',
          'containerd,kubernetes',
          '--check',
          '--json',
        ]);
        expect(k.code, k.stdout + k.stderr).toBe(0);
        const kh = host(k, name);
        expect(task(kh, 'containerd', 'service containerd').reason).toBe('containerd enabled, active');
        expect(task(kh, 'kubernetes', 'container runtime speaks CRI v1')).toMatchObject({
          status: 'ok',
          reason: `containerd ${want.containerd} speaks CRI v1`,
        });
        expect(task(kh, 'kubernetes', 'kubelet kubeadm kubectl 1.35').commands[0]).toContain(
          "'kubelet=1.35.*'",
        );
      }, 480_000);

      it('a second run changes nothing', async () => {
        const before = a.hashes(TOUCHED);
        const r = await cli('second run', [
          '--inventory',
          inventory('again.yaml', { [name]: main() }),
          '--tags',
          'common,containerd',
        ]);
        expect(r.code, r.stdout + r.stderr).toBe(0);
        expect(r.stdout).toMatch(
          new RegExp(`${name}\\s+: ok=\\d+ changed=0 unreachable=0 failed=0 skipped=\\d+`),
        );
        expect(a.hashes(TOUCHED)).toEqual(before);
      }, 180_000);

      it('every role (nvidia, kubernetes, control-plane, gpu-node) plans in --check on the converged host and changes nothing', async () => {
        const before = a.hashes(TOUCHED);
        const r = await cli(`--check of every role on Debian ${release.versionId}`, [
          '--inventory',
          inventory('all.yaml', { [name]: { ...main(), gpu: true } }),
          '--check',
          '--diff',
          '--json',
        ]);
        expect(r.code, r.stdout + r.stderr).toBe(0);
        const h = host(r, name);
        expect(h.counts.failed, JSON.stringify(h.tasks.filter((t) => t.status === 'failed'))).toBe(0);
        for (const t of h.tasks.filter((x) => x.role === 'common' || x.role === 'containerd'))
          expect(t.status, `${t.task}: ${t.reason}`).not.toBe('changed');
        // The release's own non-free components (non-free-firmware from bookworm on).
        expect(task(h, 'nvidia', 'apt repository debian-non-free').diff).toContain(
          `+deb http://deb.debian.org/debian ${release.codename} contrib non-free non-free-firmware\n`,
        );
        expect(task(h, 'control-plane', 'kubeadm init').status).toBe('changed');
        expect(a.hashes(TOUCHED)).toEqual(before);
      }, 180_000);
    },
  );
}
