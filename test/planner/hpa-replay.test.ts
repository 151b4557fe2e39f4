/**
 * The replay of real HPA syncs through the planner's port (test/cluster/hpa-replay.ts), on fixtures made
 * by hand from upstream semantics (kubernetes v1.37.2 pkg/controller/podautoscaler). The controller log
 * fixture was printed by klog's textlogger configured as kube-controller-manager configures it, with the
 * log calls of horizontal.go (fixtures/hpa-replay/klog-format/).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  formatReplay,
  observeSyncs,
  observeSyncsFromSnapshots,
  parseControllerLog,
  parseKlogLine,
  replayHpa,
  type HpaObjectV2,
  type HpaSnapshot,
  type HpaStatusV2,
  type ObservedSync,
} from '../cluster/hpa-replay.ts';
import type { HpaSpec } from '../../planner/index.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'hpa-replay');
const LOG = readFileSync(join(FIXTURES, 'kube-controller-manager.log'), 'utf8');
const HPA = JSON.parse(readFileSync(join(FIXTURES, 'hpa.json'), 'utf8')) as HpaObjectV2;
const VERSIONS = JSON.parse(readFileSync(join(FIXTURES, 'status-versions.json'), 'utf8')) as {
  sync: number | null;
  writtenAt: string;
  status: HpaStatusV2;
}[];
/** The log's header is UTC (the generator's clock); its year comes from a reference time. */
const TIME = { utc: true, reference: Date.parse('2026-08-01T00:00:00Z') };
const T0 = Date.parse('2026-07-21T10:00:00Z');

/** Polls every `everyS` seconds from t = -1.7 s: each sees the last status written before it. */
function poll(
  everyS = 5,
  opts: { managedFields?: boolean; skip?: (t: number) => boolean } = {},
): HpaSnapshot[] {
  const out: HpaSnapshot[] = [];
  for (let t = -1.7; t < 160; t += everyS) {
    if (opts.skip?.(t)) continue;
    const observedAt = T0 + t * 1000;
    const v = VERSIONS.filter((x) => Date.parse(x.writtenAt) <= observedAt).at(-1)!;
    const managedFields =
      opts.managedFields && v.sync !== null
        ? [
            {
              manager: 'kube-controller-manager',
              operation: 'Update',
              subresource: 'status',
              time: new Date(Math.floor(Date.parse(v.writtenAt) / 1000) * 1000)
                .toISOString()
                .replace('.000', ''),
            },
          ]
        : undefined;
    out.push({ observedAt, hpa: { ...HPA, metadata: { ...HPA.metadata, managedFields }, status: v.status } });
  }
  return out;
}

describe('parseKlogLine', () => {
  it('reads the header time to the microsecond, the quoted message and the key/value pairs', () => {
    const line = LOG.split('\n').find((l) => l.includes('"Successfully rescaled"'))!;
    const r = parseKlogLine(line, TIME)!;
    expect(r.at).toBe(Date.parse('2026-07-21T10:00:30.166Z') + 0.6);
    expect(r).toMatchObject({ severity: 'I', file: 'horizontal.go', msg: 'Successfully rescaled' });
    expect(r.kv).toEqual({
      logger: 'horizontal-pod-autoscaler-controller',
      HPA: 'gpu-inference/inference',
      currentReplicas: '1',
      desiredReplicas: '3',
      reason: 'pods metric inference_inflight_requests above target',
    });
    const proposing = parseKlogLine(
      LOG.split('\n').find((l) => l.includes('"Proposing desired'))!,
      TIME,
    )!;
    expect(proposing.kv.tolerances).toBe('[down:10.0%, up:10.0%]');
    expect(proposing.kv.timestamp).toBe('2026-07-21 09:59:53 +0000 UTC');
  });

  it('unquotes Go escapes, keeps JSON values whole, and skips lines that are not klog', () => {
    const r = parseKlogLine(
      'E1231 23:59:59.000001    7 horizontal.go:1] "Unhandled Error" err="say \\"hi\\"\\n\\u00e9" obj={"a":"b c","d":[1, 2]} n=3',
      { utc: true, reference: Date.parse('2027-01-01T00:00:10Z') },
    )!;
    expect(r.kv).toEqual({ err: 'say "hi"\né', obj: '{"a":"b c","d":[1, 2]}', n: '3' });
    // No year in the header: a December line read on January 1st is from the year before.
    expect(r.at).toBe(Date.parse('2026-12-31T23:59:59.000Z') + 0.001);
    expect(parseKlogLine('\tcontinued value')).toBeUndefined();
    expect(parseKlogLine('Flag --foo has been deprecated')).toBeUndefined();
  });
});

