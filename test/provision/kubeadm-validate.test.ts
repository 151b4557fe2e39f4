/**
 * The real kubeadm, built from the Go module proxy at the release provisioning installs
 * (cluster/components.ts COMPONENTS.kubeadm, `npm run cluster:build -- kubeadm`), judges every
 * kubeadm configuration provisioning writes: the unit tests in roles.test.ts only compare our
 * YAML with what we believe kubeadm wants.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { binary } from '../../cluster/build.ts';
import { COMPONENTS, KUBERNETES_VERSION } from '../../cluster/components.ts';
import { validateInventory } from '../../provision/src/inventory.ts';
import { kubeadmInitConfig } from '../../provision/src/roles/control-plane.ts';
import { kubeadmJoinConfig, parseJoinCommand } from '../../provision/src/roles/join.ts';

const kubeadm = binary(COMPONENTS.kubeadm, 'kubeadm');
const dir = mkdtempSync(join(tmpdir(), 'kubeadm-validate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function validate(name: string, content: string): { status: number | null; output: string } {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, content);
  const r = spawnSync(kubeadm, ['config', 'validate', '--config', file], { encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}`.trim() };
}

/**
 * The inventory fields that could reach a kubeadm document: version pin, CIDRs, proxy, air gap.
 * The Debian release is a fact, not an inventory field, and no generator takes it (asserted below).
 */
const VARIANTS: Record<string, Record<string, unknown>> = {
  defaults: {},
  'exact patch': { kubernetesVersion: KUBERNETES_VERSION.replace(/^v/, '') },
  'other CIDRs': { podCidr: '10.244.0.0/16', serviceCidr: '10.112.0.0/12' },
  proxy: { proxy: 'http://proxy.site:3128', noProxy: ['registry.site'] },
  'air-gapped': { artifactsDir: '/srv/artifacts' },
};

function inventory(cluster: Record<string, unknown>) {
  return validateInventory({
    cluster,
    hosts: {
      'cp-1': { address: '10.0.0.10', role: 'control-plane' },
      'gpu-1': { address: '10.0.0.21', role: 'worker', gpu: true },
      'cpu-1': { address: '10.0.0.22', role: 'worker', gpu: false },
    },
  });
}

/** What the roles write, by a name saying which variant: init for GPU and CPU control planes, join for GPU and CPU workers. */
function generated(): Map<string, string> {
  const out = new Map<string, string>();
  // What `kubeadm token create --print-join-command` prints on the control plane.
  const join = parseJoinCommand(
    `kubeadm join 10.0.0.10:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:${'a'.repeat(64)} \n`,
  );
  for (const [variant, cluster] of Object.entries(VARIANTS)) {
    const inv = inventory(cluster);
    for (const gpu of [false, true]) {
      // The role passes the installed kubeadm's `kubeadm version -o short`, which is this release.
      out.set(
        `init ${variant}${gpu ? ' gpu' : ''}`,
        kubeadmInitConfig({ host: inv.hosts[0]!, cluster: inv.cluster, gpu }, KUBERNETES_VERSION),
      );
      const worker = inv.hosts.find((h) => h.gpu === gpu)!;
      out.set(`join ${variant}${gpu ? ' gpu' : ''}`, kubeadmJoinConfig(worker.name, gpu, join));
    }
  }
  return out;
}

describe(`the real kubeadm ${KUBERNETES_VERSION} (kubeadm config validate)`, () => {
  const configs = generated();

  it('is the release provisioning installs', () => {
    const r = spawnSync(kubeadm, ['version', '-o', 'short'], { encoding: 'utf8' });
    expect(r.stdout.trim()).toBe(KUBERNETES_VERSION);
  });

  it('the documents do not depend on the proxy or the air gap (nor the Debian release: no generator takes it)', () => {
    for (const variant of ['proxy', 'air-gapped'])
      for (const kind of ['init', 'join'])
        for (const gpu of ['', ' gpu'])
          expect(configs.get(`${kind} ${variant}${gpu}`), `${kind} ${variant}${gpu}`).toBe(
            configs.get(`${kind} defaults${gpu}`),
          );
  });

  for (const [name, content] of generated())
    it(`accepts ${name} without a warning`, () => {
      const r = validate(name.replaceAll(' ', '-'), content);
      expect(r).toEqual({ status: 0, output: 'ok' });
    });

  it('rejects an unknown field, naming it (the check can fail)', () => {
    const init = configs.get('init defaults')!;
    const r = validate(
      'unknown-field',
      init.replace('serverTLSBootstrap: true', 'serverTLSBootstrapp: true'),
    );
    expect(r.status).toBe(1);
    expect(r.output).toContain(
      'error: error unmarshaling configuration schema.GroupVersionKind{Group:"kubelet.config.k8s.io", Version:"v1beta1", Kind:"KubeletConfiguration"}: strict decoding error: unknown field "serverTLSBootstrapp"',
    );
  });

  it('rejects a pod subnet that is not a CIDR, naming it', () => {
    const init = configs.get('init defaults')!;
    expect(init).toContain('podSubnet: 192.168.0.0/16');
    const r = validate(
      'bad-pod-subnet',
      init.replace('podSubnet: 192.168.0.0/16', 'podSubnet: 192.168.0.0/33'),
    );
    expect(r.status).toBe(1);
    expect(r.output).toContain(
      'error: networking.podSubnet: Invalid value: "192.168.0.0/33": couldn\'t parse subnet',
    );
  });

  // Only --check on a host without kubeadm yet shows this document (the role pins the installed
  // kubeadm's version before writing it). kubeadm accepts the label but resolves it on dl.k8s.io,
  // and offline warns and falls back to its own version: the lookup an air-gapped site cannot do,
  // which is why the written file never carries a label.
  it('accepts a "stable-1.MINOR" label only by looking it up on dl.k8s.io', { timeout: 60_000 }, () => {
    const minor = KUBERNETES_VERSION.split('.').slice(0, 2).join('.').replace(/^v/, '');
    const inv = inventory({ kubernetesVersion: minor });
    const init = kubeadmInitConfig({ host: inv.hosts[0]!, cluster: inv.cluster, gpu: false });
    expect(init).toContain(`kubernetesVersion: stable-${minor}`);
    const r = validate('stable-label', init);
    expect(r.status).toBe(0);
    // Offline: "could not fetch a Kubernetes version from the internet: unable to get URL
    // https://dl.k8s.io/release/stable-1.37.txt ..." and "falling back to the local client version".
    const warnings = r.output.split('\n').filter((l) => l !== 'ok');
    for (const w of warnings)
      expect(w).toMatch(/version\.go:\d+\] (could not fetch a Kubernetes version|falling back)/);
  });
});
