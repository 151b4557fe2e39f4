/**
 * dist/ on a real control plane (npm run cluster:up): the API server accepts every file with no
 * error and no warning, the real scheduler places every pod on provisioning's topology, the node
 * agent runs the inference pod as a real server behind the LoadBalancer address, and a dropped
 * GPU toleration is caught by the scheduler with the taint named.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyMonitoringStack, down, manifestFiles, up, type Cluster } from '../../cluster/cluster.ts';
import { kubectl, kubectlJson, kubectlRun } from '../../cluster/kubectl.ts';
import { REPO_ROOT } from '../../cluster/layout.ts';
import { GPU_NODE_LABEL, GPU_TAINT_KEY } from '../../constructs/gpu-inference-service.ts';
import { INFERENCE_NAMESPACE, MONITORING_NAMESPACE } from '../../main.ts';
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
  });

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
      `${GPU_NODE_LABEL}=true`,
    ]).items.map((n) => n.metadata.name);
    expect(gpuNodes).toEqual(['gpu-1']);
    const placement = Object.fromEntries(
      pods.items.map((p) => [
        p.metadata.name.replace(/-[a-z0-9]{8,10}-[a-z0-9]{5}$|-[a-z0-9]{5}$/, ''),
        p.spec.nodeName,
      ]),
    );
    expect(placement).toMatchObject({
      inference: 'gpu-1',
      'nvidia-device-plugin': 'gpu-1',
      'dcgm-exporter': 'gpu-1',
      'metrics-server': 'cp-1',
      'prometheus-adapter': 'cp-1',
      'prometheus-operator': 'cp-1',
      'prometheus-kube-prometheus-stack-prometheus-0': 'cp-1',
    });
  });

  it('runs the inference pod as a real server: Ready from its own probe, and answering through the LoadBalancer address', async () => {
    const l = cluster.layout;
    const ingress = await waitUntil('the inference Service has a LoadBalancer address', 60_000, () => {
      const svc = kubectlJson<{ status: { loadBalancer?: { ingress?: { ip: string }[] } } }>(l, [
        'get',
        'svc',
        '-n',
        INFERENCE_NAMESPACE,
        'inference',
      ]);
      return svc.status.loadBalancer?.ingress?.[0]?.ip ?? { pending: JSON.stringify(svc.status) };
    });
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
      body: JSON.stringify({
        inputs: [
          { name: 'input', shape: [1, 16], datatype: 'FP32', data: Array.from({ length: 16 }, (_, i) => i) },
        ],
      }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { outputs: { name: string; shape: number[] }[] };
    expect(body.outputs[0]).toMatchObject({ name: 'output', shape: [1, 4] });
  });

  it('breaks where the link breaks: without the GPU toleration the new pod stays Pending and the scheduler names the taint', async () => {
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
    const message = await waitUntil('the untolerating pod is reported unschedulable', 60_000, () => {
      const list = kubectlJson<PodList>(l, ['get', 'pods', '-n', INFERENCE_NAMESPACE]);
      const msg = list.items
        .map(
          (p) => p.status.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False')?.message,
        )
        .find(Boolean);
      return msg ?? { pending: 'no pod with PodScheduled=False yet' };
    });
    expect(message).toContain(`untolerated taint(s)`);
    expect(message).toMatch(new RegExp(`${GPU_TAINT_KEY}: present|${GPU_TAINT_KEY}`));
  });
});
