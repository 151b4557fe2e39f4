import { describe, expect, it } from 'vitest';
import {
  HpaController,
  HpaSpecError,
  computeDesiredReplicas,
  podSamplesFromVector,
  podStateFromObject,
  resolveHpaSpec,
  valueFromVector,
  type PodState,
  type HpaSpec,
  type SyncInput,
} from '../../planner/index.ts';

function readyPods(n: number, requestMilli: number | null = 1000): PodState[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `p${i}`,
    phase: 'Running',
    ready: true,
    readyTransitionTime: -10_000,
    startTime: -10_000,
    deleting: false,
    requestMilli,
  }));
}

/** Every pod reports the same sample. */
function uniform(pods: PodState[], valueMilli: number): { podSamples: Record<string, number> } {
  return { podSamples: Object.fromEntries(pods.map((p) => [p.name, valueMilli])) };
}

/**
 * Syncs every 15 s from t = 0 to `until` with every pod at 100 % CPU (1000 milli of a 1000 request),
 * each time with the count the previous sync chose; returns those counts.
 */
function syncAtFullCpu(hpa: HpaController, replicas: number, until: number): number[] {
  const seen: number[] = [];
  for (let t = 0; t <= until; t += 15) {
    const pods = readyPods(replicas);
    replicas = hpa.sync(t, {
      currentReplicas: replicas,
      pods,
      metrics: [uniform(pods, 1000)],
    }).desiredReplicas;
    seen.push(replicas);
  }
  return seen;
}

const cpu60 = {
  type: 'Resource',
  resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } },
} as const;

const inflight8 = {
  type: 'Pods',
  pods: {
    metric: { name: 'inference_inflight_requests' },
    target: { type: 'AverageValue', averageValue: '8' },
  },
} as const;

describe('HpaController (legacy path: no behavior)', () => {
  it('limits a scale-up to max(2 * current, 4) per sync and holds scale-down for the 300 s window', () => {
    const hpa = new HpaController({ minReplicas: 1, maxReplicas: 50, metrics: [cpu60] });
    const seen = syncAtFullCpu(hpa, 1, 45);
    // Each sync wants ceil(100/60 * n): 1 -> 2 (ceil(1.67)), 2 -> 4, 4 -> 7, 7 -> 12, all under
    // max(2n, 4), so the calculator's value each time.
    expect(seen).toEqual([2, 4, 7, 12]);
    // Load disappears: desired 1, but the last 300 s of recommendations (up to 20) hold the count.
    const idle = readyPods(12);
    const held = hpa.sync(60, { currentReplicas: 12, pods: idle, metrics: [uniform(idle, 10)] });
    expect(held.proposal).toBe(1);
    expect(held.desiredReplicas).toBe(12);
    const later = hpa.sync(60 + 301, { currentReplicas: 12, pods: idle, metrics: [uniform(idle, 10)] });
    expect(later.desiredReplicas).toBe(1);
  });

  it('caps a big jump at max(2 * current, 4)', () => {
    const hpa = new HpaController({ maxReplicas: 100, metrics: [cpu60] });
    const pods = readyPods(3);
    const r = hpa.sync(0, { currentReplicas: 3, pods, metrics: [uniform(pods, 10_000)] });
    expect(r.proposal).toBe(50);
    expect(r.desiredReplicas).toBe(6);
    expect(r.limitReason).toBe('ScaleUpLimit');
  });
});

describe('HpaController with behavior', () => {
  const spec = {
    minReplicas: 1,
    maxReplicas: 20,
    metrics: [cpu60],
    behavior: {
      scaleUp: { policies: [{ type: 'Pods' as const, value: 2, periodSeconds: 60 }] },
      scaleDown: {
        stabilizationWindowSeconds: 60,
        policies: [{ type: 'Percent' as const, value: 50, periodSeconds: 60 }],
      },
    },
  };

  it('applies the Pods policy over its period using the recorded scale events', () => {
    const hpa = new HpaController(spec);
    const seen = syncAtFullCpu(hpa, 2, 75);
    // +2 pods per 60 s: 2 -> 4 at t=0; that event counts while it is newer than the period
    // (strictly after now - 60 s), so at t=60 it no longer limits and the next +2 is allowed.
    expect(seen).toEqual([4, 4, 4, 4, 6, 6]);
  });

  it('scales down no faster than the stabilization window and 50 % per minute', () => {
    const hpa = new HpaController(spec);
    const pods = readyPods(10);
    const sync = (t: number, n: number) => {
      const p = readyPods(n);
      return hpa.sync(t, { currentReplicas: n, pods: p, metrics: [uniform(p, 60)] }).desiredReplicas;
    };
    // First sync is seeded with the current 10, so the 60 s window holds it.
    expect(sync(0, 10)).toBe(10);
    expect(sync(45, 10)).toBe(10);
    expect(sync(61, 10)).toBe(5); // window passed; 50 % policy: 10 -> 5
    expect(sync(76, 5)).toBe(5); // the 5-pod scale-down is still inside the 60 s period
    expect(sync(122, 5)).toBe(2);
    expect(pods.length).toBe(10);
  });

  it('uses per-direction tolerances from behavior.scaleUp/scaleDown.tolerance', () => {
    const tolerant = new HpaController({
      ...spec,
      behavior: { ...spec.behavior, scaleUp: { ...spec.behavior.scaleUp, tolerance: '0.5' } },
    });
    const pods = readyPods(4);
    // 80 % vs target 60 %: ratio 1.33 is inside the 50 % up-tolerance.
    expect(
      tolerant.sync(0, { currentReplicas: 4, pods, metrics: [uniform(pods, 800)] }).desiredReplicas,
    ).toBe(4);
    const strict = new HpaController(spec);
    expect(strict.sync(0, { currentReplicas: 4, pods, metrics: [uniform(pods, 800)] }).desiredReplicas).toBe(
      6,
    );
  });
});

