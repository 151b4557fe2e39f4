/**
 * Before any test: the tools the files of this run need (test/preflight.ts). A missing one stops
 * the run within seconds, naming it, its Debian package and the install command; as a non-root
 * user, one line says which tests need root and are skipped.
 */
import { relative } from 'node:path';
import type { TestProject } from 'vitest/node';
import {
  COMPONENT_REQUIREMENTS,
  missing,
  missingMessage,
  ROOT_ONLY_TESTS,
  unbuiltComponents,
} from './preflight.ts';

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
  if (files.some((f) => COMPONENT_REQUIREMENTS.some((r) => (isRoot || !r.rootOnly) && r.files.test(f)))) {
    // Imported only then: cluster/build.ts asks `go` for its version, and most runs need no Go.
    const { COMPONENTS } = await import('../cluster/components.ts');
    const { verify } = await import('../cluster/build.ts');
    const all = Object.keys(COMPONENTS);
    problems.push(
      ...unbuiltComponents(files, {
        root: isRoot,
        all,
        verify: (name) => verify(COMPONENTS[name as keyof typeof COMPONENTS]),
      }),
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
