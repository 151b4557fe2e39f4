/**
 * The closed autoscaling loop with KEDA, every part real but the GPU: the real KEDA operator and
 * metrics API server (its release manifest, cluster/keda-stack.ts) read the synthesized
 * ScaledObject's Prometheus triggers; the HPA KEDA generates scales the Deployment between 1 and
 * maxReplicas; KEDA itself scales it to zero after the cooldown and back from zero when demand
 * comes. At zero replicas the servers' own metrics do not exist, so the activation reads the demand
 * in front of them: the load balancer's connection counter (cluster/agent-scrape.ts), as a user
 * would read an ingress controller's or gateway's request counter.
 *
 * What happens to requests that arrive while there are zero replicas is measured, not hidden: the
 * load balancer has no endpoint and closes their connections (kube-proxy rejects them the same
 * way), so every one of them fails until the first pod is ready.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { down, up, type Cluster } from '../../cluster/cluster.ts';
import { LB_METRICS } from '../../cluster/agent/load-balancer.ts';
import { kubectl, kubectlJson } from '../../cluster/kubectl.ts';
import { INFERENCE_NAMESPACE } from '../../main.ts';
import { LoadDriver } from './load.ts';
import { loadBalancerIp, MLP_INFER_BODY, synthSystem } from './system.ts';
import {
  formatSample,
  KEDA_COLUMNS,
  prometheusUrl,
  sample,
  TIMELINE_HEADER,
  timelinePrinter,
  type Sample,
} from './timeline.ts';
import { waitUntil } from './wait.ts';

/** One emulated GPU serves 83 mlp requests/s (planner capacity model, 12 ms each). */
const OFFERED = 120;
const WAKE_RATE = 10;
const MAX_REPLICAS = 4;
const COOLDOWN = 30;
const POLLING = 5;
/** The demand KEDA's activation reads: new connections per second at the Service's address. */
const DEMAND = `sum(rate(${LB_METRICS.connections}{namespace="${INFERENCE_NAMESPACE}",service="inference"}[30s]))`;

let cluster: Cluster;
let manifests: string;
const timeline: Sample[] = [];

beforeAll(async () => {
  manifests = synthSystem({
    backend: 'keda',
    gpus: 2,
    maxReplicas: MAX_REPLICAS,
    keda: {
      pollingIntervalSeconds: POLLING,
      cooldownPeriodSeconds: COOLDOWN,
      // Activation only: one pod per 1000 new connections a second never drives the replica count.
      scaleToZero: { demandQuery: DEMAND, targetPerPod: 1000, activationThreshold: 0 },
    },
    hpaBehavior: {
      scaleDown: {
        stabilizationWindowSeconds: 30,
        policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
      },
    },
  });
  cluster = await up({
    inventory: join(import.meta.dirname, 'two-gpu-nodes.yaml'),
    manifests,
    agent: { gpuStartupSeconds: 5 },
    prometheus: { evaluationInterval: '10s', scrapeInterval: '10s' },
  });
}, 300_000);

afterAll(async () => {
  await down();
  rmSync(manifests, { recursive: true, force: true });
  console.log(
    `KEDA closed loop:\n${TIMELINE_HEADER}\n${timeline.flatMap(timelinePrinter(KEDA_COLUMNS)).join('\n')}`,
  );
});

const deploymentReplicas = (c: Cluster) =>
  kubectlJson<{ spec: { replicas?: number }; status: { readyReplicas?: number } }>(c.layout, [
    'get',
    'deployment',
    '-n',
    INFERENCE_NAMESPACE,
    'inference',
  ]);

