/**
 * Provisioning's default containerd path (`containerd.source: release`) applied for real, air-gapped,
 * on a booted Debian 11 host (debian-host.ts): containerd, runc and the CNI plugins built from the
 * Go module proxy at provision/src/versions.ts' pins (cluster/components.ts), packed as the
 * artifacts the role reads (cluster/airgap-containerd.ts) and pushed over SSH; then an OCI archive
 * made here with buildah imported into that containerd (cluster.images), registry mirrors written
 * (cluster.registryMirrors), and the kubernetes role's runtime check run against the result.
 * Needs root (namespaces, nspawn, buildah); CI runs as root.
 */
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { packContainerdArtifacts, type PackedArtifact } from '../../cluster/airgap-containerd.ts';
import { binary } from '../../cluster/build.ts';
import { COMPONENTS } from '../../cluster/components.ts';
import { SshConnector } from '../../provision/src/connector.ts';
import { runHost, type HostResult, type TaskResult } from '../../provision/src/engine.ts';
import { loadInventory } from '../../provision/src/inventory.ts';
import { PINNED_LABEL } from '../../provision/src/ops/images.ts';
import { containerdRole } from '../../provision/src/roles/containerd.ts';
import { kubernetesRole } from '../../provision/src/roles/kubernetes.ts';
import { CONTAINERD_VERSION, RUNC_VERSION } from '../../provision/src/versions.ts';
import { roleContextOn } from './booted-host.ts';
import { runCli, type CliRun } from './cli-helpers.ts';
import { DebianHost, ensureRootfs, makeKey } from './debian-host.ts';
import { buildahStorage } from '../../server/image/buildah.ts';

const isRoot = process.getuid?.() === 0;

/** The name buildah writes into the archive, and the name kubelet asks the CRI for. */
const ARCHIVE_REF = 'cdk8s-e2e/hello:1';
const IMAGE_NAME = `docker.io/${ARCHIVE_REF}`;

/** What the role writes: the --check run and a failed run must leave all of them as they were. */
const TOUCHED = [
  '/usr/local/bin/containerd',
  '/usr/local/bin/ctr',
  '/usr/local/sbin/runc',
  '/opt/cni/bin/bridge',
  '/etc/containerd/config.toml',
  '/usr/local/lib/systemd/system/containerd.service',
  '/etc/containerd/certs.d/docker.io/hosts.toml',
];

