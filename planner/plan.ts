/**
 * A plan: main.ts's GpuHpa and the recipe's HPA simulated on the same profile, capacity and
 * start-up, with charts and a comparison table.
 */
import { renderChart } from './chart.ts';
import type { CapacityModel } from './sim/capacity.ts';
import {
  simulate,
  type SimulationOptions,
  type SimulationResult,
  type SimulationSummary,
  type StartupModel,
} from './sim/simulate.ts';
import type { TrafficProfile } from './sim/profile.ts';
import { RECIPE_HPA, type HpaUnderTest } from './sim/target.ts';

export interface PlanInputs {
  readonly ours: HpaUnderTest;
  readonly profile: TrafficProfile;
  readonly capacity?: Partial<CapacityModel>;
  readonly startup?: Partial<StartupModel>;
  readonly pipeline?: SimulationOptions['pipeline'];
  readonly sloSeconds?: number;
  /** The GPUs both HPAs' pods share (the recipe also ran on one A40). @default a GPU per pod */
  readonly topology?: SimulationOptions['topology'];
}

export interface Plan {
  readonly ours: SimulationResult;
  readonly recipe: SimulationResult;
  readonly files: Readonly<Record<string, string>>;
}

const ROWS: readonly [string, (s: SimulationSummary) => string][] = [
  ['max pods', (s) => String(s.maxPods)],
  ['max pods Pending (no free GPU slice)', (s) => String(s.maxUnscheduledPods)],
  ['pod-hours (incl. starting and Pending)', (s) => (s.podSeconds / 3600).toFixed(1)],
  ['seconds with p95 over the SLO', (s) => String(s.secondsOverSlo)],
  ['longest time under capacity (s)', (s) => String(s.timeToCapacitySeconds)],
  ['seconds under capacity', (s) => String(s.underCapacitySeconds)],
  [
    'requests dropped',
    (s) =>
      `${s.droppedRequests} (${((100 * s.droppedRequests) / Math.max(1, s.offeredRequests)).toFixed(2)} %)`,
  ],
  ['worst p95 (ms)', (s) => (s.worstP95Seconds === null ? '-' : (s.worstP95Seconds * 1000).toFixed(0))],
  [
    'mean p95, per request (ms)',
    (s) => (s.meanP95Seconds === null ? '-' : (s.meanP95Seconds * 1000).toFixed(1)),
  ],
  ['scaling events', (s) => String(s.scalingEvents)],
];

/** `1 GPU x 6 slices` (the topology both HPAs ran on), or `a GPU per pod`. */
function topologyLabel(s: SimulationSummary): string {
  const t = s.topology;
  if (t === null) return 'a GPU per pod';
  return `${t.gpus} GPU${t.gpus === 1 ? '' : 's'} x ${t.slicesPerGpu} slice${t.slicesPerGpu === 1 ? '' : 's'}`;
}

function comparisonTable(a: SimulationSummary, b: SimulationSummary): string {
  const lines = [
    `| ${a.profile} profile, ${topologyLabel(a)}, SLO p95 <= ${a.sloSeconds * 1000} ms | ${a.hpa} | ${b.hpa} |`,
    '| --- | --- | --- |',
  ];
  for (const [label, f] of ROWS) lines.push(`| ${label} | ${f(a)} | ${f(b)} |`);
  return lines.join('\n') + '\n';
}

const SERIES_COLUMNS = [
  't',
  'offered',
  'served',
  'dropped',
  'pods',
  'unscheduled',
  'ready',
  'desired',
  'queue',
  'capacity',
  'gpuUtilization',
  'cpuUtilization',
  'inflightPerPod',
  'meanQueueSeconds',
  'p50',
  'p95',
  'p99',
] as const;

/** The per-second series as CSV (empty cells where no pod was ready to measure latency). */
export function seriesCsv(result: SimulationResult): string {
  const rows = result.series.map((s) =>
    SERIES_COLUMNS.map((c) => {
      const v = s[c];
      return v === null ? '' : String(Math.round(v * 1e6) / 1e6);
    }).join(','),
  );
  return [SERIES_COLUMNS.join(','), ...rows].join('\n') + '\n';
}

export function makePlan(inputs: PlanInputs): Plan {
  const common = {
    profile: inputs.profile,
    capacity: inputs.capacity,
    startup: inputs.startup,
    pipeline: inputs.pipeline,
    sloSeconds: inputs.sloSeconds,
    topology: inputs.topology,
  };
  const ours = simulate({ ...common, hpa: inputs.ours });
  // The recipe's HPA reads the same capacity model (CPU request included), so only the HPA differs.
  const recipe = simulate({ ...common, hpa: RECIPE_HPA });
  const p = inputs.profile.name.replace(/[^A-Za-z0-9_-]+/g, '-');
  return {
    ours,
    recipe,
    files: {
      [`${p}-plan.svg`]: renderChart(ours),
      [`${p}-plan-recipe-hpa.svg`]: renderChart(recipe),
      [`${p}-summary.md`]: comparisonTable(recipe.summary, ours.summary),
      [`${p}-summary.json`]:
        JSON.stringify(
          {
            capacity: ours.capacity,
            ours: ours.summary,
            recipe: recipe.summary,
            oursEvents: ours.events,
            recipeEvents: recipe.events,
          },
          null,
          2,
        ) + '\n',
    },
  };
}
