import { describe, expect, it } from 'vitest';
import { batchSeconds, podCapacity, podLoadState, resolveCapacity } from '../../planner/sim/capacity.ts';
import { ProfileError, parseProfileCsv, stepProfile } from '../../planner/sim/profile.ts';
import { simulate } from '../../planner/sim/simulate.ts';
import { fromHpaSpec } from '../../planner/sim/target.ts';

const constant = (rps: number, seconds: number) => stepProfile('constant', [{ rps, seconds }]);

describe('simulator against queueing arithmetic', () => {
  it('settles at the replica count a CPU target implies, with bounded latency and no drops', () => {
    // CPU per pod = 10 ms per request on a 1000m request: utilization % = per-pod rate (req/s).
    const capacity = { cpuIdleMilli: 0, cpuSecondsPerRequest: 0.01, cpuRequestMilli: 1000 };
    const rate = 300;
    const target = 50;
    const expected = Math.ceil(
      (rate * capacity.cpuSecondsPerRequest * 1000) / ((target / 100) * capacity.cpuRequestMilli),
    );
    expect(expected).toBe(6);
    const hpa = fromHpaSpec('cpu', {
      minReplicas: 1,
      maxReplicas: 20,
      metrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: target } },
        },
      ],
      behavior: {},
    });
    const r = simulate({ hpa, profile: constant(rate, 1800), capacity, initialReplicas: expected + 4 });
    const tail = r.series.slice(-300);
    expect(new Set(tail.map((s) => s.ready))).toEqual(new Set([expected]));
    expect(new Set(tail.map((s) => s.desired))).toEqual(new Set([expected]));
    // Bounded: below capacity, a request waits at most one full batch plus its own.
    const full = batchSeconds(resolveCapacity(capacity), resolveCapacity(capacity).maxBatchSize);
    for (const s of tail) {
      expect(s.dropped).toBe(0);
      expect(s.queue).toBe(0);
      expect(s.p99).toBeLessThanOrEqual(2 * full);
      expect(s.cpuUtilization).toBeCloseTo(rate / expected, 6);
    }
    // It came down from 10: the scale-down waited for the default 300 s stabilization window.
    expect(r.events[0]).toMatchObject({ t: 300, from: expected + 4, to: expected });
  });

  it('settles where GPU busy time (rate x single-request batch time) meets a Pods GPU target', () => {
    const hpa = fromHpaSpec('gpu', {
      minReplicas: 1,
      maxReplicas: 20,
      metrics: [
        {
          type: 'Pods',
          pods: {
            metric: { name: 'gpu_utilization_percent' },
            target: { type: 'AverageValue', averageValue: '60' },
          },
        },
      ],
      behavior: {},
    });
    const rate = 300;
    const busyPerPod = (n: number) => (rate / n) * batchSeconds(resolveCapacity(), 1);
    const expected = Math.ceil((rate * batchSeconds(resolveCapacity(), 1)) / 0.6);
    expect(busyPerPod(expected)).toBeLessThanOrEqual(0.6 + 1e-9);
    const r = simulate({ hpa, profile: constant(rate, 1200) });
    const last = r.series[r.series.length - 1];
    expect(last.ready).toBe(expected);
    expect(last.gpuUtilization).toBeCloseTo(busyPerPod(expected) * 100, 6);
    // In-flight per pod obeys Little's law: rate x mean latency (M/D/1 wait + one batch).
    const s1 = batchSeconds(resolveCapacity(), 1);
    const rho = busyPerPod(expected);
    const meanLatency = (rho * s1) / (2 * (1 - rho)) + s1;
    expect(last.inflightPerPod).toBeCloseTo((rate / expected) * meanLatency, 9);
    expect(last.meanQueueSeconds).toBeCloseTo(meanLatency - s1, 9);
  });

  it('above max replicas capacity the queue grows by the excess each second, then the excess is dropped', () => {
    const capacity = { maxQueuePerPod: 1000 };
    const mu = podCapacity(resolveCapacity(capacity));
    const pods = 3;
    const rate = 900;
    const excess = rate - pods * mu;
    expect(excess).toBeCloseTo(300, 6);
    const hpa = fromHpaSpec('capped', {
      minReplicas: pods,
      maxReplicas: pods,
      metrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } },
        },
      ],
    });
    const r = simulate({ hpa, profile: constant(rate, 60), capacity });
    const fill = Math.floor((pods * capacity.maxQueuePerPod) / excess); // 10 s
    for (let t = 0; t < fill; t++) {
      expect(r.series[t].queue).toBeCloseTo(excess * (t + 1), 6);
      expect(r.series[t].dropped).toBe(0);
    }
    for (let t = fill; t < 60; t++) {
      expect(r.series[t].queue).toBeCloseTo(pods * capacity.maxQueuePerPod, 6);
      expect(r.series[t].dropped).toBeCloseTo(
        t === fill ? excess * (t + 1) - pods * capacity.maxQueuePerPod : excess,
        6,
      );
      expect(r.series[t].served).toBeCloseTo(pods * mu, 6);
      // Everyone waits for the full backlog: queue / capacity seconds.
      expect(r.series[t].p50).toBeGreaterThan((pods * capacity.maxQueuePerPod) / (pods * mu));
    }
    expect(r.summary.droppedRequests).toBe(Math.round(excess * 60 - pods * capacity.maxQueuePerPod));
    expect(r.summary.timeToCapacitySeconds).toBe(60);
    expect(r.summary.secondsOverSlo).toBe(60);
  });

  it('new pods serve only after scheduling plus start-up rounded up to the readiness probe period', () => {
    const hpa = fromHpaSpec('cpu', {
      maxReplicas: 4,
      metrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 50 } },
        },
      ],
      behavior: {},
    });
    const startup = { schedulingSeconds: 3, startupSeconds: 41, readinessPeriodSeconds: 10 };
    const r = simulate({ hpa, profile: constant(150, 200), startup });
    const up = r.events.find((e) => e.to > e.from);
    expect(up).toBeDefined();
    const readyAt = up!.t + 3 + 50;
    expect(r.series[readyAt - 1].ready).toBe(1);
    expect(r.series[readyAt].ready).toBe(up!.to);
    expect(r.series[up!.t].pods).toBe(up!.to);
  });
});

