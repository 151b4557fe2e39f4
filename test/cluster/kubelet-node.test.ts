/**
 * The inference pod from dist/ on a REAL kubelet (cluster/kubelet-node.ts): the control plane of
 * npm run cluster:up without kwok or the node agent, containerd with runc and the CNI bridge, and
 * kubelet v1.37.2 as a GPU node. The image is the one `npm run image` builds (built here, so it is
 * the current source), imported into containerd under the name dist/ deploys; the sandbox image is
 * Kubernetes' pause.c built here. Scheduled by the real scheduler, started by the real kubelet
 * under runc, Ready by the kubelet's own probes, stopped by the kubelet with SIGTERM after its
 * preStop. Then teardown must leave this machine as it found it.
 *
 * kube-proxy runs beside the kubelet in iptables mode, and the kubelet asks for its serving
 * certificate through a kubernetes.io/kubelet-serving CSR (serverTLSBootstrap, as provisioning
 * configures it). Nothing approves that CSR but dist/'s KubeletCsrApprover, run by this kubelet as
 * a pod from the same image, which reaches the API server through the `kubernetes` Service's
 * ClusterIP (kube-proxy's DNAT); the API server verifies the kubelet's certificate against the
 * cluster CA (--kubelet-certificate-authority), so every `kubectl logs`, `exec` and node proxy
 * call below goes through the certificate the approver got signed. Then rotation: the kubelet,
 * restarted without its serving certificate, asks again, and the approver approves that CSR too.
 * The approver's Deployment is applied from dist/ unchanged, then patched here to tolerate the GPU
 * taint: this node is the cluster's only one, and the construct tolerates only the control plane's
 * taint (on a provisioned cluster it runs there, not on a GPU node).
 *
 * Timing on this 2-core machine: about 1 min 30 s (image build 8-27 s warm, control plane, node
 * and kube-proxy 28-53 s, first serving certificate 2-3 s after the approver is applied, rotated
 * one served 1.5-3 s after the kubelet's restart, inference pod Ready about 8 s, scale-down to gone
 * 7 s, teardown about 15 s).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { down, upControlPlane } from '../../cluster/cluster.ts';
import { cgroupsNamed, mountsUnder, type HostState } from '../../cluster/host-state.ts';
import {
  ctr,
  KUBELET_NODE,
  kubeletNodeLeftovers,
  kubeletNodePaths,
  restartKubelet,
  startKubeletNode,
  stopKubeletNode,
  type KubeletNode,
} from '../../cluster/kubelet-node.ts';
import { kubectl, kubectlBinary, kubectlJson, kubectlRun } from '../../cluster/kubectl.ts';
import { REPO_ROOT, type Layout } from '../../cluster/layout.ts';
import type { Pki } from '../../cluster/pki.ts';
import { COMPONENTS } from '../../cluster/components.ts';
import {
  CSR_APPROVER_REASON,
  GPU_NODE_LABEL,
  GPU_NODE_LABEL_VALUE,
  GPU_NODE_TAINT,
  READINESS_PATH,
  SERVER_IMAGE,
  SERVER_PORT,
  SERVER_UID,
} from '../../constructs/contract.ts';
import { GPU_RESOURCE } from '../../constructs/gpu-inference-service.ts';
import { INFERENCE_NAMESPACE } from '../../main.ts';
import { buildImage } from '../../server/image/build.ts';
import { MLP_INFER_BODY } from './system.ts';
import { waitUntil } from './wait.ts';

const dist = join(REPO_ROOT, 'dist');
const NS = INFERENCE_NAMESPACE;

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: unknown;
}

interface Pod {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  spec: {
    nodeName?: string;
    terminationGracePeriodSeconds: number;
    containers: { lifecycle?: { preStop?: { sleep?: { seconds: number } } } }[];
  };
  status: {
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: {
      imageID: string;
      ready: boolean;
      started?: boolean;
      state: { terminated?: { exitCode: number; reason?: string; finishedAt: string } };
    }[];
  };
}

const objectsOf = (file: string): K8sObject[] =>
  parseAllDocuments(readFileSync(join(dist, file), 'utf8')).map((d) => d.toJS() as K8sObject);

let l: Layout;
let pki: Pki;
let node: KubeletNode;
/** The image ID containerd reports for an imported image: its config's digest (the manifest's config). */
let imageId = '';
let host: HostState | undefined;

