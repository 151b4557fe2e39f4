/**
 * How far a real `kubeadm init` gets inside a booted Debian 12 host (debian-host.ts), phase by phase,
 * with our own configuration: containerd from the air-gapped artifacts (as e2e-containerd), kubeadm
 * and kubelet built from the Go module proxy at the pinned release (cluster/components.ts), the
 * kubeadm configuration the control-plane role writes, then `kubeadm init phase ...` one at a time and
 * the kubelet watched while it tries to run the static pods. Each step asserts what it reached and,
 * where this sandbox stops it, the exact error.
 *
 * Debian 12, not 11: the Kubernetes binaries are built with cgo against this machine's glibc 2.36
 * (Debian 12's), which Debian 11's 2.31 cannot load.
 * Needs root (namespaces, nspawn); CI runs as root.
 */
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { packContainerdArtifacts } from '../../cluster/airgap-containerd.ts';
import { binary } from '../../cluster/build.ts';
import { COMPONENTS, KUBERNETES_VERSION } from '../../cluster/components.ts';
import { runHost } from '../../provision/src/engine.ts';
import { loadInventory } from '../../provision/src/inventory.ts';
import {
  controlPlaneRole,
  KUBEADM_CONFIG,
  kubeadmInitConfig,
} from '../../provision/src/roles/control-plane.ts';
import { connectTo, onHost as onHostAs, roleContextOn, writeKnownHosts } from './booted-host.ts';
import { runCli } from './cli-helpers.ts';
import { DEBIAN_RELEASES, DebianHost, ensureRootfs, makeKey } from './debian-host.ts';
import { KUBEADM_DROP_IN, KUBELET_SERVICE } from './kubelet-unit.ts';

const isRoot = process.getuid?.() === 0;
const NAME = 'deb12-kubeadm';

/** kubeadm's preflight text for a cgroup v1 host (KEP 5573). */
const CGROUP_V1_PREFLIGHT =
  "cgroups v1 support is deprecated and will be removed in a future release. Please migrate to cgroups v2. To explicitly enable cgroups v1 support for kubelet v1.35 or newer, you must set the kubelet configuration option 'FailCgroupV1' to 'false'. You must also explicitly skip this validation. For more information, see https://git.k8s.io/enhancements/keps/sig-node/5573-remove-cgroup-v1";
const CGROUP_V1_KUBELET =
  'kubelet is configured to not run on a host using cgroup v1. cgroup v1 support is unsupported and will be removed in a future release';

