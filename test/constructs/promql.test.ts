import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AlertRules, GpuInferenceService, HpaMetric, type RuleGroup } from '../../constructs/index.ts';
import { one, promtool, scratch, synthChart, synthSystem, writeJson } from './helpers.ts';
import { renderAdapterQuery, substituteGrafanaVariables } from './promql-helpers.ts';

const { system, objects } = synthSystem();
const bundled = synthSystem({ monitoring: 'bundled' });
const keda = synthSystem({ backend: 'keda' });
/** main.ts's system with every signal GpuHpa offers (the default uses in-flight and queue time only). */
const ALL_SIGNALS = [
  HpaMetric.cpuUtilization(60),
  HpaMetric.gpuUtilization(70),
  HpaMetric.inflightRequests(8),
  HpaMetric.queueTime(0.02),
];
const allSignals = synthSystem({ hpaMetrics: ALL_SIGNALS });
const allSignalsKeda = synthSystem({ backend: 'keda', hpaMetrics: ALL_SIGNALS });

/** Expressions as recording rules, so that promtool parses them like any rule. */
function recordingRules(name: string, exprs: string[]): { groups: object[] } {
  return { groups: [{ name, rules: exprs.map((expr, i) => ({ record: `check:${name}:${i}`, expr })) }] };
}

describe('promtool check rules', () => {
  it('accepts the synthesized PrometheusRule groups and the bundled rules file', () => {
    const dir = scratch('rules');
    const pr = one(objects, 'PrometheusRule');
    writeJson(dir, 'operator.json', { groups: pr.spec.groups });
    const bundledRules = one(bundled.objects, 'ConfigMap', 'prometheus-rules').data;
    writeFileSync(join(dir, 'bundled.yaml'), Object.values(bundledRules)[0] as string);
    const out = promtool(['check', 'rules', 'operator.json', 'bundled.yaml'], dir);
    expect(out).toMatch(
      /operator\.json[\s\S]*SUCCESS: 10 rules found[\s\S]*bundled\.yaml[\s\S]*SUCCESS: 10 rules found/,
    );
  });

  it('parses every dashboard query (Grafana variables substituted)', () => {
    const dir = scratch('dash');
    const queries = system.dashboards.queries().map((q) => substituteGrafanaVariables(q));
    expect(queries.some((q) => q.includes('$__'))).toBe(false);
    writeJson(dir, 'dash.json', recordingRules('dashboard', queries));
    expect(promtool(['check', 'rules', 'dash.json'], dir)).toContain(
      `SUCCESS: ${queries.length} rules found`,
    );
  });

  it('parses every adapter metricsQuery as templated, and every KEDA and HPA query', () => {
    const dir = scratch('hpa');
    const hpas = [system.hpa, allSignals.system.hpa];
    const adapter = hpas.flatMap((h) =>
      h.adapterRules.map((r) =>
        renderAdapterQuery(
          r,
          /^\w+/.exec(r.seriesQuery)![0],
          ['namespace="gpu-inference"', 'pod=~"inference-.*"'],
          ['pod'],
        ),
      ),
    );
    const kedaQueries = [keda.system.hpa, allSignalsKeda.system.hpa].flatMap((h) =>
      h.kedaTriggers.flatMap((t) => (t.metadata.query ? [t.metadata.query] : [])),
    );
    const perPod = hpas.flatMap((h) => h.metrics.flatMap((m) => (m.query ? [m.query] : [])));
    const seriesQueries = hpas.flatMap((h) => h.adapterRules.map((r) => r.seriesQuery));
    const all = [...adapter, ...seriesQueries, ...kedaQueries, ...perPod];
    // default: inflight, queueTime; all signals: gpu, inflight, queueTime (cpu is KEDA's cpu trigger).
    expect(kedaQueries.length).toBe(5);
    writeJson(dir, 'hpa.json', recordingRules('hpa', all));
    expect(promtool(['check', 'rules', 'hpa.json'], dir)).toContain(`SUCCESS: ${all.length} rules found`);
  });

  it('accepts the plain rules file of AlertRules.addRulesConfigMap, for a Prometheus without the operator', () => {
    let rules!: AlertRules;
    const objects = synthChart((c) => {
      const service = new GpuInferenceService(c, 'Svc', { namespace: 'ml' });
      rules = new AlertRules(c, 'A', { service, prometheusRule: false });
      rules.addRulesConfigMap(c, 'own-prometheus-rules', 'observability');
    });
    expect(objects.filter((o) => o.kind === 'PrometheusRule')).toEqual([]);
    const cm = one(objects, 'ConfigMap', 'own-prometheus-rules');
    expect(cm.metadata.namespace).toBe('observability');
    expect(Object.keys(cm.data)).toEqual(['alerts.rules.yaml']);
    expect(cm.data['alerts.rules.yaml']).toBe(rules.rulesFile());
    const count = rules.groups.flatMap((g) => g.rules).length;
    expect(count).toBeGreaterThan(0);
    const dir = scratch('own-rules');
    writeFileSync(join(dir, 'alerts.rules.yaml'), cm.data['alerts.rules.yaml'] as string);
    expect(promtool(['check', 'rules', 'alerts.rules.yaml'], dir)).toContain(`SUCCESS: ${count} rules found`);
  });

  it('fails on a broken expression (the check can fail)', () => {
    const dir = scratch('broken');
    writeJson(dir, 'bad.json', recordingRules('bad', ['sum by (pod) (rate(inference_requests_total[1m])']));
    // promtool's own parse error, not only our wrapper's prefix: without promtool, spawning it
    // fails with ENOENT under the same prefix, and this test must not pass then.
    expect(() => promtool(['check', 'rules', 'bad.json'], dir)).toThrow(
      /promtool check rules bad\.json failed:[\s\S]*could not parse expression: .*unclosed left parenthesis/,
    );
  });
});

