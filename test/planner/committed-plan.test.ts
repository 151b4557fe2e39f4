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
function plan(profile: string, metrics?: string): string {
  const key = `${profile}:${metrics ?? ''}`;
  let out = runs.get(key);
  if (!out) {
    out = join(dir, String(runs.size));
    const args = ['planner/cli/plan.ts', '--profile', profile, '--out', out];
    if (metrics) args.push('--metrics', metrics);
    execFileSync(join(root, 'node_modules/.bin/tsx'), args, { cwd: root, stdio: 'pipe' });
    runs.set(key, out);
  }
  return out;
}

const readme = readFileSync(join(plannerDir, 'README.md'), 'utf8');
const stale =
  'stale: rerun the npm run plan command shown with it in planner/README.md (the recipe files: --profile recipe --out planner)';

/** The README's comparison tables: header `| <profile> profile, ... | recipe HPA ... | GpuHpa ... (main.ts, <backend>[, <metrics>]) |`. */
function readmeTables(): { profile: string; metrics?: string; rows: string[] }[] {
  const lines = readme.split('\n');
  const tables = [];
  for (let i = 0; i < lines.length; i++) {
    const head = /^\| (\w+) profile, .*\(main\.ts, prometheus-adapter(?:, ([^)]+))?\) \|$/.exec(lines[i]);
    if (!head) continue;
    const end = lines.findIndex((l, j) => j > i && !l.startsWith('|'));
    tables.push({ profile: head[1], metrics: head[2], rows: lines.slice(i, end) });
  }
  return tables;
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
    expect(tables.map((t) => `${t.profile} ${t.metrics ?? 'main.ts'}`)).toEqual([
      'recipe main.ts',
      'diurnal main.ts',
      'recipe cpu=60,gpu=70,inflight=8',
      'diurnal cpu=60,gpu=70,inflight=8',
    ]);
    for (const t of tables.slice(1)) {
      const printed = readFileSync(join(plan(t.profile, t.metrics), `${t.profile}-summary.md`), 'utf8');
      expect(t.rows.length).toBeGreaterThan(5);
      for (const row of t.rows) expect(printed.split('\n'), `README row ${row} is ${stale}`).toContain(row);
    }
  });
});