describe('inputs are validated', () => {
  it('rejects bad CSV rows with the line and the value', () => {
    expect(() => parseProfileCsv('p', 'time,rps\n0,10\n5,-1\n')).toThrow(
      /p line 3: rps "-1" must be a number >= 0/,
    );
    expect(() => parseProfileCsv('p', '0,10\n0,20\n')).toThrow(ProfileError);
    expect(parseProfileCsv('p', '# comment\ntime,rps\n0,10\n60,20\n').durationSeconds).toBe(61);
  });

  it('takes only the first row as a header: a later non-numeric row is an error, not skipped', () => {
    expect(() => parseProfileCsv('p', 'time,rps\n0,abc\n60,50')).toThrow(
      'p line 2: rps "abc" must be a number >= 0',
    );
    // A second header-like row after a comment is still a data row.
    expect(() => parseProfileCsv('p', '# load\ntime,rps\n\nseconds,reqs\n0,10\n')).toThrow(
      'p line 4: time "seconds" must be a number of seconds >= 0',
    );
    // No header at all: the first row is data and must be numeric.
    expect(parseProfileCsv('p', '0,10\n60,20\n').points).toEqual([
      { t: 0, rps: 10 },
      { t: 60, rps: 20 },
    ]);
  });

  it('rejects a bad capacity field naming it', () => {
    expect(() => resolveCapacity({ maxBatchSize: 0 })).toThrow(
      'capacity.maxBatchSize: 0 must be a positive number',
    );
    expect(() => resolveCapacity({ batchSeconds: 1 } as never)).toThrow(
      /capacity.batchSeconds: unknown field/,
    );
  });
});

