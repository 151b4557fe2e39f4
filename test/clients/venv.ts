/**
 * The virtual environments of the pinned Python requirements files in test/clients/, as
 * test/clients/venv.sh (requirements.txt) and test/clients/perf-analyzer.sh
 * (perf-analyzer-requirements.txt) create them: `$CDK8S_GPU_INFERENCE_CACHE` (else
 * `~/.cache/cdk8s-gpu-inference`) `/<prefix>-<the first 16 hex digits of the file's sha256>`.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const REQUIREMENTS_FILE = join(import.meta.dirname, 'requirements.txt');

/** The directory a script of test/clients/ installs `requirementsFile` into. */
export function cachedEnv(requirementsFile: string, prefix: string): string {
  const cache =
    process.env.CDK8S_GPU_INFERENCE_CACHE ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'cdk8s-gpu-inference');
  const hash = createHash('sha256').update(readFileSync(requirementsFile)).digest('hex').slice(0, 16);
  return join(cache, `${prefix}-${hash}`);
}

export const clientVenv = (): string => cachedEnv(REQUIREMENTS_FILE, 'venv');

/** The venv's interpreter. */
export const clientPython = (): string => join(clientVenv(), 'bin', 'python');