describe.skipIf(!isRoot)(`kubeadm init ${KUBERNETES_VERSION} phase by phase on a real Debian 12 host`, () => {
  const work = mkdtempSync(join(tmpdir(), 'cdk8s-prov-kubeadm-'));
  const artifacts = join(work, 'artifacts');
  const login = { keyPath: join(work, 'id_ed25519'), knownHosts: join(work, 'known_hosts') };
  const t0 = Date.now();
  let h: DebianHost;
  const onHost = (cmd: string) => onHostAs(h, login, cmd);
  const kubeadm = (args: string) => onHost(`kubeadm ${args} 2>&1`);
  /** The host's clock, in seconds, for journalctl --since. */
  const now = async () => (await onHost('date +%s')).stdout.trim();
  /** The first kubelet journal line since `since` matching `grep -E pattern` (waits up to 60 s). */
  const kubeletLine = async (since: string, pattern: string): Promise<string> => {
    for (let i = 0; i < 30; i++) {
      const j = await onHost(
        `journalctl -u kubelet --since @${since} -o cat --no-pager | grep -m1 -E '${pattern}'`,
      );
      if (j.stdout.trim()) return j.stdout.trim();
      await new Promise((r) => setTimeout(r, 2000));
    }
    const tail = await onHost(`journalctl -u kubelet --since @${since} -o cat --no-pager | tail -30`);
    return `no kubelet line matches ${pattern}; the journal ends:\n${tail.stdout}`;
  };
  /** The error of kubelet's first failed start since `since`. */
  const kubeletFailure = async (since: string): Promise<string> => {
    const line = await kubeletLine(since, '"command failed"');
    return /"command failed" err="(.*)"$/.exec(line)?.[1]?.replaceAll('\\"', '"') ?? line;
  };

  beforeAll(async () => {
    const built = ensureRootfs((s) => console.log(s), DEBIAN_RELEASES.bookworm);
    console.log(`bookworm rootfs: ${built.built ? `built in ${built.seconds}s` : 'cached'}`);
    makeKey(work);
    packContainerdArtifacts(artifacts);
    h = await DebianHost.boot(NAME, work, {
      release: DEBIAN_RELEASES.bookworm,
      // What the pkgs.k8s.io packages would install: the binaries and kubelet's unit with kubeadm's drop-in.
      prepare: (root) => {
        for (const [c, b] of [
          [COMPONENTS.kubeadm, 'kubeadm'],
          [COMPONENTS.kubelet, 'kubelet'],
        ] as const) {
          copyFileSync(binary(c, b), join(root, 'usr/bin', b));
          chmodSync(join(root, 'usr/bin', b), 0o755);
        }
        for (const f of [KUBELET_SERVICE, KUBEADM_DROP_IN]) {
          mkdirSync(dirname(join(root, f.path)), { recursive: true });
          writeFileSync(join(root, f.path), f.content);
        }
      },
    });
    writeKnownHosts(h, login.knownHosts);
    writeFileSync(
      join(work, 'inventory.yaml'),
      stringify({
        cluster: { artifactsDir: artifacts, knownHosts: login.knownHosts },
        hosts: {
          [NAME]: {
            address: h.address,
            role: 'control-plane',
            gpu: false,
            ssh: { user: 'root', key: login.keyPath },
          },
        },
      }),
    );
    console.log(`host booted after ${(Date.now() - t0) / 1000}s`);
  }, 300_000);

  afterAll(async () => {
    if (h) console.log(await h.stop());
    rmSync(work, { recursive: true, force: true });
    console.log(`kubeadm e2e total ${(Date.now() - t0) / 1000}s`);
  });

  it('containerd from the air-gapped artifacts runs (containerd role), kubelet is enabled', async () => {
    const r = await runCli(['--inventory', join(work, 'inventory.yaml'), '--json', '--tags', 'containerd']);
    expect(r.code, r.stdout.slice(-3000) + r.stderr).toBe(0);
    expect((await onHost('systemctl is-active containerd')).stdout.trim()).toBe('active');
    const en = await onHost('systemctl daemon-reload && systemctl enable kubelet 2>&1 && kubelet --version');
    expect(en.code, en.stdout + en.stderr).toBe(0);
    expect(en.stdout).toContain(`Kubernetes ${KUBERNETES_VERSION}`);
  }, 300_000);

  it("writes the control-plane role's kubeadm configuration", async () => {
    const inv = loadInventory(join(work, 'inventory.yaml'));
    const connect = () => connectTo(h, login);
    const ctx = await roleContextOn(connect, inv);
    const task = controlPlaneRole(ctx).find((t) => t.name === 'kubeadm config')!;
    const res = await runHost(
      { name: NAME, connect, tasks: () => [task], handlers: [], allowReboot: false },
      { check: false, reporter: { task: () => {} } },
    );
    expect(res.error).toBeUndefined();
    expect(res.tasks.at(-1)?.status).toBe('changed');
    // The installed kubeadm's version is what the role reads when the inventory names only the minor.
    expect(readFileSync(join(h.root, KUBEADM_CONFIG), 'utf8')).toBe(
      kubeadmInitConfig(ctx, KUBERNETES_VERSION),
    );
  }, 120_000);

  it('preflight: the fatal errors are the cgroup v1 refusal and ip_forward, both set by the sandbox', async () => {
    const r = await kubeadm(`init phase preflight --config ${KUBEADM_CONFIG}`);
    console.log(`preflight: exit ${r.code}\n${r.stdout}`);
    expect(r.code).toBe(1);
    expect([...r.stdout.matchAll(/\[ERROR ([^\]]+)\]/g)].map((m) => m[1])).toEqual([
      'SystemVerification',
      'FileContent--proc-sys-net-ipv4-ip_forward',
    ]);
    expect(r.stdout).toContain(`[ERROR SystemVerification]: ${CGROUP_V1_PREFLIGHT}`);
    // The common role's live sysctl cannot set it here: systemd-nspawn keeps /proc/sys from the container.
    const fwd = await onHost('sysctl -w net.ipv4.ip_forward=1 2>&1');
    expect(fwd.code).not.toBe(0);
    expect(fwd.stdout.trim()).toBe('sysctl: permission denied on key "net.ipv4.ip_forward"');
  }, 180_000);

  // Not run: preflight with those two ignored (--ignore-preflight-errors=SystemVerification,
  // FileContent--proc-sys-net-ipv4-ip_forward: cgroup v1 and /proc/sys are this sandbox's) goes on to
  // pull the images, and with no registry reachable that waits on DNS for minutes
  // (lookup registry.k8s.io: i/o timeout) before ImagePull fails.
  it('the images the static pods need are the pinned release, from registry.k8s.io (no registry reachable here)', async () => {
    const r = await kubeadm(`config images list --config ${KUBEADM_CONFIG}`);
    expect(r.code, r.stdout).toBe(0);
    const images = r.stdout.trim().split('\n');
    expect(images).toEqual(
      expect.arrayContaining([
        `registry.k8s.io/kube-apiserver:${KUBERNETES_VERSION}`,
        `registry.k8s.io/etcd:3.7.0-0`,
        expect.stringMatching(/^registry\.k8s\.io\/pause:3\.\d+/),
      ]),
    );
    console.log(images.join('\n'));
  }, 60_000);

  it('certs, kubeconfigs and the static pod manifests are written', async () => {
    for (const phase of ['certs all', 'kubeconfig all', 'etcd local', 'control-plane all']) {
      const r = await kubeadm(`init phase ${phase} --config ${KUBEADM_CONFIG}`);
      expect(r.code, `${phase}: ${r.stdout}`).toBe(0);
    }
    const ls = (dir: string) => readdirSync(join(h.root, 'etc/kubernetes', dir)).sort();
    expect(ls('manifests')).toEqual([
      'etcd.yaml',
      'kube-apiserver.yaml',
      'kube-controller-manager.yaml',
      'kube-scheduler.yaml',
    ]);
    expect(ls('.').filter((f) => f.endsWith('.conf'))).toEqual([
      'admin.conf',
      'controller-manager.conf',
      'kubelet.conf',
      'scheduler.conf',
      'super-admin.conf',
    ]);
    expect(ls('pki')).toEqual(expect.arrayContaining(['ca.crt', 'apiserver.crt', 'sa.key', 'etcd']));
    const apiserver = readFileSync(join(h.root, 'etc/kubernetes/manifests/kube-apiserver.yaml'), 'utf8');
    expect(apiserver).toContain(`image: registry.k8s.io/kube-apiserver:${KUBERNETES_VERSION}`);
    expect(apiserver).toContain(`- --advertise-address=${h.address}`);
  }, 180_000);

  it('kubelet-start starts kubelet, which refuses cgroup v1', async () => {
    const since = await now();
    const r = await kubeadm(`init phase kubelet-start --config ${KUBEADM_CONFIG}`);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain('[kubelet-start] Starting the kubelet');
    expect(await kubeletFailure(since)).toBe(
      `failed to validate kubelet configuration, error: ${CGROUP_V1_KUBELET}, path: &TypeMeta{Kind:,APIVersion:,}`,
    );
  }, 120_000);

  it('with failCgroupV1: false in our KubeletConfiguration, kubelet stops at /dev/kmsg, which nspawn does not give', async () => {
    // What a cgroup v1 site must add (kubeadm's preflight text says so); the KubeletConfiguration is the last document.
    await onHost(`echo 'failCgroupV1: false' >> ${KUBEADM_CONFIG}`);
    await new Promise((r) => setTimeout(r, 1000)); // past the second of the last failure
    const since = await now();
    const r = await kubeadm(`init phase kubelet-start --config ${KUBEADM_CONFIG}`);
    expect(r.code, r.stdout).toBe(0);
    expect((await onHost('grep failCgroupV1 /var/lib/kubelet/config.yaml')).stdout.trim()).toBe(
      'failCgroupV1: false',
    );
    expect(await kubeletFailure(since)).toBe(
      'failed to run Kubelet: failed to create kubelet: open /dev/kmsg: no such file or directory',
    );
  }, 120_000);

  it('with /dev/kmsg linked to the console (as kind does in containers), kubelet reads the static pods and stops starting its ContainerManager: /proc/sys is read-only', async () => {
    await onHost('ln -s /dev/console /dev/kmsg');
    await new Promise((r) => setTimeout(r, 1000));
    const since = await now();
    expect((await onHost('systemctl restart kubelet')).code).toBe(0);
    // The static pods are read: kubelet wants their mirror pods, and the API server is not up.
    expect(await kubeletLine(since, 'Unable to register mirror pod')).toContain(
      '"Unable to register mirror pod because node is not registered yet" err="node \\"deb12-kubeadm\\" not found"',
    );
    const line = await kubeletLine(since, '"Failed to start ContainerManager"');
    const errs = /err="\[(.*)\]"$/.exec(line)?.[1]?.split(', ').sort();
    expect(errs, line).toEqual([
      'open /proc/sys/kernel/panic: read-only file system',
      'open /proc/sys/kernel/panic_on_oops: read-only file system',
      'open /proc/sys/vm/overcommit_memory: read-only file system',
    ]);
    // So no pod sandbox is ever asked of containerd.
    expect((await onHost('ctr -n k8s.io containers ls -q')).stdout.trim()).toBe('');
  }, 240_000);
});