describe('promtool check config', () => {
  it('accepts the bundled Prometheus configuration', () => {
    const dir = scratch('config');
    const config = JSON.parse(one(bundled.objects, 'ConfigMap', 'prometheus').data['prometheus.yml']);
    // Point rule_files at the synthesized rules so promtool checks them as loaded by this config.
    writeFileSync(
      join(dir, 'alerts.yaml'),
      Object.values(one(bundled.objects, 'ConfigMap', 'prometheus-rules').data)[0] as string,
    );
    config.rule_files = [join(dir, '*.yaml')];
    // Debian builds Prometheus without Kubernetes service discovery, so promtool here does not know
    // kubernetes_sd_configs: check everything else (relabelling, TLS, auth, rule files) with a static target.
    for (const job of config.scrape_configs) {
      expect(job.kubernetes_sd_configs ?? job.static_configs).toBeDefined();
      delete job.kubernetes_sd_configs;
      job.static_configs = [{ targets: ['127.0.0.1:9'] }];
    }
    writeJson(dir, 'prometheus.json', config);
    // The service-account files exist only in a pod; promtool checks that they exist.
    const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
    const text = readFileSync(join(dir, 'prometheus.json'), 'utf8').replaceAll(sa, dir);
    writeFileSync(join(dir, 'ca.crt'), '');
    writeFileSync(join(dir, 'token'), 'token');
    writeFileSync(join(dir, 'prometheus.json'), text);
    const out = promtool(['check', 'config', '--syntax-only', 'prometheus.json'], dir);
    expect(out).toContain('SUCCESS');
  });
});

/** The alert groups as loaded for unit tests; templated annotations are compared only for HighGPULoad. */
function unitRules(groups: readonly RuleGroup[]): object {
  return {
    groups: groups.map((g) => ({
      name: g.name,
      rules: g.rules.map((r) => (r.alert === 'HighGPULoad' ? r : { ...r, annotations: {} })),
    })),
  };
}

const gpu = 'Hostname="gpu1",gpu="0",UUID="GPU-0a1b"';
const svc = 'namespace="gpu-inference",service="inference-metrics",model="mlp",version="1"';
const hpaLabels = 'namespace="gpu-inference",horizontalpodautoscaler="inference"';
const deploy = 'namespace="gpu-inference",deployment="inference"';
const gpuLabels = { Hostname: 'gpu1', gpu: '0', UUID: 'GPU-0a1b' };

