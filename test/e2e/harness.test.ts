// Unit tests of the harness the signal-chain test relies on (prometheus-adapter and KEDA emulation,
// ServiceMonitor scrape jobs, the metrics left out without a GPU); the
// expected strings are upstream's (kubernetes-sigs/prometheus-adapter pkg/naming/metrics_query_test.go)
// where a case has an upstream twin.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildQuery,
  goExpand,
  labelForResource,
  metricNameForSeries,
  resourcesForSeries,
  type AdapterRule,
} from './adapter.ts';
import { Testing } from 'cdk8s';
import { HpaMetric } from '../../constructs/index.ts';
import { createSystem } from '../../main.ts';
import type { MetricSpecV2 } from '../../planner/index.ts';
import { gpuOnlyMetrics, kedaHpaSpec } from './chain.ts';
import { ClusterStandIn } from './cluster-standin.ts';
import { executeTemplate, formatGoValue } from './go-template.ts';
import { evaluateKedaTrigger, type KedaPrometheusTrigger } from './keda.ts';
import { LoadDriver } from './load.ts';
import { Prometheus } from './prometheus.ts';
import { serviceMonitorScrapeConfigs, type K8sObject } from './scrape-config.ts';

const podRule: AdapterRule = {
  seriesQuery: 'inference_inflight_requests{namespace!="",pod!=""}',
  resources: { overrides: { namespace: { resource: 'namespace' }, pod: { resource: 'pod' } } },
  name: { matches: '^inference_(.*)$', as: 'inference_${1}_per_pod' },
  metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)',
};

