import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CapacityModelError,
  batchSeconds,
  capacityFromFile,
  fitBatchTimings,
  podCapacity,
  podLoadState,
  resolveCapacity,
} from '../../planner/sim/capacity.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'planner-capacity-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('capacity model', () => {
  it('fits fixed + perItem * batch to measured batch timings', () => {
    const fit = fitBatchTimings([1, 2, 4, 8].map((batch) => ({ batch, seconds: 0.008 + 0.004 * batch })));
    expect(fit.batchFixedSeconds).toBeCloseTo(0.008, 12);
    expect(fit.batchPerItemSeconds).toBeCloseTo(0.004, 12);
    // A negative intercept is refitted through the origin.
    const origin = fitBatchTimings([
      { batch: 1, seconds: 0.001 },
      { batch: 2, seconds: 0.01 },
    ]);
    expect(origin.batchFixedSeconds).toBe(0);
    expect(origin.batchPerItemSeconds).toBeCloseTo(0.021 / 5, 12);
    expect(() => fitBatchTimings([{ batch: 4, seconds: 0.01 }])).toThrow(CapacityModelError);
    expect(() => fitBatchTimings([{ batch: 0, seconds: 0.01 }])).toThrow('batchTimings[0]');
  });

  it('reads a capacity file with batchTimings, taking the largest batch as max batch size', () => {
    const m = resolveCapacity(
      capacityFromFile(
        {
          source: 'x',
          batchTimings: [1, 16].map((batch) => ({ batch, seconds: 0.01 + 0.001 * batch })),
          cpuRequestMilli: 4000,
        },
        'f',
      ),
    );
    expect(m.maxBatchSize).toBe(16);
    expect(m.cpuRequestMilli).toBe(4000);
    expect(podCapacity(m)).toBeCloseTo(16 / 0.026, 9);
  });

  it('has a GPU busy fraction of rate x batch(1) below saturation and full batches with a backlog', () => {
    const m = resolveCapacity();
    const light = podLoadState(m, 20, 0);
    expect(light.batch).toBe(1);
    expect(light.busy).toBeCloseTo(20 * batchSeconds(m, 1), 12);
    expect(light.p50).toBeLessThanOrEqual(light.p95);
    expect(light.p95).toBeLessThanOrEqual(light.p99);
    // Latency never falls as load rises, across the change from single-request to growing batches.
    let previous = 0;
    for (let rate = 1; rate < podCapacity(m); rate += 0.5) {
      const p95 = podLoadState(m, rate, 0).p95;
      expect(p95).toBeGreaterThanOrEqual(previous);
      previous = p95;
    }
    const backlogged = podLoadState(m, podCapacity(m), 2);
    expect(backlogged.batch).toBe(m.maxBatchSize);
    expect(backlogged.p50).toBeGreaterThan(2);
  });
});

describe('measure-capacity (real onnxruntime-node)', () => {
  it('times a bundled model at each batch size and writes a capacity file the planner reads', () => {
    const out = join(dir, 'mlp.json');
    execFileSync(
      'npx',
      [
        'tsx',
        'planner/cli/measure-capacity.ts',
        '--model',
        'server/models/mlp/1/model.onnx',
        '--batches',
        '1,4',
        '--runs',
        '3',
        '--out',
        out,
      ],
      { cwd: root, encoding: 'utf8', stdio: 'pipe' },
    );
    const file = JSON.parse(readFileSync(out, 'utf8'));
    expect(file.batchTimings.map((t: { batch: number }) => t.batch)).toEqual([1, 4]);
    for (const t of file.batchTimings) expect(t.seconds).toBeGreaterThan(0);
    expect(resolveCapacity(capacityFromFile(file, out)).maxBatchSize).toBe(4);
  });
});
