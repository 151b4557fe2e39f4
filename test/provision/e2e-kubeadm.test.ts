/**
 * How far a real `kubeadm init` gets inside a booted Debian 12 host (debian-host.ts), phase by phase,
 * with our own configuration: containerd from the air-gapped artifacts (as e2e-containerd), kubeadm
 * and kubelet built from the Go module proxy at the pinned release (cluster/components.ts), the
 * kubeadm configuration the control-plane role writes, then `kubeadm init phase ...` one at a time and
 * the kubelet watched while it runs the static pods. Each step asserts what it reached and,
 * where this sandbox stops it, the exact error.
 *
 * The host boots with writable API filesystems (DebianHost `writableApiVfs`: /proc/sys and the
 * cgroup v1 controllers, what kubelet's ContainerManager and runc need) inside a cgroup of its own,
 * and the images kubeadm names are built here (pause from Kubernetes' pause.c, the control plane
 * from the pinned binaries: control-plane-images.ts) and imported by the containerd role from the
 * inventory's `images`, since no registry can be reached. Acceptable for a throwaway test host
 * only: kernel.* and vm.* are this machine's, so the test records kubelet's tunables before and
 * puts them back, and its last step asserts that nothing of the host is left on this machine.
 * It must not run beside test/cluster's kubelet node, which sets and puts back the same tunables
 * (vitest runs files one at a time; by hand, not while that test runs).
 *
 * Debian 12, not 11: the Kubernetes binaries are built with cgo against this machine's glibc 2.36
 * (Debian 12's), which Debian 11's 2.31 cannot load.
 * Needs root (namespaces, nspawn); CI runs as root.
 */
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { packContainerdArtifacts } from '../../cluster/airgap-containerd.ts';
import { binary } from '../../cluster/build.ts';
import { ensurePauseImage } from '../../cluster/pause-image.ts';
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
import { ensureControlPlaneImages } from './control-plane-images.ts';
import { cgroupHierarchies, DEBIAN_RELEASES, DebianHost, ensureRootfs, makeKey } from './debian-host.ts';
import { KUBEADM_DROP_IN, KUBELET_SERVICE } from './kubelet-unit.ts';

const isRoot = process.getuid?.() === 0;
const NAME = 'deb12-kubeadm';

/**
 * kubelet's kernel tunables (pkg/kubelet/cm/container_manager_linux.go): kernel.* and vm.* are not
 * namespaced, so the host's kubelet writes THIS machine's; the test puts them back.
 */
const KERNEL_SYSCTLS = ['vm/overcommit_memory', 'vm/panic_on_oom', 'kernel/panic', 'kernel/panic_on_oops'];
const readSysctls = () =>
  Object.fromEntries(KERNEL_SYSCTLS.map((k) => [k, readFileSync(join('/proc/sys', k), 'utf8').trim()]));
/** The cgroups at each hierarchy's root of this machine: the host's must stay inside its own. */
const rootCgroups = () =>
  cgroupHierarchies()
    .flatMap((h) =>
      readdirSync(h, { withFileTypes: true })
        .filter((e) => e.isDirectory())
        .map((e) => `${h}/${e.name}`),
    )
    .sort();