describe('Go template subset (<< >> delimiters)', () => {
  it('prints fields as Go %v does', () => {
    const data = {
      Series: 'foo',
      GroupBySlice: ['resource', 'extra'],
      LabelValuesByName: { b: '2', a: '1' },
    };
    expect(executeTemplate('series <<.Series>>', data)).toBe('series foo');
    expect(executeTemplate('<<.GroupBySlice>>', data)).toBe('[resource extra]');
    expect(executeTemplate('<<.LabelValuesByName>>', data)).toBe('map[a:1 b:2]');
    expect(executeTemplate('<<index .LabelValuesByName "b">>|<<index .LabelValuesByName "zz">>|', data)).toBe(
      '2||',
    );
    expect(formatGoValue([])).toBe('[]');
  });

  it('honours trim markers', () => {
    expect(executeTemplate('a  <<- .Series ->>  b', { Series: 'x' })).toBe('axb');
  });

  it('rejects unknown fields and unsupported actions by name', () => {
    expect(() => executeTemplate('<<.Seriess>>', { Series: 'x' })).toThrow(/can't evaluate field Seriess/);
    expect(() => executeTemplate('<<range .GroupBySlice>>x<<end>>', { GroupBySlice: [] })).toThrow(
      /<<range .GroupBySlice>> is not supported/,
    );
    expect(() => executeTemplate('sum(<<.Series)', { Series: 'x' })).toThrow(/unclosed action/);
  });
});

describe('prometheus-adapter metricsQuery templating', () => {
  it('builds the query the adapter sends for several pods of a namespace', () => {
    expect(buildQuery(podRule, 'inference_inflight_requests', 'pods', 'gpu-inference', ['a-1', 'b-2'])).toBe(
      'sum(inference_inflight_requests{namespace="gpu-inference",pod=~"a-1|b-2"}) by (pod)',
    );
  });

  it('uses an equality matcher for a single pod (upstream "single LabelMatchers value")', () => {
    expect(buildQuery(podRule, 's', 'pods', 'ns', ['only'])).toBe(
      'sum(s{namespace="ns",pod="only"}) by (pod)',
    );
  });

  it('exposes LabelValuesByName and GroupBySlice as upstream does', () => {
    const rule = {
      ...podRule,
      metricsQuery:
        '<<index .LabelValuesByName "namespace">> <<index .LabelValuesByName "pod">> <<.GroupBySlice>>',
    };
    expect(buildQuery(rule, 's', 'pods', 'default', ['bar', 'baz'])).toBe('default bar|baz [pod]');
  });

  it('maps resources through overrides, or through the label template', () => {
    expect(labelForResource(podRule, 'pods')).toBe('pod');
    expect(labelForResource(podRule, 'namespace')).toBe('namespace');
    const templated: AdapterRule = { ...podRule, resources: { template: 'kube_<<.Group>>_<<.Resource>>' } };
    expect(labelForResource(templated, 'pods')).toBe('kube__pod');
    expect(labelForResource(templated, 'deployments')).toBe('kube_apps_deployment');
    const exported: AdapterRule = {
      ...podRule,
      resources: {
        overrides: { exported_namespace: { resource: 'namespace' }, exported_pod: { resource: 'pod' } },
      },
    };
    expect(buildQuery(exported, 'DCGM_FI_DEV_GPU_UTIL', 'pods', 'ns', ['p'])).toBe(
      'sum(DCGM_FI_DEV_GPU_UTIL{exported_namespace="ns",exported_pod="p"}) by (exported_pod)',
    );
    expect(() => labelForResource({ ...podRule, resources: { overrides: {} } }, 'pods')).toThrow(
      /no resources.overrides entry for pods/,
    );
  });

  it('finds the resources a series carries', () => {
    expect(
      resourcesForSeries(podRule, { __name__: 'x', namespace: 'n', pod: 'p', model: 'm' }).sort(),
    ).toEqual(['namespaces', 'pods']);
    expect(resourcesForSeries(podRule, { __name__: 'x', exported_pod: 'p' })).toEqual([]);
  });

  it('names metrics with name.matches/as and Go expansion rules', () => {
    expect(metricNameForSeries(podRule, 'inference_inflight_requests')).toBe(
      'inference_inflight_requests_per_pod',
    );
    expect(metricNameForSeries({ ...podRule, name: undefined }, 'abc_total')).toBe('abc_total');
    expect(metricNameForSeries({ ...podRule, name: { matches: '^(.*)_total$' } }, 'abc_total')).toBe('abc');
    expect(metricNameForSeries({ ...podRule, name: { matches: '^foo$' } }, 'abc_total')).toBeUndefined();
    expect(
      metricNameForSeries({ ...podRule, seriesFilters: [{ isNot: '_total$' }] }, 'abc_total'),
    ).toBeUndefined();
    // Go reads `$1_per_second` as the group named "1_per_second": the classic adapter-config bug.
    const m = /^(.*)_total$/.exec('abc_total')!;
    expect(goExpand('$1_per_second', m)).toBe('');
    expect(goExpand('${1}_per_second', m)).toBe('abc_per_second');
    expect(goExpand('$$1', m)).toBe('$1');
  });
});

describe('ServiceMonitor -> scrape job', () => {
  const service: K8sObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'svc', namespace: 'ns', labels: { 'app.kubernetes.io/name': 'inf' } },
    spec: { selector: { app: 'inf' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  };
  const podTemplate = {
    metadata: { labels: { app: 'inf' } },
    spec: { containers: [{ name: 'server', ports: [{ name: 'http', containerPort: 8080 }] }] },
  };
  const monitor = (spec: Record<string, unknown>): K8sObject => ({
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'ServiceMonitor',
    metadata: { name: 'sm', namespace: 'ns' },
    spec: { selector: { matchLabels: { 'app.kubernetes.io/name': 'inf' } }, ...spec },
  });
  const pods = [{ name: 'inf-abc-1', namespace: 'ns', address: '127.0.0.1:1234' }];

  it('generates the operator job with pod meta labels and the user relabelings last', () => {
    const [job] = serviceMonitorScrapeConfigs({
      serviceMonitor: monitor({
        endpoints: [
          {
            port: 'http',
            path: '/metrics',
            interval: '15s',
            relabelings: [{ targetLabel: 'x', replacement: 'y' }],
          },
        ],
      }),
      service,
      podTemplate,
      pods,
      intervalOverride: '1s',
    }) as {
      job_name: string;
      scrape_interval: string;
      static_configs: { labels: Record<string, string> }[];
    }[];
    expect(job.job_name).toBe('serviceMonitor/ns/sm/0');
    expect(job.scrape_interval).toBe('1s');
    expect(job.static_configs[0].labels).toMatchObject({
      __meta_kubernetes_pod_name: 'inf-abc-1',
      __meta_kubernetes_endpoint_port_name: 'http',
      __meta_kubernetes_service_label_app_kubernetes_io_name: 'inf',
      __meta_kubernetes_pod_container_name: 'server',
    });
    const relabel = (job as unknown as { relabel_configs: Record<string, unknown>[] }).relabel_configs;
    expect(relabel[1]).toEqual({
      action: 'keep',
      source_labels: [
        '__meta_kubernetes_service_label_app_kubernetes_io_name',
        '__meta_kubernetes_service_labelpresent_app_kubernetes_io_name',
      ],
      regex: '(inf);true',
    });
    expect(relabel.at(-1)).toEqual({ target_label: 'x', replacement: 'y' });
  });

  it('gives no targets where the Service does not select the pods or the namespace is not watched', () => {
    const endpoints = [{ port: 'http' }];
    const other = { ...podTemplate, metadata: { labels: { app: 'other' } } };
    const none = (o: Parameters<typeof serviceMonitorScrapeConfigs>[0]) =>
      (serviceMonitorScrapeConfigs(o)[0] as { static_configs: unknown[] }).static_configs;
    expect(none({ serviceMonitor: monitor({ endpoints }), service, podTemplate: other, pods })).toEqual([]);
    expect(
      none({
        serviceMonitor: monitor({ endpoints, namespaceSelector: { matchNames: ['elsewhere'] } }),
        service,
        podTemplate,
        pods,
      }),
    ).toEqual([]);
  });
});

describe('metrics left out of the HPA computation', () => {
  it('are exactly the Pods metrics whose adapter rule reads dcgm-exporter series', () => {
    const { hpa } = createSystem(Testing.app(), {
      hpaMetrics: [HpaMetric.cpuUtilization(60), HpaMetric.gpuUtilization(70), HpaMetric.inflightRequests(8)],
    });
    const specOf = (h: typeof hpa) => ({
      maxReplicas: h.maxReplicas,
      metrics: h.metrics.map((m) => m.spec as unknown as MetricSpecV2),
    });
    const spec = specOf(hpa);
    expect([...gpuOnlyMetrics(spec, hpa.adapterRules as AdapterRule[])]).toEqual([
      [1, 'needs DCGM_FI_DEV_GPU_UTIL from dcgm-exporter: no GPU here'],
    ]);
    const defaults = createSystem(Testing.app()).hpa;
    const defaultSpec = specOf(defaults);
    expect([...gpuOnlyMetrics(defaultSpec, defaults.adapterRules as AdapterRule[])]).toEqual([]);
  });
});

describe('the HPA KEDA creates from a ScaledObject', () => {
  it('numbers External metrics by trigger index and keeps cpu as a Resource metric', () => {
    const spec = kedaHpaSpec({
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: 'so', namespace: 'ns' },
      spec: {
        minReplicaCount: 1,
        maxReplicaCount: 10,
        triggers: [
          { type: 'cpu', metricType: 'Utilization', metadata: { value: '60' } },
          { type: 'prometheus', metadata: { query: 'sum(x)', threshold: '8' } },
          { type: 'prometheus', metricType: 'Value', metadata: { query: 'avg(y)', threshold: '0.05' } },
        ],
      },
    });
    expect(spec.metrics).toEqual([
      {
        type: 'Resource',
        resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } },
      },
      {
        type: 'External',
        external: { metric: { name: 's1-prometheus' }, target: { type: 'AverageValue', averageValue: '8' } },
      },
      {
        type: 'External',
        external: { metric: { name: 's2-prometheus' }, target: { type: 'Value', value: '0.05' } },
      },
    ]);
    expect(spec.minReplicas).toBe(1);
    expect(spec.maxReplicas).toBe(10);
  });
});

