import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { RECIPE_PROFILE, stepProfile } from '../../planner/sim/profile.ts';
import { hpaFromManifests } from '../../planner/sim/manifest.ts';
import { simulate } from '../../planner/sim/simulate.ts';
import { systemPlanInputs } from '../../planner/sim/system.ts';
import { HpaMetric } from '../../constructs/hpa/metrics.ts';
import { promDurationSeconds } from '../../constructs/validate.ts';

const dist = fileURLToPath(new URL('../../dist/40-autoscaling.k8s.yaml', import.meta.url));

describe('planner inputs from main.ts', () => {
  const system = systemPlanInputs();

  it("reads main.ts's GpuHpa: bounds, one signal per metric, the service's CPU request and pipeline timings", () => {
    expect(system.hpa.spec.minReplicas).toBe(1);
    expect(system.hpa.spec.maxReplicas).toBe(5);
    expect(system.hpa.signals).toEqual(['inflight', 'queueTime']);
    expect(system.cpuRequestMilli).toBe(2000);
    expect(system.scrapeIntervalSeconds).toBe(15);
    // Read from the synthesized metrics-server args and the dcgm-exporter DaemonSet's env.
    expect(system.pipeline.cpu).toEqual({ sampleEverySeconds: 15, averageOverSeconds: 15 });
    expect(system.pipeline.gpu).toEqual({ sampleEverySeconds: 15, averageOverSeconds: 15 });
    // Queue time is averaged over the GpuHpa metric's rate() window (DEFAULT_QUEUE_TIME_WINDOW, 1m).
    expect(system.pipeline.queueTime).toEqual({ sampleEverySeconds: 15, averageOverSeconds: 60 });
  });

  it("reads main.ts's GPU topology: one A40 time-sliced six ways, or the GPUs and slices asked for", () => {
    expect(system.topology).toEqual({ gpus: 1, slicesPerGpu: 6 });
    const two = systemPlanInputs({ gpus: 2 });
    expect(two.topology).toEqual({ gpus: 2, slicesPerGpu: 6 });
    expect(two.hpa.spec.maxReplicas).toBe(11);
    // Other sharing: GpuHpa's maxReplicas follows as main.ts derives it (every slice but the surge pod).
    const own = systemPlanInputs({ gpus: 6, slicesPerGpu: 1 });
    expect(own.topology).toEqual({ gpus: 6, slicesPerGpu: 1 });
    expect(own.hpa.spec.maxReplicas).toBe(5);
    expect(() => systemPlanInputs({ gpus: 1, slicesPerGpu: 1 })).toThrow(
      "slicesPerGpu: 1 on 1 GPU(s) leaves no slice beside the rollout's surge pod; allowed: at least 2",
    );
  });

  it("takes the queue-time averaging window from the GpuHpa metric's window", () => {
    const short = systemPlanInputs({ hpaMetrics: [HpaMetric.queueTime(0.02, { window: '30s' })] });
    expect(short.pipeline.queueTime).toEqual({ sampleEverySeconds: 15, averageOverSeconds: 30 });
    // Any Prometheus duration the constructs accept, parsed by the constructs' own parser.
    const mixed = systemPlanInputs({ hpaMetrics: [HpaMetric.queueTime(0.02, { window: '1m30s' })] });
    expect(mixed.pipeline.queueTime).toEqual({ sampleEverySeconds: 15, averageOverSeconds: 90 });
    expect(promDurationSeconds('w', '1500ms')).toBe(1.5);
    expect(() => promDurationSeconds('w', '15')).toThrow(
      'w must be a Prometheus duration such as "30s", "2m" or "1h", got "15"',
    );
  });

  it('simulates the GpuHpa exactly as the HorizontalPodAutoscaler synthesized into dist/', () => {
    const fromDist = hpaFromManifests('dist', readFileSync(dist, 'utf8'));
    expect(fromDist.signals).toEqual(system.hpa.signals);
    const run = (hpa: typeof fromDist) =>
      simulate({
        hpa,
        profile: RECIPE_PROFILE,
        capacity: { cpuRequestMilli: system.cpuRequestMilli },
        pipeline: system.pipeline,
      });
    const a = run(system.hpa);
    const b = run(fromDist);
    expect(b.events).toEqual(a.events);
    expect(b.series.map((s) => s.ready)).toEqual(a.series.map((s) => s.ready));
    expect(a.events.length).toBeGreaterThan(2);
  });

  it('simulates the KEDA variant (External metrics divided by the replica count)', () => {
    const keda = systemPlanInputs({ backend: 'keda' });
    expect(keda.hpa.spec.metrics?.map((m) => m.type)).toEqual(['External', 'External']);
    const r = simulate({
      hpa: keda.hpa,
      profile: stepProfile('step', [
        { rps: 50, seconds: 60 },
        { rps: 600, seconds: 1200 },
      ]),
    });
    const last = r.series[r.series.length - 1];
    // 600 req/s needs at least 3 pods of 200 req/s.
    expect(last.ready).toBeGreaterThanOrEqual(3);
    expect(last.queue).toBe(0);
  });

  it('names the problem when a manifest has no usable HorizontalPodAutoscaler', () => {
    expect(() => hpaFromManifests('x.yaml', 'kind: Service\n')).toThrow(
      'x.yaml: no HorizontalPodAutoscaler; found none',
    );
    expect(() =>
      hpaFromManifests(
        'x.yaml',
        'apiVersion: autoscaling/v2beta2\nkind: HorizontalPodAutoscaler\nmetadata: {name: a}\nspec: {maxReplicas: 2}\n',
      ),
    ).toThrow('the planner reads autoscaling/v2');
    expect(() =>
      hpaFromManifests(
        'x.yaml',
        'apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: a}\nspec:\n  maxReplicas: 2\n  metrics:\n  - type: Pods\n    pods: {metric: {name: tokens}, target: {type: AverageValue, averageValue: "5"}}\n',
      ),
    ).toThrow('no simulated signal for metric "tokens"');
  });
});
