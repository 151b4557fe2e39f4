/**
 * `npm run plan -- [--profile recipe|diurnal|FILE.csv] [--out DIR] [--backend prometheus-adapter|keda]
 *   [--hpa MANIFEST.yaml] [--metrics KIND=TARGET,...] [--capacity FILE.json] [--startup SECONDS] [--slo SECONDS]
 *   [--gpus N] [--slices-per-gpu K] [--series]`
 *
 * Simulates main.ts's GpuHpa (or the first HorizontalPodAutoscaler in --hpa) and the recipe's HPA (CPU 60 %) on the profile and writes
 * `<profile>-plan.svg`, `<profile>-plan-recipe-hpa.svg`, `<profile>-summary.md` and
 * `<profile>-summary.json` into DIR; prints the comparison table. Both HPAs' pods share main.ts's
 * GPUs (or --gpus N GPUs time-sliced --slices-per-gpu K ways).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { makePlan, seriesCsv } from '../plan.ts';
import { RECIPE_PROFILE, diurnalProfile, parseProfileCsv, type TrafficProfile } from '../sim/profile.ts';
import { capacityFromFile, type CapacityModel } from '../sim/capacity.ts';
import { hpaFromManifests } from '../sim/manifest.ts';
import { parseMetrics, systemPlanInputs } from '../sim/system.ts';

const USAGE =
  'usage: npm run plan -- [--profile recipe|diurnal|FILE.csv] [--out DIR] [--backend prometheus-adapter|keda] [--hpa MANIFEST.yaml] [--metrics KIND=TARGET,...] [--capacity FILE.json] [--startup SECONDS] [--slo SECONDS] [--gpus N] [--slices-per-gpu K] [--series]';

class UsageError extends Error {}

/** Errors the planner raises for invalid inputs (they name the field, the value and what is allowed). */
const INPUT_ERRORS = [
  'HpaSpecError',
  'ProfileError',
  'CapacityModelError',
  'SimulationError',
  'TargetError',
  'ValidationError',
];

/** The text of the file an option names; an unreadable file is a usage error naming the option. */
function readOption(option: string, path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`--${option}: ${JSON.stringify(path)} is not ${what} (${(e as Error).message})`);
  }
}

function positive(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!Number.isFinite(v) || v <= 0)
    throw new UsageError(`--${name}: ${JSON.stringify(text)} must be a number > 0`);
  return v;
}

function count(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isInteger(v) || v < 1 || v > 100_000)
    throw new UsageError(`--${name}: ${JSON.stringify(text)} must be an integer from 1 to 100000`);
  return v;
}

function loadProfile(arg: string): TrafficProfile {
  if (arg === 'recipe') return RECIPE_PROFILE;
  if (arg === 'diurnal') return diurnalProfile();
  const text = readOption('profile', arg, 'recipe, diurnal or a readable CSV file');
  return parseProfileCsv(basename(arg).replace(/\.csv$/i, ''), text);
}

function main(): void {
  const { values } = parseArgs({
    options: {
      profile: { type: 'string', default: 'recipe' },
      out: { type: 'string', default: 'plan-output' },
      backend: { type: 'string' },
      hpa: { type: 'string' },
      metrics: { type: 'string' },
      capacity: { type: 'string' },
      startup: { type: 'string' },
      slo: { type: 'string' },
      gpus: { type: 'string' },
      'slices-per-gpu': { type: 'string' },
      series: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const backend = values.backend;
  if (backend !== undefined && backend !== 'prometheus-adapter' && backend !== 'keda') {
    throw new UsageError(`--backend: ${JSON.stringify(backend)} must be prometheus-adapter or keda`);
  }
  if (values.hpa !== undefined && values.metrics !== undefined) {
    throw new UsageError("--metrics changes main.ts's GpuHpa; it cannot be combined with --hpa");
  }
  const hpaMetrics = values.metrics === undefined ? undefined : parseMetrics('--metrics', values.metrics);
  const gpus = count('gpus', values.gpus);
  const slicesPerGpu = count('slices-per-gpu', values['slices-per-gpu']);
  // --gpus is main.ts's own option (GPU nodes, one GPU each); with --slices-per-gpu, GpuHpa's
  // maxReplicas follows both as main.ts derives it (every slice but the rollout's surge pod).
  const system = systemPlanInputs({ backend, hpaMetrics, gpus, slicesPerGpu });
  let ours = system.hpa;
  if (values.hpa !== undefined) {
    const text = readOption('hpa', values.hpa, 'a readable manifest file');
    ours = hpaFromManifests(values.hpa, text);
  }
  let capacity: Partial<CapacityModel> = {};
  if (values.capacity) {
    const text = readOption('capacity', values.capacity, 'a readable JSON file');
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new UsageError(
        `--capacity: ${JSON.stringify(values.capacity)} is not JSON (${(e as Error).message})`,
      );
    }
    capacity = capacityFromFile(json, values.capacity);
  }
  const startupSeconds = positive('startup', values.startup);
  const plan = makePlan({
    ours,
    profile: loadProfile(values.profile),
    capacity: { cpuRequestMilli: system.cpuRequestMilli, ...capacity },
    startup: startupSeconds === undefined ? undefined : { startupSeconds },
    pipeline: system.pipeline,
    sloSeconds: positive('slo', values.slo),
    topology: system.topology,
  });
  const files: Record<string, string> = { ...plan.files };
  if (values.series) {
    const prefix = Object.keys(plan.files)[0].replace(/-plan\.svg$/, '');
    files[`${prefix}-series.csv`] = seriesCsv(plan.ours);
    files[`${prefix}-series-recipe-hpa.csv`] = seriesCsv(plan.recipe);
  }
  mkdirSync(values.out, { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(values.out, name), content);
  const table = Object.entries(files).find(([name]) => name.endsWith('-summary.md'));
  process.stdout.write(
    `${table?.[1] ?? ''}\nwrote ${Object.keys(files)
      .map((f) => join(values.out, f))
      .join(', ')}\n`,
  );
}

try {
  main();
} catch (e) {
  // Bad arguments or inputs: a message and status 2. Anything else is a bug: let it throw.
  const known =
    e instanceof UsageError ||
    String((e as { code?: unknown }).code ?? '').startsWith('ERR_PARSE_ARGS') ||
    (e instanceof Error && INPUT_ERRORS.includes(e.name));
  process.stderr.write(`plan: ${(e as Error).message}\n${e instanceof UsageError ? USAGE + '\n' : ''}`);
  if (!known) throw e;
  process.exitCode = 2;
}
