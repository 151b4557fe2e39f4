import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { repoRoot, scratch } from './helpers.ts';

const rootPackage = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));

/** A consumer's cdk8s app, plain ESM JavaScript, importing from the package root only. */
const APP = `
import { App, Chart } from 'cdk8s';
import { GpuHpa, GpuInferenceService, HpaMetric, NvidiaDevicePlugin, SERVER_PORT } from 'cdk8s-gpu-inference';

const app = new App({ outdir: 'out' });
const chart = new Chart(app, 'consumer');
new NvidiaDevicePlugin(chart, 'gpus', { timeSlicingReplicas: 4 });
const service = new GpuInferenceService(chart, 'svc', { namespace: 'ml' });
new GpuHpa(chart, 'hpa', {
  target: service,
  prometheusUrl: 'http://prometheus.monitoring.svc:9090',
  gpuSlices: 4,
  maxReplicas: 3,
  metrics: [HpaMetric.cpuUtilization(60), HpaMetric.inflightRequests(4)],
});
if (SERVER_PORT !== 8080) throw new Error('contract not exported');
app.synth();
`;

/**
 * The relative Markdown links of the packed .md files whose target is not in the tarball (npm shows
 * the README on the package page and ships the files; a link to a file left out is dead there).
 */
function brokenLinks(files: readonly string[]): string[] {
  const packed = new Set(files);
  return files
    .filter((f) => f.endsWith('.md'))
    .flatMap((md) => {
      const text = readFileSync(join(repoRoot, md), 'utf8').replace(/```[\s\S]*?```/g, '');
      return [...text.matchAll(/\]\(([^)\s]+)\)/g)]
        .map((m) => m[1])
        .filter((href) => !/^[a-z]+:/i.test(href) && !href.startsWith('#'))
        .filter((href) => !packed.has(posix.normalize(posix.join(posix.dirname(md), href.split('#')[0]))))
        .map((href) => `${md} -> ${href}`);
    });
}

describe('the published package', () => {
  it('installs from the packed tarball into a separate cdk8s app and synthesizes', () => {
    const dir = scratch('consumer');
    // prepack builds lib/ first.
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: repoRoot, encoding: 'utf8' }),
    )[0];
    const files: string[] = packed.files.map((f: { path: string }) => f.path);
    expect(files).toContain('lib/constructs/index.js');
    expect(files).toEqual(expect.arrayContaining(['README.md', 'API.md', 'constructs/README.md', 'LICENSE']));
    expect(files).toContain('lib/imports/servicemonitor-monitoring.coreos.com.js');
    expect(
      files.filter(
        (f) => /^(test|server|provision|dist)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')),
      ),
    ).toEqual([]);
    expect(brokenLinks(files)).toEqual([]);

    const dev = rootPackage.devDependencies;
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({
        name: 'consumer',
        private: true,
        type: 'module',
        dependencies: {
          'cdk8s-gpu-inference': `file:./${packed.filename}`,
          cdk8s: dev.cdk8s,
          'cdk8s-plus-27': dev['cdk8s-plus-27'],
          constructs: dev.constructs,
        },
      }),
    );
    writeFileSync(join(dir, 'app.mjs'), APP);
    execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], {
      cwd: dir,
      stdio: 'pipe',
    });
    execFileSync(process.execPath, ['app.mjs'], { cwd: dir, stdio: 'pipe' });

    expect(readdirSync(join(dir, 'out'))).toEqual(['consumer.k8s.yaml']);
    const docs = parseAllDocuments(readFileSync(join(dir, 'out', 'consumer.k8s.yaml'), 'utf8')).map((d) =>
      d.toJS(),
    );
    const kinds = docs.map((d) => d.kind);
    expect(kinds).toEqual(
      expect.arrayContaining([
        'DaemonSet',
        'RuntimeClass',
        'Deployment',
        'Service',
        'ServiceMonitor',
        'HorizontalPodAutoscaler',
      ]),
    );
    const hpa = docs.find((d) => d.kind === 'HorizontalPodAutoscaler');
    expect(hpa.spec.metrics.map((m: { type: string }) => m.type)).toEqual(['Resource', 'Pods']);
  }, 240_000);
});

describe("the package's metadata and API", () => {
  it('carries the keywords npm search finds cdk8s libraries by', () => {
    expect(rootPackage.keywords).toEqual(expect.arrayContaining(['cdk8s', 'kubernetes', 'gpu', 'inference']));
  });

  it("exports none of the tests' PromQL helpers (test/constructs/promql-helpers.ts)", async () => {
    const api = await import('../../constructs/index.ts');
    const testOnly = ['renderAdapterQuery', 'substituteGrafanaVariables'];
    expect(Object.keys(api).filter((name) => testOnly.includes(name))).toEqual([]);
  });
});