beforeAll(async () => {
  const t0 = Date.now();
  const image = buildImage();
  const manifest = JSON.parse(
    execFileSync('tar', ['-xOf', image.archive, `blobs/sha256/${image.digest.replace(/^sha256:/, '')}`], {
      encoding: 'utf8',
    }),
  ) as { config: { digest: string } };
  imageId = manifest.config.digest;
  console.info(`server image ${image.digest} built in ${image.seconds.toFixed(1)} s`);
  const cluster = await upControlPlane();
  l = cluster.layout;
  pki = cluster.pki;
  try {
    node = await startKubeletNode(l, pki, {
      images: { [SERVER_IMAGE]: image.archive },
      serviceCidr: cluster.inventory.cluster.serviceCidr,
    });
  } catch (e) {
    await down(l);
    throw e;
  }
  host = node.host;
  console.info(
    `control plane and kubelet node up in ${((Date.now() - t0) / 1000).toFixed(1)} s (pause image ${node.pause.seconds ? `built in ${node.pause.seconds.toFixed(1)} s` : 'cached'})`,
  );
}, 600_000);

afterAll(async () => {
  // The last test tears down and checks; this only runs it when a test before it failed.
  if (l) await down(l);
});

const pod = (): Pod | undefined =>
  kubectlJson<{ items: Pod[] }>(l, ['get', 'pods', '-n', NS, '-l', 'app.kubernetes.io/instance=inference'])
    .items[0];

async function readyPod(): Promise<Pod> {
  return waitUntil('the inference pod is Ready on the kubelet node', 180_000, () => {
    const p = pod();
    const ready = p?.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    return p && ready ? p : { pending: JSON.stringify(p?.status ?? 'no pod') };
  });
}

/** Every event of one pod through the API server's watch, as its state changes. */
function watchPod(name: string): { events: { type: string; object: Pod }[]; stop: () => void } {
  const events: { type: string; object: Pod }[] = [];
  const admin = pki.cert('admin');
  const req = request(
    `https://127.0.0.1:${l.ports.apiserver}/api/v1/namespaces/${NS}/pods?watch=1&fieldSelector=metadata.name%3D${name}`,
    { ca: readFileSync(pki.ca), cert: readFileSync(admin.crt), key: readFileSync(admin.key) },
    (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          events.push(JSON.parse(buf.slice(0, nl)) as { type: string; object: Pod });
          buf = buf.slice(nl + 1);
        }
      });
    },
  );
  req.on('error', () => undefined);
  req.end();
  return { events, stop: () => req.destroy() };
}

interface Csr {
  metadata: { name: string; creationTimestamp: string };
  spec: { signerName: string; username: string };
  status?: { conditions?: { type: string; reason?: string; message?: string }[]; certificate?: string };
}

/** The kubelet's serving CSRs, oldest first. */
const servingCsrs = (): Csr[] =>
  kubectlJson<{ items: Csr[] }>(l, ['get', 'csr'])
    .items.filter(
      (c) =>
        c.spec.signerName === 'kubernetes.io/kubelet-serving' &&
        c.spec.username === `system:node:${KUBELET_NODE.name}`,
    )
    .sort((a, b) => a.metadata.creationTimestamp.localeCompare(b.metadata.creationTimestamp));

/** The certificate the kubelet presents on its port 10250, verified against the cluster CA. */
function servingCert(): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: KUBELET_NODE.nodeIp, port: 10250, ca: readFileSync(pki.ca) }, () => {
      const raw = s.getPeerCertificate().raw;
      s.destroy();
      resolve(raw);
    });
    s.once('error', reject);
  });
}

