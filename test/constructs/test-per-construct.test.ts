/**
 * One test file per construct, named for it (the cdk8s-plus layout): a construct exported without
 * one fails here, so its tests do not end up in another construct's file or nowhere.
 */
import { Construct } from 'constructs';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as library from '../../constructs/index.ts';

/** GpuInferenceService -> gpu-inference-service */
const kebab = (name: string) => name.replace(/(?<!^)([A-Z])/g, '-$1').toLowerCase();

const constructClasses = Object.entries(library)
  .filter(([, v]) => typeof v === 'function' && v.prototype instanceof Construct)
  .map(([name]) => name)
  .sort();

describe('test layout', () => {
  it('finds the construct classes constructs/index.ts exports', () => {
    expect(constructClasses).toEqual(
      expect.arrayContaining(['GpuHpa', 'GpuInferenceService', 'Monitoring', 'NvidiaDevicePlugin']),
    );
    expect(kebab('GpuInferenceService')).toBe('gpu-inference-service');
  });

  it.each(constructClasses)('%s has its own test file, with a describe named for it', (name) => {
    const file = join(import.meta.dirname, `${kebab(name)}.test.ts`);
    expect(existsSync(file) ? 'present' : `missing: test/constructs/${kebab(name)}.test.ts`).toBe('present');
    expect(readFileSync(file, 'utf8')).toMatch(new RegExp(`^describe\\(['"]${name}\\b`, 'm'));
  });
});