/** A one-file image from scratch, committed by buildah as an OCI archive (no registry involved). */
function buildTinyImage(dir: string): { archive: string; digest: string; configDigest: string } {
  const storage = buildahStorage(join(dir, 'runroot'));
  const b = (...args: string[]) =>
    execFileSync('buildah', [...storage, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  writeFileSync(join(dir, 'hello.txt'), 'hello from an air-gapped image\n');
  // A static executable for the container to run (no shell or libc in a scratch image).
  copyFileSync(binary(COMPONENTS.cniPlugins, 'bridge'), join(dir, 'hello'));
  const archive = join(dir, 'hello.oci.tar');
  const c = b('from', '--name', `cdk8s-e2e-ctd-${process.pid}`, 'scratch').trim();
  try {
    b('copy', c, join(dir, 'hello.txt'), '/hello.txt');
    b('copy', '--chmod', '0755', c, join(dir, 'hello'), '/hello');
    b('config', '--os', 'linux', '--arch', 'amd64', '--cmd', '["/hello"]', c);
    b('commit', '--quiet', '--format', 'oci', c, `oci-archive:${archive}:${ARCHIVE_REF}`);
  } finally {
    b('rm', c);
  }
  const read = (f: string) => execFileSync('tar', ['-xOf', archive, f], { encoding: 'utf8' });
  const digest = (JSON.parse(read('index.json')) as { manifests: { digest: string }[] }).manifests[0]!.digest;
  const manifest = JSON.parse(read(`blobs/sha256/${digest.slice(7)}`)) as { config: { digest: string } };
  execFileSync('sh', ['-c', `cd ${dir} && sha256sum hello.oci.tar > hello.oci.tar.sha256`]);
  return { archive, digest, configDigest: manifest.config.digest };
}

const hostOf = (r: CliRun, name: string): HostResult => {
  const h = r.json?.hosts.find((x) => x.host === name);
  if (!h) throw new Error(`no result for ${name}: ${r.stdout.slice(0, 2000)} ${r.stderr.slice(0, 2000)}`);
  return h;
};
const task = (h: HostResult, name: string): TaskResult => {
  const t = h.tasks.find((x) => x.task === name);
  if (!t) throw new Error(`${h.host}: no task ${name}; tasks: ${h.tasks.map((x) => x.task).join(', ')}`);
  return t;
};

describe.skipIf(!isRoot)(
  'the default containerd (release) from air-gapped artifacts on a real Debian 11 host',
  () => {
    const work = mkdtempSync(join(tmpdir(), 'cdk8s-prov-ctd-'));
    const artifacts = join(work, 'artifacts');
    const t0 = Date.now();
    let h: DebianHost;
    let packed: PackedArtifact[] = [];
    let image: ReturnType<typeof buildTinyImage>;
    const ssh = { user: 'root', key: join(work, 'id_ed25519') };
    const knownHosts = join(work, 'known_hosts');

    const inventory = (file: string, cluster: Record<string, unknown> = {}): string => {
      const p = join(work, file);
      writeFileSync(
        p,
        stringify({
          cluster: {
            artifactsDir: artifacts,
            knownHosts,
            images: [{ name: ARCHIVE_REF, archive: image.archive }],
            registryMirrors: { 'docker.io': ['http://mirror.invalid:5000'] },
            ...cluster,
          },
          hosts: { 'deb11-ctd': { address: h.address, role: 'control-plane', gpu: false, ssh } },
        }),
      );
      return p;
    };
    /** A command inside the host, over SSH (its /run and services are its own). */
    const onHost = async (cmd: string) => {
      const c = await SshConnector.connect({
        host: h.address,
        port: 22,
        user: 'root',
        keyPath: ssh.key,
        become: true,
        knownHosts,
        acceptNewHostKeys: false,
      });
      try {
        return await c.exec(cmd);
      } finally {
        await c.close();
      }
    };

    beforeAll(async () => {
      const built = ensureRootfs((s) => console.log(s));
      console.log(`rootfs: ${built.built ? `built in ${built.seconds}s` : 'cached'}`);
      makeKey(work);
      const tp = Date.now();
      packed = packContainerdArtifacts(artifacts);
      console.log(
        `artifacts packed in ${(Date.now() - tp) / 1000}s: ${packed.map((a) => a.name).join(', ')}`,
      );
      const ti = Date.now();
      mkdirSync(join(work, 'image'));
      image = buildTinyImage(join(work, 'image'));
      console.log(`OCI archive built with buildah in ${(Date.now() - ti) / 1000}s: ${image.digest}`);
      h = await DebianHost.boot('deb11-ctd', work);
      writeFileSync(
        knownHosts,
        `${h.address} ${readFileSync(join(h.root, 'etc/ssh/ssh_host_ed25519_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ')}\n`,
      );
      console.log(`host booted after ${(Date.now() - t0) / 1000}s`);
    }, 300_000);

    afterAll(async () => {
      if (h) console.log(await h.stop());
      rmSync(work, { recursive: true, force: true });
      console.log(`containerd e2e total ${(Date.now() - t0) / 1000}s`);
    });

    it('packs the artifacts under the names and checksum files the role reads', () => {
      const names = packed.map((a) => a.name);
      expect(names).toEqual([
        `containerd-static-${CONTAINERD_VERSION}-linux-amd64.tar.gz`,
        `containerd-${CONTAINERD_VERSION}-linux-amd64.tar.gz`,
        'runc.amd64',
        expect.stringMatching(/^cni-plugins-linux-amd64-v\d+\.\d+\.\d+\.tgz$/),
      ]);
      for (const a of packed)
        expect(readFileSync(join(artifacts, a.checksumFile), 'utf8')).toBe(`${a.sha256}  ${a.name}\n`);
      const list = (f: string) =>
        execFileSync('tar', ['-tzf', join(artifacts, f)], { encoding: 'utf8' })
          .trim()
          .split('\n');
      expect(list(names[0]!)).toEqual(['bin/', 'bin/containerd', 'bin/containerd-shim-runc-v2', 'bin/ctr']);
      expect(list(names[3]!)).toEqual(
        expect.arrayContaining(['./bridge', './host-local', './loopback', './portmap']),
      );
      // Reproducible: packing again gives the same bytes.
      const again = packContainerdArtifacts(join(work, 'artifacts-again'));
      expect(again.map((a) => a.sha256)).toEqual(packed.map((a) => a.sha256));
    }, 120_000);

    it('--check on the fresh host plans the install and the import and alters nothing', async () => {
      const before = h.hashes(TOUCHED);
      const r = await runCli([
        '--inventory',
        inventory('check.yaml'),
        '--check',
        '--json',
        '--tags',
        'containerd',
      ]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const hr = hostOf(r, 'deb11-ctd');
      expect(task(hr, `download containerd ${CONTAINERD_VERSION}`)).toMatchObject({
        status: 'changed',
        reason: `/usr/local/src/cdk8s-provision/containerd-static-${CONTAINERD_VERSION}-linux-amd64.tar.gz missing`,
      });
      expect(task(hr, `image ${IMAGE_NAME}`)).toMatchObject({
        status: 'changed',
        reason: `containerd not installed yet: ${IMAGE_NAME} would be imported from ${image.archive}`,
      });
      expect(h.hashes(TOUCHED)).toEqual(before);
    }, 120_000);

    it('applies the containerd role: containerd runs with SystemdCgroup, the image is imported and pinned, the mirrors are written', async () => {
      const r = await runCli(['--inventory', inventory('apply.yaml'), '--json', '--tags', 'containerd']);
      const hr = hostOf(r, 'deb11-ctd');
      console.log(hr.tasks.map((t) => `${t.status}: ${t.task} - ${t.reason}`).join('\n'));
      expect(hr.error, JSON.stringify(hr.tasks.filter((t) => t.status === 'failed'))).toBeUndefined();
      expect(r.code, r.stderr).toBe(0);
      expect(hr.counts.failed).toBe(0);
      for (const t of [
        `download containerd ${CONTAINERD_VERSION}`,
        `unpack containerd ${CONTAINERD_VERSION}`,
        `runc ${RUNC_VERSION}`,
        'config.toml SystemdCgroup',
        'registry mirrors docker.io',
        'service containerd',
        `image ${IMAGE_NAME}`,
        'handler: restart containerd',
      ])
        expect(task(hr, t).status, `${t}: ${task(hr, t).reason}`).toBe('changed');

      const version = await onHost('containerd --version && runc --version && /opt/cni/bin/bridge --version');
      expect(version.code, version.stderr).toBe(0);
      expect(version.stdout).toContain(
        `containerd github.com/containerd/containerd/v2 v${CONTAINERD_VERSION}`,
      );
      expect(version.stdout).toContain(`runc version ${RUNC_VERSION}`);
      expect((await onHost('systemctl is-active containerd')).stdout.trim()).toBe('active');
      const toml = readFileSync(join(h.root, 'etc/containerd/config.toml'), 'utf8');
      expect(toml).toMatch(
        /\[plugins\.'io\.containerd\.cri\.v1\.runtime'\.containerd\.runtimes\.runc\.options\]\n(\s+\w+ = .*\n)*?\s+SystemdCgroup = true\n/,
      );
      expect(toml).toMatch(
        /\[plugins\.'io\.containerd\.cri\.v1\.images'\.registry\]\n\s+config_path = "\/etc\/containerd\/certs\.d"\n/,
      );
      expect(readFileSync(join(h.root, 'etc/containerd/certs.d/docker.io/hosts.toml'), 'utf8')).toContain(
        'server = "https://registry-1.docker.io"\n\n[host."http://mirror.invalid:5000"]\n  capabilities = ["pull", "resolve"]\n',
      );
      // The running containerd's own view: which plugins loaded (the CRI ones among them) and why not.
      const plugins = await onHost('ctr plugins ls');
      console.log(plugins.stdout);
      expect(plugins.stdout).toMatch(/io\.containerd\.cri\.v1\s+runtime\s+\S+\s+ok/);
      const ls = await onHost(`ctr -n k8s.io images ls name==${IMAGE_NAME}`);
      expect(ls.stdout).toContain(image.digest);
      expect(ls.stdout).toContain(PINNED_LABEL);
      // The normalized name, not the archive's short one; and the image ID entry the CRI plugin
      // adds for the images it has indexed (what kubelet's image list reads).
      expect((await onHost('ctr -n k8s.io images ls -q')).stdout.trim().split('\n')).toEqual([
        IMAGE_NAME,
        image.configDigest,
      ]);
      expect((await onHost('ls -A /tmp')).stdout).not.toMatch(/cdk8s/);
      // The imported image as a container (systemd cgroups, as kubelet's pods would run): unpacked
      // by the overlayfs snapshotter, started by the shim and runc. systemd-nspawn mounts the
      // cgroup v1 controllers read-only here, so runc stops at its cgroup step, after everything
      // before it worked; on a host with writable cgroups the container runs.
      const cgroupsRo = (await onHost('findmnt -n -o OPTIONS /sys/fs/cgroup/cpuset')).stdout.startsWith(
        'ro,',
      );
      const run = await onHost(
        `ctr -n k8s.io run --rm --runc-systemd-cgroup --cgroup system.slice:cdk8s-e2e:hello ${IMAGE_NAME} cdk8s-e2e-hello /hello --version`,
      );
      console.log(
        `ctr run (cgroups ${cgroupsRo ? 'read-only' : 'writable'}): exit ${run.code}\n${run.stdout}\n${run.stderr}`,
      );
      if (cgroupsRo)
        expect(run.stderr).toContain(
          'ctr: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: unable to apply cgroup configuration: mkdir /sys/fs/cgroup/cpuset/system.slice: read-only file system',
        );
      else expect(run.stdout).toContain('CNI bridge plugin v1.9.1');
    }, 300_000);

    it("the kubernetes role's runtime check accepts it", async () => {
      const inv = loadInventory(join(work, 'apply.yaml'));
      const connect = () =>
        SshConnector.connect({
          host: h.address,
          port: 22,
          user: 'root',
          keyPath: ssh.key,
          become: true,
          knownHosts,
          acceptNewHostKeys: false,
        });
      const ctx = await roleContextOn(connect, inv);
      const cri = kubernetesRole(ctx).find((t) => t.name === 'container runtime speaks CRI v1')!;
      for (const check of [false, true]) {
        const res = await runHost(
          { name: 'deb11-ctd', connect, tasks: () => [cri], handlers: [], allowReboot: false },
          { check, reporter: { task: () => {} } },
        );
        expect(res.error).toBeUndefined();
        expect(res.tasks.at(-1)).toMatchObject({ status: 'ok', reason: 'containerd 2.3 speaks CRI v1' });
      }
      expect(containerdRole(ctx).length).toBeGreaterThan(0);
    }, 60_000);

    it('a second run changes nothing: the image is not imported again', async () => {
      const before = h.hashes(TOUCHED);
      const r = await runCli(['--inventory', inventory('again.yaml'), '--json', '--tags', 'containerd']);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const hr = hostOf(r, 'deb11-ctd');
      expect(hr.counts.changed, JSON.stringify(hr.tasks.filter((t) => t.status === 'changed'))).toBe(0);
      expect(task(hr, `image ${IMAGE_NAME}`)).toMatchObject({
        status: 'ok',
        reason: `${IMAGE_NAME} present at ${image.digest}, pinned`,
      });
      expect(h.hashes(TOUCHED)).toEqual(before);
    }, 180_000);

    it('an archive that does not match its checksum is refused before anything is sent', async () => {
      const bad = join(work, 'image', 'tampered.oci.tar');
      copyFileSync(image.archive, bad);
      writeFileSync(`${bad}.sha256`, `${'0'.repeat(64)}  tampered.oci.tar\n`);
      const r = await runCli([
        '--inventory',
        inventory('tampered.yaml', { images: [{ name: 'cdk8s-e2e/other:1', archive: bad }] }),
        '--json',
        '--tags',
        'containerd',
      ]);
      expect(r.code).toBe(1);
      const hr = hostOf(r, 'deb11-ctd');
      expect(hr.error).toMatch(
        new RegExp(
          `image archive ${bad.replace(/[.]/g, '\\.')} has sha256 [0-9a-f]{64}; ${bad.replace(/[.]/g, '\\.')}\\.sha256 says 0{64}\\. Nothing was sent`,
        ),
      );
      expect((await onHost('ctr -n k8s.io images ls -q')).stdout.trim().split('\n')).toEqual([
        IMAGE_NAME,
        image.configDigest,
      ]);
    }, 120_000);

    it("a registry dropped from registryMirrors loses provisioning's hosts.toml; a file it did not write stays", async () => {
      const certs = join(h.root, 'etc/containerd/certs.d');
      mkdirSync(join(certs, 'quay.io'), { recursive: true });
      const own = '# the user\'s own\nserver = "https://quay.io"\n';
      writeFileSync(join(certs, 'quay.io/hosts.toml'), own);
      const r = await runCli([
        '--inventory',
        inventory('unmirrored.yaml', { registryMirrors: {} }),
        '--json',
        '--tags',
        'containerd',
      ]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(task(hostOf(r, 'deb11-ctd'), 'registry mirrors removed')).toMatchObject({
        status: 'changed',
        reason:
          'registry mirrors no longer in cluster.registryMirrors: /etc/containerd/certs.d/docker.io/hosts.toml',
      });
      expect(existsSync(join(certs, 'docker.io'))).toBe(false);
      expect(readFileSync(join(certs, 'quay.io/hosts.toml'), 'utf8')).toBe(own);
      const again = await runCli([
        '--inventory',
        inventory('unmirrored.yaml', { registryMirrors: {} }),
        '--json',
        '--tags',
        'containerd',
      ]);
      expect(task(hostOf(again, 'deb11-ctd'), 'registry mirrors removed').status).toBe('ok');
    }, 180_000);
  },
);
