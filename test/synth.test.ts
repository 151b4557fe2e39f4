import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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