describe('parseControllerLog', () => {
  const syncs = parseControllerLog(LOG, HPA, TIME);

  it('finds every sync of this HPA, with its proposal, decision and status write', () => {
    expect(syncs.map((s) => s.outcome)).toEqual([
      'hold',
      'hold',
      'rescale',
      'hold',
      'hold',
      'hold',
      'hold',
      'rescale',
      'hold',
      'failed',
      'hold',
    ]);
    expect(syncs.map((s) => s.proposal)).toEqual([1, 1, 3, 3, 3, 3, 1, 1, 1, undefined, 1]);
    expect(syncs.map((s) => s.desiredReplicas)).toEqual([1, 1, 3, 3, 3, 3, 3, 1, 1, undefined, 1]);
    expect(syncs.map((s) => s.statusWrittenAt !== undefined)).toEqual([
      true,
      false,
      true,
      true,
      true,
      false,
      true,
      true,
      true,
      true,
      true,
    ]);
    expect(syncs[0]!.at).toBe(T0 + 100);
    expect(syncs.map((s) => s.fresh)).toEqual([true, ...Array(10).fill(false)]);
  });

  it('keeps a failed sync, whose status write comes before its error', () => {
    const failed = syncs[9]!;
    expect(failed.error).toMatch(/^failed to compute desired number of replicas .* custom metrics API/);
    expect(failed.statusWrittenAt).toBe(Date.parse('2026-07-21T10:02:15.334Z') + 0.7);
    expect(syncs[8]!.statusWrittenAt).toBe(Date.parse('2026-07-21T10:02:00.304Z') + 0.4);
  });

  it("skips the other HPA's interleaved lines and starts afresh after a controller restart", () => {
    const other = parseControllerLog(
      LOG,
      {
        namespace: 'gpu-inference',
        name: 'keda-hpa-other',
        scaleTargetRef: { kind: 'Deployment', name: 'other' },
      },
      TIME,
    );
    expect(other.map((s) => [s.proposal, s.outcome, s.statusWrittenAt])).toEqual([
      [2, 'hold', undefined],
      [2, 'hold', undefined],
    ]);
    const restart = 'I0721 10:01:10.000000    2830 horizontal.go:228] "Starting HPA controller"';
    const lines = LOG.split('\n');
    const at = lines.findIndex((l) => l.startsWith('I0721 10:01:15'));
    const restarted = parseControllerLog(
      [...lines.slice(0, at), restart, ...lines.slice(at)].join('\n'),
      HPA,
      TIME,
    );
    expect(restarted.map((s) => s.fresh).indexOf(true, 1)).toBe(5);
  });
});

describe('observeSyncs: the log for the syncs, the polled status for the values they read', () => {
  it('gives each sync the values of the status it wrote, or of the last write before it', () => {
    for (const managedFields of [false, true]) {
      const observed = observeSyncs(HPA, LOG, poll(5, { managedFields }), TIME);
      expect(observed.map((s) => s.metrics?.[0]?.averageValueMilli ?? null)).toEqual([
        2000,
        2000,
        21500,
        24000,
        8600,
        8600,
        500,
        500,
        400,
        null,
        400,
      ]);
      expect(observed.map((s) => s.currentReplicas)).toEqual([1, 1, 1, 3, 3, 3, 3, 3, 1, 1, 1]);
      expect(observed.map((s) => s.real.replicas)).toEqual([1, 1, 3, 3, 3, 3, 3, 1, 1, 1, 1]);
      expect(observed.filter((s) => s.note && s.real.outcome !== 'failed')).toEqual([]);
    }
  });

  it('marks the syncs whose status write no poll saw, and the replay leaves them out', () => {
    // No poll between the writes of s3 (45.1 s) and s4 (60.1 s): s3's values are lost, s4's are not.
    const snapshots = poll(5, { skip: (t) => t > 44 && t < 60 });
    const observed = observeSyncs(HPA, LOG, snapshots, TIME);
    expect(observed[3]!.metrics).toBeUndefined();
    expect(observed[3]!.note).toBe('its status write was not seen by any poll');
    expect(observed[4]!.metrics?.[0]?.averageValueMilli).toBe(8600);
    const report = replayHpa(HPA.spec, observed);
    expect(report.uncompared.map((s) => s.index)).toEqual([3]);
    expect(report.ok, formatReplay(report)).toBe(true);
  });
});

