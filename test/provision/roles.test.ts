import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { opensslCsr } from '../csr-request.ts';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { validateInventory } from '../../provision/src/inventory.ts';
import { aptGet, aptUpdateCommand } from '../../provision/src/ops/apt.ts';
import {
  containerdMajor,
  planContainerdConfig,
  proxyDropIn,
  runcOptionsSection,
  withSystemdCgroup,
} from '../../provision/src/roles/containerd.ts';
import {
  calicoCrdWait,
  calicoInstallation,
  kubeadmInitConfig,
} from '../../provision/src/roles/control-plane.ts';
import { gpuRegistration, planGpuNodeLabels } from '../../provision/src/roles/gpu-node.ts';
import { kubeadmJoinConfig, parseJoinCommand } from '../../provision/src/roles/join.ts';
import { aptVersionGlob, planCriRuntime } from '../../provision/src/roles/kubernetes.ts';
import { nonFreeSource } from '../../provision/src/roles/nvidia.ts';
import { aptProxyConf } from '../../provision/src/roles/common.ts';
import { containerdRelease } from '../../provision/src/versions.ts';
import { playFor } from '../../provision/src/roles/index.ts';
import type { RoleContext } from '../../provision/src/roles/context.ts';
import type { HostFacts } from '../../provision/src/types.ts';
import { parseFileFact } from '../../provision/src/facts.ts';
import { parseCsr } from '../../controllers/csr-approver/csr.ts';
import {
  planServingCsrs,
  inventoryAddresses,
  type CsrObject,
} from '../../provision/src/roles/kubelet-serving.ts';
import { servingCsrProblem } from '../../controllers/csr-approver/serving-checks.ts';

/** Facts of a Debian 12 GPU host, not yet in a cluster. */
const DEBIAN12: HostFacts = {
  osId: 'debian',
  osVersionId: '12',
  osCodename: 'bookworm',
  kernel: '6.1.0',
  arch: 'amd64',
  container: 'none',
  modulesSupported: true,
  procSysWritable: true,
  nvidiaGpu: true,
  swapActive: false,
  kubeadmMember: false,
};

const absent = parseFileFact('ABSENT\n');
const present = (content: string) => ({ exists: true, content, mode: '0644', owner: 'root', group: 'root' });

// Abridged `containerd config default` outputs: 1.x (config version 2) and 2.x (version 3).
const V2 = `version = 2
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    [plugins."io.containerd.grpc.v1.cri".containerd]
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes]
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
          runtime_type = "io.containerd.runc.v2"
          [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
            BinaryName = ""
            SystemdCgroup = false
`;
const V3 = `version = 3
[plugins]
  [plugins.'io.containerd.cri.v1.runtime']
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes]
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
          runtime_type = 'io.containerd.runc.v2'
          [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
            BinaryName = ''
            ShimCgroup = ''
  [plugins.'io.containerd.grpc.v1.cri']
    disable_tcp_service = true
`;

