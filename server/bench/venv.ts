/**
 * The virtual environments of the benchmark's peers, as server/bench/venv.sh creates them:
 * `$CDK8S_GPU_INFERENCE_CACHE` (else `~/.cache/cdk8s-gpu-inference`) `/bench-venv-<the first 16 hex
 * digits of the requirements file's sha256>`.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** KServe's ModelServer, PyTriton and onnxruntime: `server/bench/venv.sh`. */
export const BENCH_REQUIREMENTS_FILE = join(import.meta.dirname, 'requirements.txt');
/** TorchServe over Debian's torch: `server/bench/venv.sh torchserve`. */
export const TORCHSERVE_REQUIREMENTS_FILE = join(import.meta.dirname, 'requirements-torchserve.txt');

export function benchVenv(requirements = BENCH_REQUIREMENTS_FILE): string {
  const cache =
    process.env.CDK8S_GPU_INFERENCE_CACHE ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'cdk8s-gpu-inference');
  const hash = createHash('sha256').update(readFileSync(requirements)).digest('hex').slice(0, 16);
  return join(cache, `bench-venv-${hash}`);
}

/** A venv's interpreter. */
export const benchPython = (requirements = BENCH_REQUIREMENTS_FILE): string =>
  join(benchVenv(requirements), 'bin', 'python');

/** Whether venv.sh finished installing it (it marks a venv complete last). */
export const benchVenvReady = (requirements = BENCH_REQUIREMENTS_FILE): boolean =>
  existsSync(join(benchVenv(requirements), '.complete'));
