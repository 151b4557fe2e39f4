/**
 * `npm run demo:autoscale`: the run of autoscale-chain.test.ts (chain.ts), printed as a timeline of
 * offered load, per-pod metric values, the HPA's replicas for both backends and the alert states.
 */
import { runChain, type BackendTick, type MetricReading, type TimelineRow } from './chain.ts';

const num = (n: number | undefined, digits = 0) =>
  n === undefined || Number.isNaN(n) ? '-' : n.toFixed(digits);
const perPod = (m: MetricReading | undefined, digits = 0, scale = 1) =>
  m?.perPod
    ? Object.values(m.perPod)
        .map((v) => num(v * scale, digits))
        .join('/')
    : '-';
const replicas = (b: BackendTick) => `${b.proposal < 0 ? '?' : b.proposal} -> ${b.desired}`;

const COLUMNS =
  '     t  phase     offered   ok/failed | in-flight/pod  queue ms/pod  unscraped | adapter rec -> spec | ' +
  'keda in-flight rec -> spec | alerts';

function line(row: TimelineRow): string {
  const adapter = row.backends['prometheus-adapter'];
  const keda = row.backends.keda;
  const inflight = adapter.metrics.find((m) => m.name === 'inference_inflight_requests');
  const queue = adapter.metrics.find((m) => m.name === 'inference_queue_duration_seconds_mean');
  const kedaInflight = keda.metrics.find((m) => m.query?.includes('inference_inflight_requests'));
  const alerts = Object.entries(row.alerts)
    .filter(([, s]) => s !== 'inactive')
    .map(([name, s]) => `${name.replace(/^Inference/, '')}:${s}`)
    .join(' ');
  const errors = [...adapter.metrics, ...keda.metrics]
    .filter((m) => m.error)
    .map((m) => `${m.name}: ${m.error}`);
  return (
    `${num(row.t, 1).padStart(6)}  ${row.phase.padEnd(8)} ${`${num(row.load.offered)}/s`.padStart(7)} ` +
    `${`${row.load.ok}/${row.load.failed}`.padStart(11)} | ${perPod(inflight).padEnd(13)}  ${perPod(queue, 0, 1000).padEnd(12)}  ${String(row.podsNotScraped).padStart(9)} | ` +
    `${replicas(adapter).padEnd(19)} | ${num(kedaInflight?.value).padStart(9)}  ${replicas(keda).padEnd(10)} | ` +
    `${alerts || '-'}` +
    (errors.length ? `\n        errors: ${errors.join('; ')}` : '')
  );
}

let header = false;
const result = await runChain({
  onEvent: (message) => console.log(`# ${message}`),
  onRow: (row) => {
    if (!header) console.log(COLUMNS);
    header = true;
    console.log(line(row));
  },
});
console.log(`# pods: ${result.pods.join(', ')} (namespace ${result.namespace})`);
console.log(
  `# load: baseline ${num(result.baselineRate, 1)} req/s, overload ${num(result.overloadRate, 1)} req/s ` +
    `(one pod: ${num(result.podCapacity, 1)} req/s); HPA ${result.minReplicas}..${result.maxReplicas}`,
);
console.log(
  '# rec = the HPA recommendation (max over metrics); spec = spec.replicas after the 15 s sync with the ' +
    "synthesized behavior (scale-down stabilized over 300 s); signals: main.ts's defaults, in-flight requests per " +
    'pod and mean queue time (rate() over 15 s here); a GPU utilization metric would be left out: no GPU here',
);
const empty = result.dashboards.filter((d) => d.series === 0);
console.log(
  `# dashboards: ${result.dashboards.length - empty.length}/${result.dashboards.length} queries returned data; ` +
    `without data: ${empty.map((d) => `${d.panel}${d.dcgm ? ' (DCGM)' : ''}`).join(', ') || 'none'}`,
);
if (result.ruleErrors.length) console.log(`# rule evaluation errors: ${result.ruleErrors.join('; ')}`);
console.log(`# done in ${num(result.seconds)} s`);