describe('syncs that do not compute', () => {
  // Hand-written in the fixture log's format: a scale target that is not there yet, then edited to
  // 6 replicas (above maxReplicas 4), then scaled to 0 by hand.
  const log = [
    'I0721 10:00:00.000000    7 horizontal.go:228] "Starting HPA controller" logger="horizontal-pod-autoscaler-controller"',
    'E0721 10:00:00.100000    7 horizontal.go:353] "Unhandled Error" err="failed to query scale subresource for Deployment/gpu-inference/inference: deployments.apps \\"inference\\" not found" logger="UnhandledError"',
    'I0721 10:00:15.110000    7 horizontal.go:1032] "Successfully rescaled" logger="horizontal-pod-autoscaler-controller" HPA="gpu-inference/inference" currentReplicas=6 desiredReplicas=4 reason="Current number of replicas above Spec.MaxReplicas"',
    'I0721 10:00:15.120000    7 horizontal.go:1568] "Successfully updated status" logger="horizontal-pod-autoscaler-controller" HPA="gpu-inference/inference"',
    'I0721 10:00:30.130000    7 horizontal.go:1059] "Decided not to scale" logger="horizontal-pod-autoscaler-controller" scaleTarget="Deployment/gpu-inference/inference" desiredReplicas=0 lastScaleTime="2026-07-21 10:00:15 +0000 UTC"',
    'I0721 10:00:30.140000    7 horizontal.go:1568] "Successfully updated status" logger="horizontal-pod-autoscaler-controller" HPA="gpu-inference/inference"',
  ].join('\n');
  const snapshots: HpaSnapshot[] = [
    { observedAt: T0 + 5_000, hpa: { ...HPA, status: { desiredReplicas: 0 } } },
    { observedAt: T0 + 20_000, hpa: { ...HPA, status: { currentReplicas: 6, desiredReplicas: 4 } } },
    { observedAt: T0 + 35_000, hpa: { ...HPA, status: { currentReplicas: 0, desiredReplicas: 0 } } },
  ];

  it('replays the out-of-range and scaled-to-zero syncs and leaves out the one that never read the scale', () => {
    const observed = observeSyncs(HPA, log, snapshots, TIME);
    expect(observed.map((s) => [s.real.outcome, s.currentReplicas, s.real.replicas])).toEqual([
      ['failed', 0, 0],
      ['rescale', 6, 4],
      ['hold', 0, 0],
    ]);
    const report = replayHpa(HPA.spec, observed);
    expect(report.ok, formatReplay(report)).toBe(true);
    expect(report.uncompared.map((s) => s.index)).toEqual([0]);
    expect(report.syncs[0]!.notes).toContain('failed before computing: not replayed');
    expect(report.syncs[1]!.planner).toMatchObject({ replicas: 4, proposal: -1 });
    expect(report.syncs[2]!.planner!.error).toBe(
      'scaling is disabled since the replica count of the target is zero',
    );
  });
});