describe('promtool test rules', () => {
  it('HighGPULoad and five other alerts fire on synthetic series, and stay silent when they should', () => {
    const dir = scratch('unit');
    writeJson(dir, 'rules.json', unitRules(system.alerts.groups));
    const tests = {
      rule_files: ['rules.json'],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            { series: `DCGM_FI_DEV_GPU_UTIL{${gpu},exported_pod="inference-6d9f7c-x2x7q"}`, values: '90x10' },
            { series: 'DCGM_FI_DEV_GPU_UTIL{Hostname="gpu2",gpu="0",UUID="GPU-ffff"}', values: '80x10' },
          ],
          alert_rule_test: [
            // Pending only: 1m < for 2m.
            { eval_time: '1m', alertname: 'HighGPULoad', exp_alerts: [] },
            {
              eval_time: '3m',
              alertname: 'HighGPULoad',
              exp_alerts: [
                {
                  exp_labels: { severity: 'warning', ...gpuLabels },
                  exp_annotations: {
                    summary: 'GPU utilization above 85% for 2m',
                    description: 'GPU 0 on gpu1 is at 90% utilization.',
                  },
                },
              ],
            },
          ],
        },
        {
          interval: '1m',
          input_series: [
            { series: `DCGM_FI_DEV_XID_ERRORS{${gpu}}`, values: '0 0 0 79 0 0 0 0 0 0 0 0 0' },
            { series: `DCGM_FI_DEV_GPU_TEMP{${gpu}}`, values: '70x12' },
          ],
          alert_rule_test: [
            { eval_time: '2m', alertname: 'GpuXidErrors', exp_alerts: [] },
            {
              eval_time: '4m',
              alertname: 'GpuXidErrors',
              exp_alerts: [{ exp_labels: { severity: 'critical', ...gpuLabels } }],
            },
            // The XID left the 5m window.
            { eval_time: '10m', alertname: 'GpuXidErrors', exp_alerts: [] },
            { eval_time: '10m', alertname: 'GpuTemperatureHigh', exp_alerts: [] },
          ],
        },
        {
          interval: '1m',
          input_series: [
            { series: `DCGM_FI_DEV_GPU_TEMP{${gpu}}`, values: '92x12' },
            { series: `DCGM_FI_DEV_FB_USED{${gpu}}`, values: '46000x12' },
            { series: `DCGM_FI_DEV_FB_FREE{${gpu}}`, values: '2000x12' },
          ],
          alert_rule_test: [
            {
              eval_time: '10m',
              alertname: 'GpuTemperatureHigh',
              exp_alerts: [{ exp_labels: { severity: 'warning', ...gpuLabels } }],
            },
            {
              eval_time: '10m',
              alertname: 'GpuMemoryPressure',
              exp_alerts: [{ exp_labels: { severity: 'warning', ...gpuLabels } }],
            },
          ],
        },
        {
          // 10 req/s succeed, 1 req/s fails (9 %), 1 req/s rejected.
          interval: '1m',
          input_series: [
            { series: `inference_requests_total{${svc},outcome="success"}`, values: '0+600x20' },
            { series: `inference_requests_total{${svc},outcome="server_error"}`, values: '0+60x20' },
            { series: `inference_requests_total{${svc},outcome="rejected"}`, values: '0+60x20' },
          ],
          alert_rule_test: [
            {
              eval_time: '10m',
              alertname: 'InferenceErrorRatioHigh',
              exp_alerts: [{ exp_labels: { severity: 'critical' } }],
            },
            {
              eval_time: '10m',
              alertname: 'InferenceQueueRejections',
              exp_alerts: [{ exp_labels: { severity: 'warning' } }],
            },
          ],
        },
        {
          // 1 % errors, no rejections: below the thresholds.
          interval: '1m',
          input_series: [
            { series: `inference_requests_total{${svc},outcome="success"}`, values: '0+600x20' },
            { series: `inference_requests_total{${svc},outcome="server_error"}`, values: '0+6x20' },
            { series: `inference_requests_total{${svc},outcome="rejected"}`, values: '0x20' },
          ],
          alert_rule_test: [
            { eval_time: '10m', alertname: 'InferenceErrorRatioHigh', exp_alerts: [] },
            { eval_time: '10m', alertname: 'InferenceQueueRejections', exp_alerts: [] },
          ],
        },
        {
          interval: '1m',
          input_series: [
            { series: `kube_horizontalpodautoscaler_status_current_replicas{${hpaLabels}}`, values: '10x30' },
            { series: `kube_horizontalpodautoscaler_spec_max_replicas{${hpaLabels}}`, values: '10x30' },
            { series: `kube_deployment_spec_replicas{${deploy}}`, values: '3x30' },
            { series: `kube_deployment_status_replicas_available{${deploy}}`, values: '2x30' },
          ],
          alert_rule_test: [
            { eval_time: '10m', alertname: 'HpaAtMaxReplicas', exp_alerts: [] },
            {
              eval_time: '20m',
              alertname: 'HpaAtMaxReplicas',
              exp_alerts: [
                {
                  exp_labels: {
                    severity: 'warning',
                    namespace: 'gpu-inference',
                    horizontalpodautoscaler: 'inference',
                  },
                },
              ],
            },
            {
              eval_time: '15m',
              alertname: 'InferencePodsNotReady',
              exp_alerts: [
                { exp_labels: { severity: 'warning', namespace: 'gpu-inference', deployment: 'inference' } },
              ],
            },
          ],
        },
        {
          interval: '1m',
          input_series: [
            { series: `kube_horizontalpodautoscaler_status_current_replicas{${hpaLabels}}`, values: '9x30' },
            { series: `kube_horizontalpodautoscaler_spec_max_replicas{${hpaLabels}}`, values: '10x30' },
            { series: `kube_deployment_spec_replicas{${deploy}}`, values: '3x30' },
            { series: `kube_deployment_status_replicas_available{${deploy}}`, values: '3x30' },
          ],
          alert_rule_test: [
            { eval_time: '20m', alertname: 'HpaAtMaxReplicas', exp_alerts: [] },
            { eval_time: '20m', alertname: 'InferencePodsNotReady', exp_alerts: [] },
          ],
        },
      ],
    };
    writeJson(dir, 'tests.json', tests);
    expect(promtool(['test', 'rules', 'tests.json'], dir)).toContain('SUCCESS');

    // The same tests fail against rules with a wrong threshold: the unit tests can fail.
    const wrong = system.alerts.groups.map((g) => ({
      ...g,
      rules: g.rules.map((r) =>
        r.alert === 'HighGPULoad' ? { ...r, expr: r.expr.replace('> 85', '> 95') } : r,
      ),
    }));
    writeJson(dir, 'rules.json', unitRules(wrong));
    expect(() => promtool(['test', 'rules', 'tests.json'], dir)).toThrow(/HighGPULoad/);
  });
});

