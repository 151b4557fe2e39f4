import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

it("imports/ is what cdk8s import generates from cdk8s.yaml's CRDs (npm run import:offline)", () => {
  const out = mkdtempSync(join(tmpdir(), 'imports-'));
  try {
    execFileSync('npm', ['run', '--silent', 'import:offline'], {
      cwd: root,
      env: { ...process.env, IMPORTS_OUT: out },
      stdio: 'pipe',
    });
    const committed = readdirSync(join(root, 'imports')).sort();
    expect(readdirSync(out).sort()).toEqual(committed);
    expect(committed).toHaveLength(4);
    for (const file of committed) {
      expect(readFileSync(join(out, file), 'utf8'), file).toBe(
        readFileSync(join(root, 'imports', file), 'utf8'),
      );
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