describe('containerd', () => {
  it('reads the major version from both upstream and Debian builds', () => {
    expect(
      containerdMajor(
        'containerd github.com/containerd/containerd/v2 v2.1.4 75cb2b7193e4e490e9fbdc236c0e811ccaba3376',
      ),
    ).toBe(2);
    expect(
      containerdMajor('containerd github.com/containerd/containerd 1.4.13~ds1 1.4.13~ds1-1~deb11u4'),
    ).toBe(1);
    expect(containerdMajor('containerd containerd.io 1.7.28 b98a3aace656320842a23f4a392a33f46af97866')).toBe(
      1,
    );
    expect(containerdMajor('garbage')).toBeNull();
  });

  it('sets SystemdCgroup in the version-2 section for containerd 1.x (flipping false)', () => {
    const out = withSystemdCgroup(V2, 1);
    expect(out).toBe(V2.replace('SystemdCgroup = false', 'SystemdCgroup = true'));
  });

  it('inserts SystemdCgroup in the version-3 section for containerd 2.x, indented, and touches nothing else', () => {
    const out = withSystemdCgroup(V3, 2);
    expect(out).toBe(
      V3.replace(
        `[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\n`,
        `[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]\n            SystemdCgroup = true\n`,
      ),
    );
    expect(runcOptionsSection(2)).toBe(
      `[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]`,
    );
  });

  it('re-enables a CRI plugin disabled by a packaged config, adds a missing section, and is idempotent', () => {
    const packaged = 'disabled_plugins = ["cri"]\n';
    const out = withSystemdCgroup(packaged, 1);
    expect(out).toBe(
      `disabled_plugins = []\n\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]\n  SystemdCgroup = true\n`,
    );
    expect(withSystemdCgroup(out, 1)).toBe(out);
    expect(withSystemdCgroup(withSystemdCgroup(V3, 2), 2)).toBe(withSystemdCgroup(V3, 2));
  });

  it('plans config.toml: from `config default` when absent, edited in place when present, no-op when converged', () => {
    const ver = 'containerd github.com/containerd/containerd/v2 v2.1.4 x';
    const fresh = planContainerdConfig(absent, ver, V3);
    expect(fresh.status).toBe('changed');
    expect(fresh.diff).toContain('+            SystemdCgroup = true');
    expect(fresh.notify).toEqual(['restart containerd']);
    const nvidiaEdited =
      withSystemdCgroup(V3, 2) +
      `[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.nvidia]\n  runtime_type = 'io.containerd.runc.v2'\n`;
    expect(planContainerdConfig(present(nvidiaEdited), ver, null).status).toBe('ok');
    expect(planContainerdConfig(absent, null, null).reason).toMatch(/^containerd not installed yet/);
  });

  it('Debian 11 (glibc 2.31) gets the static containerd build', () => {
    expect(containerdRelease('2.2.3', 'amd64', true).url).toBe(
      'https://github.com/containerd/containerd/releases/download/v2.2.3/containerd-static-2.2.3-linux-amd64.tar.gz',
    );
    expect(containerdRelease('2.2.3', 'amd64', false).sha256Url).toBe(
      'https://github.com/containerd/containerd/releases/download/v2.2.3/containerd-2.2.3-linux-amd64.tar.gz.sha256sum',
    );
  });

  it('proxy drop-in keeps cluster traffic off the proxy, without duplicates', () => {
    expect(proxyDropIn('http://p:3128', ['10.96.0.0/12', '10.0.0.1', '10.0.0.1'])).toBe(
      '[Service]\nEnvironment="HTTP_PROXY=http://p:3128"\nEnvironment="HTTPS_PROXY=http://p:3128"\nEnvironment="NO_PROXY=localhost,127.0.0.1,.svc,.cluster.local,10.96.0.0/12,10.0.0.1"\n',
    );
  });
});

describe('inventory values in configuration files', () => {
  it('apt.conf: a value with a quote is refused (apt.conf strings have no escape for it), never written', () => {
    expect(aptProxyConf('http://p:3128')).toBe(
      '// Managed by cdk8s-gpu-inference provision: apt goes through the site\'s HTTP proxy.\nAcquire::http::Proxy "http://p:3128";\nAcquire::https::Proxy "http://p:3128";\n',
    );
    expect(() => aptProxyConf('http://p:3128";APT::Update::Pre-Invoke{"touch /tmp/pwned";};"')).toThrow(
      'cannot write "http://p:3128\\";APT::Update::Pre-Invoke{\\"touch /tmp/pwned\\";};\\"" into apt.conf: "\\"" has no quoting there',
    );
  });

  it('containerd drop-in: quotes, backslashes, % and newlines are escaped as systemd unquotes them, one Environment= line each', () => {
    const dropIn = proxyDropIn('http://p:3128', ['a"b\\c%d\nExecStartPre=/bin/touch /tmp/pwned']);
    expect(dropIn).toBe(
      '[Service]\nEnvironment="HTTP_PROXY=http://p:3128"\nEnvironment="HTTPS_PROXY=http://p:3128"\nEnvironment="NO_PROXY=localhost,127.0.0.1,.svc,.cluster.local,a\\"b\\\\c%%d\\x0aExecStartPre=/bin/touch /tmp/pwned"\n',
    );
    expect(dropIn.split('\n').filter((l) => l.startsWith('ExecStartPre'))).toEqual([]);
  });
});