describe('GPU topology', () => {
  const fixed = (replicas: number) =>
    fromHpaSpec('fixed', {
      minReplicas: replicas,
      maxReplicas: replicas,
      metrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } },
        },
      ],
    });
  const mu = podCapacity(resolveCapacity());

  it('pods on one GPU share its capacity, and each reports the whole GPU busy', () => {
    const shared = simulate({
      hpa: fixed(2),
      profile: constant(300, 60),
      initialReplicas: 2,
      topology: { gpus: 1, slicesPerGpu: 2 },
    });
    const own = simulate({ hpa: fixed(2), profile: constant(300, 60), initialReplicas: 2 });
    expect(own.series[30].capacity).toBeCloseTo(2 * mu, 9);
    expect(own.series[30].served).toBeCloseTo(300, 9);
    expect(shared.series[30].capacity).toBeCloseTo(mu, 9);
    expect(shared.series[30].served).toBeCloseTo(mu, 9);
    expect(shared.series[30].gpuUtilization).toBe(100);
    // Below saturation: a GPU per pod, each is busy for its own half; shared, both see the sum.
    const s1 = batchSeconds(resolveCapacity(), 1);
    const low = (topology?: { gpus: number; slicesPerGpu: number }) =>
      simulate({ hpa: fixed(2), profile: constant(50, 30), initialReplicas: 2, topology }).series[20];
    expect(low().gpuUtilization).toBeCloseTo(25 * s1 * 100, 9);
    expect(low({ gpus: 1, slicesPerGpu: 2 }).gpuUtilization).toBeCloseTo(50 * s1 * 100, 9);
    // In-flight per pod: its half of the GPU's rate x the GPU's mean latency.
    const state = podLoadState(resolveCapacity(), 50, 0);
    expect(low({ gpus: 1, slicesPerGpu: 2 }).inflightPerPod).toBeCloseTo(25 * state.meanLatencySeconds, 9);
  });

  it('replicas beyond the free slices stay Pending and unscheduled; the HPA still counts them', () => {
    const r = simulate({
      hpa: fixed(5),
      profile: constant(100, 120),
      initialReplicas: 2,
      topology: { gpus: 1, slicesPerGpu: 3 },
    });
    expect(r.events[0]).toMatchObject({ t: 0, from: 2, to: 5 });
    const last = r.series[r.series.length - 1];
    expect(last).toMatchObject({ pods: 5, unscheduled: 2, ready: 3, desired: 5 });
    expect(r.summary.maxUnscheduledPods).toBe(2);
    expect(r.summary.unscheduledSeconds).toBe(120);
    expect(r.summary.topology).toEqual({ gpus: 1, slicesPerGpu: 3 });
    // Without a topology all five start.
    const own = simulate({ hpa: fixed(5), profile: constant(100, 120), initialReplicas: 2 });
    expect(own.series[own.series.length - 1]).toMatchObject({ pods: 5, unscheduled: 0, ready: 5 });
    expect(own.summary.topology).toBeNull();
  });

  it('spreads pods over GPUs (the fewest pods first)', () => {
    // 4 pods on 2 GPUs x 3 slices: 2 + 2 (capacity 4 x mu / 2), not 3 + 1 (4 x mu / 3).
    const r = simulate({
      hpa: fixed(4),
      profile: constant(100, 30),
      initialReplicas: 4,
      topology: { gpus: 2, slicesPerGpu: 3 },
    });
    expect(r.series[10].capacity).toBeCloseTo(2 * mu, 9);
  });

  it('names the field, the value and the range of a bad topology', () => {
    const run = (topology: { gpus: number; slicesPerGpu: number }, initialReplicas = 1) =>
      simulate({ hpa: fixed(1), profile: constant(10, 10), topology, initialReplicas });
    expect(() => run({ gpus: 0, slicesPerGpu: 6 })).toThrow(
      'topology.gpus: 0 must be an integer from 1 to 100000',
    );
    expect(() => run({ gpus: 1, slicesPerGpu: 1.5 })).toThrow(
      'topology.slicesPerGpu: 1.5 must be an integer from 1 to 100000',
    );
    expect(() => run({ gpus: 1, slicesPerGpu: 2 }, 3)).toThrow(
      'initialReplicas: 3 exceeds the 1 x 2 GPU slices of topology',
    );
  });
});
