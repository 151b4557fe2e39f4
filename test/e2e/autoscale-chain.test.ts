// The autoscaling signal chain end to end (see chain.ts and README.md): real servers under real load,
// a real Prometheus with the scrape job generated from the synthesized ServiceMonitor and the
// synthesized alert rules, the synthesized adapter rules / KEDA triggers, the planner's HPA.
import { beforeAll, describe, expect, it } from 'vitest';
import { REPLICA_ALERTS, runChain, type Backend, type ChainResult, type TimelineRow } from './chain.ts';

const BACKENDS: readonly Backend[] = ['prometheus-adapter', 'keda'];
/** The alerts the overload must trigger: latency over the SLO and queue rejections. */
const OVERLOAD_ALERTS = ['InferenceLatencyP99High', 'InferenceQueueRejections'];

let result: ChainResult;
const rows = (phase: TimelineRow['phase']) => result.timeline.filter((r) => r.phase === phase);
const errorsOf = (row: TimelineRow) =>
  BACKENDS.flatMap((b) =>
    row.backends[b].metrics.filter((m) => m.error).map((m) => `t=${row.t}s ${b} ${m.name}: ${m.error}`),
  );

describe('autoscaling signal chain: server -> Prometheus -> adapter/KEDA -> HPA, alerts, dashboards', () => {
  beforeAll(async () => {
    result = await runChain();
  }, 400_000);

  it('scrapes the pods with the labels a prometheus-operator scrape gives, so the adapter finds each pod', () => {
    const query = rows('overload')
      .flatMap((r) => r.backends['prometheus-adapter'].metrics)
      .find((m) => m.name === 'inference_inflight_requests')?.query;
    // What prometheus-adapter sends for "these pods in this namespace": LabelMatchers and GroupBy.
    expect(query).toContain(`namespace="${result.namespace}",pod=~"${result.pods.join('|')}"`);
    expect(query).toContain('by (pod)');
    const seen = new Set(
      rows('overload').flatMap((r) =>
        Object.keys(
          r.backends['prometheus-adapter'].metrics.find((m) => m.name === 'inference_inflight_requests')
            ?.perPod ?? {},
        ),
      ),
    );
    expect([...seen].sort()).toEqual([...result.pods].sort());
  });

  it('reads every adapter metric and KEDA trigger without error once traffic has started', () => {
    const errors = [...rows('overload'), ...rows('cooldown')].flatMap(errorsOf);
    expect(errors).toEqual([]);
    expect(rows('baseline').some((r) => errorsOf(r).length === 0)).toBe(true);
  });

  it('gets one series from every KEDA trigger query that does not need GPU series, under load', () => {
    // KEDA turns an empty result into 0 (ignoreNullValues defaults to true), so a wrong name or label
    // in a trigger would otherwise only show as an HPA that never scales.
    for (const row of rows('overload')) {
      for (const m of row.backends.keda.metrics.filter((x) => x.query && !/DCGM_FI_/.test(x.query))) {
        expect.soft(m.elements, `t=${row.t}s ${m.name}: ${m.query}`).toBe(1);
      }
    }
  });

  it("computes the HPA on all of main.ts's default signals: none needs GPU series", () => {
    // DEFAULT_HPA_METRICS are in-flight requests and queue time; a GPU metric would be left out here
    // (harness.test.ts checks gpuOnlyMetrics on a spec with one).
    for (const b of BACKENDS) {
      const names = result.timeline[0].backends[b].metrics.map(
        (m) => `${m.name}${m.skipped ? ' (skipped)' : ''}`,
      );
      expect(names, b).toHaveLength(2);
      expect(
        names.filter((n) => n.endsWith('(skipped)')),
        b,
      ).toEqual([]);
    }
    const adapterNames = result.timeline[0].backends['prometheus-adapter'].metrics.map((m) => m.name);
    expect(adapterNames).toEqual(['inference_inflight_requests', 'inference_queue_duration_seconds_mean']);
  });

  it('reads a queue time for every pod under overload (the adapter rule with its rate() window)', () => {
    // Over the overload rows: an overloaded server can miss a 2 s scrape, leaving its rate() empty once.
    const perPod = rows('overload').map(
      (r) =>
        r.backends['prometheus-adapter'].metrics.find(
          (m) => m.name === 'inference_queue_duration_seconds_mean',
        )?.perPod ?? {},
    );
    const seen = new Set(perPod.flatMap((p) => Object.keys(p)));
    expect([...seen].sort()).toEqual([...result.pods].sort());
    expect(Math.max(...perPod.flatMap((p) => Object.values(p)))).toBeGreaterThan(0);
  });

  it('raises the desired replicas under overload and brings them back to minReplicas after it', () => {
    for (const b of BACKENDS) {
      const podCount = result.pods.length;
      const baseline = rows('baseline').map((r) => r.backends[b].proposal);
      const overload = rows('overload').map((r) => r.backends[b].proposal);
      const cooldown = rows('cooldown').map((r) => r.backends[b].proposal);
      const trace = `${b}: baseline ${baseline} overload ${overload} cooldown ${cooldown}`;
      expect.soft(Math.max(...baseline), trace).toBeLessThanOrEqual(podCount);
      expect.soft(Math.max(...overload), trace).toBeGreaterThan(podCount);
      expect.soft(cooldown.at(-1), trace).toBe(result.minReplicas);
      // The synthesized behavior stabilizes scale-down over 300 s: spec.replicas holds meanwhile (at
      // the run's peak, which a rate() window may still raise just after the overload).
      const desired = result.timeline.map((r) => r.backends[b].desired);
      const overloadPeak = Math.max(...rows('overload').map((r) => r.backends[b].desired));
      expect.soft(overloadPeak, `${b} desired ${desired}`).toBeGreaterThan(podCount);
      expect
        .soft(rows('cooldown').at(-1)!.backends[b].desired, `${b} desired ${desired}`)
        .toBe(Math.max(...desired));
    }
  });

  it('fires the latency and queue alerts under overload and resolves every serving alert after it', () => {
    for (const alert of OVERLOAD_ALERTS) {
      expect(result.servingAlerts).toContain(alert);
      const states = result.timeline.map((r) => `${r.t}s:${r.alerts[alert]}`);
      expect(
        rows('overload').some((r) => r.alerts[alert] !== 'inactive'),
        `${alert} ${states.join(' ')}`,
      ).toBe(true);
      expect(
        rows('baseline').every((r) => r.alerts[alert] === 'inactive'),
        `${alert} ${states.join(' ')}`,
      ).toBe(true);
    }
    const last = result.timeline.at(-1)!.alerts;
    const loadAlerts = result.servingAlerts.filter((a) => !REPLICA_ALERTS.includes(a));
    expect(loadAlerts.length).toBeGreaterThanOrEqual(4);
    expect(Object.fromEntries(loadAlerts.map((a) => [a, last[a]]))).toEqual(
      Object.fromEntries(loadAlerts.map((a) => [a, 'inactive'])),
    );
    expect(result.ruleErrors).toEqual([]);
  });

  it('fires HpaAtMaxReplicas exactly when the HPA has sat at maxReplicas longer than its for:', () => {
    // kube-state-metrics' stand-in reports the adapter HPA's spec.replicas as its current replicas.
    const adapterAtMax = result.timeline.map(
      (r) => r.backends['prometheus-adapter'].desired >= result.maxReplicas,
    );
    const states = result.timeline.map((r) => `${r.t}s:${r.alerts.HpaAtMaxReplicas}`).join(' ');
    const firstAtMax = adapterAtMax.indexOf(true);
    if (firstAtMax === -1) {
      expect(
        result.timeline.every((r) => r.alerts.HpaAtMaxReplicas === 'inactive'),
        states,
      ).toBe(true);
      return;
    }
    const heldFrom = result.timeline[adapterAtMax.lastIndexOf(false) + 1].t;
    const forSeconds = result.atMaxReplicasForSeconds;
    const lastRow = result.timeline.at(-1)!;
    // Before the HPA reaches max the alert is inactive; held there past a few scrape/eval intervals
    // it is pending, past its for: (+ the same slack) firing.
    expect(
      result.timeline.slice(0, firstAtMax).every((r) => r.alerts.HpaAtMaxReplicas === 'inactive'),
      states,
    ).toBe(true);
    const held = adapterAtMax.at(-1) ? lastRow.t - heldFrom : 0;
    if (held > 10) expect(lastRow.alerts.HpaAtMaxReplicas, states).not.toBe('inactive');
    if (held > forSeconds + 10) expect(lastRow.alerts.HpaAtMaxReplicas, states).toBe('firing');
  });

  it('never sees the GPU alerts, whose DCGM series cannot exist here (promtool unit tests cover them)', () => {
    expect(result.gpuAlerts).toContain('HighGPULoad');
    const seen = result.timeline.flatMap((r) =>
      result.gpuAlerts.filter((a) => r.alerts[a] !== 'inactive').map((a) => `t=${r.t}s ${a}: ${r.alerts[a]}`),
    );
    expect(seen).toEqual([]);
  });

  it('gets data for every dashboard query except exactly the DCGM-based ones', () => {
    expect(result.dashboards.filter((d) => d.error)).toEqual([]);
    const label = (d: { panel: string; expr: string }) => `${d.panel}: ${d.expr}`;
    const dcgm = result.dashboards.filter((d) => d.dcgm);
    expect(dcgm.length).toBeGreaterThan(0);
    // Every DCGM query is empty (no GPU here) ...
    expect(dcgm.filter((d) => d.series > 0).map(label)).toEqual([]);
    // ... and nothing else is: the error ratio too, though nothing failed, because the server creates
    // every outcome's series at 0 when a model loads.
    expect(result.dashboards.filter((d) => !d.dcgm && d.series === 0).map(label)).toEqual([]);
    expect(
      result.dashboards.some((d) => /outcome=~"server_error\|timeout"/.test(d.expr) && d.series > 0),
    ).toBe(true);
  });
});