describe('KEDA prometheus trigger semantics, on a real Prometheus', () => {
  let prometheus: Prometheus;
  beforeAll(async () => {
    prometheus = await Prometheus.start({ scrapeConfigs: [] });
  });
  afterAll(async () => {
    await prometheus?.stop();
  });
  const trigger = (query: string, extra: Record<string, string> = {}): KedaPrometheusTrigger => ({
    type: 'prometheus',
    metadata: { serverAddress: prometheus.url, query, threshold: '8', activationThreshold: '2', ...extra },
  });

  it('reads one element, compares with the activation threshold, and names the metric by index', async () => {
    expect(await evaluateKedaTrigger(prometheus, trigger('vector(3)'), 2)).toMatchObject({
      metricName: 's2-prometheus',
      value: 3,
      active: true,
      targetType: 'AverageValue',
      threshold: 8,
      elements: 1,
    });
    expect((await evaluateKedaTrigger(prometheus, trigger('vector(2)'), 0)).active).toBe(false);
  });

  it('reads an empty result or NaN as 0 unless ignoreNullValues is false, and refuses several elements', async () => {
    expect(await evaluateKedaTrigger(prometheus, trigger('no_such_metric'), 0)).toMatchObject({
      value: 0,
      elements: 0,
    });
    expect((await evaluateKedaTrigger(prometheus, trigger('vector(0) / 0'), 0)).value).toBe(0);
    await expect(
      evaluateKedaTrigger(prometheus, trigger('no_such_metric', { ignoreNullValues: 'false' }), 0),
    ).rejects.toThrow(/the result is empty/);
    const two = 'label_replace(vector(1), "a", "x", "", "") or label_replace(vector(2), "a", "y", "", "")';
    await expect(evaluateKedaTrigger(prometheus, trigger(two), 0)).rejects.toThrow(
      /returned multiple elements/,
    );
    await expect(
      evaluateKedaTrigger(prometheus, trigger('vector(1)', { threshold: 'eight' }), 0),
    ).rejects.toThrow(/metadata.threshold "eight" is not a number/);
  });
});

