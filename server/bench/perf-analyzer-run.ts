/**
 * Triton's perf_analyzer as a second load generator for the peer table: the servers that have the
 * model configuration and statistics extensions (ours and PyTriton's tritonserver), over REST and
 * gRPC, at a fixed concurrency in short time windows. The binary and its environment are those of
 * test/clients/perf-analyzer.sh (one install, one cache: test/clients/perf-analyzer.ts).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { perfAnalyzerBinary, perfAnalyzerEnv } from '../../test/clients/perf-analyzer.ts';

export type Protocol = 'http' | 'grpc';

export interface PerfAnalyzerResult {
  readonly inferPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Requests perf_analyzer counted in its last (reported) window set. */
  readonly requests: number;
}

export interface PerfAnalyzerOptions {
  readonly concurrency: number;
  /** Length of one measurement window (perf_analyzer -p). */
  readonly windowMs: number;
  /** Where its CSV goes. */
  readonly dir: string;
}

/** Why it cannot run here, naming what installs it; undefined when it can. */
export function perfAnalyzerMissing(): string | undefined {
  try {
    if (existsSync(join(perfAnalyzerBinary(), '..', '..', '.complete'))) return undefined;
  } catch {
    // the requirements file's hash names the directory: unreadable means not installed
  }
  return "needs test/clients/perf-analyzer.sh (installs tritonclient 2.51.0's perf_analyzer; libb64-0d)";
}

/**
 * One perf_analyzer run against `address` (host:port of the protocol's endpoint). Windows are
 * accepted whatever their spread (--stability-percentage 1000): on a shared 2-core machine
 * throughput moves by half between windows, and perf_analyzer would otherwise retry up to its
 * trial limit; it reports the average of its last 3 windows.
 */
export async function perfAnalyzer(
  model: string,
  protocol: Protocol,
  address: string,
  opts: PerfAnalyzerOptions,
): Promise<PerfAnalyzerResult> {
  const csv = join(opts.dir, `perf-analyzer-${protocol}-${model}-${Date.now()}.csv`);
  const args = ['-m', model, '-u', address, '-i', protocol, '--concurrency-range', String(opts.concurrency)];
  args.push('-p', String(opts.windowMs), '--stability-percentage', '1000', '--max-trials', '3', '-f', csv);
  const { stdout } = await promisify(execFile)(perfAnalyzerBinary(), args, {
    env: perfAnalyzerEnv(),
    timeout: 20 * opts.windowMs + 60_000,
    maxBuffer: 16 << 20,
  });
  const [header, row] = readFileSync(csv, 'utf8').trim().split('\n');
  const cells = row!.split(',');
  const field = (name: string) => Number(cells[header!.split(',').indexOf(name)]);
  return {
    inferPerSecond: field('Inferences/Second'),
    p50Ms: field('p50 latency') / 1000,
    p99Ms: field('p99 latency') / 1000,
    requests: Number(/Request count: (\d+)/.exec(stdout)?.[1] ?? NaN),
  };
}
