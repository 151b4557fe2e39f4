import { execFileSync, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

const root = join(import.meta.dirname, '..');

/** main.ts run directly, or through the README's `npm run synth` (cdk8s CLI reading cdk8s.yaml's app). */
function synth(via: 'tsx' | 'npm run synth'): Map<string, string> {
  const outdir = mkdtempSync(join(tmpdir(), 'synth-'));
  try {
    if (via === 'tsx')
      execFileSync(join(root, 'node_modules/.bin/tsx'), ['main.ts'], {
        cwd: root,
        env: { ...process.env, CDK8S_OUTDIR: outdir },
      });
    else
      execFileSync('npm', ['run', '--silent', 'synth', '--', '--output', outdir], {
        cwd: root,
        stdio: 'pipe',
      });
    return new Map(readdirSync(outdir).map((f) => [f, readFileSync(join(outdir, f), 'utf8')]));
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

describe('main.ts', () => {
  it('synthesizes twice byte-identically (directly and through `npm run synth`), and matches the committed dist/', () => {
    const first = synth('tsx');
    const second = synth('npm run synth');
    expect(first.size).toBeGreaterThan(0);
    expect([...second.keys()]).toEqual([...first.keys()]);
    for (const [file, text] of first) expect(second.get(file), file).toBe(text);

    const committed = readdirSync(join(root, 'dist')).filter((f) => f.endsWith('.yaml'));
    expect(committed.sort()).toEqual([...first.keys()].sort());
    for (const file of committed) {
      expect(readFileSync(join(root, 'dist', file), 'utf8'), `dist/${file} is stale: run npm run synth`).toBe(
        first.get(file),
      );
    }
  });
});

describe('npm run synth', () => {
  it('prints no warning and no stack trace (cdk8s-cli upgrade check, unknown npm config)', () => {
    const outdir = mkdtempSync(join(tmpdir(), 'synth-'));
    try {
      const run = spawnSync('npm', ['run', '--silent', 'synth', '--', '--output', outdir], {
        cwd: root,
        encoding: 'utf8',
      });
      expect(run.status, run.stderr).toBe(0);
      expect(run.stderr).toBe('');
      expect(run.stdout).not.toMatch(/Error|warn|new version/);
    } finally {
      rmSync(outdir, { recursive: true, force: true });
    }
  });

  it("stops on a type error in main.ts with TypeScript's message naming the property (tsx alone ignores it)", () => {
    // A copy of main.ts beside the real one (its imports are relative), with cdk8s.yaml's app as is.
    const dir = mkdtempSync(join(root, '.synth-typo-'));
    const outdir = join(dir, 'out');
    try {
      const main = readFileSync(join(root, 'main.ts'), 'utf8');
      const line = /^ {4}maxReplicas: options\.maxReplicas \?\? .*$/m;
      expect(main).toMatch(line);
      writeFileSync(
        join(dir, 'main.ts'),
        main.replaceAll("from './constructs/", "from '../constructs/").replace(line, '    maxReplica: 4,'),
      );
      copyFileSync(join(root, 'cdk8s.yaml'), join(dir, 'cdk8s.yaml'));
      const tsconfig = JSON.parse(readFileSync(join(root, 'tsconfig.synth.json'), 'utf8')) as {
        extends: string;
      };
      writeFileSync(
        join(dir, 'tsconfig.synth.json'),
        JSON.stringify({ ...tsconfig, extends: '../' + tsconfig.extends.replace(/^\.\//, '') }),
      );
      const run = spawnSync(
        join(root, 'node_modules/.bin/cdk8s'),
        ['synth', '--no-check-upgrade', '--output', outdir],
        {
          cwd: dir,
          encoding: 'utf8',
        },
      );
      expect(run.status).not.toBe(0);
      expect(run.stderr).toMatch(
        /main\.ts\(\d+,\d+\): error TS\d+: .*'maxReplica' does not exist in type 'GpuHpaProps'/,
      );
      expect(existsSync(outdir) ? readdirSync(outdir) : []).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('dist/', () => {
  it('holds no Namespace in the same file as an object inside it (a server dry run of that file fails: the namespace does not exist yet)', () => {
    const files = readdirSync(join(root, 'dist')).filter((f) => f.endsWith('.yaml'));
    const offending = files.flatMap((file) => {
      const objects = parseAllDocuments(readFileSync(join(root, 'dist', file), 'utf8')).map(
        (d) => d.toJS() as { kind: string; metadata: { name: string; namespace?: string } },
      );
      const namespaces = new Set(objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name));
      return objects
        .filter((o) => o.metadata.namespace !== undefined && namespaces.has(o.metadata.namespace))
        .map((o) => `${file}: ${o.kind} ${o.metadata.namespace}/${o.metadata.name}`);
    });
    expect(offending).toEqual([]);
  });
});