/** A CSR once it is approved by the approver and signed: its certificate. */
async function approvedAndIssued(name: string): Promise<X509Certificate> {
  const issued = await waitUntil(`CSR ${name} approved and signed`, 90_000, () => {
    const c = kubectlJson<Csr>(l, ['get', 'csr', name]);
    return c.status?.certificate
      ? c
      : { pending: `${JSON.stringify(c.status ?? {})}; the approver's log: ${approverLogOnDisk()}` };
  });
  expect(issued.spec.username).toBe(`system:node:${KUBELET_NODE.name}`);
  expect(issued.status?.conditions).toEqual([
    expect.objectContaining({ type: 'Approved', reason: CSR_APPROVER_REASON.approved }),
  ]);
  const cert = new X509Certificate(Buffer.from(issued.status!.certificate!, 'base64'));
  expect(cert.verify(new X509Certificate(readFileSync(pki.ca)).publicKey)).toBe(true);
  expect(cert.subject).toContain(`CN=system:node:${KUBELET_NODE.name}`);
  expect(cert.subjectAltName).toBe(`DNS:${KUBELET_NODE.name}, IP Address:${KUBELET_NODE.nodeIp}`);
  return cert;
}

/** Until the kubelet's port 10250 presents `cert`. */
const serving = (cert: X509Certificate) =>
  waitUntil(`the kubelet serves certificate ${cert.serialNumber}`, 30_000, async () => {
    const raw = await servingCert();
    return raw.equals(cert.raw) ? true : { pending: `serial ${new X509Certificate(raw).serialNumber}` };
  });

const APPROVER = 'kubelet-csr-approver';
/** The approver container's log as the kubelet writes it (read from disk: no certificate needed). */
function approverLogOnDisk(): string {
  const dir = node.paths.podLogs;
  return readdirSync(dir)
    .filter((d) => d.startsWith(`kube-system_${APPROVER}-`))
    .flatMap((d) =>
      readdirSync(join(dir, d, 'approver')).map((f) => readFileSync(join(dir, d, 'approver', f), 'utf8')),
    )
    .join('')
    .split('\n')
    .slice(-5)
    .join('\n');
}
const approverPod = () =>
  kubectlJson<{
    items: { metadata: { name: string }; spec: { nodeName?: string }; status: { phase?: string } }[];
  }>(l, ['get', 'pods', '-n', 'kube-system', '-l', `app.kubernetes.io/name=${APPROVER}`]).items.find(
    (p) => p.status.phase === 'Running',
  );
/** The approver's decisions from its log, read through the API server (which verifies the kubelet). */
const approverDecisions = (name: string) =>
  kubectl(l, ['logs', '-n', 'kube-system', name])
    .split('\n')
    .filter((x) => x.startsWith('{'))
    .map((x) => JSON.parse(x) as { msg: string; csr?: string; decision?: string })
    .filter((x) => x.msg === 'decision');
let firstCert: X509Certificate;

