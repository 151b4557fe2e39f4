/**
 * `npm run demo:autoscale [-- --backend keda]`: the closed autoscaling loop on the local cluster
 * (npm run cluster:up's control plane, two GPU nodes with emulated GPUs), printed as a timeline:
 * offered load, the HPA's metric values with units, its current and desired replicas and its
 * conditions when they change, inference pods per node, alert states. Baseline, then overload past
 * one GPU's capacity, then no load until the HPA is back at its minimum.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { down, up } from '../../cluster/cluster.ts';
import type { HpaBackend } from '../../constructs/index.ts';
import { INFERENCE_NAMESPACE } from '../../main.ts';
import { LB_METRICS } from '../../cluster/agent/load-balancer.ts';
import { LoadDriver } from './load.ts';
import { loadBalancerIp, MLP_INFER_BODY, synthSystem } from './system.ts';
import { waitUntil } from './wait.ts';
import { KEDA_COLUMNS, prometheusUrl, sample, TIMELINE_HEADER, timelinePrinter } from './timeline.ts';

const { values } = parseArgs({ options: { backend: { type: 'string', default: 'prometheus-adapter' } } });
const backend = values.backend as HpaBackend;
if (!['prometheus-adapter', 'keda'].includes(backend))
  throw new Error(`--backend must be prometheus-adapter or keda, got ${JSON.stringify(values.backend)}`);

/** The phases: seconds at each offered rate (one emulated GPU answers about 83 requests/s). */
const PHASES = [
  { name: 'baseline', rate: 20, seconds: 45 },
  { name: 'overload', rate: 120, seconds: 150 },
  { name: 'idle', rate: 0, seconds: 150 },
] as const;

const manifests = synthSystem({
  backend,
  gpus: 2,
  maxReplicas: 4,
  alertThresholds: { latencyP99Window: '1m', latencyP99For: '15s' },
  hpaBehavior: {
    scaleDown: {
      stabilizationWindowSeconds: 60,
      policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
    },
  },
  ...(backend === 'keda'
    ? {
        keda: {
          pollingIntervalSeconds: 5,
          cooldownPeriodSeconds: 60,
          scaleToZero: {
            demandQuery: `sum(rate(${LB_METRICS.connections}{namespace="${INFERENCE_NAMESPACE}",service="inference"}[30s]))`,
            targetPerPod: 1000,
          },
        },
      }
    : {}),
});
console.log(`starting the local cluster (${backend}; GPU start-up shortened to 15 s) ...`);
const cluster = await up({
  inventory: join(import.meta.dirname, 'two-gpu-nodes.yaml'),
  manifests,
  agent: { gpuStartupSeconds: 15 },
  prometheus: { evaluationInterval: '10s' },
});
let load: LoadDriver | undefined;
try {
  const l = cluster.layout;
  const source = {
    layout: l,
    namespace: INFERENCE_NAMESPACE,
    hpa: backend === 'keda' ? 'keda-hpa-inference' : 'inference',
    prometheus: await prometheusUrl(l),
  };
  const ip = await loadBalancerIp(l, 120_000);
  await waitUntil(
    'Prometheus is ready (and, with the adapter, an inference pod answers)',
    240_000,
    async () => {
      const ready = await fetch(`${source.prometheus}/-/ready`).catch(() => undefined);
      // With KEDA's scale to zero there may be no pod until the baseline load wakes one.
      const infer =
        backend === 'keda'
          ? { ok: true, status: 'not waited for' }
          : await fetch(`http://${ip}/v2/models/mlp/ready`).catch(() => undefined);
      return ready?.ok && infer?.ok
        ? true
        : { pending: `prometheus ${ready?.status}, inference ${infer?.status}` };
    },
  );
  load = new LoadDriver({
    urls: [`http://${ip}/v2/models/mlp/infer`],
    body: MLP_INFER_BODY,
    maxSeconds: 900,
  });
  console.log(`load goes to http://${ip}/v2/models/mlp/infer`);
  const started = Date.now();
  const print = timelinePrinter(backend === 'keda' ? KEDA_COLUMNS : undefined);
  console.log(TIMELINE_HEADER);
  for (const phase of PHASES) {
    console.log(`--- ${phase.name}: ${phase.rate} requests/s for ${phase.seconds} s`);
    load.setRate(phase.rate);
    const end = Date.now() + phase.seconds * 1000;
    while (Date.now() < end) {
      await new Promise((r) => setTimeout(r, 5000));
      const s = await sample(source, Math.round((Date.now() - started) / 1000), load.takeWindow());
      for (const line of print(s)) console.log(line);
    }
  }
} finally {
  await load?.stop();
  await down(cluster.layout);
  rmSync(manifests, { recursive: true, force: true });
}