describe('promtool test rules: a model on a fallback execution provider', () => {
  it('InferenceProviderFallback fires for the pod whose model asked for CUDA and runs on CPU, and resolves when it unloads', () => {
    const dir = scratch('fallback');
    writeJson(dir, 'rules.json', { groups: system.alerts.groups });
    const fallback = (pod: string, model: string, requested: string) =>
      `inference_model_provider_fallback{${svc.replace('model="mlp"', `model="${model}"`)},pod="${pod}",requested_provider="${requested}",provider="cpu"}`;
    const labels = {
      severity: 'warning',
      pod: 'inference-6d9f7c-x2x7q',
      model: 'squeezenet1_1',
      version: '1',
      requested_provider: 'cuda',
      provider: 'cpu',
    };
    const tests = {
      rule_files: ['rules.json'],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            // Fell back at load, unloaded at 10m (the server sets 0).
            { series: fallback('inference-6d9f7c-x2x7q', 'squeezenet1_1', 'cuda'), values: '1x9 0x5' },
            // Asked for CUDA and got it, on another pod; a CPU model: 0.
            { series: fallback('inference-6d9f7c-b8k2p', 'squeezenet1_1', 'cuda'), values: '0x15' },
            { series: fallback('inference-6d9f7c-x2x7q', 'mlp', 'cpu'), values: '0x15' },
          ],
          alert_rule_test: [
            // for: 1m
            { eval_time: '0m', alertname: 'InferenceProviderFallback', exp_alerts: [] },
            {
              eval_time: '2m',
              alertname: 'InferenceProviderFallback',
              exp_alerts: [
                {
                  exp_labels: labels,
                  exp_annotations: {
                    summary: 'A model computes on a fallback execution provider',
                    description:
                      "Model squeezenet1_1 version 1 on pod inference-6d9f7c-x2x7q of gpu-inference/inference asked for cuda and runs on cpu: it holds its GPU and computes on the CPU (see the pod's log for the provider's error; --provider-fallback fail makes this a load failure).",
                  },
                },
              ],
            },
            { eval_time: '12m', alertname: 'InferenceProviderFallback', exp_alerts: [] },
          ],
        },
      ],
    };
    writeJson(dir, 'tests.json', tests);
    expect(promtool(['test', 'rules', 'tests.json'], dir)).toContain('SUCCESS');
  });
});