const mountsUnder = (dir: string) =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => l.includes(dir));

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

  let sysctlsBefore: Record<string, string> = {};
  let cgroupsBefore: string[] = [];
  let images: { name: string; archive: string }[] = [];

  beforeAll(async () => {
    const built = ensureRootfs((s) => console.log(s), DEBIAN_RELEASES.bookworm);
    console.log(`bookworm rootfs: ${built.built ? `built in ${built.seconds}s` : 'cached'}`);
    makeKey(work);
    packContainerdArtifacts(artifacts);
    // The images kubeadm of the pinned release names, built here (no registry): pause and the control plane.
    const list = execFileSync(binary(COMPONENTS.kubeadm, 'kubeadm'), [
      'config',
      'images',
      'list',
      '--kubernetes-version',
      KUBERNETES_VERSION,
    ])
      .toString()
      .trim()
      .split('\n');
    const pause = ensurePauseImage();
    // Copied beside their checksums, as an inventory's archives must be.
    mkdirSync(join(work, 'images'));
    images = [pause, ...ensureControlPlaneImages(list)].map(({ name, archive }) => {
      copyFileSync(archive, join(work, 'images', basename(archive)));
      execFileSync('sh', ['-c', `sha256sum ${basename(archive)} > ${basename(archive)}.sha256`], {
        cwd: join(work, 'images'),
      });
      return { name, archive: join(work, 'images', basename(archive)) };
    });
    console.log(`images ready after ${(Date.now() - t0) / 1000}s: ${images.map((i) => i.name).join(' ')}`);
    sysctlsBefore = readSysctls();
    cgroupsBefore = rootCgroups();
    h = await DebianHost.boot(NAME, work, {
      release: DEBIAN_RELEASES.bookworm,
      writableApiVfs: true,
      // What the pkgs.k8s.io packages would install: the binaries and kubelet's unit with kubeadm's drop-in.
      prepare: (root) => {
        for (const [c, b] of [
          [COMPONENTS.kubeadm, 'kubeadm'],
          [COMPONENTS.kubelet, 'kubelet'],
          [COMPONENTS.kubernetes, 'kubectl'],
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
        cluster: { artifactsDir: artifacts, knownHosts: login.knownHosts, images },
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

  /** Stops the host and puts back the kernel tunables its kubelet wrote. */
  const teardown = async () => {
    if (h) console.log(await h.stop());
    for (const [k, v] of Object.entries(sysctlsBefore))
      if (readFileSync(join('/proc/sys', k), 'utf8').trim() !== v) writeFileSync(join('/proc/sys', k), v);
  };

  afterAll(async () => {
    await teardown();
    rmSync(work, { recursive: true, force: true });
    console.log(`kubeadm e2e total ${(Date.now() - t0) / 1000}s`);
  });

  it('containerd from the air-gapped artifacts runs with the images built here imported (containerd role), kubelet is enabled', async () => {
    const r = await runCli(['--inventory', join(work, 'inventory.yaml'), '--json', '--tags', 'containerd']);
    expect(r.code, r.stdout.slice(-3000) + r.stderr).toBe(0);
    expect((await onHost('systemctl is-active containerd')).stdout.trim()).toBe('active');
    const ls = await onHost("ctr -n k8s.io images ls -q | grep -v '^sha256:'");
    expect(ls.stdout.trim().split('\n').sort()).toEqual(images.map((i) => i.name).sort());
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

  it('preflight: the fatal errors are the cgroup v1 refusal and ip_forward; ip_forward can be set here', async () => {
    const r = await kubeadm(`init phase preflight --config ${KUBEADM_CONFIG}`);
    console.log(`preflight: exit ${r.code}\n${r.stdout}`);
    expect(r.code).toBe(1);
    expect([...r.stdout.matchAll(/\[ERROR ([^\]]+)\]/g)].map((m) => m[1])).toEqual([
      'SystemVerification',
      'FileContent--proc-sys-net-ipv4-ip_forward',
    ]);
    expect(r.stdout).toContain(`[ERROR SystemVerification]: ${CGROUP_V1_PREFLIGHT}`);
    // What the common role's live sysctl does on a real host: the host's /proc/sys is writable
    // (writableApiVfs) and it has CAP_NET_ADMIN in its own network namespace.
    const fwd = await onHost('sysctl -w net.ipv4.ip_forward=1 2>&1');
    expect(fwd.code, fwd.stdout).toBe(0);
    expect(fwd.stdout.trim()).toBe('net.ipv4.ip_forward = 1');
  }, 180_000);

  // Not run: preflight with SystemVerification ignored finds the five images built here, then pulls
  // the two it also lists and nothing here builds (kube-proxy, coredns), and with no registry
  // reachable each waits on DNS (lookup registry.k8s.io ...: i/o timeout) before ImagePull fails.
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

  /** The error of the first failed RunPodSandbox since `since`, the sandbox's id replaced by <id>. */
  const sandboxFailure = async (since: string): Promise<string> => {
    const line = await kubeletLine(since, '"RunPodSandbox from runtime service failed"');
    const err = /err="(.*)"$/.exec(line)?.[1]?.replaceAll('\\"', '"') ?? line;
    return err.replace(/sandbox "[0-9a-f]{64}"/, 'sandbox "<id>"');
  };
  const SANDBOX_PREFIX =
    'rpc error: code = Unknown desc = failed to start sandbox "<id>": failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: ';
  const running = async () => (await onHost(`ctr -n k8s.io tasks ls | awk '$3=="RUNNING"'`)).stdout.trim();

  it("with /dev/kmsg linked to the console (as kind does in containers), kubelet starts its ContainerManager (writing this machine's kernel tunables) and asks containerd for the pod sandboxes, whose runc init dies: no CAP_SYS_RESOURCE to lower oom_score_adj", async () => {
    await onHost('ln -s /dev/console /dev/kmsg');
    await new Promise((r) => setTimeout(r, 1000));
    const since = await now();
    expect((await onHost('systemctl restart kubelet')).code).toBe(0);
    // The static pods are read: kubelet wants their mirror pods, and the API server is not up.
    expect(await kubeletLine(since, 'Unable to register mirror pod')).toContain(
      '"Unable to register mirror pod because node is not registered yet" err="node \\"deb12-kubeadm\\" not found"',
    );
    const err = await sandboxFailure(since);
    // The ContainerManager started: kubelet's tunables are set (on this machine's kernel: kernel.*
    // and vm.* are not namespaced) and its QoS cgroups exist, inside the host's own cgroup.
    const cmFailed = await onHost(
      `journalctl -u kubelet --since @${since} -o cat --no-pager | grep -c 'Failed to start ContainerManager'`,
    );
    expect(cmFailed.stdout.trim()).toBe('0');
    expect(readSysctls()).toEqual({
      'vm/overcommit_memory': '1',
      'vm/panic_on_oom': '0',
      'kernel/panic': '10',
      'kernel/panic_on_oops': '1',
    });
    expect(existsSync(join('/sys/fs/cgroup/memory', h.cgroup!, 'kubepods.slice'))).toBe(true);
    expect(existsSync('/sys/fs/cgroup/memory/kubepods.slice')).toBe(false);
    // runc's nsexec dies before reporting its child: kubelet asks -998 for a sandbox, and this
    // machine lets no process lower its oom_score_adj; the next step shows runc goes on once
    // containerd stops asking.
    expect(err).toBe(`${SANDBOX_PREFIX}can't get final child's PID from pipe: EOF`);
    expect(await running()).toBe('');
  }, 240_000);

  it("the furthest step: with containerd's restrict_oom_score_adj (as this machine's own real kubelet node needs), runc reaches the container's init and stops at the session keyring, which systemd-nspawn's system call filter refuses", async () => {
    const set = await onHost(
      "sed -i 's/^\\(\\s*\\)restrict_oom_score_adj = false/\\1restrict_oom_score_adj = true/' /etc/containerd/config.toml && grep -c 'restrict_oom_score_adj = true' /etc/containerd/config.toml",
    );
    expect(set.code, set.stdout + set.stderr).toBe(0);
    expect(set.stdout.trim()).toBe('1');
    await new Promise((r) => setTimeout(r, 1000));
    const since = await now();
    expect((await onHost('systemctl restart containerd && systemctl restart kubelet')).code).toBe(0);
    expect(await sandboxFailure(since)).toBe(
      `${SANDBOX_PREFIX}error during container init: unable to join session keyring: unable to create session key: operation not permitted`,
    );
    // So no static pod runs, the API server never answers, and wait-control-plane, upload-config,
    // mark-control-plane, bootstrap-token, kubelet-finalize and addons are not reached.
    // Tried once by hand, not kept: with nspawn's --system-call-filter=@keyring no sandbox fails
    // any more, and kubelet's eviction manager then reports ephemeral-storage pressure (this
    // machine's disk is ~85 % full; imagefs.available < 15 %) and cannot evict the critical pods.
    expect(await running()).toBe('');
  }, 240_000);

  it('teardown leaves this machine as before: no cgroup, mount or network namespace of the host, the kernel tunables put back', async () => {
    const { dir } = h;
    const cgroup = h.cgroup!;
    await teardown();
    expect(cgroupHierarchies().filter((hh) => existsSync(join(hh, cgroup)))).toEqual([]);
    expect(rootCgroups().filter((c) => !cgroupsBefore.includes(c))).toEqual([]);
    expect(mountsUnder(dir)).toEqual([]);
    expect(execFileSync('ip', ['netns', 'list']).toString()).not.toContain(cgroup);
    expect(readSysctls()).toEqual(sysctlsBefore);
  }, 120_000);
});
