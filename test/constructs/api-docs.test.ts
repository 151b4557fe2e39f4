import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, scratch } from './helpers.ts';

describe('API.md', () => {
  it('is what TypeDoc generates from the TSDoc now (npm run docs regenerates it)', () => {
    const out = scratch('api-docs');
    execFileSync(join(repoRoot, 'node_modules', '.bin', 'typedoc'), ['--out', out], {
      cwd: repoRoot,
      stdio: 'pipe',
    });
    const fresh = readFileSync(join(out, 'API.md'), 'utf8');
    const committed = readFileSync(join(repoRoot, 'API.md'), 'utf8');
    // Not toEqual on 100 kB strings: name the first line that differs.
    const a = committed.split('\n');
    const b = fresh.split('\n');
    const differs = a.findIndex((l, i) => l !== b[i]);
    const line = differs === -1 && a.length !== b.length ? Math.min(a.length, b.length) : differs;
    expect(line === -1 ? 'current' : `stale from line ${line + 1}: run npm run docs`).toBe('current');
    // The reference covers the constructs and their props.
    for (const name of ['GpuHpa', 'GpuHpaProps', 'NvidiaDevicePlugin', 'GpuInferenceService'])
      expect(fresh).toContain(`### ${name}\n`);
  }, 120_000);
});
