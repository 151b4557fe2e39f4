/**
 * Triton's perf_analyzer (test/clients/perf-analyzer-requirements.txt) against the server's REST
 * endpoint and its gRPC port, short runs on both bundled models: it reads the model configuration and statistics
 * extensions, sends inferences, exits 0 and reports throughput, client and server side.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/server.ts';
import { bundledModels, removeDir, request, startTestServer } from '../server/helpers.ts';
import { perfAnalyzerBinary, perfAnalyzerEnv } from './perf-analyzer.ts';

let server: RunningServer;
let dir: string;

beforeAll(async () => {
  server = await startTestServer(bundledModels, { grpcPort: 0 });
  dir = mkdtempSync(join(tmpdir(), 'perf-analyzer-'));
});

afterAll(async () => {
  await server?.shutdown();
  if (dir) removeDir(dir);
});

/** One perf_analyzer run; its output and the CSV row it wrote. */
async function perfAnalyzer(
  protocol: 'http' | 'grpc',
  model: string,
  concurrency: number,
  requestsPerWindow: number,
) {
  const csv = join(dir, `${protocol}-${model}.csv`);
  const address = protocol === 'http' ? server.url.replace(/^http:\/\//, '') : server.grpcAddress!;
  const args = ['-m', model, '-u', address, '-i', protocol];
  args.push('--concurrency-range', String(concurrency), '-f', csv);
  // Windows of a fixed request count, accepted whatever their spread: on a shared 2-core machine
  // throughput swings by half between windows, and what is checked here is that the tool works
  // against the server, not a figure (npm run bench measures).
  args.push('--measurement-mode', 'count_windows', '--measurement-request-count', String(requestsPerWindow));
  args.push('--stability-percentage', '1000', '--max-trials', '5');
  const { stdout } = await promisify(execFile)(perfAnalyzerBinary(), args, {
    env: perfAnalyzerEnv(),
    timeout: 90_000,
  });
  const [header, row] = readFileSync(csv, 'utf8').trim().split('\n');
  const fields = Object.fromEntries(header!.split(',').map((h, i) => [h, Number(row!.split(',')[i])]));
  return { stdout, fields };
}

const number = (stdout: string, label: string) => {
  const m = new RegExp(`${label}: ([\\d.]+)`).exec(stdout);
  expect(m, `no "${label}" in:\n${stdout}`).not.toBeNull();
  return Number(m![1]);
};

describe('perf_analyzer against the REST endpoint and the gRPC port', () => {
  for (const [protocol, model, concurrency, requests] of [
    ['http', 'mlp', 2, 200],
    ['http', 'squeezenet1_1', 2, 20],
    ['grpc', 'mlp', 2, 200],
    ['grpc', 'squeezenet1_1', 2, 20],
  ] as const) {
    it(
      `${protocol} ${model}, concurrency ${concurrency}: exits 0, reports throughput and the server's statistics`,
      {
        timeout: 120_000,
      },
      async () => {
        const before = (await request(`${server.url}/v2/models/${model}/stats`)).body.model_stats[0];
        const { stdout, fields } = await perfAnalyzer(protocol, model, concurrency, requests);
        expect(stdout).toContain(`Request concurrency: ${concurrency}`);
        const throughput = number(stdout, 'Throughput');
        expect(throughput).toBeGreaterThan(0);
        expect(fields).toMatchObject({ Concurrency: concurrency, 'Inferences/Second': throughput });
        expect(fields['p99 latency']).toBeGreaterThan(0);
        // The server side comes from the statistics extension (REST) or ModelStatistics (gRPC):
        // counts of the measured windows.
        const serverCount = number(stdout, 'Server: \\n    Inference count');
        expect(serverCount).toBeGreaterThanOrEqual(requests);
        const after = (await request(`${server.url}/v2/models/${model}/stats`)).body.model_stats[0];
        expect(after.inference_count - before.inference_count).toBeGreaterThanOrEqual(serverCount);
        console.log(
          `perf_analyzer ${protocol} ${model} c=${concurrency}: ${throughput} infer/s, p99 ${fields['p99 latency']} us`,
        );
      },
    );
  }
});
