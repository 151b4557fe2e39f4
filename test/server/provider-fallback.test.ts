import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { cudaProviderMissing } from '../../server/model.ts';
import type { RunningServer } from '../../server/server.ts';
import {
  bundledModels,
  post,
  removeDir,
  repoRoot,
  request,
  startTestServer,
  tempRepository,
  writeFile,
} from './helpers.ts';

// The CPU onnxruntime-node package has no CUDA provider: asking for CUDA always falls back here,
// which is exactly the case of a GPU pod whose CUDA provider cannot load.
const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** mlp on CPU, and the same model as `gpu` asking for ["cuda", "cpu"]. */
async function serve(providerFallback?: 'allow' | 'fail'): Promise<RunningServer> {
  const repo = tempRepository(['mlp']);
  cpSync(join(repo, 'mlp'), join(repo, 'gpu'), { recursive: true });
  writeFile(join(repo, 'gpu', 'config.json'), JSON.stringify({ execution_providers: ['cuda', 'cpu'] }));
  const server = await startTestServer(repo, {
    modelControl: 'explicit',
    loadModels: ['*'],
    ...(providerFallback && { providerFallback }),
  });
  cleanup.push(
    () => removeDir(repo),
    () => server.shutdown().then(() => undefined),
  );
  return server;
}

const fallbackSeries = async (url: string) =>
  ((await request(`${url}/metrics`)).body as string)
    .split('\n')
    .filter((l) => l.startsWith('inference_model_provider_fallback{'))
    .sort();

describe('a model that asked for CUDA and runs on CPU', () => {
  it('is counted in inference_model_provider_fallback with the requested and the actual provider', async () => {
    const server = await serve();
    expect(await fallbackSeries(server.metricsUrl)).toEqual([
      'inference_model_provider_fallback{model="gpu",version="1",requested_provider="cuda",provider="cpu"} 1',
      'inference_model_provider_fallback{model="mlp",version="1",requested_provider="cpu",provider="cpu"} 0',
    ]);
    // It still serves (on CPU), and says so in its metadata.
    expect((await request(`${server.url}/v2/models/gpu`)).body.parameters.execution_provider).toBe('cpu');

    // Unloaded: 0, like inference_model_ready, so that the alert resolves.
    expect((await post(`${server.url}/v2/repository/models/gpu/unload`, {})).status).toBe(200);
    expect(await fallbackSeries(server.metricsUrl)).toContain(
      'inference_model_provider_fallback{model="gpu",version="1",requested_provider="cuda",provider="cpu"} 0',
    );
    // Reloaded: 1 again (the old version's unload zeroes the series the new one shares).
    expect((await post(`${server.url}/v2/repository/models/gpu/load`, {})).status).toBe(200);
    expect((await post(`${server.url}/v2/repository/models/gpu/load`, {})).status).toBe(200);
    expect(await fallbackSeries(server.metricsUrl)).toContain(
      'inference_model_provider_fallback{model="gpu",version="1",requested_provider="cuda",provider="cpu"} 1',
    );
  });

  it('fails to load with providerFallback "fail" (--provider-fallback fail); the other models serve', async () => {
    const server = await serve('fail');
    const index = (await post(`${server.url}/v2/repository/index`, {})).body as {
      name: string;
      state: string;
      reason: string;
    }[];
    const gpu = index.find((r) => r.name === 'gpu')!;
    expect(gpu.state).toBe('UNAVAILABLE');
    expect(gpu.reason).toBe(
      'execution provider cuda is not available and --provider-fallback fail forbids falling back to cpu; the server log has the details',
    );
    expect(index.find((r) => r.name === 'mlp')!.state).toBe('READY');
    expect((await request(`${server.url}/v2/models/gpu/ready`)).status).toBe(503);
    expect(await fallbackSeries(server.metricsUrl)).toEqual([
      'inference_model_provider_fallback{model="mlp",version="1",requested_provider="cpu",provider="cpu"} 0',
    ]);
  });

  it('--provider-fallback takes allow or fail; another value exits 2 naming flag, value and what is allowed', () => {
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'server/main.ts', '--provider-fallback', 'sometimes'],
      { cwd: repoRoot, encoding: 'utf8', timeout: 30_000 },
    );
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('--provider-fallback is "sometimes"; allowed: allow, fail');
    expect(run.stderr).toContain('--provider-fallback F');
  });
});

describe('the CUDA provider libraries, checked before onnxruntime is asked for them', () => {
  it('are named when missing, and found when beside the binding', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ort-bin-'));
    cleanup.push(() => removeDir(dir));
    writeFile(join(dir, 'libonnxruntime_providers_shared.so'), '');
    expect(cudaProviderMissing(dir)).toMatch(/^libonnxruntime_providers_cuda\.so not in /);
    writeFile(join(dir, 'libonnxruntime_providers_cuda.so'), '');
    expect(cudaProviderMissing(dir)).toBeUndefined();
  });

  it.skipIf(cudaProviderMissing() === undefined)(
    'on a CPU machine the bundled models start with one log line of ours and nothing from onnxruntime on stderr',
    async () => {
      const proc = spawn(
        process.execPath,
        ['--import', 'tsx', 'server/main.ts', '--model-repository', bundledModels],
        {
          cwd: repoRoot,
          env: {
            ...process.env,
            LOG_LEVEL: 'info',
            PORT: '0',
            METRICS_PORT: '0',
            GRPC_PORT: '0',
            HOST: '127.0.0.1',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      cleanup.push(() => void (proc.exitCode === null && proc.kill('SIGKILL')));
      let stderr = '';
      proc.stderr!.on('data', (d) => (stderr += String(d)));
      const lines: string[] = [];
      const exited = new Promise<number | null>((resolve) => proc.once('close', resolve));
      await new Promise<void>((resolve, reject) => {
        createInterface({ input: proc.stdout! }).on('line', (line) => {
          lines.push(line);
          if (line.includes('"model repository loaded')) resolve();
        });
        proc.once('exit', (code) => reject(new Error(`server exited with ${code}: ${stderr}`)));
      });
      proc.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(stderr).not.toContain('Failed to load library');
      expect(stderr).toBe('');
      const logs = lines.map((l) => JSON.parse(l) as { msg: string; model?: string; level: number });
      const provider = logs.filter((l) => /execution provider/.test(l.msg));
      expect(provider).toHaveLength(1);
      expect(provider[0]).toMatchObject({
        msg: 'execution provider cuda not installed, falling back to cpu',
        model: 'squeezenet1_1',
        level: 40,
      });
    },
  );
});
