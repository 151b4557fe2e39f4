import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// The plan is deterministic (no clock, no randomness), so the committed charts and the README's
// numbers must be exactly what `npm run plan` writes from today's main.ts and GpuHpa defaults.
const root = fileURLToPath(new URL('../..', import.meta.url));
const plannerDir = join(root, 'planner');
const dir = mkdtempSync(join(tmpdir(), 'planner-committed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const runs = new Map<string, string>();
/** `npm run plan` (its CLI, without npm's start-up) into a scratch folder; returns the folder. */
function plan(profile: string, metrics?: string, topology?: { gpus: string; slices: string }): string {
  const key = `${profile}:${metrics ?? ''}:${topology?.gpus ?? ''}x${topology?.slices ?? ''}`;
  let out = runs.get(key);
  if (!out) {
    out = join(dir, String(runs.size));
    const args = ['planner/cli/plan.ts', '--profile', profile, '--out', out];
    if (metrics) args.push('--metrics', metrics);
    if (topology) args.push('--gpus', topology.gpus, '--slices-per-gpu', topology.slices);
    execFileSync(join(root, 'node_modules/.bin/tsx'), args, { cwd: root, stdio: 'pipe' });
    runs.set(key, out);
  }
  return out;
}

const readme = readFileSync(join(plannerDir, 'README.md'), 'utf8');
const constructsReadme = readFileSync(join(root, 'constructs/README.md'), 'utf8');
const stale =
  'stale: rerun the npm run plan command shown with it in planner/README.md (the recipe files: --profile recipe --out planner)';

/**
 * The README's comparison tables: header `| <profile> profile, <G> GPU(s) x <K> slice(s), ... |
 * recipe HPA ... | GpuHpa ... (main.ts, <backend>[, <metrics>]) |`.
 */
function readmeTables(): {
  profile: string;
  topology: { gpus: string; slices: string };
  metrics?: string;
  rows: string[];
}[] {
  const lines = readme.split('\n');
  const tables = [];
  for (let i = 0; i < lines.length; i++) {
    const head =
      /^\| (\w+) profile, (\d+) GPUs? x (\d+) slices?, .*\(main\.ts, prometheus-adapter(?:, ([^)]+))?\) \|$/.exec(
        lines[i],
      );
    if (!head) continue;
    const end = lines.findIndex((l, j) => j > i && !l.startsWith('|'));
    tables.push({
      profile: head[1],
      topology: { gpus: head[2], slices: head[3] },
      metrics: head[4],
      rows: lines.slice(i, end),
    });
  }
  return tables;
}

interface Summary {
  podSeconds: number;
  secondsOverSlo: number;
  droppedRequests: number;
  offeredRequests: number;
  meanP95Seconds: number | null;
}
function summaries(profile: string, metrics: string | undefined, topology: { gpus: string; slices: string }) {
  const file = join(plan(profile, metrics, topology), `${profile}-summary.json`);
  return JSON.parse(readFileSync(file, 'utf8')) as { ours: Summary; recipe: Summary };
}

describe('committed plan outputs', () => {
  it('planner/recipe-* are what npm run plan writes now, and the README shows that table', () => {
    const out = plan('recipe');
    const written = readdirSync(out).sort();
    expect(written).toEqual(
      readdirSync(plannerDir)
        .filter((f) => f.startsWith('recipe-'))
        .sort(),
    );
    for (const file of written) {
      expect(readFileSync(join(plannerDir, file), 'utf8'), `planner/${file} is ${stale}`).toBe(
        readFileSync(join(out, file), 'utf8'),
      );
    }
    expect(readme, `the README's recipe table is ${stale}`).toContain(
      readFileSync(join(out, 'recipe-summary.md'), 'utf8'),
    );
  });

  it("every row of the README's other tables is what npm run plan prints for that profile and --metrics", () => {
    const tables = readmeTables();
    expect(
      tables.map((t) => `${t.profile} ${t.topology.gpus}x${t.topology.slices} ${t.metrics ?? 'main.ts'}`),
    ).toEqual([
      'recipe 1x6 main.ts',
      'recipe 6x1 main.ts',
      'diurnal 1x6 main.ts',
      'diurnal 6x1 main.ts',
      'recipe 6x1 cpu=60,gpu=70,inflight=8',
      'diurnal 6x1 cpu=60,gpu=70,inflight=8',
    ]);
    for (const t of tables.slice(1)) {
      const printed = readFileSync(
        join(plan(t.profile, t.metrics, t.topology), `${t.profile}-summary.md`),
        'utf8',
      );
      expect(t.rows.length).toBeGreaterThan(5);
      for (const row of t.rows) expect(printed.split('\n'), `README row ${row} is ${stale}`).toContain(row);
    }
  });

  it("constructs/README.md's signals table is what npm run plan gives on the topology it names", () => {
    const lines = constructsReadme.split('\n');
    const at = lines.findIndex((l) => l.startsWith('| signals, '));
    expect(at, 'constructs/README.md has no "| signals, <G> GPU(s) x <K> slice(s) |" table').toBeGreaterThan(
      0,
    );
    const head = /^\| signals, (\d+) GPUs? x (\d+) slices? \|/.exec(lines[at]);
    expect(head, lines[at]).not.toBeNull();
    const topology = { gpus: head![1], slices: head![2] };
    const end = lines.findIndex((l, j) => j > at && !l.startsWith('|'));
    const former = 'cpu=60,gpu=70,inflight=8';
    const row = (label: string, step: Summary, day: Summary) =>
      `| ${label} | ${(step.podSeconds / 3600).toFixed(1)} | ${step.secondsOverSlo} | ${(
        (100 * step.droppedRequests) /
        Math.max(1, step.offeredRequests)
      ).toFixed(
        2,
      )} % | ${step.meanP95Seconds === null ? '-' : (step.meanP95Seconds * 1000).toFixed(1)} ms | ${(
        day.podSeconds / 3600
      ).toFixed(1)} |`;
    const expected = [
      row(
        'recipe HPA: CPU 60 %',
        summaries('recipe', undefined, topology).recipe,
        summaries('diurnal', undefined, topology).recipe,
      ),
      row(
        'former default: CPU 60 %, GPU 70 %, in-flight 8',
        summaries('recipe', former, topology).ours,
        summaries('diurnal', former, topology).ours,
      ),
      row(
        '**default: in-flight 8, queue time 20 ms**',
        summaries('recipe', undefined, topology).ours,
        summaries('diurnal', undefined, topology).ours,
      ),
    ];
    const stale2 = `stale: the planner gives ${expected.join(' / ')}`;
    expect(lines.slice(at + 2, end), `constructs/README.md's signals table is ${stale2}`).toEqual(expected);
  });
});
