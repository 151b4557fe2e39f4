/**
 * DcgmMonitoring hardening (issue #13, finding 5): SYS_ADMIN only when the profiling (DCP) fields,
 * which need it, are configured.
 */
import { describe, expect, it } from 'vitest';
import { DCGM_COUNTERS, DCGM_PROFILING_COUNTERS, DcgmMonitoring } from '../../constructs/index.ts';
import { one, synthChart, synthSystem, type K8sObject } from './helpers.ts';

const exporter = (objects: K8sObject[]) =>
  one(objects, 'DaemonSet', 'dcgm-exporter').spec.template.spec.containers[0];
const fields = (objects: K8sObject[]) =>
  (one(objects, 'ConfigMap', 'dcgm-exporter-counters').data['counters.csv'] as string)
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(',')[0]);

describe('DcgmMonitoring: capabilities follow the counters', () => {
  it('grants no capability when no profiling field is configured (the default)', () => {
    const objects = synthChart((c) => new DcgmMonitoring(c, 'Dcgm', { timeSliced: true }));
    expect(exporter(objects).securityContext.capabilities).toEqual({ drop: ['ALL'] });
    expect(exporter(objects).securityContext.allowPrivilegeEscalation).toBe(false);
    expect(fields(objects)).toEqual(DCGM_COUNTERS.map(([f]) => f));
    expect(fields(objects).filter((f) => f.startsWith('DCGM_FI_PROF_'))).toEqual([]);
  });

  it('adds SYS_ADMIN with profilingMetrics, together with the DCGM_FI_PROF_* fields that need it', () => {
    const objects = synthChart((c) => new DcgmMonitoring(c, 'Dcgm', { profilingMetrics: true }));
    expect(exporter(objects).securityContext.capabilities).toEqual({ drop: ['ALL'], add: ['SYS_ADMIN'] });
    const prof = fields(objects).filter((f) => f.startsWith('DCGM_FI_PROF_'));
    expect(prof).toEqual(DCGM_PROFILING_COUNTERS.map(([f]) => f));
    expect(prof.length).toBeGreaterThan(0);
  });

  it("main.ts's system runs dcgm-exporter without SYS_ADMIN", () => {
    const { objects } = synthSystem();
    expect(exporter(objects).securityContext.capabilities.add).toBeUndefined();
  });
});