describe('behavior tolerance', () => {
  it('is read as AsApproximateFloat64 reads it, not rounded to a milli-unit', () => {
    const hpa = resolveHpaSpec({
      maxReplicas: 10,
      metrics: [inflight8],
      behavior: { scaleUp: { tolerance: '0.0125' } },
    });
    expect(hpa.behavior?.scaleUp.tolerance).toBe(0.0125);
  });
});

describe('computeDesiredReplicas over several metrics', () => {
  const hpa = resolveHpaSpec({
    maxReplicas: 10,
    metrics: [cpu60, inflight8],
  });
  const pods = readyPods(2);
  const input = (cpuMilli: number, inflight: number | null): SyncInput & { now: number } => ({
    now: 0,
    currentReplicas: 2,
    pods,
    metrics: [uniform(pods, cpuMilli), inflight === null ? null : uniform(pods, inflight * 1000)],
  });

  it('takes the max of the proposals', () => {
    const r = computeDesiredReplicas(hpa, input(300, 20));
    expect(r.proposals.map((p) => p.replicas)).toEqual([1, 5]);
    expect(r.proposal).toBe(5);
  });

  it('does not scale down when one metric is missing, but still scales up', () => {
    expect(computeDesiredReplicas(hpa, input(300, null)).proposal).toBe(-1);
    expect(computeDesiredReplicas(hpa, input(1200, null)).proposal).toBe(4);
  });

  it('rejects a metrics array that does not match the spec', () => {
    expect(() => computeDesiredReplicas(hpa, { ...input(300, 1), metrics: [null] })).toThrow(
      /got 1 observations for 2 metrics/,
    );
  });
});

describe('resolveHpaSpec validation', () => {
  it('names the field, the value and what is allowed', () => {
    expect(() => resolveHpaSpec({ maxReplicas: 0 })).toThrow(
      'spec.maxReplicas must be an integer from 1 to 2147483647, got 0',
    );
    expect(() => resolveHpaSpec({ minReplicas: 5, maxReplicas: 3 })).toThrow(
      'spec.maxReplicas must be an integer from 5 (spec.minReplicas) to 2147483647, got 3',
    );
    expect(() =>
      resolveHpaSpec({
        maxReplicas: 3,
        metrics: [
          {
            type: 'Pods',
            pods: { metric: { name: 'x' }, target: { type: 'AverageValue', averageValue: 'lots' } },
          },
        ],
      }),
    ).toThrow(
      'spec.metrics[0].pods.target.averageValue must be a Kubernetes quantity such as "250m", "2", "1.5k", "512Mi", got "lots"',
    );
  });

  it('checks behavior with the same rules and messages as GpuHpa (constructs/autoscaling-v2/validation.ts)', () => {
    const bad = { type: 'Pods' as const, value: 0, periodSeconds: 15 };
    expect(() => resolveHpaSpec({ maxReplicas: 3, behavior: { scaleUp: { policies: [bad] } } })).toThrow(
      new HpaSpecError(
        'spec.behavior.scaleUp.policies[0].value must be an integer from 1 to 2147483647, got 0',
      ),
    );
    expect(() =>
      resolveHpaSpec({ maxReplicas: 3, behavior: { scaleDown: { stabilizationWindowSeconds: 7200 } } }),
    ).toThrow(
      'spec.behavior.scaleDown.stabilizationWindowSeconds must be an integer from 0 to 3600, got 7200',
    );
    expect(() => resolveHpaSpec({ maxReplicas: 3, behavior: { scaleDown: { policies: [] } } })).toThrow(
      'spec.behavior.scaleDown.policies must list at least one policy, got []',
    );
    expect(() =>
      resolveHpaSpec({ maxReplicas: 3, behavior: { scaleUp: { selectPolicy: 'Fastest' as never } } }),
    ).toThrow('spec.behavior.scaleUp.selectPolicy must be one of "Max", "Min", "Disabled", got "Fastest"');
  });

  it('defaults to CPU 80 % and the API behavior defaults', () => {
    const r = resolveHpaSpec({ maxReplicas: 3, behavior: {} });
    expect(r.metrics).toEqual([
      {
        kind: 'ResourceUtilization',
        resource: 'cpu',
        container: undefined,
        targetUtilization: 80,
        name: 'cpu',
      },
    ]);
    expect(r.behavior?.scaleDown.stabilizationWindowSeconds).toBe(300);
    expect(r.behavior?.scaleUp.policies).toEqual([
      { type: 'Pods', value: 4, periodSeconds: 15 },
      { type: 'Percent', value: 100, periodSeconds: 15 },
    ]);
  });
});