describe('closed loop: load balancer and Prometheus -> KEDA -> HPA -> scheduler -> node agent, to zero and back', () => {
  it('scales to zero without demand, wakes on demand, scales out under load, and returns to zero', async () => {
    const l = cluster.layout;
    const started = Date.now();
    const source = {
      layout: l,
      namespace: INFERENCE_NAMESPACE,
      hpa: 'keda-hpa-inference',
      prometheus: await prometheusUrl(l),
    };
    let load: LoadDriver | undefined;
    const tick = async () => {
      const s = await sample(source, Math.round((Date.now() - started) / 1000), load?.takeWindow() ?? idle);
      timeline.push(s);
      return s;
    };

    // KEDA's operator made its certificates, the APIService is available, the ScaledObject is Ready.
    await waitUntil('the ScaledObject is Ready', 180_000, () => {
      const so = kubectlJson<{
        status?: { conditions?: { type: string; status: string; message?: string }[] };
      }>(l, ['get', 'scaledobject', '-n', INFERENCE_NAMESPACE, 'inference']);
      const ready = so.status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.status === 'True' ? ready : { pending: JSON.stringify(so.status?.conditions ?? []) };
    });

    // Zero replicas and no inference pod left, sampled every few seconds.
    const atZero = (what: string, timeoutMs: number) =>
      waitUntil(what, timeoutMs, async () => {
        await new Promise((r) => setTimeout(r, 4000));
        const s = await tick();
        return deploymentReplicas(cluster).spec.replicas === 0 && Object.keys(s.pods).length === 0
          ? s
          : { pending: formatSample(s, KEDA_COLUMNS) };
      });

    // No demand: KEDA scales the Deployment to zero.
    const zero = await atZero('KEDA scales the Deployment to zero', 240_000);

    // The external metrics API KEDA registered answers through the aggregation layer.
    const external = JSON.parse(
      kubectl(l, [
        'get',
        '--raw',
        `/apis/external.metrics.k8s.io/v1beta1/namespaces/${INFERENCE_NAMESPACE}/s2-prometheus?labelSelector=scaledobject.keda.sh%2Fname%3Dinference`,
      ]),
    ) as { items: { metricName: string; value: string }[] };
    expect(external.items.map((i) => i.metricName)).toEqual(['s2-prometheus']);

    const ip = await loadBalancerIp(l);
    load = new LoadDriver({
      urls: [`http://${ip}/v2/models/mlp/infer`],
      body: MLP_INFER_BODY,
      maxInFlight: 64,
      maxSeconds: 600,
      timeoutMs: 5000,
    });
    try {
      // Demand at zero replicas: KEDA activates from the load balancer's counter; until a pod is
      // ready every request fails.
      const woke = Date.now();
      load.setRate(WAKE_RATE);
      const firstOk = await waitUntil(
        'requests succeed again after activation from zero',
        180_000,
        async () => {
          await new Promise((r) => setTimeout(r, 2000));
          const s = await tick();
          return s.load.ok > 0 ? s : { pending: formatSample(s, KEDA_COLUMNS) };
        },
      );
      const gap = timeline.filter((s) => s.t >= zero.t && s.t <= firstOk.t);
      const lostAtZero = gap.reduce((n, s) => n + s.load.failed, 0);
      const sentAtZero = gap.reduce((n, s) => n + s.load.sent, 0);
      console.log(
        `activation from zero: first success ${((Date.now() - woke) / 1000).toFixed(0)} s after demand began; ` +
          `${lostAtZero} of ${sentAtZero} requests sent meanwhile failed`,
      );
      expect(lostAtZero).toBeGreaterThan(0);
      expect(deploymentReplicas(cluster).spec.replicas).toBeGreaterThanOrEqual(1);

      // Load past one GPU: the HPA KEDA generated scales out over both GPU nodes.
      load.setRate(OFFERED);
      const scaled = await waitUntil('the KEDA HPA scales out onto both GPU nodes', 240_000, async () => {
        await new Promise((r) => setTimeout(r, 4000));
        const s = await tick();
        return s.readyPods >= 2 && Object.keys(s.pods).filter((n) => n.startsWith('gpu-')).length === 2
          ? s
          : { pending: formatSample(s, KEDA_COLUMNS) };
      });
      expect(scaled.desired).toBeGreaterThanOrEqual(2);
      const settled = await waitUntil('the new pods take load and failures stop', 180_000, async () => {
        await new Promise((r) => setTimeout(r, 4000));
        const s = await tick();
        return s.load.failed === 0 && s.load.ok > 0 && s.readyPods >= 2
          ? s
          : { pending: formatSample(s, KEDA_COLUMNS) };
      });
      expect(settled.load.ok / Math.max(1, settled.load.sent)).toBeGreaterThan(0.95);
    } finally {
      await load.stop();
      load = undefined;
    }

    // No demand: the HPA scales in, then KEDA takes the Deployment to zero after the cooldown.
    await atZero('KEDA returns the Deployment to zero', 300_000);
  }, 1_200_000);
});

const idle = {
  offered: 0,
  sent: 0,
  ok: 0,
  failed: 0,
  shed: 0,
  inFlight: 0,
  meanLatency: Number.NaN,
  failures: {},
} as const;
