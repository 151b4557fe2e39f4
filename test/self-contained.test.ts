/**
 * A fresh clone has nothing beside it: no tracked file may read `../shared` (the reference folder
 * that sat beside the working copy) or any other path outside the repository. Upstream files the
 * tests and tools read live in third_party/ with their sources (third_party/README.md).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

/** Tracked text files whose paths could be read or linked: sources, scripts, configs, docs. */
function trackedFiles(): string[] {
  return (
    execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' })
      .split('\0')
      .filter((f) => /\.(ts|mts|mjs|js|json|ya?ml|md|sh|toml|txt)$|^\.ci\/run$|^\.npmrc$/.test(f))
      // third_party/ holds upstream text as it was published; this file holds the patterns as examples.
      .filter(
        (f) =>
          !f.startsWith('third_party/') && f !== 'package-lock.json' && f !== 'test/self-contained.test.ts',
      )
      .filter((f) => existsSync(join(root, f)))
  );
}

const outside = (abs: string) => {
  const rel = relative(root, abs);
  return rel === '..' || rel.startsWith(`..${sep}`) || resolve(abs) !== abs;
};

/**
 * Every place in `text` (the file `file`, relative to the root) that names a path outside the
 * repository: the reference folder by name, relative literals and markdown links that climb above
 * the root from the file's folder, and `join(import.meta.dirname, '..', ...)` chains that do.
 */
export function readsOutside(file: string, text: string): string[] {
  const found: string[] = [];
  const dir = join(root, dirname(file));
  for (const m of text.matchAll(/\.\.\/shared\b|\/work\/shared\b|'\.\.',\s*'shared'|\$PWD\/\.\.\//g)) {
    found.push(m[0]);
  }
  // '../x', "../../x", `../x` and markdown (../x) links, resolved from the file's folder; shell
  // scripts and package.json scripts run from the root, which is the folder of both.
  for (const m of text.matchAll(/(?<=['"`(<\s]|^)((?:\.\.\/)+[\w.@/-]*)/gm)) {
    if (outside(resolve(dir, m[1]))) found.push(m[1]);
  }
  for (const m of text.matchAll(
    /(?:join|resolve)\(\s*(?:import\.meta\.dirname|dirname\(fileURLToPath\(import\.meta\.url\)\))((?:\s*,\s*'[^']*')+)\s*\)/g,
  )) {
    const parts = [...m[1].matchAll(/'([^']*)'/g)].map((p) => p[1]);
    if (outside(resolve(dir, ...parts))) found.push(m[0]);
  }
  return found;
}

describe('the repository is self-contained', () => {
  it('no tracked file refers to ../shared or reads a path outside the repository', () => {
    const files = trackedFiles();
    expect(files.length).toBeGreaterThan(100);
    const offenders = files.flatMap((f) =>
      readsOutside(f, readFileSync(join(root, f), 'utf8')).map((hit) => `${f}: ${hit}`),
    );
    expect(offenders).toEqual([]);
  });

  it('the check finds each kind of reference it looks for', () => {
    expect(readsOutside('test/x.test.ts', "join(repoRoot, '..', 'shared', 'oip')")).not.toEqual([]);
    expect(readsOutside('test/planner/x.ts', "new URL('../../../shared/hpa/', import.meta.url)")).not.toEqual(
      [],
    );
    expect(readsOutside('test/x.ts', "join(import.meta.dirname, '..', '..', 'crds')")).not.toEqual([]);
    expect(readsOutside('README.md', 'see [the CRDs](../crds/SOURCE.md)')).not.toEqual([]);
    expect(readsOutside('package.json', '"x": "cat $PWD/../crds/a.yaml"')).not.toEqual([]);
    // Inside the repository: no finding.
    expect(readsOutside('test/x.test.ts', "join(import.meta.dirname, '..', 'third_party')")).toEqual([]);
    expect(readsOutside('test/planner/x.ts', "import { a } from '../../planner/a.ts';")).toEqual([]);
    expect(readsOutside('planner/README.md', '[the README](../README.md)')).toEqual([]);
  });

  it('the third_party folders the tests read are present, each with its source note', () => {
    for (const dir of ['crds', 'oip', 'hpa-conformance']) {
      expect(existsSync(join(root, 'third_party', dir, 'SOURCE.md')), dir).toBe(true);
    }
  });
});