describe('promtool test rules: the per-pod HPA metrics', () => {
  it('map dcgm-exporter series onto the workload pods and the server series onto their pods', () => {
    const dir = scratch('perpod');
    writeJson(dir, 'empty.json', { groups: [] });
    const podA = 'inference-6d9f7c5b4-x2x7q';
    const podB = 'inference-6d9f7c5b4-k8m2p';
    const hpa = allSignals.system.hpa;
    const kedaHpa = allSignalsKeda.system.hpa;
    // As scraped by prometheus-operator: the target is the exporter pod, the workload is exported_*.
    const dcgm = (pod: string, uuid: string) =>
      `DCGM_FI_DEV_GPU_UTIL{namespace="monitoring",pod="dcgm-exporter-7xk2p",Hostname="gpu1",gpu="0",UUID="${uuid}",exported_namespace="gpu-inference",exported_pod="${pod}"}`;
    const server = (pod: string) =>
      `namespace="gpu-inference",service="inference-metrics",pod="${pod}",model="mlp",version="1"`;
    const rule = (kind: string) =>
      hpa.adapterRules.find((r) => r.name.as === hpa.metrics.find((m) => m.kind === kind)!.metricName)!;
    const gpuRule = rule('gpu');
    const adapterGpu = renderAdapterQuery(
      gpuRule,
      'DCGM_FI_DEV_GPU_UTIL',
      ['exported_namespace="gpu-inference"', `exported_pod=~"${podA}|${podB}"`],
      ['exported_pod'],
    );
    const inflightRule = rule('inflight');
    const adapterInflight = renderAdapterQuery(
      inflightRule,
      'inference_inflight_requests',
      ['namespace="gpu-inference"', `pod=~"${podA}|${podB}"`],
      ['pod'],
    );
    const query = (kind: string) => hpa.metrics.find((m) => m.kind === kind)!.query!;
    const kedaQuery = (kind: string) => kedaHpa.kedaTriggers.find((t) => t.name === kind)!.metadata.query;
    const adapterQueue = renderAdapterQuery(
      rule('queueTime'),
      'inference_queue_duration_seconds_sum',
      ['namespace="gpu-inference"', `pod=~"${podA}|${podB}"`],
      ['pod'],
    );
    const tests = {
      rule_files: ['empty.json'],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            { series: dcgm(podA, 'GPU-a'), values: '80x5' },
            { series: dcgm(podB, 'GPU-a'), values: '60x5' },
            // another namespace's pod on the same node: not ours
            { series: dcgm('other-5f5d8-abcde', 'GPU-b').replace('gpu-inference', 'other'), values: '99x5' },
            { series: `inference_inflight_requests{${server(podA)}}`, values: '6x5' },
            { series: `inference_inflight_requests{${server(podB)}}`, values: '2x5' },
          ],
          promql_expr_test: [
            {
              expr: adapterGpu,
              eval_time: '2m',
              exp_samples: [
                { labels: `{exported_pod="${podA}"}`, value: 80 },
                { labels: `{exported_pod="${podB}"}`, value: 60 },
              ],
            },
            {
              expr: query('gpu'),
              eval_time: '2m',
              exp_samples: [
                { labels: `{exported_pod="${podA}",pod="${podA}"}`, value: 80 },
                { labels: `{exported_pod="${podB}",pod="${podB}"}`, value: 60 },
              ],
            },
            ...[adapterInflight, query('inflight')].map((expr) => ({
              expr,
              eval_time: '2m',
              exp_samples: [
                { labels: `{pod="${podA}"}`, value: 6 },
                { labels: `{pod="${podB}"}`, value: 2 },
              ],
            })),
            {
              expr: kedaQuery('gpu'),
              eval_time: '2m',
              exp_samples: [{ labels: '{}', value: 140 }],
            },
          ],
        },
        {
          // Queue time is a rate() over the metric's window (1m): 15 s samples fill it. Powers of two
          // keep the ratios exact (promtool compares floats exactly).
          interval: '15s',
          input_series: [
            { series: `inference_queue_duration_seconds_sum{${server(podA)}}`, values: '0+1x8' },
            { series: `inference_queue_duration_seconds_count{${server(podA)}}`, values: '0+64x8' },
            { series: `inference_queue_duration_seconds_sum{${server(podB)}}`, values: '0+2x8' },
            { series: `inference_queue_duration_seconds_count{${server(podB)}}`, values: '0+64x8' },
          ],
          promql_expr_test: [
            ...[adapterQueue, query('queueTime')].map((expr) => ({
              expr,
              eval_time: '2m',
              exp_samples: [
                { labels: `{pod="${podA}"}`, value: 0.015625 },
                { labels: `{pod="${podB}"}`, value: 0.03125 },
              ],
            })),
            // KEDA's trigger: the mean over all the service's requests.
            {
              expr: kedaQuery('queueTime'),
              eval_time: '2m',
              exp_samples: [{ labels: '{}', value: 0.0234375 }],
            },
          ],
        },
      ],
    };
    writeJson(dir, 'tests.json', tests);
    expect(promtool(['test', 'rules', 'tests.json'], dir)).toContain('SUCCESS');
  });
});
