/**
 * dist/ on a real control plane (npm run cluster:up): the API server accepts every file with no
 * error and no warning, the real scheduler places every pod on provisioning's topology, the node
 * agent runs the inference pod as a real server behind the LoadBalancer address, Prometheus as
 * the real prometheus-operator configures it scrapes it, the real adapter serves it, and a broken
 * link (ServiceMonitor port, adapter metric name, GPU toleration) fails with the link named.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyMonitoringStack, down, manifestFiles, up, type Cluster } from '../../cluster/cluster.ts';
import { kubectl, kubectlJson, kubectlRun } from '../../cluster/kubectl.ts';
import { REPO_ROOT } from '../../cluster/layout.ts';
import { GPU_NODE_LABEL, GPU_NODE_LABEL_VALUE, GPU_NODE_TAINT, METRICS } from '../../constructs/contract.ts';
import { INFERENCE_NAMESPACE, MONITORING_NAMESPACE } from '../../main.ts';
import { customMetric, scrapeLink, untoleratedTaints } from './links.ts';
import { loadBalancerIp, MLP_INFER_BODY } from './system.ts';
import { prometheusUrl, quantity } from './timeline.ts';
import { waitUntil } from './wait.ts';

const dist = join(REPO_ROOT, 'dist');

interface PodList {
  items: {
    metadata: { name: string; namespace: string; labels?: Record<string, string> };
    spec: { nodeName?: string };
    status: {
      phase?: string;
      podIP?: string;
      conditions?: { type: string; status: string; message?: string }[];
    };
  }[];
}

let cluster: Cluster;

beforeAll(async () => {
  cluster = await up({ apply: false, agent: { gpuStartupSeconds: 3 } });
}, 300_000);

afterAll(async () => {
  await down();
});

describe('dist/ on a real control plane', () => {
  it('is accepted file by file: server-side dry run with 0 errors and 0 warnings (Pod Security included), then every object exists', () => {
    const l = cluster.layout;
    for (const file of manifestFiles(dist)) {
      const name = file.slice(dist.length + 1);
      const dry = kubectlRun(l, ['apply', '--server-side', '--dry-run=server', '-f', file]);
      expect({ file: name, code: dry.code, stderr: dry.stderr }).toEqual({ file: name, code: 0, stderr: '' });
      const real = kubectlRun(l, ['apply', '--server-side', '-f', file]);
      expect({ file: name, code: real.code, stderr: real.stderr }).toEqual({
        file: name,
        code: 0,
        stderr: '',
      });
      const objects = parseAllDocuments(readFileSync(file, 'utf8')).map(
        (d) => d.toJS() as { kind: string; metadata: { name: string; namespace?: string } },
      );
      const found = kubectl(l, ['get', '-f', file, '-o', 'name']).trim().split('\n');
      expect(found, name).toHaveLength(objects.length);
    }
    applyMonitoringStack(l, { namespace: MONITORING_NAMESPACE });
  }, 120_000);

  it('has every pod scheduled by the real scheduler: GPU pods on the GPU node, add-ons on the control plane', async () => {
    const l = cluster.layout;
    const pods = await waitUntil(
      'every pod of dist/ and of the monitoring stack is scheduled',
      90_000,
      () => {
        const list = kubectlJson<PodList>(l, ['get', 'pods', '-A']);
        const unscheduled = list.items.filter((p) => !p.spec.nodeName);
        const names = list.items.map((p) => p.metadata.name);
        const expected = [
          'inference-',
          'metrics-server-',
          'prometheus-adapter-',
          'nvidia-device-plugin-',
          'dcgm-exporter-',
          'prometheus-operator-',
          'prometheus-kube-prometheus-stack-prometheus-0',
          'kube-state-metrics-',
        ];
        const missing = expected.filter((e) => !names.some((n) => n.startsWith(e)));
        return unscheduled.length === 0 && missing.length === 0
          ? list
          : {
              pending: `unscheduled: ${unscheduled.map((p) => `${p.metadata.name} (${p.status.conditions?.find((c) => c.type === 'PodScheduled')?.message})`).join('; ')}; not created: ${missing.join(', ')}`,
            };
      },
    );
    const gpuNodes = kubectlJson<{ items: { metadata: { name: string } }[] }>(l, [
      'get',
      'nodes',
      '-l',
      `${GPU_NODE_LABEL}=${GPU_NODE_LABEL_VALUE}`,
    ]).items.map((n) => n.metadata.name);
    expect(gpuNodes).toEqual(['gpu-1']);
    const workload = (p: PodList['items'][number]) => {
      const hash = p.metadata.labels?.['pod-template-hash'];
      if (hash) return p.metadata.name.slice(0, p.metadata.name.indexOf(`-${hash}-`));
      return /-\d+$/.test(p.metadata.name) ? p.metadata.name : p.metadata.name.replace(/-[a-z0-9]{5}$/, '');
    };
    const placement = Object.fromEntries(pods.items.map((p) => [workload(p), p.spec.nodeName]));
    expect(placement).toMatchObject({
      inference: 'gpu-1',
      'nvidia-device-plugin': 'gpu-1',
      'dcgm-exporter': 'gpu-1',
      'metrics-server': 'cp-1',
      'prometheus-adapter': 'cp-1',
      'prometheus-operator': 'cp-1',
      'prometheus-kube-prometheus-stack-prometheus-0': 'cp-1',
      'kube-state-metrics': 'cp-1',
    });
  }, 120_000);

  it('runs the inference pod as a real server: Ready from its own probe, and answering through the LoadBalancer address', async () => {
    const l = cluster.layout;
    const ingress = await loadBalancerIp(l);
    expect(ingress).toMatch(/^127\./);
    await waitUntil('an inference pod is Ready', 120_000, () => {
      const list = kubectlJson<PodList>(l, ['get', 'pods', '-n', INFERENCE_NAMESPACE]);
      const ready = list.items.filter((p) =>
        p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      );
      return ready.length > 0
        ? ready
        : { pending: JSON.stringify(list.items.map((p) => p.status.conditions)) };
    });
    const res = await fetch(`http://${ingress}/v2/models/mlp/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: MLP_INFER_BODY,
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { outputs: { name: string; shape: number[] }[] };
    expect(body.outputs[0]).toMatchObject({ name: 'output', shape: [1, 4] });
  }, 180_000);

  it('scrapes the inference pod through the job prometheus-operator generated from the ServiceMonitor, and the adapter serves its series', async () => {
    const l = cluster.layout;
    const prometheus = await prometheusUrl(cluster.layout);
    const scrape = await waitUntil(
      'Prometheus has a healthy target for the inference pod',
      120_000,
      async () => {
        const r = await scrapeLink(l, prometheus, { namespace: INFERENCE_NAMESPACE, name: 'inference' });
        return r.problem ? { pending: r.problem } : r.healthy;
      },
    );
    expect(scrape[0]!.labels).toMatchObject({
      namespace: INFERENCE_NAMESPACE,
      service: 'inference-metrics',
      endpoint: 'metrics',
    });
    expect(scrape[0]!.labels.pod).toMatch(/^inference-/);
    await waitUntil('the custom metrics API serves the in-flight series', 150_000, () => {
      const r = customMetric(l, INFERENCE_NAMESPACE, METRICS.inflight.name);
      return r.problem ? { pending: r.problem } : r;
    });
  }, 300_000);

  it("serves the inference pod's CPU and memory through metrics-server (metrics.k8s.io), read from the kubelet endpoint", async () => {
    const l = cluster.layout;
    const usage = await waitUntil('metrics.k8s.io has the inference pod', 120_000, () => {
      const r = JSON.parse(
        kubectl(l, ['get', '--raw', `/apis/metrics.k8s.io/v1beta1/namespaces/${INFERENCE_NAMESPACE}/pods`]),
      ) as {
        items: {
          metadata: { name: string };
          containers: { name: string; usage: { cpu: string; memory: string } }[];
        }[];
      };
      const pod = r.items.find((p) => p.metadata.name.startsWith('inference-'));
      return pod ? pod.containers : { pending: `${r.items.length} pods` };
    });
    expect(usage.map((c) => c.name)).toEqual(['server']);
    expect(quantity(usage[0]!.usage.memory)).toBeGreaterThan(10 * 2 ** 20);
    expect(quantity(usage[0]!.usage.cpu)).toBeGreaterThan(0);
  }, 150_000);

  it('breaks where the link breaks: a ServiceMonitor port that no Service port has leaves no target, and the check names both', async () => {
    const l = cluster.layout;
    const prometheus = await prometheusUrl(cluster.layout);
    kubectl(l, [
      'patch',
      'servicemonitor',
      'inference',
      '-n',
      INFERENCE_NAMESPACE,
      '--type=json',
      '-p',
      JSON.stringify([{ op: 'replace', path: '/spec/endpoints/0/port', value: 'http' }]),
    ]);
    const problem = await waitUntil('the renamed port drops the target', 120_000, async () => {
      const r = await scrapeLink(l, prometheus, { namespace: INFERENCE_NAMESPACE, name: 'inference' });
      return r.problem ?? { pending: `still ${r.healthy.length} healthy target(s)` };
    });
    expect(problem).toBe(
      'no healthy target in Prometheus job serviceMonitor/gpu-inference/inference/0: ServiceMonitor gpu-inference/inference scrapes port "http", its selector app.kubernetes.io/component=metrics,app.kubernetes.io/instance=inference,app.kubernetes.io/name=inference-server matches Service ports inference-metrics:metrics',
    );
  }, 180_000);

  it('breaks where the link breaks: a metric renamed in the adapter rules is not served, and the API names the metric the HPA asks for', async () => {
    const l = cluster.layout;
    const cm = kubectlJson<{ data: Record<string, string> }>(l, [
      'get',
      'configmap',
      '-n',
      MONITORING_NAMESPACE,
      'prometheus-adapter',
    ]);
    const config = cm.data['config.yaml']!;
    expect(config).toContain(METRICS.inflight.name);
    const renamed = config.replaceAll(METRICS.inflight.name, 'inference_inflight');
    kubectl(l, [
      'patch',
      'configmap',
      '-n',
      MONITORING_NAMESPACE,
      'prometheus-adapter',
      '--type=merge',
      '-p',
      JSON.stringify({ data: { 'config.yaml': renamed } }),
    ]);
    // The adapter reads its rules at start: roll its pod, as a ConfigMap change needs in a cluster.
    kubectl(l, ['rollout', 'restart', 'deployment', '-n', MONITORING_NAMESPACE, 'prometheus-adapter']);
    const problem = await waitUntil("the HPA's metric is no longer served", 180_000, () => {
      const r = customMetric(l, INFERENCE_NAMESPACE, METRICS.inflight.name);
      return r.problem ?? { pending: `still served for ${r.values} pod(s)` };
    });
    expect(problem).toContain(`custom.metrics.k8s.io ${METRICS.inflight.name}:`);
    expect(problem).toMatch(
      /could not find the metric inference_inflight_requests|NotFound|no pod has a value/,
    );
  }, 240_000);

  it('breaks where the link breaks: without the GPU toleration the new pod stays Pending, and the check names the GPU taint', async () => {
    const l = cluster.layout;
    kubectl(l, [
      'patch',
      'deployment',
      'inference',
      '-n',
      INFERENCE_NAMESPACE,
      '--type=json',
      '-p',
      JSON.stringify([{ op: 'remove', path: '/spec/template/spec/tolerations' }]),
    ]);
    const pending = await waitUntil('the untolerating pod is reported unschedulable', 60_000, () => {
      const list = kubectlJson<PodList>(l, ['get', 'pods', '-n', INFERENCE_NAMESPACE]);
      const p = list.items.find((x) =>
        x.status.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False'),
      );
      return p ?? { pending: 'no pod with PodScheduled=False yet' };
    });
    expect(pending.status.conditions?.find((c) => c.type === 'PodScheduled')?.message).toContain(
      'untolerated taint',
    );
    expect(untoleratedTaints(l, INFERENCE_NAMESPACE, pending.metadata.name)).toBe(
      `cp-1: node-role.kubernetes.io/control-plane:NoSchedule; gpu-1: ${GPU_NODE_TAINT.key}=${GPU_NODE_TAINT.value}:${GPU_NODE_TAINT.effect}`,
    );
  }, 120_000);
});
