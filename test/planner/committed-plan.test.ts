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

function plan(profile: string): string {
  const out = join(dir, profile);
  execFileSync(
    join(root, 'node_modules/.bin/tsx'),
    ['planner/cli/plan.ts', '--profile', profile, '--out', out],
    {
      cwd: root,
      stdio: 'pipe',
    },
  );
  return out;
}

const readme = readFileSync(join(plannerDir, 'README.md'), 'utf8');
const stale = 'stale: run `npm run plan -- --profile recipe --out planner` and update planner/README.md';

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

  it("every row of the README's diurnal table is what npm run plan --profile diurnal prints", () => {
    const table = readFileSync(join(plan('diurnal'), 'diurnal-summary.md'), 'utf8').split('\n');
    const lines = readme.split('\n');
    const start = lines.findIndex((l) => l.startsWith('| diurnal profile'));
    expect(start).toBeGreaterThanOrEqual(0);
    const end = lines.findIndex((l, i) => i > start && !l.startsWith('|'));
    const readmeRows = lines.slice(start, end);
    expect(readmeRows.length, 'rows of the README diurnal table').toBeGreaterThan(5);
    for (const row of readmeRows) expect(table, `README diurnal row ${row} is stale`).toContain(row);
  });
});
