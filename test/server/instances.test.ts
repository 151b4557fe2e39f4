/**
 * The instance-count rule (server/instances.ts): Triton's instance-group defaults when config.json
 * leaves `instances` out, an explicit count honoured exactly, and what was chosen in the model
 * configuration extension and in the batcher that serves.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamicBatcher } from '../../server/batcher.ts';
import { DEFAULT_MODEL_CONFIG, parseModelConfig } from '../../server/config.ts';
import { availableCpus, processCpus } from '../../server/cpus.ts';
import { CPU_DEFAULT_INSTANCES, planInstances } from '../../server/instances.ts';
import type { RunningServer } from '../../server/server.ts';
import { bundledModels, removeDir, request, startTestServer, tempRepository, writeFile } from './helpers.ts';
import { cpSync, readFileSync } from 'node:fs';

const batching = { ...DEFAULT_MODEL_CONFIG, max_batch_size: 8, dynamic_batching: {} as never };

describe('planInstances', () => {
  it('on CPU with the batcher and no count: 2 instances, the CPUs split between them', () => {
    expect(planInstances(batching, 'cpu', true, 2)).toEqual({
      instances: 2,
      intraOpThreads: 1,
      from: 'default: CPU',
    });
    expect(planInstances(batching, 'cpu', true, 8)).toEqual({
      instances: 2,
      intraOpThreads: 4,
      from: 'default: CPU',
    });
    expect(planInstances(batching, 'cpu', true, 1)).toEqual({
      instances: 1,
      intraOpThreads: 1,
      from: 'default: CPU',
    });
  });

  it('on CUDA: one session per GPU, with every CPU for its threads (the GPU image as before)', () => {
    expect(planInstances(batching, 'cuda', true, 8)).toEqual({
      instances: 1,
      intraOpThreads: 8,
      from: 'default: one per GPU',
    });
  });

  it('sessions on the JS thread (no batcher, or dim 0 not a batch dim): one, with every CPU', () => {
    const direct = { ...DEFAULT_MODEL_CONFIG, max_batch_size: 8 };
    expect(planInstances(direct, 'cpu', true, 4)).toEqual({
      instances: 1,
      intraOpThreads: 4,
      from: 'default: JS thread',
    });
    expect(planInstances(batching, 'cpu', false, 4)).toMatchObject({
      instances: 1,
      from: 'default: JS thread',
    });
  });

  it('an explicit count is taken as written, on either provider; explicit threads too', () => {
    expect(planInstances({ ...batching, instances: 1 }, 'cpu', true, 2)).toEqual({
      instances: 1,
      intraOpThreads: 2,
      from: 'config.json',
    });
    expect(planInstances({ ...batching, instances: 3 }, 'cuda', true, 6)).toEqual({
      instances: 3,
      intraOpThreads: 2,
      from: 'config.json',
    });
    expect(planInstances({ ...batching, intra_op_threads: 3 }, 'cpu', true, 8)).toEqual({
      instances: 2,
      intraOpThreads: 3,
      from: 'default: CPU',
    });
    // Absent stays absent through parsing (the rule decides at load); present is kept.
    expect(parseModelConfig({}, 'c.json', 'm', 4).instances).toBeUndefined();
    expect(parseModelConfig({ instances: 1 }, 'c.json', 'm', 4).instances).toBe(1);
  });

  it("bounds the default by the cgroup's CPU quota, not the host's CPUs", () => {
    const root = mkdtempSync(join(tmpdir(), 'cgroup-'));
    try {
      writeFile(join(root, 'cpu.max'), '100000 100000'); // a 1-CPU pod limit
      expect(planInstances(batching, 'cpu', true, availableCpus(root))).toEqual({
        instances: 1,
        intraOpThreads: 1,
        from: 'default: CPU',
      });
    } finally {
      removeDir(root);
    }
  });
});

describe('what a loaded version runs and reports', () => {
  let server: RunningServer;
  let repo: string;
  const cpus = processCpus();
  const expected = Math.min(CPU_DEFAULT_INSTANCES, cpus);

  beforeAll(async () => {
    repo = tempRepository(['squeezenet1_1', 'mlp']);
    // The bundled squeezenet with its count pinned to 1, as a CPU user who wants the old behaviour.
    const config = JSON.parse(readFileSync(join(bundledModels, 'squeezenet1_1', 'config.json'), 'utf8'));
    writeFile(join(repo, 'pinned', 'config.json'), JSON.stringify({ ...config, instances: 1 }));
    cpSync(join(bundledModels, 'squeezenet1_1', '1'), join(repo, 'pinned', '1'), { recursive: true });
    cpSync(join(bundledModels, 'squeezenet1_1', 'labels.txt'), join(repo, 'pinned', 'labels.txt'));
    server = await startTestServer(repo);
  }, 120_000);

  afterAll(async () => {
    await server?.shutdown();
    removeDir(repo);
  });

  const config = async (model: string) => {
    const res = await request(`${server.url}/v2/models/${model}/config`);
    expect(res.status).toBe(200);
    return res.body as {
      instance_group: { kind: string; count: number }[];
      parameters: Record<string, { string_value: string }>;
    };
  };

  it('the bundled squeezenet on CPU (cuda not installed here) gets the CPU default', async () => {
    const c = await config('squeezenet1_1');
    expect(c.instance_group).toMatchObject([{ kind: 'KIND_CPU', count: expected }]);
    expect(c.parameters.instance_count_from?.string_value).toBe('default: CPU');
    expect(c.parameters.intra_op_thread_count?.string_value).toBe(String(Math.floor(cpus / expected)));
    const scheduler = server.repository.resolve('squeezenet1_1').scheduler;
    expect(scheduler).toBeInstanceOf(DynamicBatcher);
    expect((scheduler as DynamicBatcher).instanceCount).toBe(expected);
    const meta = await request(`${server.url}/v2/models/squeezenet1_1`);
    expect(meta.body.parameters.instances).toBe(expected);
  });

  it('a config.json that names its count gets exactly that', async () => {
    const c = await config('pinned');
    expect(c.instance_group).toMatchObject([{ kind: 'KIND_CPU', count: 1 }]);
    expect(c.parameters.instance_count_from?.string_value).toBe('config.json');
    expect(c.parameters.intra_op_thread_count?.string_value).toBe(String(cpus));
    expect((server.repository.resolve('pinned').scheduler as DynamicBatcher).instanceCount).toBe(1);
    // The bundled MLP pins 1 and runs on the JS thread: unchanged by the rule.
    const mlp = await config('mlp');
    expect(mlp.instance_group).toMatchObject([{ count: 1 }]);
    expect(mlp.parameters.instance_count_from?.string_value).toBe('config.json');
  });
});
