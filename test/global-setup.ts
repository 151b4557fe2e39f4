/**
 * Before any test: the tools the files of this run need (test/preflight.ts). A missing one stops
 * the run within seconds, naming it, its Debian package and the install command; as a non-root
 * user, one line says which tests need root and are skipped.
 */
import { relative } from 'node:path';
import type { TestProject } from 'vitest/node';
import { missing, missingMessage, ROOT_ONLY_TESTS } from './preflight.ts';

const isRoot = process.getuid?.() === 0;

/** The test files of this run: every file, or those the command line's filters name. */
async function filesOfRun(project: TestProject): Promise<string[]> {
  const root = project.config.root;
  const all = (await project.globTestFiles()).testFiles.map((f) => relative(root, f).split('\\').join('/'));
  const args = process.argv
    .slice(2)
    .filter((a) => !a.startsWith('-') && !['run', 'watch', 'related'].includes(a));
  const named = all.filter((f) => args.some((a) => f.includes(a.replace(/^\.\//, ''))));
  return named.length ? named : all;
}

export default async function setup(project: TestProject): Promise<void> {
  const files = await filesOfRun(project);
  const gaps = missing(files, { root: isRoot });
  const problems = gaps.length ? [missingMessage(gaps, files)] : [];
  if (isRoot && files.some((f) => f.startsWith('test/cluster/'))) {
    // The real Kubernetes components the cluster tests run (cluster/build.ts, built with Go 1.26).
    const { COMPONENTS } = await import('../cluster/components.ts');
    const { verify } = await import('../cluster/build.ts');
    const unbuilt = Object.values(COMPONENTS)
      .map((c) => verify(c))
      .filter((p): p is string => p !== undefined);
    if (unbuilt.length)
      problems.push(
        `test/cluster/ needs the components that npm run cluster:build builds with Go 1.26 (about 25 min the first time; .ci/run does it):\n${unbuilt.map((p) => `  - ${p}`).join('\n')}`,
      );
  }
  if (problems.length) {
    // Exit rather than throw: vitest reports a thrown setup error under "No test files found" and a
    // stack trace, which buries the one thing to do.
    console.error(`\n${problems.join('\n\n')}\n`);
    process.exit(1);
  }
  if (!isRoot) console.warn(`Not root: skipping ${ROOT_ONLY_TESTS}.`);
}
