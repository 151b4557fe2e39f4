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

describe('DcgmMonitoring', () => {
  it('runs dcgm-exporter with pod-resources, virtual GPUs and a ServiceMonitor on its port', () => {
    const objects = synthChart(
      (c) => new DcgmMonitoring(c, 'Dcgm', { timeSliced: true, runtimeClassName: 'nvidia' }),
    );
    expect(objects).toMatchSnapshot();
    const c = one(objects, 'DaemonSet').spec.template.spec.containers[0];
    expect(c.image).toMatch(/^nvcr\.io\/nvidia\/k8s\/dcgm-exporter:4\.\d+\.\d+-4\.\d+\.\d+-ubuntu22\.04$/);
    expect(c.ports[0].containerPort).toBe(9400);
    expect(c.env).toContainEqual({ name: 'KUBERNETES_VIRTUAL_GPUS', value: 'true' });
    expect(c.securityContext.capabilities).toEqual({ drop: ['ALL'] });
    expect(c.volumeMounts).toContainEqual({
      name: 'pod-resources',
      mountPath: '/var/lib/kubelet/pod-resources',
      readOnly: true,
    });
    expect(one(objects, 'ConfigMap').data['counters.csv']).toContain('DCGM_FI_DEV_GPU_UTIL, gauge');
    expect(one(objects, 'ServiceMonitor').spec.endpoints[0]).toMatchObject({
      port: 'metrics',
      honorLabels: false,
    });
  });

  it('leaves KUBERNETES_VIRTUAL_GPUS unset without time-slicing, and rejects a bad interval', () => {
    const env = one(
      synthChart((c) => new DcgmMonitoring(c, 'Dcgm')),
      'DaemonSet',
    ).spec.template.spec.containers[0].env;
    expect(env.map((e: { name: string }) => e.name)).not.toContain('KUBERNETES_VIRTUAL_GPUS');
    expect(() => synthChart((c) => new DcgmMonitoring(c, 'Dcgm', { collectIntervalMs: 50 }))).toThrow(
      'collectIntervalMs must be an integer from 100 to 600000, got 50',
    );
  });
});

describe('further validation messages', () => {
  it('DcgmMonitoring rejects a bad namespace', () => {
    expect(() => synthChart((c) => new DcgmMonitoring(c, 'Dcgm', { namespace: 'gpu_monitoring' }))).toThrow(
      'namespace must be a DNS-1123 label',
    );
  });
});
