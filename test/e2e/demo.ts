/**
 * `npm run demo:autoscale`: the signal-chain run of autoscale-chain.test.ts, printed as a timeline
 * of offered load, per-pod metric values, the HPA's replicas and alert states.
 */
import { runChain, type TimelineRow } from './chain.ts';

const fmt = (n: number | undefined, digits = 1) =>
  n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits);

function line(row: TimelineRow): string {
  const a = row.backends['prometheus-adapter'];
  const k = row.backends.keda;
  const inflight = a.metrics.find((m) => m.name === 'inference_inflight_requests');
  const cpu = a.metrics.find((m) => m.name === 'cpu');
  const perPod = (r?: { perPod?: Readonly<Record<string, number>> }, digits = 0) =>
    r?.perPod
      ? Object.values(r.perPod)
          .map((v) => fmt(v, digits))
          .join('/')
      : '-';
  const keda = k.metrics
    .filter((m) => m.value !== undefined)
    .map((m) => `${m.name}=${fmt(m.value)}`)
    .join(' ');
  const alerts = Object.entries(row.alerts)
    .filter(([, s]) => s !== 'inactive')
    .map(([n, s]) => `${n}:${s}`)
    .join(' ');
  const errors = [...a.metrics, ...k.metrics].filter((m) => m.error).map((m) => `${m.name}: ${m.error}`);
  return (
    `${fmt(row.t).padStart(6)}s ${row.phase.padEnd(8)} offered ${fmt(row.load.offered).padStart(5)}/s ` +
    `ok ${String(row.load.ok).padStart(4)} rej ${String(row.load.failed).padStart(4)} | ` +
    `inflight/pod ${perPod(inflight, 1).padEnd(9)} cpu(m) ${perPod(cpu).padEnd(9)} | ` +
    `adapter rec ${a.proposal} desired ${a.desired} | keda ${keda} rec ${k.proposal} desired ${k.desired} | ` +
    `${alerts || 'no alerts'}` +
    (errors.length ? `\n        errors: ${errors.join('; ')}` : '')
  );
}

const result = await runChain({
  onEvent: (message) => console.log(`# ${message}`),
  onRow: (row) => console.log(line(row)),
});
console.log(`# pods: ${result.pods.join(', ')} (namespace ${result.namespace})`);
console.log(`# load: baseline ${fmt(result.baselineRate)} req/s, overload ${fmt(result.overloadRate)} req/s`);
const empty = result.dashboards.filter((d) => d.series === 0);
console.log(
  `# dashboards: ${result.dashboards.length - empty.length}/${result.dashboards.length} queries returned data; ` +
    `without data: ${empty.map((d) => `${d.panel}${d.dcgm ? ' (DCGM)' : ''}`).join(', ') || 'none'}`,
);
if (result.ruleErrors.length) console.log(`# rule evaluation errors: ${result.ruleErrors.join('; ')}`);
console.log(`# done in ${fmt(result.seconds, 0)} s`);