describe('kubernetes, kubeadm, join, gpu-node, nvidia', () => {
  it('pins kubelet/kubeadm/kubectl by minor or patch', () => {
    expect(aptVersionGlob('1.34')).toBe('1.34.*');
    expect(aptVersionGlob('1.34.2')).toBe('1.34.2-*');
  });

  it('kubeadm init config: v1beta4, pod CIDR, systemd cgroup driver, GPU label + taint on a GPU control plane', () => {
    const inv = validateInventory({
      cluster: { kubernetesVersion: '1.34.2', podCidr: '192.168.0.0/16' },
      hosts: { cp: { address: '10.0.0.10', role: 'control-plane' } },
    });
    const docs = parseAllDocuments(
      kubeadmInitConfig({ host: inv.hosts[0]!, cluster: inv.cluster, gpu: true }),
    ).map((d) => d.toJS());
    expect(docs.map((d) => `${d.apiVersion} ${d.kind}`)).toEqual([
      'kubeadm.k8s.io/v1beta4 InitConfiguration',
      'kubeadm.k8s.io/v1beta4 ClusterConfiguration',
      'kubelet.config.k8s.io/v1beta1 KubeletConfiguration',
    ]);
    expect(docs[0].nodeRegistration).toEqual({
      name: 'cp',
      criSocket: 'unix:///var/run/containerd/containerd.sock',
      taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }],
      kubeletExtraArgs: [{ name: 'node-labels', value: 'nvidia.com/gpu.present=true' }],
    });
    expect(docs[1]).toMatchObject({
      kubernetesVersion: 'v1.34.2',
      networking: { podSubnet: '192.168.0.0/16', serviceSubnet: '10.96.0.0/12' },
    });
    expect(docs[2].cgroupDriver).toBe('systemd');
    const minorOnly = validateInventory({
      cluster: { kubernetesVersion: '1.37' },
      hosts: { cp: { address: '10.0.0.10', role: 'control-plane' } },
    });
    const cc = (v?: string) =>
      parseAllDocuments(
        kubeadmInitConfig({ host: minorOnly.hosts[0]!, cluster: minorOnly.cluster, gpu: false }, v),
      )[1]!.toJS();
    expect(cc('v1.37.1').kubernetesVersion).toBe('v1.37.1');
    expect(cc().kubernetesVersion).toBe('stable-1.37');
    const ippool = parseAllDocuments(calicoInstallation('10.244.0.0/16'))[0]!.toJS().spec.calicoNetwork
      .ipPools[0];
    expect(ippool.cidr).toBe('10.244.0.0/16');
  });

  it('refuses a containerd without CRI v1 (Debian 11 ships 1.4) before any Kubernetes package', () => {
    const debian11 = 'containerd github.com/containerd/containerd 1.4.13~ds1 1.4.13~ds1-1~deb11u4\n';
    for (const check of [false, true])
      expect(() => planCriRuntime(debian11, check)).toThrow(
        'containerd is 1.4; allowed: containerd >= 1.6 (kubelet >= 1.26 needs the CRI v1 API): set cluster.containerd.source to "release" (Debian 11\'s package is 1.4)',
      );
    expect(
      planCriRuntime('containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+b1\n', false),
    ).toEqual({
      status: 'ok',
      reason: 'containerd 1.6 speaks CRI v1',
      steps: [],
    });
    expect(planCriRuntime('containerd github.com/containerd/containerd/v2 v2.2.3 abc\n', false).status).toBe(
      'ok',
    );
    expect(planCriRuntime(null, true).status).toBe('skipped');
    expect(() => planCriRuntime(null, false)).toThrow(/containerd is not installed/);
  });

  it('calico: waits for the operator to create the Installation CRD before `kubectl wait` (which fails at once on NotFound)', () => {
    // A kubectl whose CRD appears on the third `get`, as the operator creates it after its pod starts.
    const dir = mkdtempSync(join(tmpdir(), 'calico-wait-'));
    try {
      const kubectl = join(dir, 'kubectl');
      writeFileSync(
        kubectl,
        [
          '#!/bin/sh',
          `n=$(cat ${dir}/gets 2>/dev/null || echo 0)`,
          'case "$1" in',
          `  get) n=$((n+1)); echo $n > ${dir}/gets; [ $n -ge 3 ] ;;`,
          `  wait) [ "$n" -ge 3 ] && echo "$@" > ${dir}/waited ;;`,
          '  *) exit 9 ;;',
          'esac',
          '',
        ].join('\n'),
        { mode: 0o755 },
      );
      writeFileSync(join(dir, 'sleep'), '#!/bin/sh\n', { mode: 0o755 });
      const env = { ...process.env, PATH: `${dir}:${process.env.PATH}` };
      execFileSync('sh', ['-c', calicoCrdWait(kubectl)], { env });
      expect(readFileSync(join(dir, 'gets'), 'utf8').trim()).toBe('3');
      expect(readFileSync(join(dir, 'waited'), 'utf8')).toBe(
        'wait --for=condition=established --timeout=120s crd/installations.operator.tigera.io\n',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('join: parses the control plane join command into a JoinConfiguration; CPU workers get no taint', () => {
    const j = parseJoinCommand(
      'kubeadm join 10.0.0.10:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:' +
        'a'.repeat(64) +
        ' \n',
    );
    expect(j).toEqual({
      endpoint: '10.0.0.10:6443',
      token: 'abcdef.0123456789abcdef',
      caHash: 'sha256:' + 'a'.repeat(64),
    });
    expect(parse(kubeadmJoinConfig('cpu-1', false, j))).toEqual({
      apiVersion: 'kubeadm.k8s.io/v1beta4',
      kind: 'JoinConfiguration',
      discovery: {
        bootstrapToken: {
          apiServerEndpoint: '10.0.0.10:6443',
          token: 'abcdef.0123456789abcdef',
          caCertHashes: ['sha256:' + 'a'.repeat(64)],
        },
      },
      nodeRegistration: {
        name: 'cpu-1',
        criSocket: 'unix:///var/run/containerd/containerd.sock',
        taints: [],
      },
    });
    expect(gpuRegistration(false, true)).toEqual({});
    expect(() => parseJoinCommand('error: token')).toThrow(/unexpected output of kubeadm token create/);
  });

  it('gpu-node: label and taint through kubectl when missing, then a no-op', () => {
    const none = planGpuNodeLabels('gpu-1', { labels: {}, taints: [] });
    expect(none.steps).toEqual([
      {
        run: 'kubectl --kubeconfig /etc/kubernetes/admin.conf label node gpu-1 nvidia.com/gpu.present=true --overwrite',
      },
      {
        run: 'kubectl --kubeconfig /etc/kubernetes/admin.conf taint node gpu-1 nvidia.com/gpu=present:NoSchedule --overwrite',
      },
    ]);
    expect(
      planGpuNodeLabels('gpu-1', { labels: { 'nvidia.com/gpu.present': 'true' }, taints: [] }).reason,
    ).toBe('node gpu-1: missing taint');
    expect(
      planGpuNodeLabels('gpu-1', {
        labels: { 'nvidia.com/gpu.present': 'true' },
        taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }],
      }).status,
    ).toBe('ok');
    expect(planGpuNodeLabels('gpu-1', null).status).toBe('skipped');
  });

  it('nvidia: non-free components per Debian release', () => {
    expect(nonFreeSource('http://deb.debian.org/debian', 'bullseye', '11')).toBe(
      'http://deb.debian.org/debian bullseye contrib non-free',
    );
    expect(nonFreeSource('http://deb.debian.org/debian', 'bookworm', '12')).toBe(
      'http://deb.debian.org/debian bookworm contrib non-free non-free-firmware',
    );
  });
});

