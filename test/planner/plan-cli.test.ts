import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'planner-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function plan(args: string[]): { status: number; stdout: string; stderr: string } {
  try {
    const stdout = execFileSync('npm', ['run', '--silent', 'plan', '--', ...args], {
      cwd: root,
      encoding: 'utf8',
      stdio: 'pipe',
    });
    return { status: 0, stdout, stderr: '' };
  } catch (e) {
    const err = e as { status: number; stdout: string; stderr: string };
    return { status: err.status, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('npm run plan', () => {
  it('simulates main.ts GpuHpa and the recipe HPA on a CSV profile and writes charts and summaries', () => {
    const csv = join(dir, 'burst.csv');
    writeFileSync(csv, 'time,rps\n0,50\n299,50\n300,800\n1199,800\n1200,50\n1800,50\n');
    const out = join(dir, 'out');
    const r = plan(['--profile', csv, '--out', out, '--series']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(
      '| burst profile, 1 GPU x 6 slices, SLO p95 <= 100 ms | recipe HPA (CPU 60 %) | GpuHpa',
    );
    const svg = readFileSync(join(out, 'burst-plan.svg'), 'utf8');
    expect(svg.startsWith('<?xml')).toBe(true);
    expect(svg).toContain('<svg xmlns="http://www.w3.org/2000/svg"');
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toMatch(/class="ready"/);
    const summary = JSON.parse(readFileSync(join(out, 'burst-summary.json'), 'utf8'));
    expect(summary.ours.profile).toBe('burst');
    expect(summary.ours.durationSeconds).toBe(1801);
    expect(summary.ours.offeredRequests).toBe(summary.recipe.offeredRequests);
    // main.ts's GpuHpa: min 1, max 10, three metrics; the burst needs more than one pod.
    expect(summary.ours.maxPods).toBeGreaterThan(1);
    expect(summary.ours.maxPods).toBeLessThanOrEqual(10);
    expect(readFileSync(join(out, 'burst-plan-recipe-hpa.svg'), 'utf8')).toContain('recipe HPA (CPU 60 %)');
    const rows = readFileSync(join(out, 'burst-series.csv'), 'utf8').trim().split('\n');
    expect(rows[0].split(',').slice(0, 3)).toEqual(['t', 'offered', 'served']);
    expect(rows).toHaveLength(1 + 1801);
    // Row for t = 300: the step to 800 req/s is offered.
    expect(rows[301].split(',').slice(0, 2)).toEqual(['300', '800']);
  });

  it('exits 2 naming the line and value of a non-numeric data row in a CSV profile', () => {
    const csv = join(dir, 'typo.csv');
    writeFileSync(csv, 'time,rps\n0,abc\n60,50\n');
    const r = plan(['--profile', csv, '--out', join(dir, 'typo-out')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('plan: typo line 2: rps "abc" must be a number >= 0\n');
    expect(r.stdout).toBe('');
  });

  it('rejects a bad option value naming it', () => {
    const r = plan(['--profile', join(dir, 'missing.csv'), '--out', dir]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--profile: ');
    expect(r.stderr).toContain('is not recipe, diurnal or a readable CSV file');
    const slo = plan(['--slo=-1', '--out', dir]);
    expect(slo.status).toBe(2);
    expect(slo.stderr).toContain('--slo: "-1" must be a number > 0');
    const unknown = plan(['--bogus']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("Unknown option '--bogus'");
    const kind = plan(['--metrics', 'inflight=8,tokens=3', '--out', dir]);
    expect(kind.status).toBe(2);
    expect(kind.stderr).toContain(
      '--metrics: "tokens=3" must be kind=target with kind one of cpu, gpu, inflight, queueTime',
    );
    const gpus = plan(['--gpus', '0', '--out', dir]);
    expect(gpus.status).toBe(2);
    expect(gpus.stderr).toContain('--gpus: "0" must be an integer from 1 to 100000');
    const slices = plan(['--slices-per-gpu', '1.5', '--out', dir]);
    expect(slices.status).toBe(2);
    expect(slices.stderr).toContain('--slices-per-gpu: "1.5" must be an integer from 1 to 100000');
    // One GPU, one slice: nothing left beside the rollout's surge pod.
    const none = plan(['--gpus', '1', '--slices-per-gpu', '1', '--out', dir]);
    expect(none.status).toBe(2);
    expect(none.stderr).toContain(
      "slicesPerGpu: 1 on 1 GPU(s) leaves no slice beside the rollout's surge pod",
    );
    // Targets are checked by GpuHpa itself.
    const target = plan(['--metrics', 'inflight=0', '--out', dir]);
    expect(target.status).toBe(2);
    expect(target.stderr).toContain('metrics[0].target (requests per pod) must be a number greater than 0');
  });

  it('simulates main.ts with other GpuHpa metrics (--metrics), named in the table', () => {
    const csv = join(dir, 'step.csv');
    writeFileSync(csv, 'time,rps\n0,50\n119,50\n120,600\n600,600\n');
    const out = join(dir, 'metrics');
    const r = plan(['--profile', csv, '--out', out, '--metrics', 'inflight=8,queueTime=0.02']);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(
      '| GpuHpa inference (main.ts, prometheus-adapter, inflight=8,queueTime=0.02) |',
    );
    const summary = JSON.parse(readFileSync(join(out, 'step-summary.json'), 'utf8'));
    expect(summary.ours.hpa).toBe(
      'GpuHpa inference (main.ts, prometheus-adapter, inflight=8,queueTime=0.02)',
    );
    // 600 req/s needs more than one pod whatever the signal.
    expect(summary.ours.maxPods).toBeGreaterThan(1);
  });
});
