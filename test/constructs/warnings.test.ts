/**
 * Construct warnings reach the person running synth: recorded as metadata (`warningsOf`) and printed
 * on stderr when the app validates, which `cdk8s synth` does for any app using the library.
 */
import { App, Chart, Testing } from 'cdk8s';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { HpaMetric, NvidiaDevicePlugin, warningsOf } from '../../constructs/index.ts';
import { repoRoot } from './helpers.ts';
import { hpa } from './fixtures.ts';

const WARNING =
  /^warning: test\/Hpa: metrics include gpuUtilization on GPUs time-sliced 3 ways \(gpuTopology\): /;

/** A GpuHpa on GPUs time-sliced 3 ways, scaling on `metrics`. */
function build(app: App, metrics = [HpaMetric.gpuUtilization(70)]): Chart {
  const chart = new Chart(app, 'test');
  const devicePlugin = new NvidiaDevicePlugin(chart, 'Dp', { timeSlicingReplicas: 3 });
  hpa(chart, { gpuSlices: undefined, gpuTopology: { devicePlugin, gpuNodes: 1 }, maxReplicas: 2, metrics });
  return chart;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('addWarning', () => {
  it('prints each warning once on stderr when the app synthesizes, however often it validates', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const app = Testing.app();
    build(app);
    expect(warn).not.toHaveBeenCalled();
    app.synthYaml();
    app.synth();
    expect(warn.mock.calls).toEqual([[expect.stringMatching(WARNING)]]);
    expect(warningsOf(app)).toEqual([expect.stringMatching(/^test\/Hpa: metrics include gpuUtilization/)]);
  });

  it('prints nothing for an app without warnings', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const app = Testing.app();
    build(app, [HpaMetric.inflightRequests(8)]);
    app.synthYaml();
    expect(warningsOf(app)).toEqual([]);
    expect(warn).not.toHaveBeenCalled();
  });

  it("reaches the terminal through the cdk8s CLI from a consumer's own app", () => {
    // A consumer app beside the library (its imports are relative), run by `cdk8s synth`.
    const dir = mkdtempSync(join(repoRoot, '.synth-warning-'));
    try {
      writeFileSync(
        join(dir, 'app.ts'),
        [
          "import { App, Chart } from 'cdk8s';",
          "import { GpuHpa, GpuInferenceService, HpaMetric, NvidiaDevicePlugin } from '../constructs/index.ts';",
          'const app = new App();',
          "const chart = new Chart(app, 'test');",
          "const devicePlugin = new NvidiaDevicePlugin(chart, 'Dp', { timeSlicingReplicas: 3 });",
          "const target = new GpuInferenceService(chart, 'Svc', { namespace: 'ml' });",
          "new GpuHpa(chart, 'Hpa', { target, prometheusUrl: 'http://prometheus:9090', maxReplicas: 2,",
          '  gpuTopology: { devicePlugin, gpuNodes: 1 }, metrics: [HpaMetric.gpuUtilization(70)] });',
          'app.synth();',
          '',
        ].join('\n'),
      );
      writeFileSync(join(dir, 'cdk8s.yaml'), 'language: typescript\napp: npx tsx app.ts\n');
      const run = spawnSync(
        join(repoRoot, 'node_modules/.bin/cdk8s'),
        ['synth', '--no-check-upgrade', '--output', join(dir, 'out')],
        { cwd: dir, encoding: 'utf8' },
      );
      expect(run.status, run.stderr).toBe(0);
      const lines = run.stderr.split('\n').filter((l) => l.startsWith('warning: '));
      expect(lines).toEqual([expect.stringMatching(WARNING)]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