describe('play', () => {
  const facts = DEBIAN12;
  const ctx = (
    role: 'control-plane' | 'worker',
    gpu: boolean,
    cluster: Record<string, unknown> = {},
  ): RoleContext => {
    const inv = validateInventory({
      cluster,
      hosts: {
        cp: { address: '10.0.0.10', role: 'control-plane' },
        w: { address: '10.0.0.11', role: 'worker', proxy: 'http://p:3128' },
      },
    });
    const host = inv.hosts.find((h) => h.role === role)!;
    return {
      host,
      facts,
      cluster: inv.cluster,
      site: { proxy: host.proxy },
      gpu,
      controlPlane: {
        name: 'cp',
        address: '10.0.0.10',
        ready: async () => {},
        exec: async () => ({ code: 1, stdout: '', stderr: '' }),
      },
    };
  };
  const roles = (c: RoleContext) => [...new Set(playFor(c).map((t) => t.role))];

  it('nvidia cuda: cuda-keyring.deb is checked against the SHA256 of the repository Packages index before it is installed (by apt-get, which waits for a held dpkg lock), and never run from /tmp', async () => {
    const c = ctx('worker', true, { nvidiaDriver: 'cuda' });
    const tasks = playFor(c).filter((t) => t.role === 'nvidia');
    const hash = 'd'.repeat(64);
    const reads: string[] = [];
    const read = async (cmd: string) => {
      reads.push(cmd);
      return cmd.includes('/debian12/x86_64/Packages')
        ? {
            code: 0,
            stdout: `Package: cuda-keyring\nVersion: 1.1-1\nFilename: ./cuda-keyring_1.1-1_all.deb\nSHA256: ${hash}\n`,
            stderr: '',
          }
        : { code: 1, stdout: '', stderr: '' };
    };
    const download = tasks.find((t) => t.name === 'download cuda-keyring');
    expect(download).toBeDefined();
    const p = await download!.plan({ facts: { read }, host: DEBIAN12, check: true });
    expect(p.steps).toHaveLength(1);
    const run = (p.steps[0] as { run: string }).run;
    expect(run).toContain(`printf '%s  %s\\n' ${hash} "$tmp" | sha256sum -c --quiet`);
    expect(run).toContain('/usr/local/src/cdk8s-provision/cuda-keyring_1.1-1_all.deb');
    const install = await tasks
      .find((t) => t.name === 'CUDA repository (cuda-keyring)')!
      .plan({ facts: { read }, host: DEBIAN12, check: true });
    expect(install.steps).toEqual([
      {
        run: `${aptGet(60)} install /usr/local/src/cdk8s-provision/cuda-keyring_1.1-1_all.deb && ${aptUpdateCommand(60)}`,
      },
    ]);
    expect(aptGet(60)).toContain('-o DPkg::Lock::Timeout=60');
  });

  it('gpu-node on a GPU control plane does not wait for its own run (no deadlock) and reads the node through kubectl', async () => {
    const c = ctx('control-plane', true);
    const node = {
      metadata: { labels: { 'nvidia.com/gpu.present': 'true' } },
      spec: { taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }] },
    };
    const cp = {
      ...c.controlPlane,
      ready: () => new Promise<void>(() => {}),
      exec: async () => ({ code: 0, stdout: JSON.stringify(node), stderr: '' }),
    };
    const t = playFor({ ...c, controlPlane: cp }).find(
      (x) => x.role === 'gpu-node' && x.name === 'label and taint',
    )!;
    const p = await t.plan({
      facts: { read: async () => ({ code: 0, stdout: '', stderr: '' }) },
      host: { ...facts, kubeadmMember: true },
      check: false,
    });
    expect(p).toEqual({
      status: 'ok',
      reason: 'node cp labelled nvidia.com/gpu.present=true and tainted nvidia.com/gpu:NoSchedule',
      steps: [],
    });
  });

  it('join: a host the facts show as a cluster member is ok without another read; otherwise check mode shows the join', async () => {
    const t = playFor(ctx('worker', false)).find((x) => x.role === 'join' && x.name === 'kubeadm join')!;
    const reads: string[] = [];
    const reader = {
      read: async (cmd: string) => {
        reads.push(cmd);
        return { code: 1, stdout: '', stderr: '' };
      },
    };
    expect(await t.plan({ facts: reader, host: { ...facts, kubeadmMember: true }, check: false })).toEqual({
      status: 'ok',
      reason: '/etc/kubernetes/kubelet.conf exists: already a cluster member',
      steps: [],
    });
    expect(reads).toEqual([]);
    expect(await t.plan({ facts: reader, host: facts, check: true })).toMatchObject({
      status: 'changed',
      steps: [{ run: 'kubeadm join --config /etc/kubernetes/kubeadm-join.yaml' }],
    });
  });

  it('orders roles per host kind', () => {
    expect(roles(ctx('control-plane', false))).toEqual([
      'common',
      'containerd',
      'kubernetes',
      'control-plane',
    ]);
    expect(roles(ctx('worker', true))).toEqual([
      'common',
      'containerd',
      'nvidia',
      'kubernetes',
      'join',
      'gpu-node',
    ]);
  });

  it('containerd from the release tarball by default, through the proxy only where one is set', () => {
    const names = playFor(ctx('worker', false))
      .filter((t) => t.role === 'containerd')
      .map((t) => t.name);
    expect(names).toEqual([
      'download containerd 2.3.4',
      'unpack containerd 2.3.4',
      'runc 1.3.6',
      'download CNI plugins 1.9.1',
      'unpack CNI plugins 1.9.1',
      'containerd.service',
      'containerd proxy drop-in',
      'config.toml SystemdCgroup',
      'registry mirrors removed',
      'service containerd',
    ]);
    expect(playFor(ctx('control-plane', false)).some((t) => t.name === 'containerd proxy drop-in')).toBe(
      false,
    );
    expect(
      playFor(ctx('control-plane', false, { kubernetesVersion: '1.35', containerd: { source: 'debian' } }))
        .filter((t) => t.role === 'containerd')
        .map((t) => t.name)[0],
    ).toBe('containerd (Debian package)');
  });
});

