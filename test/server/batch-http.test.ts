import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/server.ts';
import {
  bundledModels,
  fp32Request,
  post,
  removeDir,
  request,
  startTestServer,
  tempRepository,
  writeFile,
} from './helpers.ts';

/** Copies of the bundled MLP under other names, each with its own dynamic_batching config. */
function batchingRepository(configs: Record<string, object>): string {
  const dir = tempRepository();
  const model = readFileSync(join(bundledModels, 'mlp', '1', 'model.onnx'));
  for (const [name, config] of Object.entries(configs)) {
    writeFile(join(dir, name, '1', 'model.onnx'), model);
    writeFile(join(dir, name, 'config.json'), JSON.stringify(config));
  }
  return dir;
}

function metric(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

const input = (i: number) => Array.from({ length: 16 }, (_, k) => Math.sin(i * 16 + k));

describe('dynamic batching over HTTP', () => {
  let server: RunningServer;
  let repo: string;
  let session: ort.InferenceSession;
  const infer = (model: string) => `${server.url}/v2/models/${model}/infer`;

  beforeAll(async () => {
    repo = batchingRepository({
      // Waits up to 5 s for 8 rows, and goes as soon as they are there: 8 concurrent requests, one batch.
      batched: {
        max_batch_size: 8,
        dynamic_batching: {
          max_queue_delay_microseconds: 5_000_000,
          preferred_batch_size: [8],
          max_queue_size: 64,
        },
      },
      // Holds requests for 1.5 s in a queue of 2: the third is refused, a short timeout expires.
      slow: {
        max_batch_size: 8,
        dynamic_batching: { max_queue_delay_microseconds: 1_500_000, max_queue_size: 2 },
      },
    });
    server = await startTestServer(repo);
    session = await ort.InferenceSession.create(join(bundledModels, 'mlp', '1', 'model.onnx'));
  });
  afterAll(async () => {
    await server?.shutdown();
    await session?.release();
    if (repo) removeDir(repo);
  });

  it('answers each of 8 concurrent requests with its own row of one batch of 8', async () => {
    const responses = await Promise.all(
      Array.from({ length: 8 }, (_, i) => post(infer('batched'), fp32Request('input', [1, 16], input(i)))),
    );
    for (const [i, res] of responses.entries()) {
      expect(res.status).toBe(200);
      const alone = await session.run({
        input: new ort.Tensor('float32', Float32Array.from(input(i)), [1, 16]),
      });
      const expected = Array.from(alone.output.data as Float32Array);
      const got = res.body.outputs[0].data as number[];
      expect(got.map((v, k) => Math.abs(v - expected[k])).every((d) => d < 1e-6)).toBe(true);
    }
    const metrics = (await request(`${server.metricsUrl}/metrics`)).body as string;
    const labels = 'model="batched",version="1"';
    expect(metric(metrics, 'inference_batch_size_count', labels)).toBe(1);
    expect(metric(metrics, 'inference_batch_size_sum', labels)).toBe(8);
    expect(metric(metrics, 'inference_queue_duration_seconds_count', labels)).toBe(8);
  });

  it('refuses a request beyond the queue with 503 and Retry-After, times out another, serves the rest', async () => {
    const url = infer('slow');
    const first = post(url, fp32Request('input', [1, 16], input(1)));
    const second = post(url, fp32Request('input', [1, 16], input(2)));
    // Both are queued once the queue-depth gauge says so (no sleep that a slow machine could outlast).
    while (
      metric((await request(`${server.metricsUrl}/metrics`)).body, 'inference_queue_depth', 'model="slow"') <
      2
    ) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const full = await post(url, fp32Request('input', [1, 16], input(3)));
    expect(full.status).toBe(503);
    expect(full.headers.get('retry-after')).toBe('1');
    expect(full.body.error).toBe('inference queue is full (max_queue_size 2); retry later');
    const [a, b] = await Promise.all([first, second]);
    expect([a.status, b.status]).toEqual([200, 200]);

    // parameters.timeout is in microseconds (Triton's name): 50 ms in a queue that holds 1.5 s.
    const timed = await post(url, {
      ...fp32Request('input', [1, 16], input(4)),
      parameters: { timeout: 50_000 },
    });
    expect(timed.status).toBe(503);
    expect(timed.body.error).toBe('request timed out after waiting 50 ms in the inference queue');

    const metrics = (await request(`${server.metricsUrl}/metrics`)).body as string;
    const labels = 'model="slow",version="1"';
    expect(metric(metrics, 'inference_requests_total', `${labels},outcome="rejected"`)).toBe(1);
    expect(metric(metrics, 'inference_requests_total', `${labels},outcome="timeout"`)).toBe(1);
    expect(metric(metrics, 'inference_requests_total', `${labels},outcome="success"`)).toBe(2);
    expect(metric(metrics, 'inference_queue_depth', labels)).toBe(0);
  });

  it('answers 400 for a request larger than max_batch_size', async () => {
    const rows = 9;
    const res = await post(
      infer('batched'),
      fp32Request(
        'input',
        [rows, 16],
        Array.from({ length: rows * 16 }, () => 0.5),
      ),
    );
    expect(res).toMatchObject({
      status: 400,
      body: { error: "input 'input': batch size 9 exceeds the model's max_batch_size 8 (allowed: 1..8)" },
    });
  });
});
