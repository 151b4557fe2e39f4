/**
 * The closed autoscaling loop with prometheus-adapter, every part real but the GPU: load through
 * the LoadBalancer address rises past one emulated GPU's capacity; Prometheus (configured by the
 * real prometheus-operator from the synthesized ServiceMonitor) scrapes the servers; the real
 * adapter serves the per-pod series; the real HPA controller reads them and scales the Deployment;
 * the real scheduler spreads the new pods over the two GPU nodes, where the node agent starts them
 * as servers; they take load, and the per-pod signal and latency fall. After the load ends the HPA
 * returns to minReplicas after the synthesized stabilization (shortened through GpuHpa's behavior).
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { down, up, type Cluster } from '../../cluster/cluster.ts';
import { kubectl, kubectlJson } from '../../cluster/kubectl.ts';
import { METRICS } from '../../constructs/contract.ts';
import { INFERENCE_NAMESPACE } from '../../main.ts';
import { LoadDriver } from './load.ts';
import { MLP_INFER_BODY, synthSystem } from './system.ts';
import { formatSample, prometheusUrl, sample, type Sample } from './timeline.ts';
import { waitUntil } from './wait.ts';

/** The emulated GPU serves one request of the mlp model in batchSeconds(1) = 12 ms: 83 req/s. */
const OFFERED = 120;
const MAX_REPLICAS = 4;
const SCALE_DOWN_STABILIZATION = 30;

let cluster: Cluster;
let manifests: string;
const timeline: Sample[] = [];

beforeAll(async () => {
  manifests = synthSystem({
    gpus: 2,
    maxReplicas: MAX_REPLICAS,
    // Alert durations shortened through AlertRules' thresholds (the deployed ones: 5m and 5m).
    alertThresholds: { latencyP99Window: '1m', latencyP99For: '15s' },
    hpaBehavior: {
      scaleDown: {
        stabilizationWindowSeconds: SCALE_DOWN_STABILIZATION,
        policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
      },
    },
  });
  cluster = await up({
    inventory: join(import.meta.dirname, 'two-gpu-nodes.yaml'),
    manifests,
    agent: { gpuStartupSeconds: 5 },
    // kube-prometheus-stack's evaluationInterval, shortened (its default is 30s).
    prometheus: { evaluationInterval: '10s' },
  });
}, 300_000);

afterAll(async () => {
  await down();
  rmSync(manifests, { recursive: true, force: true });
  console.log(`prometheus-adapter closed loop:\n${timeline.map((s) => formatSample(s)).join('\n')}`);
});

async function lbAddress(): Promise<string> {
  return waitUntil('the inference Service has a LoadBalancer address and a ready pod', 120_000, () => {
    const svc = kubectlJson<{ status: { loadBalancer?: { ingress?: { ip: string }[] } } }>(cluster.layout, [
      'get',
      'svc',
      '-n',
      INFERENCE_NAMESPACE,
      'inference',
    ]);
    const ready = kubectl(cluster.layout, [
      'get',
      'pods',
      '-n',
      INFERENCE_NAMESPACE,
      '-o',
      'jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}',
    ]);
    const ip = svc.status.loadBalancer?.ingress?.[0]?.ip;
    return ip && ready.includes('True') ? ip : { pending: `ingress ${ip}, pods ready: ${ready}` };
  });
}

describe('closed loop: load -> Prometheus -> prometheus-adapter -> HPA -> scheduler -> node agent', () => {
  it('scales out under load, the new pods take it, the signal falls, and it scales back in', async () => {
    const l = cluster.layout;
    const ip = await lbAddress();
    const url = `http://${ip}/v2/models/mlp/infer`;
    const load = new LoadDriver({ urls: [url], body: MLP_INFER_BODY, maxInFlight: 64, maxSeconds: 600 });
    const started = Date.now();
    const source = {
      layout: l,
      namespace: INFERENCE_NAMESPACE,
      hpa: 'inference',
      prometheus: await prometheusUrl(l),
    };
    const tick = async () => {
      const s = await sample(source, Math.round((Date.now() - started) / 1000), load.takeWindow());
      timeline.push(s);
      return s;
    };
    try {
      load.setRate(OFFERED);
      // The adapter answers for the pods under load, through the aggregated API.
      const series = await waitUntil('the adapter serves the in-flight series for the pods', 90_000, () => {
        const r = JSON.parse(
          kubectl(l, [
            'get',
            '--raw',
            `/apis/custom.metrics.k8s.io/v1beta1/namespaces/${INFERENCE_NAMESPACE}/pods/*/${METRICS.inflight.name}`,
          ]),
        ) as { items: { describedObject: { name: string }; value: string }[] };
        return r.items.length > 0 ? r.items : { pending: 'no items' };
      });
      expect(series[0]!.describedObject.name).toMatch(/^inference-/);

      const scaled = await waitUntil(
        'the HPA scales out and the new pods are ready on both GPU nodes',
        240_000,
        async () => {
          await new Promise((r) => setTimeout(r, 4000));
          const s = await tick();
          return s.readyPods >= 2 && Object.keys(s.pods).filter((n) => n.startsWith('gpu-')).length === 2
            ? s
            : { pending: formatSample(s) };
        },
      );
      expect(scaled.desired).toBeGreaterThan(1);
      const peak = Math.max(...timeline.map((s) => s.metrics[METRICS.inflight.name] ?? 0));
      expect(peak, 'the in-flight signal at one pod exceeds its target of 8').toBeGreaterThan(8);

      // With the second GPU serving, the per-pod signal and the latency fall back.
      const settled = await waitUntil(
        'the per-pod in-flight signal falls below its target',
        180_000,
        async () => {
          await new Promise((r) => setTimeout(r, 4000));
          const s = await tick();
          const v = s.metrics[METRICS.inflight.name];
          return v !== undefined && v < 8 && s.load.failed === 0 ? s : { pending: formatSample(s) };
        },
      );
      const worstLatency = Math.max(
        ...timeline.map((s) => s.load.meanLatency).filter((x) => !Number.isNaN(x)),
      );
      expect(settled.load.meanLatency).toBeLessThan(worstLatency / 2);
    } finally {
      await load.stop();
    }

    // No load: back to minReplicas after the shortened stabilization.
    const back = await waitUntil('the HPA returns to minReplicas', 240_000, async () => {
      await new Promise((r) => setTimeout(r, 5000));
      const s = await tick();
      return s.current === 1 && s.desired === 1 ? s : { pending: formatSample(s) };
    });
    expect(back.t).toBeGreaterThan(SCALE_DOWN_STABILIZATION);
    // The overload's latency fired the p99 alert in the operator-configured Prometheus; it resolves.
    const p99 = timeline.map((x) => x.alerts?.InferenceLatencyP99High ?? 'inactive');
    expect(p99, 'InferenceLatencyP99High over the run').toContain('firing');
    const inference = (x: Sample) => Object.keys(x.alerts ?? {}).filter((a) => a.startsWith('Inference'));
    const resolved = await waitUntil('every Inference alert resolves', 180_000, async () => {
      await new Promise((r) => setTimeout(r, 5000));
      const x = await tick();
      return inference(x).length === 0 ? x : { pending: formatSample(x) };
    });
    expect(resolved.alerts).not.toHaveProperty('InferenceLatencyP99High');
  }, 900_000);
});