describe(`a real kubelet node (kubelet ${COMPONENTS.kubelet.version}, containerd ${COMPONENTS.containerd.version}, runc ${COMPONENTS.runc.version})`, () => {
  it('registers and becomes Ready as a GPU node: provisioning label and taint, nvidia.com/gpu advertised, the pause image from pause.c', async () => {
    const n = await waitUntil(`${KUBELET_NODE.name} allocates ${GPU_RESOURCE}`, 30_000, () => {
      const obj = kubectlJson<{
        metadata: { labels: Record<string, string> };
        spec: { taints?: { key: string; value?: string; effect: string }[] };
        status: {
          allocatable: Record<string, string>;
          nodeInfo: Record<string, string>;
          addresses: { type: string; address: string }[];
          conditions: { type: string; status: string }[];
        };
      }>(l, ['get', 'node', KUBELET_NODE.name]);
      return obj.status.allocatable[GPU_RESOURCE] ? obj : { pending: JSON.stringify(obj.status.allocatable) };
    });
    expect(n.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(n.status.nodeInfo).toMatchObject({
      kubeletVersion: COMPONENTS.kubelet.version,
      containerRuntimeVersion: `containerd://${COMPONENTS.containerd.version.replace(/^v/, '')}`,
    });
    expect(n.status.addresses).toContainEqual({ type: 'InternalIP', address: KUBELET_NODE.nodeIp });
    expect(n.metadata.labels[GPU_NODE_LABEL]).toBe(GPU_NODE_LABEL_VALUE);
    expect(n.spec.taints).toContainEqual(GPU_NODE_TAINT);
    expect(n.status.allocatable[GPU_RESOURCE]).toBe('1');
    const images = ctr(node.paths, ['images', 'ls', '-q']).split('\n');
    expect(images).toContain(node.pause.name);
    expect(images).toContain(SERVER_IMAGE);
    // Only this cluster's nodes exist: no kwok node could take the pod.
    expect(kubectl(l, ['get', 'nodes', '-o', 'name']).trim()).toBe(`node/${KUBELET_NODE.name}`);
  });

  it("kube-proxy (iptables mode) sends the kubernetes Service's ClusterIP to the API server", () => {
    const svc = kubectlJson<{ spec: { clusterIP: string } }>(l, [
      'get',
      'svc',
      'kubernetes',
      '-n',
      'default',
    ]);
    const nat = execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' });
    expect(nat).toMatch(
      new RegExp(
        `-A KUBE-SERVICES -d ${svc.spec.clusterIP.replaceAll('.', '\\.')}/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP".* -j KUBE-SVC-`,
      ),
    );
    expect(nat).toContain(`-j DNAT --to-destination ${l.hostIp}:${l.ports.apiserver}`);
  });

  it("dist/'s KubeletCsrApprover runs on the kubelet, reaches the API server through the ClusterIP and approves the kubelet's serving CSR; the kubelet serves the signed certificate", async () => {
    // The API server verifies kubelets against the cluster CA (kubeadm leaves this unset).
    const apiserverPid = readFileSync(join(l.pids, 'kube-apiserver.pid'), 'utf8').trim();
    expect(readFileSync(`/proc/${apiserverPid}/cmdline`, 'utf8').split('\0')).toContain(
      `--kubelet-certificate-authority=${pki.ca}`,
    );
    // Before any approver: the kubelet's CSR is pending and it has no certificate to serve.
    const pending = await waitUntil('the kubelet asks for its serving certificate', 60_000, () => {
      const c = servingCsrs();
      return c.length ? c : { pending: 'no kubelet-serving CSR yet' };
    });
    expect(pending).toHaveLength(1);
    expect(pending[0]!.status?.conditions ?? []).toEqual([]);
    const noCert = await servingCert().then(
      () => 'handshake succeeded',
      (e: Error) => e.message,
    );
    expect(noCert).not.toBe('handshake succeeded');
    expect(noCert).not.toContain('ECONNREFUSED');

    const docs = parseAllDocuments(readFileSync(join(dist, '20-monitoring.k8s.yaml'), 'utf8'))
      .map((d) => d.toJS() as K8sObject & { metadata: { labels?: Record<string, string> } })
      .filter((o) => o.metadata.labels?.['app.kubernetes.io/name'] === APPROVER);
    expect(docs.map((d) => d.kind)).toEqual([
      'ServiceAccount',
      'ClusterRole',
      'ClusterRoleBinding',
      'Deployment',
    ]);
    const applied = kubectlRun(
      l,
      ['apply', '--server-side', '-f', '-'],
      docs.map((d) => stringify(d)).join('---\n'),
    );
    expect({ code: applied.code, stderr: applied.stderr }).toEqual({ code: 0, stderr: '' });
    // The only node is a GPU node; the construct tolerates the control plane's taint only.
    kubectl(l, [
      'patch',
      'deployment',
      APPROVER,
      '-n',
      'kube-system',
      '--type=json',
      '-p',
      JSON.stringify([
        {
          op: 'add',
          path: '/spec/template/spec/tolerations/-',
          value: { ...GPU_NODE_TAINT, operator: 'Equal' },
        },
      ]),
    ]);
    const pod = await waitUntil('the approver pod runs on the kubelet node', 120_000, () => {
      const p = approverPod();
      return p ?? { pending: kubectl(l, ['get', 'pods', '-n', 'kube-system', '-o', 'wide']) };
    });
    expect(pod.spec.nodeName).toBe(KUBELET_NODE.name);

    firstCert = await approvedAndIssued(pending[0]!.metadata.name);
    await serving(firstCert);
    // Through the API server, which now verifies the kubelet's certificate: the approver's log and
    // an exec in its container. It read the ClusterIP from its environment, as the kubelet set it.
    const decisions = await waitUntil('the approver logs its decision', 30_000, () => {
      const d = approverDecisions(pod.metadata.name);
      return d.length ? d : { pending: 'no decision logged' };
    });
    expect(decisions).toEqual([
      expect.objectContaining({ csr: pending[0]!.metadata.name, decision: 'approved' }),
    ]);
    const svc = kubectlJson<{ spec: { clusterIP: string } }>(l, [
      'get',
      'svc',
      'kubernetes',
      '-n',
      'default',
    ]);
    const env = kubectlRun(l, [
      'exec',
      '-n',
      'kube-system',
      pod.metadata.name,
      '--',
      'sh',
      '-c',
      'echo $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT',
    ]);
    expect({ code: env.code, stdout: env.stdout.trim() }).toEqual({
      code: 0,
      stdout: `${svc.spec.clusterIP}:443`,
    });
    // Its connections went through kube-proxy's DNAT to the API server's endpoint.
    const dnat = execFileSync('iptables-save', ['-c', '-t', 'nat'], { encoding: 'utf8' })
      .split('\n')
      .find((x) => x.includes(`-j DNAT --to-destination ${l.hostIp}:${l.ports.apiserver}`));
    expect(Number(/^\[(\d+):/.exec(dnat ?? '')?.[1])).toBeGreaterThan(0);
  }, 240_000);

  it('rotation: the kubelet, restarted without its serving certificate, asks again and the approver approves that CSR too', async () => {
    const before = servingCsrs().map((c) => c.metadata.name);
    const t0 = Date.now();
    await restartKubelet(l, { dropServingCert: true });
    const next = await waitUntil('the restarted kubelet asks for a new serving certificate', 90_000, () => {
      const c = servingCsrs().filter((x) => !before.includes(x.metadata.name));
      return c.length ? c : { pending: 'no new kubelet-serving CSR' };
    });
    expect(next).toHaveLength(1);
    const cert = await approvedAndIssued(next[0]!.metadata.name);
    expect(cert.serialNumber).not.toBe(firstCert.serialNumber);
    await serving(cert);
    console.info(
      `rotated: new certificate served ${((Date.now() - t0) / 1000).toFixed(1)} s after the restart`,
    );
    // Every kubelet-serving CSR there is was approved by the approver, and by nothing else.
    const all = servingCsrs();
    expect(all.map((c) => c.metadata.name)).toEqual([...before, next[0]!.metadata.name]);
    for (const c of all)
      expect(c.status?.conditions?.map((x) => [x.type, x.reason])).toEqual([
        ['Approved', CSR_APPROVER_REASON.approved],
      ]);
    const pod = approverPod()!;
    expect(approverDecisions(pod.metadata.name)).toEqual(
      all.map((c) => expect.objectContaining({ csr: c.metadata.name, decision: 'approved' })),
    );
    await waitUntil(`${KUBELET_NODE.name} Ready after the restart`, 60_000, () => {
      const n = kubectlJson<{ status: { conditions: { type: string; status: string }[] } }>(l, [
        'get',
        'node',
        KUBELET_NODE.name,
      ]);
      return n.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True')
        ? true
        : { pending: 'not Ready' };
    });
    // Its work here is done, and the inference pod below asks for all of this machine's CPUs
    // (Guaranteed, 2 cores): the approver makes room.
    kubectl(l, ['scale', 'deployment', APPROVER, '-n', 'kube-system', '--replicas=0']);
    await waitUntil('the approver pod is gone', 60_000, () =>
      kubectlJson<{ items: unknown[] }>(l, ['get', 'pods', '-n', 'kube-system']).items.length
        ? { pending: 'still there' }
        : true,
    );
  }, 180_000);

  it("runs dist/'s inference Deployment from the built image: scheduled onto the node, Ready by the kubelet's own probes, nothing pulled", async () => {
    const namespaces = objectsOf('00-namespaces.k8s.yaml');
    const runtimeClass = objectsOf('10-gpu-nodes.k8s.yaml').filter((o) => o.kind === 'RuntimeClass');
    const deployment = objectsOf('30-inference.k8s.yaml').filter(
      (o) => o.kind === 'Deployment' && o.metadata.name === 'inference',
    );
    expect(runtimeClass).toHaveLength(1);
    expect(deployment).toHaveLength(1);
    for (const objs of [namespaces, [...runtimeClass, ...deployment]]) {
      const r = kubectlRun(
        l,
        ['apply', '--server-side', '-f', '-'],
        objs.map((o) => JSON.stringify(o)).join('\n'),
      );
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    }
    const p = await readyPod();
    expect(p.spec.nodeName).toBe(KUBELET_NODE.name);
    // The image the container runs is the archive built above (containerd reports its image ID).
    expect(p.status.containerStatuses?.[0]?.imageID).toBe(imageId);
    const events = kubectl(l, [
      'get',
      'events',
      '-n',
      NS,
      '--field-selector',
      `involvedObject.name=${p.metadata.name}`,
    ]);
    expect(events).toMatch(/Container image "[^"]+" already present on machine/);
    expect(events).not.toMatch(/Pulling image/);
    // The kubelet's own prober ran the Deployment's startup, readiness and liveness probes (its
    // /metrics/probes, through the API server's node proxy: the kubelet client certificate, the
    // node's InternalIP). Liveness starts after the startup probe and runs every 10 s.
    await waitUntil(
      "the kubelet's startup, readiness and liveness probes of the pod succeeded",
      30_000,
      () => {
        const probes = kubectl(l, ['get', '--raw', `/api/v1/nodes/${KUBELET_NODE.name}/proxy/metrics/probes`])
          .split('\n')
          .filter((x) => x.startsWith('prober_probe_total{') && x.includes(`pod="${p.metadata.name}"`));
        const missing = ['Startup', 'Readiness', 'Liveness'].filter(
          (probe) =>
            !probes.some((x) =>
              new RegExp(`probe_type="${probe}",result="successful"[^}]*\\} [1-9]`).test(x),
            ),
        );
        return missing.length
          ? { pending: `no successful ${missing.join(', ')} yet: ${probes.join('; ')}` }
          : true;
      },
    );
    // Its cgroups are the kubelet's (cgroupfs driver, Guaranteed QoS: directly under kubepods).
    expect(cgroupsNamed(`kubepods/pod${p.metadata.uid}`).length).toBeGreaterThan(0);
  }, 240_000);

  it(`answers ${READINESS_PATH} and an inference on the pod IP`, async () => {
    const p = pod()!;
    expect(p.status.podIP).toMatch(/^10\.254\.0\.\d+$/);
    const base = `http://${p.status.podIP}:${SERVER_PORT}`;
    const ready = await fetch(`${base}${READINESS_PATH}`);
    expect(ready.status).toBe(200);
    const infer = await fetch(`${base}/v2/models/mlp/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: MLP_INFER_BODY,
    });
    expect(infer.status).toBe(200);
    const body = (await infer.json()) as {
      model_name: string;
      outputs: { shape: number[]; data: number[] }[];
    };
    expect(body.model_name).toBe('mlp');
    expect(body.outputs[0]!.data).toHaveLength(body.outputs[0]!.shape.reduce((a, b) => a * b, 1));
  });

  it(`runs as UID ${SERVER_UID} with a read-only root filesystem, no capabilities, no new privileges, seccomp on`, () => {
    const p = pod()!;
    const exec = (script: string) =>
      kubectlRun(l, ['exec', '-n', NS, p.metadata.name, '-c', 'server', '--', 'sh', '-c', script]);
    const status = exec('cat /proc/1/status');
    expect(status.code).toBe(0);
    const field = (name: string) =>
      new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status.stdout)?.[1]?.split(/\s+/);
    expect(field('Uid')).toEqual(Array(4).fill(String(SERVER_UID)));
    expect(field('CapEff')).toEqual(['0000000000000000']);
    expect(field('NoNewPrivs')).toEqual(['1']);
    expect(field('Seccomp')).toEqual(['2']);
    const write = exec('touch /written-by-test');
    expect(write.code).not.toBe(0);
    expect(write.stderr).toContain('Read-only file system');
    // The Deployment's emptyDir on /tmp is the one place it writes.
    expect(exec('touch /tmp/written-by-test').code).toBe(0);
  });

  it('on scale-down gets SIGTERM after its preStop, drains and exits 0 within the grace period', async () => {
    const p = pod()!;
    const grace = p.spec.terminationGracePeriodSeconds;
    const preStop = p.spec.containers[0]!.lifecycle?.preStop?.sleep?.seconds ?? 0;
    const logs: ChildProcess = spawn(
      kubectlBinary(),
      [`--kubeconfig=${l.kubeconfig}`, 'logs', '-f', '-n', NS, p.metadata.name, '-c', 'server'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let log = '';
    logs.stdout!.on('data', (d) => (log += String(d)));
    const logsEnded = new Promise<void>((r) => logs.once('exit', () => r()));
    const watch = watchPod(p.metadata.name);
    try {
      await new Promise((r) => setTimeout(r, 1000));
      const t0 = Date.now();
      kubectl(l, ['scale', '-n', NS, 'deployment/inference', '--replicas=0']);
      await waitUntil('the pod is deleted', (grace + 10) * 1000, () =>
        watch.events.some((e) => e.type === 'DELETED') ? true : { pending: `${watch.events.length} events` },
      );
      const gone = (Date.now() - t0) / 1000;
      await logsEnded;
      const lines = log
        .split('\n')
        .filter((x) => x.startsWith('{'))
        .map((x) => JSON.parse(x) as { msg: string; signal?: string; time: string; drained?: boolean });
      const shutdown = lines.find((x) => x.msg === 'shutting down');
      expect(shutdown?.signal).toBe('SIGTERM');
      expect(lines.map((x) => x.msg)).toEqual(expect.arrayContaining(['draining', 'stopped']));
      expect(lines.find((x) => x.msg === 'stopped')?.drained).toBe(true);
      // SIGTERM came after the preStop sleep, and the pod was gone within the grace period.
      const sigtermAfter = (Date.parse(shutdown!.time) - t0) / 1000;
      expect(sigtermAfter).toBeGreaterThanOrEqual(preStop - 1);
      expect(gone).toBeLessThan(grace);
      const terminated = watch.events
        .map((e) => e.object.status.containerStatuses?.[0]?.state.terminated)
        .find((t) => t);
      expect(terminated).toMatchObject({ exitCode: 0 });
      console.info(
        `deleted: SIGTERM ${sigtermAfter.toFixed(1)} s after the scale-down (preStop ${preStop} s), pod gone after ${gone.toFixed(1)} s (grace ${grace} s)`,
      );
    } finally {
      watch.stop();
      logs.kill();
    }
  }, 120_000);

  it('teardown stops every process (kube-proxy too), unmounts, removes the cgroups, the bridge, the rules and nfacct counters it added, and restores the sysctls', async () => {
    const dir = kubeletNodePaths(l).dir;
    const before = kubeletNodeLeftovers(l, host!);
    // While it runs there is something to clean: a teardown that does nothing cannot pass.
    expect(before.some((x) => x.startsWith('process '))).toBe(true);
    expect(mountsUnder(dir).length).toBeGreaterThan(0);
    expect(cgroupsNamed('kubepods').length).toBeGreaterThan(0);
    expect(before).toContain(`link ${KUBELET_NODE.bridge}`);
    // kubelet's kernel tunables and iptables chains (KUBE-FIREWALL drops non-loopback sources to
    // 127.0.0.0/8 while it runs), the bridge plugin's ip_forward.
    expect(before.filter((x) => x.startsWith('sysctl ')).length).toBeGreaterThan(0);
    expect(before.some((x) => /^iptables -t filter: .*KUBE-/.test(x))).toBe(true);
    // kube-proxy: its process, its Service chains, route_localnet for NodePorts on localhost.
    expect(before.some((x) => x.startsWith('process ') && x.includes('kube-proxy'))).toBe(true);
    expect(before).toContain('iptables -t nat: :KUBE-SERVICES -');
    // Its nfacct counters outlive its rules unless deleted.
    expect(before).toContain('nfacct ct_state_invalid_dropped_pkts');
    expect(before.some((x) => x.startsWith('sysctl net.ipv4.conf.all.route_localnet = 1'))).toBe(true);
    console.info(before.filter((x) => !x.startsWith('process ')).join('\n'));
    const t0 = Date.now();
    const recorded = await stopKubeletNode(l);
    expect(recorded).toEqual(host);
    await down(l);
    console.info(`teardown in ${((Date.now() - t0) / 1000).toFixed(1)} s; before it: ${before.length} items`);
    expect(kubeletNodeLeftovers(l, host!)).toEqual([]);
  }, 120_000);
});
