/**
 * The virtual environment of server/bench/requirements.txt, as server/bench/venv.sh creates it:
 * `$CDK8S_GPU_INFERENCE_CACHE` (else `~/.cache/cdk8s-gpu-inference`) `/bench-venv-<the first 16 hex
 * digits of the file's sha256>`.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const BENCH_REQUIREMENTS_FILE = join(import.meta.dirname, 'requirements.txt');

export function benchVenv(): string {
  const cache =
    process.env.CDK8S_GPU_INFERENCE_CACHE ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'cdk8s-gpu-inference');
  const hash = createHash('sha256').update(readFileSync(BENCH_REQUIREMENTS_FILE)).digest('hex').slice(0, 16);
  return join(cache, `bench-venv-${hash}`);
}

/** The venv's interpreter. */
export const benchPython = (): string => join(benchVenv(), 'bin', 'python');
