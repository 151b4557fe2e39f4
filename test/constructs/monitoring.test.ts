/** Monitoring: kube-prometheus-stack integration or the bundled stack, and metrics.k8s.io. */
import type { Chart } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { AlertRules, Dashboards, Monitoring } from '../../constructs/index.ts';
import { atPath, find, one, synthChart, synthSystem, type K8sObject } from './helpers.ts';
import { service, adapterHpa } from './fixtures.ts';

describe('Monitoring', () => {
  it('integrates with kube-prometheus-stack by default, with metrics-server', () => {
    let m!: Monitoring;
    const objects = synthChart((c) => {
      m = new Monitoring(c, 'M');
    });
    expect(m.mode).toBe('kube-prometheus-stack');
    expect(m.resourceLabels).toEqual({ release: 'kube-prometheus-stack' });
    expect(m.prometheusUrl).toBe('http://kube-prometheus-stack-prometheus.monitoring.svc:9090');
    const args = (o: K8sObject[]) =>
      one(o, 'Deployment', 'metrics-server').spec.template.spec.containers[0].args;
    // Verified kubelet TLS by default and in main.ts's system (provision/ bootstraps signed kubelet
    // serving certificates); skipping verification is an explicit opt-in.
    expect(args(objects)).not.toContain('--kubelet-insecure-tls');
    expect(args(synthSystem().objects)).not.toContain('--kubelet-insecure-tls');
    expect(args(synthChart((c) => new Monitoring(c, 'M', { kubeletInsecureTls: true })))).toContain(
      '--kubelet-insecure-tls',
    );
    expect(one(objects, 'APIService').metadata.name).toBe('v1beta1.metrics.k8s.io');
    expect(find(objects, 'Deployment', 'prometheus')).toHaveLength(0);
  });

  it('fails synth unless exactly one of metrics-server or an adapter serves metrics.k8s.io', () => {
    const build = (resourceMetrics: 'metrics-server' | 'prometheus-adapter') => (c: Chart) => {
      const m = new Monitoring(c, 'M', { resourceMetrics });
      adapterHpa(c, { prometheusUrl: m.prometheusUrl, adapter: { serveResourceMetrics: true } });
    };
    expect(() => synthChart(build('metrics-server'))).toThrow(
      /resourceMetrics is "metrics-server", but the prometheus-adapter at test\/Hpa\/Adapter serves resource metrics too/,
    );
    const objects = synthChart(build('prometheus-adapter'));
    expect(find(objects, 'APIService', 'v1beta1.metrics.k8s.io')).toHaveLength(1);
    expect(find(objects, 'Deployment', 'metrics-server')).toHaveLength(0);
    // ... and 'prometheus-adapter' needs an adapter that serves them.
    expect(() =>
      synthChart((c) => {
        const m = new Monitoring(c, 'M', { resourceMetrics: 'prometheus-adapter' });
        adapterHpa(c, { prometheusUrl: m.prometheusUrl });
      }),
    ).toThrow(
      'resourceMetrics is "prometheus-adapter", but no prometheus-adapter in this app serves resource metrics',
    );
  });

  it('bundles Prometheus, Grafana and kube-state-metrics, loading added rules and dashboards', () => {
    const objects = synthChart((c) => {
      const m = new Monitoring(c, 'M', { mode: 'bundled', resourceMetrics: 'none' });
      const s = service(c, { scrape: { serviceMonitor: false } });
      m.addAlertRules(new AlertRules(c, 'A', { service: s, prometheusRule: false }));
      m.addDashboards(new Dashboards(c, 'D', { service: s }));
    });
    expect(find(objects, 'Deployment').map((d) => d.metadata.name)).toEqual(
      expect.arrayContaining(['prometheus', 'grafana', 'kube-state-metrics']),
    );
    expect(find(objects, 'Deployment', 'metrics-server')).toHaveLength(0);
    expect(find(objects, 'PrometheusRule')).toHaveLength(0);
    expect(Object.keys(one(objects, 'ConfigMap', 'prometheus-rules').data)).toEqual([
      'inference-alerts.yaml',
    ]);
    const grafana = one(objects, 'Deployment', 'grafana').spec.template.spec;
    const dash = grafana.volumes.find((v: { name: string }) => v.name === 'dashboards');
    expect(dash.projected.sources).toEqual([{ configMap: { name: 'inference-dashboard' } }]);
  });

  it.each([
    [{ mode: 'helm' as never }, 'mode must be one of "kube-prometheus-stack", "bundled", got "helm"'],
    [
      { resourceMetrics: 'both' as never },
      'resourceMetrics must be one of "metrics-server", "prometheus-adapter", "none", got "both"',
    ],
    [
      { resourceMetrics: 'prometheus-adapter' as const, kubeletInsecureTls: true },
      'kubeletInsecureTls applies to metrics-server only, got it with resourceMetrics "prometheus-adapter"',
    ],
    [{ prometheusUrl: 'prometheus' }, 'prometheusUrl must be an http(s) URL'],
    [{ mode: 'bundled' as const, retention: '15 days' }, 'retention must be a Prometheus duration'],
  ])('rejects %j', (props, message) => {
    expect(() => synthChart((c) => new Monitoring(c, 'M', props))).toThrow(atPath(message));
  });
});

describe('further validation messages', () => {
  it('Monitoring rejects bad names', () => {
    expect(() => synthChart((c) => new Monitoring(c, 'M', { releaseName: 'Kube_Prom' }))).toThrow(
      'releaseName must be a DNS-1123 label',
    );
    expect(() => synthChart((c) => new Monitoring(c, 'M', { namespace: 'Monitoring' }))).toThrow(
      'namespace must be a DNS-1123 label',
    );
  });
});
