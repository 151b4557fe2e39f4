/**
 * Triton's perf_analyzer as test/clients/perf-analyzer.sh installs it (from
 * test/clients/perf-analyzer-requirements.txt, which says why that version).
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { cachedEnv } from './venv.ts';

export const PERF_ANALYZER_REQUIREMENTS = join(import.meta.dirname, 'perf-analyzer-requirements.txt');

export const perfAnalyzerDir = (): string => cachedEnv(PERF_ANALYZER_REQUIREMENTS, 'perf-analyzer');

export const perfAnalyzerBinary = (): string => join(perfAnalyzerDir(), 'bin', 'perf_analyzer');

/** The environment it runs in: the libcudart.so.12 it links comes from NVIDIA's runtime wheel. */
export function perfAnalyzerEnv(): NodeJS.ProcessEnv {
  const lib = join(perfAnalyzerDir(), 'lib');
  // lib/python3.X/: the venv's Python is Debian's python3, whichever minor version it is.
  const python = readdirSync(lib).find((d) => d.startsWith('python3'));
  const cudart = join(lib, python ?? 'python3', 'site-packages', 'nvidia', 'cuda_runtime', 'lib');
  const inherited = process.env.LD_LIBRARY_PATH;
  return { ...process.env, LD_LIBRARY_PATH: inherited ? `${cudart}:${inherited}` : cudart };
}
