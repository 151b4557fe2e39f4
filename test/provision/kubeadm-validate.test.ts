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
 * The inventory fields that could reach a kubeadm document: version pin, CIDRs, proxy, air gap,
 * a local registry (imageRepository).
 * The Debian release is a fact, not an inventory field, and no generator takes it (asserted below).
 */
const VARIANTS: Record<string, Record<string, unknown>> = {
  defaults: {},
  'exact patch': { kubernetesVersion: KUBERNETES_VERSION.replace(/^v/, '') },
  'other CIDRs': { podCidr: '10.244.0.0/16', serviceCidr: '10.112.0.0/12' },
  proxy: { proxy: 'http://proxy.site:3128', noProxy: ['registry.site'] },
  'air-gapped': { artifactsDir: '/srv/artifacts' },
  'local registry': {
    imageRepository: 'registry.site:5000/k8s',
    registryMirrors: { 'registry.k8s.io': ['https://registry.site:5000'] },
  },
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

/**
 * `kubeadm init --dry-run` on this machine with our init configuration: every phase up to the
 * bootstrap token runs against a fake API server and writes certificates, kubeconfigs, manifests
 * and the kubelet's files to KUBEADM_INIT_DRYRUN_DIR (unset, kubeadm makes /etc/kubernetes/tmp).
 * Preflight findings about this machine (no containerd, no kubelet, ports of a local cluster) are
 * ignored: they judge the host, not the configuration. Run in a private mount namespace with
 * /etc, /var and /run under overlays whose upper layers must stay empty, so it is proven to
 * change nothing on the machine, and in an empty network namespace: the dry-run client tries the
 * real API server at the advertise address before its fake one, which took 2-3 s per request
 * to an address that does not answer and would reach a local cluster's apiserver on 6443.
 * unshare and mounts need root.
 */
describe.skipIf(process.getuid?.() !== 0)(`kubeadm ${KUBERNETES_VERSION} init --dry-run`, () => {
  function dryRun(name: string, gpu: boolean) {
    const inv = inventory({});
    const host = { ...inv.hosts[0]!, address: '192.0.2.10' };
    const config = join(dir, `${name}.yaml`);
    writeFileSync(config, kubeadmInitConfig({ host, cluster: inv.cluster, gpu }, KUBERNETES_VERSION));
    const work = mkdtempSync(join(dir, `${name}-`));
    const script = [
      'set -e',
      `mount -t tmpfs tmpfs ${work}`,
      ...['etc', 'var', 'run'].map(
        (d) =>
          `mkdir ${work}/${d}-upper ${work}/${d}-work && mount -t overlay overlay -o lowerdir=/${d},upperdir=${work}/${d}-upper,workdir=${work}/${d}-work /${d}`,
      ),
      `mkdir ${work}/out`,
      `set +e`,
      `KUBEADM_INIT_DRYRUN_DIR=${work}/out timeout 60 ${kubeadm} init --dry-run --config ${config} --skip-token-print --ignore-preflight-errors=all > ${work}/log 2>&1`,
      'echo "exit $?"',
      `cat ${work}/log`,
      'echo "--- written outside the dry-run folder:"',
      `(cd ${work} && find etc-upper var-upper run-upper -mindepth 1)`,
      'echo "--- kubelet config:"',
      `cat ${work}/out/config.yaml ${work}/out/kubeadm-flags.env`,
    ].join('\n');
    const r = spawnSync('unshare', ['-m', '-n', '--propagation', 'private', 'sh', '-c', script], {
      encoding: 'utf8',
      timeout: 90_000,
    });
    expect(r.stderr).toBe('');
    return r.stdout;
  }

  it('runs every phase with the CPU control plane configuration and writes nothing outside its folder', () => {
    const out = dryRun('dry-run-cpu', false);
    expect(out).toMatch(/^exit 0\n/);
    expect(out).toContain(`[init] Using Kubernetes version: ${KUBERNETES_VERSION}`);
    expect(out).toContain('IPs [10.96.0.1 192.0.2.10]');
    expect(out).toContain('- --service-cluster-ip-range=10.96.0.0/12');
    expect(out).toContain('- --cluster-cidr=192.168.0.0/16');
    expect(out).toContain('[bootstrap-token] Configuring bootstrap tokens');
    expect(out).toContain(
      '[mark-control-plane] Marking the node cp-1 as control-plane by adding the taints [node-role.kubernetes.io/control-plane:NoSchedule]\n',
    );
    expect(out.split('--- written outside the dry-run folder:\n')[1]!.split('---')[0]).toBe('');
    const kubelet = out.split('--- kubelet config:\n')[1]!;
    expect(kubelet).toMatch(/^cgroupDriver: systemd$/m);
    expect(kubelet).toMatch(/^serverTLSBootstrap: true$/m);
    expect(kubelet).toMatch(/^containerRuntimeEndpoint: unix:\/\/\/var\/run\/containerd\/containerd\.sock$/m);
  });

  it('registers a GPU control plane with the GPU label and taint, and without the control-plane taint', () => {
    const out = dryRun('dry-run-gpu', true);
    expect(out).toMatch(/^exit 0\n/);
    expect(out).toContain(
      'KUBELET_KUBEADM_ARGS="--hostname-override=cp-1 --node-labels=nvidia.com/gpu.present=true"',
    );
    // kubeadm adds node-role.kubernetes.io/control-plane:NoSchedule only when nodeRegistration.taints
    // is unset (the CPU control plane's case); ours replaces it, so a GPU control plane takes the
    // pods that tolerate the GPU taint, as the recipe's single node did.
    expect(out).toContain(
      '[mark-control-plane] Marking the node cp-1 as control-plane by adding the taints [nvidia.com/gpu=present:NoSchedule]\n',
    );
  });
});