describe('replayHpa on the closed-loop fixture', () => {
  const observed = observeSyncs(HPA, LOG, poll(), TIME);

  it('recommends what the real controller did at every sync', () => {
    const report = replayHpa(HPA.spec, observed);
    expect(report.ok, formatReplay(report)).toBe(true);
    expect(report.syncs.map((s) => s.planner?.replicas)).toEqual([1, 1, 3, 3, 3, 3, 3, 1, 1, 1, 1]);
    expect(report.syncs.map((s) => s.match)).toEqual(Array(11).fill(true));
    // s6: proposal 1 held at 3 by the 30 s scale-down window (s5 recommended 3 at 15 s before).
    expect(report.syncs[6]).toMatchObject({ planner: { proposal: 1, replicas: 3 }, proposalMatch: true });
    // s9: both fail to compute and keep the count.
    expect(report.syncs[9]!.planner).toMatchObject({ proposal: -1, replicas: 1 });
    expect(report.syncs[9]!.planner!.error).toMatch(/^invalid metrics/);
  });

  it('explains a proposal the nominal pods do not give by the census that does', () => {
    // s3: the status average (24) is over the one pod with a sample; with 3 sampled pods the
    // planner would propose 9. One with a sample and two without, filled with 0, give 8: ratio 1, hold.
    const report = replayHpa(HPA.spec, observed);
    expect(report.adjusted.map((s) => s.index)).toEqual([3]);
    const s3 = report.syncs[3]!;
    expect(s3).toMatchObject({ proposalMatch: false, censusAdjusted: true, match: true });
    expect(s3.inputs.census).toMatchObject({ sampled: 1 });
    expect((s3.inputs.census.missing ?? 0) + (s3.inputs.census.pending ?? 0)).toBe(2);
    expect(s3.notes[0]).toMatch(/^nominal census proposes 9; 1 pod\(s\) with samples, .* reproduces 3$/);
  });

  it('the census a pod watch gave is used as is when it reproduces the proposal', () => {
    const withPods = observeSyncs(HPA, LOG, poll(), {
      ...TIME,
      census: (at) =>
        at > T0 + 45_000 && at < T0 + 46_000 ? { sampled: 1, missing: 1, pending: 1 } : undefined,
    });
    const report = replayHpa(HPA.spec, withPods);
    expect(report.ok, formatReplay(report)).toBe(true);
    expect(report.syncs[3]).toMatchObject({ proposalMatch: true, censusAdjusted: false });
  });

  it('without the census search, the unexplained proposal is a mismatch naming the sync', () => {
    const report = replayHpa(HPA.spec, observed, { searchCensus: false });
    expect(report.ok).toBe(false);
    expect(report.mismatches[0]!.index).toBe(3);
    expect(report.mismatches[0]!.notes.join('\n')).toMatch(
      /^proposal: real 3, planner 9 \(3 pod\(s\) with samples\)$/,
    );
  });

  it('a deliberately wrong real decision is reported as a mismatch at that sync', () => {
    // As if the real controller had scaled down at s6 despite the window.
    const wrong: ObservedSync[] = observed.map((s, i) =>
      i === 6 ? { ...s, real: { ...s.real, outcome: 'rescale', replicas: 1 } } : s,
    );
    const report = replayHpa(HPA.spec, wrong);
    expect(report.ok).toBe(false);
    expect(report.mismatches.map((s) => s.index)).toEqual([6]);
    const text = formatReplay(report);
    expect(text).toContain(
      '#6 t=90.127s current=3 inference_inflight_requests=0.5 | real 3->1 (proposal 1) | planner hold 3 (proposal 1) | MISMATCH',
    );
    expect(text.split('\n')[0]).toBe('HPA replay: 11 syncs, 1 mismatched, 1 census-adjusted, 0 not compared');
  });

  it('status-only observation (no log): syncs at the status writes, holds in between', () => {
    const syncs = observeSyncsFromSnapshots(HPA, poll(5, { managedFields: true }));
    expect(syncs.map((s) => Math.round((s.at - T0) / 1000))).toEqual([
      0, 15, 30, 45, 60, 75, 90, 105, 120, 135, 150,
    ]);
    // The proposal is known where the conditions imply it (ReadyForNewScale, not ScalingLimited).
    expect(syncs.map((s) => s.real.proposal)).toEqual([
      1,
      1,
      undefined,
      3,
      3,
      3,
      undefined,
      undefined,
      1,
      undefined,
      1,
    ]);
    const report = replayHpa(HPA.spec, syncs);
    expect(report.ok, formatReplay(report)).toBe(true);
  });
});

