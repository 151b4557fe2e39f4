/**
 * A rollout under load while the HPA holds the replicas at the GPU slices' limit: one GPU shared
 * six ways, 5 replicas (GpuHpa's maxReplicas, pinned there by minReplicas) plus the rollout's surge
 * pod fill the six slices; every surge pod schedules, the rollout completes, and no request fails.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { down, up, type Cluster } from '../../cluster/cluster.ts';
import { kubectl, kubectlJson, kubectlRun } from '../../cluster/kubectl.ts';
import { INFERENCE_NAMESPACE } from '../../main.ts';
import { LoadDriver, type LoadWindow } from './load.ts';
import { untoleratedTaints } from './links.ts';
import { loadBalancerIp, MLP_INFER_BODY, synthSystem } from './system.ts';
import { waitUntil } from './wait.ts';

const REPLICAS = 5;
const OFFERED = 40;

let cluster: Cluster;
let manifests: string;

beforeAll(async () => {
  manifests = synthSystem({ minReplicas: REPLICAS });
  cluster = await up({ manifests, agent: { gpuStartupSeconds: 5 } });
}, 300_000);

afterAll(async () => {
  await down();
  rmSync(manifests, { recursive: true, force: true });
});

interface Pods {
  items: {
    metadata: { name: string; namespace: string; labels: Record<string, string>; deletionTimestamp?: string };
    spec: { nodeName?: string };
    status: { conditions?: { type: string; status: string; message?: string }[] };
  }[];
}

const readyInference = (p: Pods) =>
  p.items.filter((x) => x.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));

describe('a rollout under load at the GPU slices limit', () => {
  it('completes with every surge pod scheduled and 0 failed requests', async () => {
    const l = cluster.layout;
    const pods = () =>
      kubectlJson<Pods>(l, [
        'get',
        'pods',
        '-n',
        INFERENCE_NAMESPACE,
        '-l',
        'app.kubernetes.io/name=inference-server',
      ]);
    await waitUntil(`${REPLICAS} inference pods are ready`, 240_000, () => {
      const n = readyInference(pods()).length;
      return n === REPLICAS ? n : { pending: `${n} ready` };
    });
    const ip = await loadBalancerIp(l);
    const load = new LoadDriver({
      urls: [`http://${ip}/v2/models/mlp/infer`],
      body: MLP_INFER_BODY,
      maxInFlight: 64,
      maxSeconds: 600,
    });
    const windows: LoadWindow[] = [];
    let mostActive = 0;
    /** Pods the scheduler reported unschedulable: first and last time seen, and why. */
    const pending = new Map<string, { first: number; last: number; why: string }>();
    try {
      load.setRate(OFFERED);
      await new Promise((r) => setTimeout(r, 10_000));
      windows.push(load.takeWindow());
      kubectl(l, ['rollout', 'restart', 'deployment', '-n', INFERENCE_NAMESPACE, 'inference']);
      await waitUntil('the rollout completes', 300_000, async () => {
        await new Promise((r) => setTimeout(r, 2000));
        windows.push(load.takeWindow());
        const list = pods();
        mostActive = Math.max(mostActive, list.items.filter((x) => !x.metadata.deletionTimestamp).length);
        for (const p of list.items) {
          const c = p.status.conditions?.find((x) => x.type === 'PodScheduled' && x.status === 'False');
          if (!c) continue;
          const seen = pending.get(p.metadata.name);
          const why = `${c.message}; untolerated: ${untoleratedTaints(l, p.metadata.namespace, p.metadata.name) || 'none'}`;
          pending.set(p.metadata.name, { first: seen?.first ?? Date.now(), last: Date.now(), why });
        }
        const status = kubectlRun(l, [
          'rollout',
          'status',
          'deployment',
          '-n',
          INFERENCE_NAMESPACE,
          'inference',
          '--timeout=1s',
        ]);
        return status.code === 0 && list.items.length === REPLICAS
          ? status.stdout
          : { pending: `${status.stdout.trim()} ${status.stderr.trim()}` };
      });
      await new Promise((r) => setTimeout(r, 10_000));
    } finally {
      await load.stop();
      windows.push(load.takeWindow());
    }
    const total = windows.reduce(
      (a, w) => ({
        ok: a.ok + w.ok,
        failed: a.failed + w.failed,
        shed: a.shed + w.shed,
        failures: { ...a.failures, ...w.failures },
      }),
      { ok: 0, failed: 0, shed: 0, failures: {} as Record<string, number> },
    );
    const waits = [...pending].map(([pod, w]) => ({ pod, seconds: (w.last - w.first) / 1000, why: w.why }));
    console.log(
      `rollout under load: ${JSON.stringify(total)}; most pods not terminating at once: ${mostActive}; unschedulable for a while: ${JSON.stringify(waits)}`,
    );
    // The surge pod always fits: at most replicas + 1 pods hold slices besides terminating ones.
    expect(mostActive).toBe(REPLICAS + 1);
    // A pod waits only for the slice a terminating pod still holds (the scheduler counts it until
    // the pod is gone: preStop, drain, at most the 30 s grace period), never for a taint.
    for (const w of waits) {
      expect(w.why, w.pod).toMatch(
        /Insufficient nvidia\.com\/gpu.*; untolerated: cp-1: node-role\.kubernetes\.io\/control-plane:NoSchedule$/,
      );
      expect(w.seconds, w.pod).toBeLessThan(40);
    }
    expect(total.ok).toBeGreaterThan(OFFERED * 20);
    expect({ failed: total.failed, shed: total.shed, failures: total.failures }).toEqual({
      failed: 0,
      shed: 0,
      failures: {},
    });
  }, 600_000);
});
