import { describe, expect, it } from 'vitest';
import {
  groupPods,
  objectValueReplicas,
  resourceUtilizationReplicas,
  type PodMetrics,
  type PodState,
} from '../../planner/hpa/replica-calculator.ts';

const config = { cpuInitializationPeriodSeconds: 120, delayOfInitialReadinessStatusSeconds: 10 };
const tolerances = { scaleUp: 0.1, scaleDown: 0.1 };
const NOW = 1000;

function pod(name: string, over: Partial<PodState> = {}): PodState {
  return {
    name,
    phase: 'Running',
    ready: true,
    readyTransitionTime: 0,
    startTime: 0,
    deleting: false,
    requestMilli: 1000,
    ...over,
  };
}

function samples(values: Record<string, number>, timestamp = NOW, window = 60): PodMetrics {
  return new Map(Object.entries(values).map(([n, value]) => [n, { value, timestamp, window }]));
}

/** groupPods at NOW under `config`: each pod's group by name. */
function groupsNow(pods: PodState[], metrics: PodMetrics, resource: string | null = 'cpu') {
  return groupPods(pods, metrics, resource, config, NOW).groupOf;
}

describe('groupPods time rules are strict comparisons (Go Before/After)', () => {
  it('a pod started exactly one initialization period ago is past it', () => {
    const groups = groupsNow(
      [
        pod('a', { startTime: NOW - 120, readyTransitionTime: NOW - 120 }),
        pod('b', { startTime: NOW - 119, readyTransitionTime: NOW - 119 }),
      ],
      samples({ a: 1, b: 1 }, 0),
    );
    expect(groups.get('a')).toBe('ready');
    // Inside the period, a sample older than readiness + one window is not trusted.
    expect(groups.get('b')).toBe('unready');
  });

  it('an unready pod that turned unready exactly the readiness delay after start counts as ready for CPU', () => {
    const groups = groupsNow(
      [
        pod('a', { ready: false, startTime: 0, readyTransitionTime: 10 }),
        pod('b', { ready: false, startTime: 0, readyTransitionTime: 9 }),
      ],
      samples({ a: 1, b: 1 }),
    );
    expect(groups.get('a')).toBe('ready');
    expect(groups.get('b')).toBe('unready');
  });

  it('does not consult readiness for non-CPU metrics', () => {
    const groups = groupsNow([pod('a', { ready: false, startTime: NOW })], samples({ a: 1 }), null);
    expect(groups.get('a')).toBe('ready');
  });
});

describe('resourceUtilizationReplicas', () => {
  it('skips samples of unlisted pods in the ratio but counts them in the slow-path replica count (len(metrics))', () => {
    const r = resourceUtilizationReplicas({
      currentReplicas: 2,
      pods: [pod('a'), pod('b')],
      metrics: samples({ a: 1000, x: 5000 }),
      tolerances,
      config,
      now: NOW,
      resource: 'cpu',
      targetUtilization: 20,
    });
    // First pass: a only -> 100 % vs 20 % = 5.0. b missing on a scale-up -> 0: 50 % -> 2.5 over 3 samples.
    expect(r).toEqual({ replicas: 8, utilization: 100, rawValue: 1000 });
  });

  it('fails without pods, without samples, or with a pod lacking a request', () => {
    const base = { currentReplicas: 1, tolerances, config, now: NOW, resource: 'cpu', targetUtilization: 50 };
    expect(() => resourceUtilizationReplicas({ ...base, pods: [], metrics: samples({}) })).toThrow(
      'no pods returned by selector',
    );
    expect(() => resourceUtilizationReplicas({ ...base, pods: [pod('a')], metrics: samples({}) })).toThrow(
      'did not receive metrics',
    );
    expect(() =>
      resourceUtilizationReplicas({
        ...base,
        pods: [pod('a'), pod('b', { requestMilli: null })],
        metrics: samples({ a: 1, b: 1 }),
      }),
    ).toThrow('missing request for cpu in pod b');
  });
});

describe('objectValueReplicas', () => {
  it('counts only Running and Ready pods, and needs pods only when outside tolerance', () => {
    const pods = [
      pod('a'),
      pod('b', { ready: false }),
      pod('c', { phase: 'Pending', ready: false }),
      pod('d', { deleting: true }),
    ];
    expect(
      objectValueReplicas({ currentReplicas: 4, valueMilli: 3000, targetMilli: 1000, tolerances, pods })
        .replicas,
    ).toBe(6);
    expect(
      objectValueReplicas({ currentReplicas: 4, valueMilli: 1050, targetMilli: 1000, tolerances, pods: [] })
        .replicas,
    ).toBe(4);
    expect(() =>
      objectValueReplicas({ currentReplicas: 4, valueMilli: 3000, targetMilli: 1000, tolerances, pods: [] }),
    ).toThrow('no pods returned by selector');
  });
});
