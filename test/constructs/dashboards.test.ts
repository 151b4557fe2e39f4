/** Dashboards: the Grafana dashboard ConfigMap. */
import { describe, expect, it } from 'vitest';
import { Dashboards } from '../../constructs/index.ts';
import { one, synthChart } from './helpers.ts';
import { service } from './fixtures.ts';

describe('Dashboards', () => {
  it('puts the dashboard JSON in a ConfigMap for the Grafana sidecar', () => {
    let d!: Dashboards;
    const objects = synthChart((c) => {
      d = new Dashboards(c, 'D', { service: service(c) });
    });
    const cm = one(objects, 'ConfigMap');
    expect(cm.metadata.labels.grafana_dashboard).toBe('1');
    expect(cm.metadata.namespace).toBe('monitoring');
    const json = JSON.parse(Object.values(cm.data)[0] as string);
    expect(json).toEqual(d.dashboard);
    expect(json.panels.map((p: { title: string }) => p.title)).toEqual(d.panels.map((p) => p.title));
    expect(d.panels.map((p) => p.title)).toEqual(
      expect.arrayContaining([
        'GPU utilization per pod',
        'Latency quantiles',
        'Queue depth and in-flight requests',
        'Batch size (mean)',
      ]),
    );
    expect(d.queries().every((q) => q.length > 0)).toBe(true);
  });
});

describe('further validation messages', () => {
  it('Dashboards rejects a bad namespace', () => {
    expect(() =>
      synthChart((c) => new Dashboards(c, 'D', { service: service(c), namespace: 'Grafana' })),
    ).toThrow('namespace must be a DNS-1123 label');
  });
});