describe('load driver and cluster stand-in', () => {
  it('refuses any target that is not on loopback (127.0.0.0/8)', () => {
    expect(() => new LoadDriver({ urls: ['http://10.1.2.3:8080/v2'], body: '{}' })).toThrow(
      'LoadDriver: url http://10.1.2.3:8080/v2 is not in 127.0.0.0/8 (only loopback load is allowed)',
    );
    expect(() => new LoadDriver({ urls: ['http://128.0.0.1/v2'], body: '{}' })).toThrow(
      /is not in 127.0.0.0\/8/,
    );
  });

  it('serves cAdvisor and kube-state-metrics series measured from a real process', async () => {
    const standIn = await ClusterStandIn.start({ namespace: 'ns', name: 'inf', specReplicas: 1 });
    try {
      standIn.pods.push({
        name: 'inf-abc-1',
        namespace: 'ns',
        container: 'server',
        pid: process.pid,
        ready: true,
      });
      standIn.hpas.push({
        namespace: 'ns',
        name: 'inf',
        minReplicas: 1,
        maxReplicas: 10,
        currentReplicas: 1,
        desiredReplicas: 3,
      });
      const cadvisor = await (await fetch(`http://${standIn.address}/metrics/cadvisor`)).text();
      const cpu =
        /^container_cpu_usage_seconds_total\{namespace="ns",pod="inf-abc-1",container="server"\} (\S+)$/m.exec(
          cadvisor,
        );
      expect(Number(cpu?.[1])).toBeGreaterThan(0);
      expect(cadvisor).toMatch(
        /^container_memory_working_set_bytes\{namespace="ns",pod="inf-abc-1",container="server"\} [1-9]\d*$/m,
      );
      const ksm = await (await fetch(`http://${standIn.address}/metrics`)).text();
      expect(ksm).toContain(
        'kube_horizontalpodautoscaler_status_desired_replicas{namespace="ns",horizontalpodautoscaler="inf"} 3',
      );
      expect(ksm).toContain('kube_deployment_status_replicas_available{namespace="ns",deployment="inf"} 1');
    } finally {
      await standIn.stop();
    }
  });
});