describe('podStateFromObject', () => {
  it('reads phase, Ready condition, start time, deletion and summed requests of a core/v1 Pod', () => {
    const pod = podStateFromObject({
      metadata: { name: 'inference-abc', deletionTimestamp: null },
      spec: {
        containers: [
          { name: 'server', resources: { requests: { cpu: '1500m' } } },
          { name: 'proxy', resources: { requests: { cpu: '0.5' } } },
        ],
        initContainers: [
          { name: 'sidecar', restartPolicy: 'Always', resources: { requests: { cpu: '100m' } } },
          { name: 'fetch-model', resources: {} },
        ],
      },
      status: {
        phase: 'Running',
        startTime: '2026-01-01T00:00:00Z',
        conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: '2026-01-01T00:01:00Z' }],
      },
    });
    expect(pod).toEqual({
      name: 'inference-abc',
      phase: 'Running',
      ready: true,
      readyTransitionTime: Date.parse('2026-01-01T00:01:00Z') / 1000,
      startTime: Date.parse('2026-01-01T00:00:00Z') / 1000,
      deleting: false,
      requestMilli: 2100,
    });
  });

  it('gives a null request when a container has none (the HPA then fails a Utilization metric)', () => {
    const pod = podStateFromObject({
      metadata: { name: 'p' },
      spec: { containers: [{ name: 'c' }] },
      status: { phase: 'Pending' },
    });
    expect(pod.requestMilli).toBeNull();
    expect(pod.ready).toBeNull();
    expect(pod.startTime).toBeNull();
  });
});

describe('Prometheus vectors to observations', () => {
  const vector = [
    { metric: { pod: 'a', namespace: 'ns' }, value: [1700000000.5, '7.5'] as const },
    { metric: { pod: 'b', namespace: 'ns' }, value: [1700000000.5, '0.0001'] as const },
  ];

  it('keys per-pod samples by the pod label, in milli-units rounded up, with the sample time', () => {
    const obs = podSamplesFromVector(vector, { windowSeconds: 60 });
    expect('podSamples' in obs && obs.podSamples).toEqual(
      new Map([
        ['a', { value: 7500, timestamp: 1700000000.5, window: 60 }],
        ['b', { value: 1, timestamp: 1700000000.5, window: 60 }],
      ]),
    );
    expect(valueFromVector(vector)).toEqual({ valueMilli: 7501 });
  });

  it('rejects series without the pod label, duplicated pods and non-numeric values', () => {
    expect(() => podSamplesFromVector(vector, { podLabel: 'exported_pod' })).toThrow(
      'result[0]: no "exported_pod" label',
    );
    expect(() => podSamplesFromVector([vector[0], vector[0]])).toThrow('pod "a" appears twice');
    expect(() => valueFromVector([{ metric: {}, value: [0, 'NaN'] }])).toThrow(
      'result[0].value: "NaN" is not a finite number',
    );
  });

  it('feeds the controller: 2 pods at 12 in-flight each against a target of 8 -> 3 pods', () => {
    const hpa = new HpaController({
      maxReplicas: 10,
      metrics: [inflight8],
    });
    const pods = readyPods(2);
    const samples = podSamplesFromVector(
      pods.map((p) => ({ metric: { pod: p.name }, value: [0, '12'] as const })),
    );
    expect(hpa.sync(0, { currentReplicas: 2, pods, metrics: [samples] }).desiredReplicas).toBe(3);
  });
});

describe('HpaController at zero replicas (HPAScaleToZero, horizontal.go v1.37.2)', () => {
  const queue = {
    type: 'External',
    external: { metric: { name: 'queue' }, target: { type: 'AverageValue', averageValue: '10' } },
  } as const;
  const spec: HpaSpec = {
    scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'x' },
    minReplicas: 0,
    maxReplicas: 5,
    metrics: [queue],
    behavior: {
      scaleDown: {
        stabilizationWindowSeconds: 0,
        policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
      },
    },
  };
  const at = (replicas: number, valueMilli: number) => ({
    currentReplicas: replicas,
    pods: readyPods(replicas),
    metrics: [{ valueMilli }],
  });

  it('stays disabled at zero when the target was scaled to zero by someone else', () => {
    const hpa = new HpaController(spec);
    const r = hpa.sync(0, at(0, 30_000));
    expect(r.desiredReplicas).toBe(0);
    expect(r.error).toMatch(/scaling is disabled/);
  });

  it('computes at zero after scaling the target to zero itself, and scales up from there', () => {
    const hpa = new HpaController(spec);
    expect(hpa.sync(0, at(1, 0)).desiredReplicas).toBe(0);
    expect(hpa.sync(15, at(0, 0)).desiredReplicas).toBe(0);
    expect(hpa.sync(30, at(0, 30_000)).desiredReplicas).toBe(3);
  });
});
