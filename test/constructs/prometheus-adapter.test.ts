/** PrometheusAdapter on its own (GpuHpa's adapter backend tests it through GpuHpa: gpu-hpa.test.ts). */
import { describe, expect, it } from 'vitest';
import { PrometheusAdapter, RESOURCE_RULES } from '../../constructs/index.ts';
import { find, one, synthChart } from './helpers.ts';
import { PROM } from './fixtures.ts';

describe('PrometheusAdapter', () => {
  it('serves its rules on custom.metrics.k8s.io from Prometheus, and metrics.k8s.io only with resource rules', () => {
    const rule = {
      seriesQuery: 'inference_inflight_requests',
      resources: { overrides: { namespace: { resource: 'namespace' }, pod: { resource: 'pod' } } },
      name: { matches: 'inference_inflight_requests', as: 'inference_inflight_requests' },
      metricsQuery: 'sum by (<<.GroupBy>>) (<<.Series>>{<<.LabelMatchers>>})',
    };
    const objects = synthChart(
      (c) => new PrometheusAdapter(c, 'A', { prometheusUrl: PROM, config: { rules: [rule] } }),
    );
    const args: string[] = one(objects, 'Deployment', 'prometheus-adapter').spec.template.spec.containers[0]
      .args;
    expect(args).toContain(`--prometheus-url=${PROM}`);
    expect(args).toContain('--metrics-relist-interval=1m');
    expect(JSON.parse(one(objects, 'ConfigMap', 'prometheus-adapter').data['config.yaml'])).toEqual({
      rules: [rule],
    });
    const apis = (o: typeof objects) =>
      find(o, 'APIService')
        .map((a) => a.metadata.name)
        .sort();
    expect(apis(objects)).toEqual(['v1beta1.custom.metrics.k8s.io', 'v1beta2.custom.metrics.k8s.io']);
    const withResources = synthChart(
      (c) =>
        new PrometheusAdapter(c, 'A', {
          prometheusUrl: PROM,
          config: { rules: [rule], resourceRules: RESOURCE_RULES },
        }),
    );
    expect(apis(withResources)).toContain('v1beta1.metrics.k8s.io');
  });
});

describe('further validation messages', () => {
  it('PrometheusAdapter rejects bad durations and URLs', () => {
    const config = { rules: [] };
    expect(() =>
      synthChart(
        (c) =>
          new PrometheusAdapter(c, 'A', { prometheusUrl: PROM, config, metricsRelistInterval: '1 minute' }),
      ),
    ).toThrow(
      'adapter.metricsRelistInterval must be a Prometheus duration such as "30s", "2m" or "1h", got "1 minute"',
    );
    expect(() =>
      synthChart((c) => new PrometheusAdapter(c, 'A', { prometheusUrl: 'ftp://x', config })),
    ).toThrow(
      'adapter.prometheusUrl must be an http(s) URL such as "http://prometheus.monitoring.svc:9090", got "ftp://x"',
    );
  });
});
