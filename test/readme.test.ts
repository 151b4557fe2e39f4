import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { METRICS, SERVER_IMAGE, SERVER_IMAGE_PATH } from '../constructs/contract.ts';
import { IMAGE_ENV } from '../main.ts';
import { ARCHIVE, ROOT } from '../server/image/build.ts';
import { bundledModels, post, startTestServer } from './server/helpers.ts';

const root = join(import.meta.dirname, '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

describe('README.md', () => {
  it('lists every npm script of package.json in the Development table', () => {
    const scripts = Object.keys(
      (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> })
        .scripts,
    );
    const table = /## Development\n[\s\S]*?\n\n/.exec(readme)?.[0] ?? '';
    const listed = [...table.matchAll(/^\| `npm (?:run (?:--silent )?)?([\w:-]+)/gm)].map((m) => m[1]);
    expect(scripts.filter((s) => !listed.includes(s))).toEqual([]);
  });

  it('deploys in four commands that name what npm run image builds and what synth reads', () => {
    const section = /## Deploy\n[\s\S]*?\n## /.exec(readme)?.[0] ?? '';
    const commands = (/```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '').trim().split('\n');
    expect(commands.map((c) => c.split('#')[0]!.trim().split(' ')[0])).toEqual([
      'sudo',
      'skopeo',
      `${IMAGE_ENV.registry}=registry.example.com`,
      'kubectl',
    ]);
    const archive = ARCHIVE.slice(ROOT.length + 1);
    expect(commands[0]).toContain(`named ${SERVER_IMAGE}`);
    expect(commands[1]).toContain(
      `oci-archive:${archive} docker://registry.example.com/${SERVER_IMAGE_PATH}`,
    );
    expect(commands[2]).toContain(`dist/ names registry.example.com/${SERVER_IMAGE_PATH}`);
    expect(section).toContain('`ctr -n k8s.io images import server.oci.tar`');
    expect(section).toContain(`\`${IMAGE_ENV.image}\``);
  });

  it('links by a relative path only files the npm tarball ships (package.json files)', () => {
    // The README is the package's page on npm; test/constructs/package.test.ts checks the packed list.
    const shipped = new Set([
      'README.md',
      'LICENSE',
      ...JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).files,
    ]);
    const relative = [...readme.matchAll(/!?\[[^\]]*\]\(([^)]*)\)/g)]
      .map((m) => m[1])
      .filter((target) => !/^(https?:|#)/.test(target));
    expect(relative.length).toBeGreaterThan(0);
    expect(relative.filter((target) => !shipped.has(target.split('#')[0]))).toEqual([]);
  });

  it("lists exactly the contract's metrics, with their types and labels", () => {
    const rows = [...readme.matchAll(/^\| `(inference_[a-z_]+)` \| (\w+) \| ([^|]+) \|$/gm)].map((m) => [
      m[1],
      m[2],
      m[3].trim(),
    ]);
    const expected = Object.values(METRICS).map((m) => [
      m.name,
      m.type,
      m.labelNames.filter((l) => l !== 'model' && l !== 'version').join(', ') || '-',
    ]);
    expect(rows).toEqual(expected);
  });

  it('construct example synthesizes a KEDA ScaledObject (the default backend) and a PrometheusRule as written', () => {
    const example = /## Construct library[\s\S]*?```ts\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(example, 'the ts example under "## Construct library"').toBeDefined();
    // The example imports the published package; here it runs against the source it is built from.
    const source = example!.replace("from 'cdk8s-gpu-inference'", "from './constructs/index.ts'");
    const file = join(root, `.readme-example-${process.pid}.ts`);
    const outdir = mkdtempSync(join(tmpdir(), 'readme-example-'));
    try {
      writeFileSync(file, source);
      execFileSync(join(root, 'node_modules/.bin/tsx'), [file], {
        cwd: root,
        env: { ...process.env, CDK8S_OUTDIR: outdir },
      });
      const yaml = readdirSync(outdir)
        .map((f) => readFileSync(join(outdir, f), 'utf8'))
        .join('\n');
      expect(yaml).toMatch(/^kind: ScaledObject$/m);
      expect(yaml).toMatch(/^kind: PrometheusRule$/m);
      expect(yaml).toMatch(/^ +query: .*inference_inflight_requests/m);
    } finally {
      rmSync(file, { force: true });
      rmSync(outdir, { recursive: true, force: true });
    }
  });

  it('the inference curl answers 200 from the bundled models `npm run serve` serves', async () => {
    // The README's curl, taken apart: its URL path and its -d body, sent to the same server code.
    const curl = /^curl -s -X POST http:\/\/127\.0\.0\.1:8080(\S+) .*\\\n\s+-d '([^']+)'$/m.exec(readme);
    expect(curl, 'the curl under "## Inference server"').not.toBeNull();
    const server = await startTestServer(bundledModels);
    try {
      const res = await post(server.url + curl![1], JSON.parse(curl![2]));
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.outputs[0]).toMatchObject({ name: 'output', datatype: 'FP32', shape: [1, 4] });
    } finally {
      await server.shutdown();
    }
  });
});
