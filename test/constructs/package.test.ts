import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { repoRoot, scratch } from './helpers.ts';

const rootPackage = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8'));

/** What a consumer's chart builds from the package root, in either module system. */
const CHART_BODY = `
    new NvidiaDevicePlugin(this, 'gpus', { timeSlicingReplicas: 4 });
    const service = new GpuInferenceService(this, 'svc', { namespace: 'ml' });
    new GpuHpa(this, 'hpa', {
      target: service,
      prometheusUrl: 'http://prometheus.monitoring.svc:9090',
      gpuSlices: 4,
      maxReplicas: 3,
      backend: 'prometheus-adapter',
      metrics: [HpaMetric.cpuUtilization(60), HpaMetric.inflightRequests(4)],
    });
    if (SERVER_PORT !== 8080) throw new Error('contract not exported');
`;

/** A consumer's cdk8s app, plain ESM JavaScript, importing from the package root only. */
const ESM_APP = `
import { App, Chart } from 'cdk8s';
import { GpuHpa, GpuInferenceService, HpaMetric, NvidiaDevicePlugin, SERVER_PORT } from 'cdk8s-gpu-inference';

class Consumer extends Chart {
  constructor(scope, id) {
    super(scope, id);
${CHART_BODY}
  }
}
const app = new App({ outdir: 'out' });
new Consumer(app, 'consumer');
app.synth();
`;

/**
 * The main.ts of \`cdk8s init typescript-app\` (node_modules/cdk8s-cli/templates/typescript-app),
 * with the library's constructs in its chart. Compiled with the template's own tsconfig.json
 * (module CommonJS, no skipLibCheck), the imports become require() calls, which load this ESM
 * package through Node's require(esm) (unflagged from Node 20.19 and 22.12; engines says >=20.19).
 */
const CJS_APP = `
import { Construct } from 'constructs';
import { App, Chart, ChartProps } from 'cdk8s';
import { GpuHpa, GpuInferenceService, HpaMetric, NvidiaDevicePlugin, SERVER_PORT } from 'cdk8s-gpu-inference';

export class MyChart extends Chart {
  constructor(scope: Construct, id: string, props: ChartProps = { }) {
    super(scope, id, props);
${CHART_BODY}
  }
}

const app = new App({ outdir: 'out' });
new MyChart(app, 'consumer');
app.synth();
`;

const TEMPLATE = join(repoRoot, 'node_modules', 'cdk8s-cli', 'templates', 'typescript-app');

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

/** A consumer directory with the packed tarball and the peer dependencies installed. */
function consumer(name: string, tarball: string, moduleType: 'module' | 'commonjs'): string {
  const dir = scratch(name);
  copyFileSync(tarball, join(dir, 'package.tgz'));
  const dev = rootPackage.devDependencies;
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({
      name: 'consumer',
      private: true,
      // cdk8s init's package.json has no "type": CommonJS.
      ...(moduleType === 'module' ? { type: 'module' } : {}),
      dependencies: {
        'cdk8s-gpu-inference': 'file:./package.tgz',
        cdk8s: dev.cdk8s,
        'cdk8s-plus-27': dev['cdk8s-plus-27'],
        constructs: dev.constructs,
      },
    }),
  );
  execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], {
    cwd: dir,
    stdio: 'pipe',
  });
  return dir;
}

/** The objects the consumer app wrote, checked to be the library's. */
function expectSynthesized(dir: string): void {
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
}

describe('the published package', () => {
  let tarball = '';
  let files: string[] = [];

  beforeAll(() => {
    const dir = scratch('pack');
    // prepack builds lib/ first.
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: repoRoot, encoding: 'utf8' }),
    )[0];
    tarball = join(dir, packed.filename);
    files = packed.files.map((f: { path: string }) => f.path);
  }, 240_000);

  it('packs the compiled library, its docs and nothing of the repository else', () => {
    expect(files).toContain('lib/constructs/index.js');
    expect(files).toContain('lib/imports/servicemonitor-monitoring.coreos.com.js');
    expect(files).toEqual(expect.arrayContaining(['README.md', 'API.md', 'constructs/README.md', 'LICENSE']));
    expect(
      files.filter(
        (f) => /^(test|server|provision|dist)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')),
      ),
    ).toEqual([]);
  });

  it("packs every file the packed Markdown files' relative links point to", () => {
    expect(files.filter((f) => f.endsWith('.md')).length).toBeGreaterThan(2);
    expect(brokenLinks(files)).toEqual([]);
  });

  it('installs into a separate ESM cdk8s app and synthesizes', () => {
    const dir = consumer('consumer-esm', tarball, 'module');
    writeFileSync(join(dir, 'app.mjs'), ESM_APP);
    execFileSync(process.execPath, ['app.mjs'], { cwd: dir, stdio: 'pipe' });
    expectSynthesized(dir);
  }, 240_000);

  it('installs into a CommonJS TypeScript app as `cdk8s init typescript-app` makes it, and synthesizes', () => {
    const dir = consumer('consumer-cjs', tarball, 'commonjs');
    const tsconfig = JSON.parse(readFileSync(join(TEMPLATE, 'tsconfig.json'), 'utf8'));
    expect(tsconfig.compilerOptions.module).toBe('CommonJS');
    copyFileSync(join(TEMPLATE, 'tsconfig.json'), join(dir, 'tsconfig.json'));
    mkdirSync(join(dir, 'out'));
    writeFileSync(join(dir, 'main.ts'), CJS_APP);
    // The template's `compile` script (tsc --build), with this repository's pinned TypeScript 5.9
    // (the template pins 5.9.x).
    execFileSync(join(repoRoot, 'node_modules', '.bin', 'tsc'), ['--build'], { cwd: dir, stdio: 'pipe' });
    const compiled = readFileSync(join(dir, 'main.js'), 'utf8');
    expect(compiled).toContain('require("cdk8s-gpu-inference")');
    execFileSync(process.execPath, ['main.js'], { cwd: dir, stdio: 'pipe' });
    expectSynthesized(dir);
  }, 240_000);
});

describe("the package's metadata and API", () => {
  it('carries the keywords npm search finds cdk8s libraries by', () => {
    expect(rootPackage.keywords).toEqual(expect.arrayContaining(['cdk8s', 'kubernetes', 'gpu', 'inference']));
  });

  // No repository, homepage or bugs URL: no public repository is recorded, and a guessed one would
  // send users to someone else's project.
  it('names no guessed repository URL', () => {
    expect(rootPackage).not.toHaveProperty('repository');
    expect(rootPackage).not.toHaveProperty('homepage');
  });

  it("exports none of the tests' PromQL helpers (test/constructs/promql-helpers.ts)", async () => {
    const api = await import('../../constructs/index.ts');
    const testOnly = ['renderAdapterQuery', 'substituteGrafanaVariables'];
    expect(Object.keys(api).filter((name) => testOnly.includes(name))).toEqual([]);
  });
});
