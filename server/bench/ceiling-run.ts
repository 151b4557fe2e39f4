/**
 * Runs server/bench/ceiling.ts (in-process onnxruntime, no HTTP) in a fresh process and returns
 * its samples/s per batch size: shared by bench.ts's ceiling table and peers.ts's ceiling rows.
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { children } from './processes.ts';

const HERE = dirname(fileURLToPath(import.meta.url));

export interface CeilingConfig {
  readonly label: string;
  /** onnxruntime intra-op threads; 0: onnxruntime's own choice. */
  readonly intra: number;
  readonly spinning: boolean;
}
export interface CeilingRow {
  readonly batch: number;
  readonly samplesPerSecond: number;
  /** The process's CPU (all its threads, spinning included) per sample. */
  readonly cpuMsPerSample: number;
}

export async function runCeiling(
  modelFile: string,
  config: CeilingConfig,
  secondsPerBatch: number,
  batches: readonly number[],
): Promise<CeilingRow[]> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(HERE, 'ceiling.ts'),
      modelFile,
      String(config.intra),
      String(secondsPerBatch),
      ...batches.map(String),
    ],
    {
      cwd: dirname(HERE),
      env: { ...process.env, BENCH_ALLOW_SPINNING: config.spinning ? '1' : '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  children.add(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  await new Promise((r) => child.once('exit', r));
  children.delete(child);
  return JSON.parse(out.trim().split('\n').at(-1) ?? '[]');
}
