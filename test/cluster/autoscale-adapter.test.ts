/**
 * The closed autoscaling loop with prometheus-adapter, every part real but the GPU: load through
 * the LoadBalancer address rises past one emulated GPU's capacity; Prometheus (configured by the
 * real prometheus-operator from the synthesized ServiceMonitor) scrapes the servers; the real
 * adapter serves the per-pod series; the real HPA controller reads them and scales the Deployment;
 * the real scheduler spreads the new pods over the two GPU nodes, where the node agent starts them
 * as servers; they take load, and the per-pod signal and latency fall. After the load ends the HPA
 * returns to minReplicas after the synthesized stabilization (shortened through GpuHpa's behavior).
 */
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { down, up, type Cluster } from '../../cluster/cluster.ts';
import { kubectl, kubectlBinary, kubectlJson } from '../../cluster/kubectl.ts';
import { METRICS } from '../../constructs/contract.ts';
import { INFERENCE_NAMESPACE } from '../../main.ts';
import { LoadDriver } from './load.ts';
import { formatReplay, observeSyncs, replayHpa, type HpaObjectV2, type HpaSnapshot } from './hpa-replay.ts';
import { evaluateDashboards, type DashboardResult } from './dashboards.ts';
import { loadBalancerIp, MLP_INFER_BODY, synthSystem } from './system.ts';
import {
  formatSample,
  prometheusUrl,
  sample,
  TIMELINE_HEADER,
  timelinePrinter,
  type Sample,
} from './timeline.ts';
import { waitUntil } from './wait.ts';

/** The emulated GPU serves one request of the mlp model in batchSeconds(1) = 12 ms: 83 req/s. */
const OFFERED = 120;
const MAX_REPLICAS = 4;
const execFileAsync = promisify(execFile);
/** DCGM fields the stand-in exporter has nothing to measure for (cluster/agent/dcgm-standin.ts). */
const NOT_EMULATED = /DCGM_FI_DEV_(FB_USED|FB_FREE|GPU_TEMP)\b/;
const SCALE_DOWN_STABILIZATION = 30;

let cluster: Cluster;
let manifests: string;
const timeline: Sample[] = [];
/** The HPA object every 2 s with its write times (managed fields), for the planner's replay. */
const hpaSnapshots: HpaSnapshot[] = [];
let hpaPoll: NodeJS.Timeout | undefined;

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
  // Asynchronous, so that the load driver is never blocked by a kubectl call.
  hpaPoll = setInterval(() => {
    execFileAsync(kubectlBinary(), [
      `--kubeconfig=${cluster.layout.kubeconfig}`,
      ...['get', 'hpa', '-n', INFERENCE_NAMESPACE, 'inference', '-o', 'json', '--show-managed-fields'],
    ]).then(
      ({ stdout }) => hpaSnapshots.push({ observedAt: Date.now(), hpa: JSON.parse(stdout) as HpaObjectV2 }),
      () => undefined,
    );
  }, 2000);
}, 300_000);

afterAll(async () => {
  clearInterval(hpaPoll);
  await down();
  rmSync(manifests, { recursive: true, force: true });
  console.log(
    `prometheus-adapter closed loop:\n${TIMELINE_HEADER}\n${timeline.flatMap(timelinePrinter()).join('\n')}`,
  );
});

/** The LoadBalancer address, once a pod behind it is ready. */
async function lbAddress(): Promise<string> {
  const ip = await loadBalancerIp(cluster.layout, 120_000);
  await waitUntil('an inference pod is ready', 120_000, () => {
    const ready = kubectl(cluster.layout, [
      'get',
      'pods',
      '-n',
      INFERENCE_NAMESPACE,
      '-o',
      'jsonpath={.items[*].status.conditions[?(@.type=="Ready")].status}',
    ]);
    return ready.includes('True') ? ready : { pending: `pods ready: ${ready}` };
  });
  return ip;
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

      // Under load every dashboard query returns data, GPU panels from the DCGM stand-in exporter;
      // only what the stand-in cannot measure (memory, temperature: dcgm-standin.ts) stays empty.
      const dashboards = await evaluateDashboards(l, source.prometheus);
      expect(dashboards.filter((d) => d.error)).toEqual([]);
      const label = (d: DashboardResult) => `${d.panel}: ${d.expr}`;
      expect(dashboards.filter((d) => d.series === 0).map(label)).toEqual(
        dashboards.filter((d) => NOT_EMULATED.test(d.expr)).map(label),
      );
      expect(dashboards.some((d) => d.expr.includes('DCGM_FI_DEV_GPU_UTIL') && d.series > 0)).toBe(true);
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
    // Every pod's squeezenet asks for CUDA and computes on CPU (the emulated GPU has no CUDA): the
    // fallback alert fires, truthfully, through the whole run, and is the only one left.
    expect(timeline.at(-1)?.alerts?.InferenceProviderFallback, 'InferenceProviderFallback').toBe('firing');
    const inference = (x: Sample) =>
      Object.keys(x.alerts ?? {}).filter(
        (a) => a.startsWith('Inference') && a !== 'InferenceProviderFallback',
      );
    await waitUntil('every other Inference alert resolves', 180_000, async () => {
      await new Promise((r) => setTimeout(r, 5000));
      const x = await tick();
      return x.alerts !== undefined && inference(x).length === 0 ? x : { pending: formatSample(x) };
    });

    // The planner's HPA port, fed what the real controller read at each of its syncs (its status
    // and its log), decides the same replicas at every sync.
    clearInterval(hpaPoll);
    const hpa = kubectlJson<HpaObjectV2>(l, ['get', 'hpa', '-n', INFERENCE_NAMESPACE, 'inference']);
    const log = readFileSync(join(l.logs, 'kube-controller-manager.log'), 'utf8');
    const report = replayHpa(hpa.spec, observeSyncs(hpa, log, hpaSnapshots));
    console.log(formatReplay(report));
    expect(report.syncs.filter((x) => x.match !== null).length, 'syncs compared').toBeGreaterThan(10);
    expect(report.ok, formatReplay(report)).toBe(true);
  }, 900_000);
});