describe('replayHpa on hand-made syncs (upstream semantics)', () => {
  const inflight8 = {
    type: 'Pods',
    pods: {
      metric: { name: 'inference_inflight_requests' },
      target: { type: 'AverageValue', averageValue: '8' },
    },
  } as const;

  /** Syncs every 15 s (t = 15 i), each reading `current` pods with the per-pod average `avg`. */
  function syncs(
    rows: [current: number, avg: number, realReplicas: number, proposal?: number][],
  ): ObservedSync[] {
    return rows.map(([current, avg, replicas, proposal], i) => ({
      at: 15_000 * i,
      currentReplicas: current,
      metrics: [{ averageValueMilli: Math.round(avg * 1000) }],
      real: { outcome: replicas === current ? 'hold' : 'rescale', replicas, proposal },
      fresh: i === 0,
    }));
  }

  it('a scale-up within tolerance holds; past it, scales (flag tolerance and behavior tolerance)', () => {
    const spec: HpaSpec = { minReplicas: 1, maxReplicas: 10, metrics: [inflight8] };
    // 8.7 / 8 = 1.0875 <= 1.1: hold. 8.9 / 8 = 1.1125: ceil(2 x 1.1125) = 3.
    const legacy = replayHpa(
      spec,
      syncs([
        [2, 8.7, 2, 2],
        [2, 8.9, 3, 3],
      ]),
    );
    expect(legacy.ok, formatReplay(legacy)).toBe(true);
    // behavior.scaleUp.tolerance 5 %: 1.0875 > 1.05 scales at once.
    const tight: HpaSpec = { ...spec, behavior: { scaleUp: { tolerance: '0.05' } } };
    const report = replayHpa(tight, syncs([[2, 8.7, 3, 3]]));
    expect(report.ok, formatReplay(report)).toBe(true);
    // The same real decision against the default tolerance is a mismatch.
    expect(replayHpa(spec, syncs([[2, 8.7, 3, 3]])).mismatches.map((s) => s.index)).toEqual([0]);
  });

  it('a logged proposal that no pod census gives is a mismatch', () => {
    const spec: HpaSpec = { minReplicas: 1, maxReplicas: 10, metrics: [inflight8] };
    // 16 per pod is twice the target: no count of pods with and without samples proposes fewer than 2.
    const report = replayHpa(spec, syncs([[2, 16, 2, 1]]));
    expect(report.mismatches.map((s) => s.index)).toEqual([0]);
    expect(report.syncs[0]!.notes).toEqual([
      'proposal: real 1, planner 4 (2 pod(s) with samples), and no pod census near it reproduces the real one',
    ]);
  });

  it('a scale-down is held by the stabilization window until its recommendations age out', () => {
    // No behavior: the max over --horizontal-pod-autoscaler-downscale-stabilization (60 s here).
    const spec: HpaSpec = { minReplicas: 1, maxReplicas: 10, metrics: [inflight8] };
    const rows: [number, number, number, number][] = [
      [4, 8, 4, 4],
      [4, 2, 4, 1], // t=15: proposal ceil(0.25 x 4) = 1, held by t=0's 4
      [4, 2, 4, 1],
      [4, 2, 4, 1],
      [4, 2, 4, 1], // t=60: t=0's 4 is exactly 60 s old: not before the cutoff, still counts
      [4, 2, 1, 1], // t=75: only 1s in the window
    ];
    const report = replayHpa(spec, syncs(rows), { config: { downscaleStabilizationSeconds: 60 } });
    expect(report.ok, formatReplay(report)).toBe(true);
    // With the production 300 s window the planner still holds at t=75: a real scale-down there mismatches.
    const prod = replayHpa(spec, syncs(rows));
    expect(prod.mismatches.map((s) => s.index)).toEqual([5]);
  });

  it('a scale-up is limited by a Pods policy and its period', () => {
    const spec: HpaSpec = {
      minReplicas: 1,
      maxReplicas: 10,
      metrics: [inflight8],
      behavior: {
        scaleUp: { stabilizationWindowSeconds: 0, policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] },
      },
    };
    const rows: [number, number, number, number][] = [
      [1, 30, 2, 4], // ceil(3.75) = 4, limited to 1 + 1
      [2, 20, 2, 5], // the 60 s period started at 1: limit 2
      [2, 20, 2, 5],
      [2, 20, 2, 5],
      [2, 20, 3, 5], // t=60: t=0's event is not after the cutoff: limit 3
    ];
    const report = replayHpa(spec, syncs(rows));
    expect(report.ok, formatReplay(report)).toBe(true);
    expect(report.syncs.map((s) => s.planner?.limitReason)).toEqual(Array(5).fill('ScaleUpLimit'));
    // A real controller that had added a pod at t=30 disagrees there, and the report says where.
    const wrong = syncs(rows.map((r, i) => (i === 2 ? [2, 20, 3, 5] : r)));
    const bad = replayHpa(spec, wrong);
    expect(bad.ok).toBe(false);
    expect(bad.mismatches[0]!.index).toBe(2);
    expect(formatReplay(bad)).toMatch(
      /#2 t=30\.000s current=2 .*\| real 2->3 \(proposal 5\) \| planner hold 2 \(proposal 5\) ScaleUpLimit \| MISMATCH/,
    );
  });

  it('flags a mismatch at the edge of a policy period as timing-sensitive', () => {
    const spec: HpaSpec = {
      minReplicas: 1,
      maxReplicas: 10,
      metrics: [inflight8],
      behavior: { scaleUp: { policies: [{ type: 'Pods', value: 1, periodSeconds: 15 }] } },
    };
    // The next sync comes 15.0004 s after the scale-up: upstream's event (stamped after the scale
    // update) may still count; the planner's (stamped at the sync) does not.
    const observed = syncs([
      [1, 30, 2, 4],
      [2, 30, 2, 8],
    ]).map((s, i) => (i === 1 ? { ...s, at: 15_000.4 } : s));
    const report = replayHpa(spec, observed);
    expect(report.mismatches.map((s) => s.index)).toEqual([1]);
    expect(report.mismatches[0]!.notes.join('\n')).toMatch(
      /timing: the scale-up of t=0.000 is 15.000 s old: inside a 15 s policy period as upstream stamps it \(maybe\), outside as the planner stamps it/,
    );
  });
});