describe('kubelet serving certificates (serverTLSBootstrap)', () => {
  /** A real PKCS#10 request from openssl, base64 as in the CSR object. */
  const request = (subject: string, san: string): string =>
    Buffer.from(opensslCsr(subject, san)).toString('base64');
  const csr = (name: string, spec: Partial<CsrObject['spec']>, conditions: string[] = []): CsrObject => ({
    metadata: { name },
    spec: {
      signerName: 'kubernetes.io/kubelet-serving',
      groups: ['system:nodes', 'system:authenticated'],
      usages: ['digital signature', 'server auth'],
      ...spec,
    },
    status: { conditions: conditions.map((type) => ({ type })) },
  });
  const node = { name: 'gpu-1', address: '10.0.0.21' };
  const approve = (name: string) => ({
    run: `kubectl --kubeconfig /etc/kubernetes/admin.conf certificate approve ${name}`,
  });
  const good = () => request('/O=system:nodes/CN=system:node:gpu-1', 'DNS:gpu-1,IP:10.0.0.21');

  it('kubeadm init config sets serverTLSBootstrap: true in its KubeletConfiguration', () => {
    const inv = validateInventory({ hosts: { cp: { address: '10.0.0.10', role: 'control-plane' } } });
    const kubelet = parseAllDocuments(
      kubeadmInitConfig({ host: inv.hosts[0]!, cluster: inv.cluster, gpu: false }),
    )
      .map((d) => d.toJS())
      .find((d) => d.kind === 'KubeletConfiguration');
    expect(kubelet).toEqual({
      apiVersion: 'kubelet.config.k8s.io/v1beta1',
      kind: 'KubeletConfiguration',
      cgroupDriver: 'systemd',
      serverTLSBootstrap: true,
    });
  });

  it('reads subject and subjectAltNames of a real openssl CSR (IPv4, IPv6, DNS, email)', () => {
    const pem = (b64: string) => Buffer.from(b64, 'base64').toString('utf8');
    expect(parseCsr(pem(good()))).toEqual({
      commonName: 'system:node:gpu-1',
      organizations: ['system:nodes'],
      dnsNames: ['gpu-1'],
      otherSubject: [],
      ipAddresses: ['10.0.0.21'],
      otherNames: [],
      signatureValid: true,
    });
    expect(parseCsr(pem(request('/CN=x', 'IP:fd00:0:0:0:0:0:0:21,email:a@b.c,DNS:x.example')))).toEqual({
      commonName: 'x',
      organizations: [],
      dnsNames: ['x.example'],
      otherSubject: [],
      ipAddresses: ['fd00::21'],
      otherNames: ['email:a@b.c'],
      signatureValid: true,
    });
    expect(() => parseCsr('garbage')).toThrow('not a PEM certificate request');
  });

  // Given the CSRs on the control plane -> the exact approve commands, or a no-op and why.
  const table: {
    name: string;
    csrs: () => CsrObject[];
    certIssued?: boolean;
    steps?: { run: string }[];
    status?: string;
    reason?: string;
    error?: string;
  }[] = [
    {
      name: 'approves the pending kubelet-serving CSR of this node only',
      csrs: () => [
        csr('csr-mine', { username: 'system:node:gpu-1', request: good() }),
        // Another known node's CSR: its own task (with its own address) approves it.
        csr('csr-other-node', {
          username: 'system:node:gpu-2',
          request: request('/O=system:nodes/CN=system:node:gpu-2', 'DNS:gpu-2,IP:10.0.0.22'),
        }),
        // The kubelet's client certificate CSR: another signer (kube-controller-manager auto-approves it).
        csr('csr-client', {
          signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
          username: 'system:node:gpu-1',
          request: good(),
        }),
        // A pod or user asking the kubelet-serving signer: not a node.
        csr('csr-user', { username: 'mallory', groups: ['system:authenticated'], request: good() }),
        csr('csr-denied', { username: 'system:node:gpu-1', request: good() }, ['Denied']),
      ],
      steps: [approve('csr-mine')],
      status: 'changed',
    },
    {
      name: 'second run: the CSR is approved -> no command',
      csrs: () => [csr('csr-mine', { username: 'system:node:gpu-1', request: good() }, ['Approved'])],
      status: 'ok',
      reason: 'node gpu-1: kubelet-serving CSR csr-mine approved',
    },
    {
      name: 'the kubelet holds its signed certificate and nothing is pending -> no command',
      csrs: () => [],
      certIssued: true,
      status: 'ok',
      reason:
        'node gpu-1: kubelet serving certificate signed (/var/lib/kubelet/pki/kubelet-server-current.pem)',
    },
    {
      name: 'a rotation CSR pending while the old certificate exists is approved',
      csrs: () => [
        csr('csr-old', { username: 'system:node:gpu-1', request: good() }, ['Approved']),
        csr('csr-rotate', { username: 'system:node:gpu-1', request: good() }),
      ],
      certIssued: true,
      steps: [approve('csr-rotate')],
      status: 'changed',
    },
    {
      name: 'a CSR of this node for a foreign IP is refused, naming it',
      csrs: () => [
        csr('csr-evil', {
          username: 'system:node:gpu-1',
          request: request('/O=system:nodes/CN=system:node:gpu-1', 'DNS:gpu-1,IP:10.0.0.21,IP:10.96.0.1'),
        }),
      ],
      error:
        'not approving the kubelet-serving CSR of node gpu-1: csr-evil: subjectAltNames: IP:10.96.0.1; allowed: at least one of DNS:gpu-1, IP:10.0.0.21, nothing else',
    },
    {
      name: 'a CSR whose subject names another node is refused',
      csrs: () => [
        csr('csr-cn', {
          username: 'system:node:gpu-1',
          request: request('/O=system:nodes/CN=system:node:cp', 'DNS:gpu-1'),
        }),
      ],
      error:
        'csr-cn: subject: CN=system:node:cp, O=system:nodes; allowed: CN=system:node:gpu-1, O=system:nodes',
    },
  ];
  for (const t of table)
    it(t.name, () => {
      if (t.error) {
        expect(() => planServingCsrs(node, t.csrs(), false)).toThrow(t.error);
        return;
      }
      const p = planServingCsrs(node, t.csrs(), t.certIssued ?? false)!;
      expect(p.status).toBe(t.status);
      expect(p.steps).toEqual(t.steps ?? []);
      if (t.reason) expect(p.reason).toBe(t.reason);
    });

  it('no CSR yet and no certificate: null (the task waits for the kubelet)', () => {
    expect(planServingCsrs(node, [], false)).toBeNull();
  });

  it('the task in the play: --check before join shows the command; old kubelet config skipped; approval delegated to the control plane; second run ok', async () => {
    const inv = validateInventory({
      hosts: {
        cp: { address: '10.0.0.10', role: 'control-plane' },
        'gpu-1': { address: '10.0.0.21', role: 'worker' },
      },
    });
    const items: CsrObject[] = [csr('csr-mine', { username: 'system:node:gpu-1', request: good() })];
    const cpCommands: string[] = [];
    const controlPlane = {
      name: 'cp',
      address: '10.0.0.10',
      ready: async () => {},
      exec: async (cmd: string) => {
        cpCommands.push(cmd);
        return { code: 0, stdout: JSON.stringify({ items }), stderr: '' };
      },
    };
    const hostFacts = { ...DEBIAN12, nvidiaGpu: false, kubeadmMember: true };
    const task = playFor({
      host: inv.hosts[1]!,
      facts: hostFacts,
      cluster: inv.cluster,
      site: {},
      gpu: false,
      controlPlane,
    }).find((t) => t.role === 'join' && t.name === 'approve kubelet serving certificate')!;
    const kubeletConfig = (serverTLSBootstrap: boolean) => ({
      read: async (cmd: string) =>
        cmd === 'cat /var/lib/kubelet/config.yaml'
          ? {
              code: 0,
              stdout: `kind: KubeletConfiguration\nserverTLSBootstrap: ${serverTLSBootstrap}\n`,
              stderr: '',
            }
          : { code: 1, stdout: '', stderr: '' },
    });
    const fresh = await task.plan({
      facts: kubeletConfig(true),
      host: { ...hostFacts, kubeadmMember: false },
      check: true,
    });
    expect(fresh.status).toBe('changed');
    expect(fresh.steps).toEqual([approve('<kubelet-serving CSR of system:node:gpu-1>')]);
    expect(cpCommands).toEqual([]);
    expect((await task.plan({ facts: kubeletConfig(false), host: hostFacts, check: false })).status).toBe(
      'skipped',
    );
    const p = await task.plan({ facts: kubeletConfig(true), host: hostFacts, check: false });
    expect(p.steps).toEqual([approve('csr-mine')]);
    expect(p.delegate?.name).toBe('cp');
    expect(cpCommands).toEqual(['kubectl --kubeconfig /etc/kubernetes/admin.conf get csr -o json']);
    items[0]!.status = { conditions: [{ type: 'Approved' }] };
    expect(await task.plan({ facts: kubeletConfig(true), host: hostFacts, check: false })).toMatchObject({
      status: 'ok',
      steps: [],
    });
  });

  it('a DNS-name inventory address is allowed as a dNSName SAN', () => {
    const byName = { name: 'gpu-1', address: 'gpu-1.site.example' };
    const c = csr('csr-dns', {
      username: 'system:node:gpu-1',
      request: request('/O=system:nodes/CN=system:node:gpu-1', 'DNS:gpu-1,DNS:gpu-1.site.example'),
    });
    expect(servingCsrProblem(c, inventoryAddresses(byName))).toBeNull();
    expect(servingCsrProblem(c, inventoryAddresses(node))).toBe(
      'subjectAltNames: DNS:gpu-1.site.example; allowed: at least one of DNS:gpu-1, IP:10.0.0.21, nothing else',
    );
  });
});
