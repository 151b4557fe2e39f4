/** GpuHpa: its backends (KEDA, prometheus-adapter), metrics, behavior and GPU topology. */
import type { Chart } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_BEHAVIOR,
  GpuHpa,
  HpaMetric,
  warningsOf,
  NvidiaDevicePlugin,
  gpuSlicesOf,
  type GpuHpaProps,
  type GpuTopology,
} from '../../constructs/index.ts';
import { atPath, find, one, synthChart, synthSystem } from './helpers.ts';
import { PROM, service, hpa, adapterHpa } from './fixtures.ts';

describe('GpuHpa', () => {
  it('scales through KEDA by default: a ScaledObject, no HPA or adapter of its own', () => {
    let h!: GpuHpa;
    const objects = synthChart((c) => {
      h = hpa(c);
    });
    expect(h.backend).toBe('keda');
    expect(objects.map((o) => o.kind)).toContain('ScaledObject');
    expect(find(objects, 'HorizontalPodAutoscaler')).toEqual([]);
    expect(find(objects, 'Deployment', 'prometheus-adapter')).toEqual([]);
    expect(h.kedaTriggers.map((t) => [t.name, t.metricType])).toEqual([
      ['inflight', 'AverageValue'],
      ['queueTime', 'Value'],
    ]);
  });

  it("writes KEDA's fallback when every trigger is AverageValue", () => {
    const objects = synthChart((c) =>
      hpa(c, {
        minReplicas: 2,
        metrics: [HpaMetric.inflightRequests(8), HpaMetric.gpuUtilization(70)],
        keda: { fallback: { failureThreshold: 3, replicas: 4, behavior: 'currentReplicasIfHigher' } },
      }),
    );
    expect(one(objects, 'ScaledObject').spec.fallback).toEqual({
      failureThreshold: 3,
      replicas: 4,
      behavior: 'currentReplicasIfHigher',
    });
    const plain = synthChart((c) => hpa(c));
    expect(one(plain, 'ScaledObject').spec.fallback).toBeUndefined();
  });

  it('writes an autoscaling/v2 HPA with adapter rules for exactly its custom metrics', () => {
    let h!: GpuHpa;
    const objects = synthChart((c) => {
      h = adapterHpa(c);
    });
    expect(objects).toMatchSnapshot();
    const obj = one(objects, 'HorizontalPodAutoscaler');
    expect(obj.apiVersion).toBe('autoscaling/v2');
    expect(obj.spec).toMatchObject({ minReplicas: 1, maxReplicas: 10 });
    expect(obj.spec.metrics).toEqual(h.metrics.map((m) => m.spec));
    expect(obj.spec.behavior).toEqual(DEFAULT_BEHAVIOR);
    // DEFAULT_HPA_METRICS: in-flight requests and queue time, not GPU utilization (README, "Choosing signals").
    expect(h.metrics.map((m) => [m.kind, m.type, m.metricName, m.targetType, m.target])).toEqual([
      ['inflight', 'Pods', 'inference_inflight_requests', 'AverageValue', 8],
      ['queueTime', 'Pods', 'inference_queue_duration_seconds_mean', 'AverageValue', 0.02],
    ]);
    expect(obj.spec.metrics[1].pods.target.averageValue).toBe('20m');
    expect(h.metrics[1].window).toBe('1m');
    expect(h.adapterRules.map((r) => r.name.as)).toEqual([
      'inference_inflight_requests',
      'inference_queue_duration_seconds_mean',
    ]);
    expect(h.adapterRules[1].metricsQuery).toContain('(rate(<<.Series>>{<<.LabelMatchers>>}[1m]))');
    // The target Deployment no longer sets replicas: the HPA owns them.
    expect(one(objects, 'Deployment', 'inference').spec.replicas).toBeUndefined();
    const config = JSON.parse(one(objects, 'ConfigMap', 'prometheus-adapter').data['config.yaml']);
    expect(config.rules).toEqual(h.adapterRules);
    expect(config.resourceRules).toBeUndefined();
    expect(
      find(objects, 'APIService')
        .map((a) => a.metadata.name)
        .sort(),
    ).toEqual(['v1beta1.custom.metrics.k8s.io', 'v1beta2.custom.metrics.k8s.io']);
  });

  it("maps dcgm-exporter's exported_namespace/exported_pod onto pods for GPU utilization, CPU as a Resource metric", () => {
    let h!: GpuHpa;
    synthChart((c) => {
      h = adapterHpa(c, { metrics: [HpaMetric.cpuUtilization(60), HpaMetric.gpuUtilization(70)] });
    });
    expect(h.metrics.map((m) => [m.kind, m.type, m.metricName, m.targetType, m.target])).toEqual([
      ['cpu', 'Resource', 'cpu', 'Utilization', 60],
      ['gpu', 'Pods', 'gpu_utilization_percent', 'AverageValue', 70],
    ]);
    expect(h.adapterRules.map((r) => r.name.as)).toEqual(['gpu_utilization_percent']);
    expect(h.adapterRules[0].resources.overrides).toEqual({
      exported_namespace: { resource: 'namespace' },
      exported_pod: { resource: 'pod' },
    });
  });

  it("takes queue time's rate() window from the metric, in the adapter rule, the per-pod query and KEDA's trigger", () => {
    const metrics = [HpaMetric.queueTime(0.02, { window: '30s' })];
    let adapter!: GpuHpa;
    let keda!: GpuHpa;
    synthChart((c) => {
      adapter = adapterHpa(c, { metrics });
    });
    synthChart((c) => {
      keda = hpa(c, { metrics, backend: 'keda' });
    });
    expect(adapter.metrics[0].window).toBe('30s');
    expect(adapter.adapterRules[0].metricsQuery.match(/\[\w+\]/g)).toEqual(['[30s]', '[30s]']);
    expect(adapter.metrics[0].query!.match(/\[\w+\]/g)).toEqual(['[30s]', '[30s]']);
    expect(keda.kedaTriggers[0].metadata.query.match(/\[\w+\]/g)).toEqual(['[30s]', '[30s]']);
  });

  it('serves resource metrics from the adapter when asked, and queue time as milli-seconds', () => {
    let h!: GpuHpa;
    const objects = synthChart((c) => {
      h = adapterHpa(c, { metrics: [HpaMetric.queueTime(0.05)], adapter: { serveResourceMetrics: true } });
    });
    expect(h.servesResourceMetrics).toBe(true);
    expect(find(objects, 'APIService', 'v1beta1.metrics.k8s.io')).toHaveLength(1);
    expect(one(objects, 'HorizontalPodAutoscaler').spec.metrics[0].pods.target.averageValue).toBe('50m');
    expect(h.adapterRules[0].metricsQuery).toContain('<<.Series>>');
  });

  it('writes a KEDA ScaledObject with Prometheus triggers, scale to zero activated by demand only', () => {
    let h!: GpuHpa;
    const objects = synthChart((c) => {
      h = hpa(c, {
        backend: 'keda',
        metrics: [HpaMetric.gpuUtilization(70), HpaMetric.inflightRequests(8)],
        keda: {
          scaleToZero: { demandQuery: 'sum(rate(nginx_ingress_controller_requests[1m]))', targetPerPod: 100 },
        },
      });
    });
    expect(objects).toMatchSnapshot();
    const so = one(objects, 'ScaledObject');
    expect(so.spec).toMatchObject({ minReplicaCount: 0, maxReplicaCount: 10, cooldownPeriod: 300 });
    expect(so.spec.advanced.horizontalPodAutoscalerConfig.name).toBe('keda-hpa-inference');
    expect(so.spec.advanced.horizontalPodAutoscalerConfig.behavior).toEqual(DEFAULT_BEHAVIOR);
    expect(so.spec.triggers.map((t: { name: string }) => t.name)).toEqual(['gpu', 'inflight', 'demand']);
    expect(so.spec.triggers[0].metadata.activationThreshold).toBe('1000');
    expect(so.spec.triggers[2].metadata.activationThreshold).toBe('0');
    expect(so.spec.triggers).toEqual(h.kedaTriggers);
    expect(h.metrics.map((m) => m.metricName)).toEqual(['s0-prometheus', 's1-prometheus']);
    expect(h.hpaName).toBe('keda-hpa-inference');
    expect(find(objects, 'HorizontalPodAutoscaler')).toHaveLength(0);
    expect(h.adapterRules).toEqual([]);
  });

  it('resolves partial behavior against the defaults', () => {
    synthChart((c) => {
      const h = hpa(c, { behavior: { scaleDown: { stabilizationWindowSeconds: 60 } } });
      expect(h.behavior.scaleDown).toEqual({ ...DEFAULT_BEHAVIOR.scaleDown, stabilizationWindowSeconds: 60 });
      expect(h.behavior.scaleUp).toEqual(DEFAULT_BEHAVIOR.scaleUp);
    });
  });

  it.each([
    [{ minReplicas: 0 }, 'minReplicas must be an integer from 1 to 1000, got 0'],
    [
      { minReplicas: 5, maxReplicas: 3 },
      'maxReplicas must be an integer from 5 (minReplicas) to 1000, got 3',
    ],
    [
      { maxReplicas: 6, gpuSlices: 6 },
      "maxReplicas must be at most 5 (gpuSlices 6 / 1 nvidia.com/gpu per pod, less 1 for the rollout's surge pod), got 6",
    ],
    [
      { gpuSlices: undefined },
      'gpuTopology (or gpuSlices) is required: the target requests 1 nvidia.com/gpu per pod; give its GPU nodes and device plugin, from which the nvidia.com/gpu slices follow (GPU nodes x GPUs per node x timeSlicingReplicas)',
    ],
    [
      {
        maxReplicas: 6,
        gpuSlices: undefined,
        gpuTopology: { devicePlugin: { timeSlicingReplicas: 3 }, gpuNodes: 2 },
      },
      "maxReplicas must be at most 5 (gpuTopology's 6 slices: 2 GPU nodes x 1 GPUs per node x 3 time-slicing replicas, / 1 nvidia.com/gpu per pod, less 1 for the rollout's surge pod), got 6",
    ],
    [
      { gpuTopology: { devicePlugin: { timeSlicingReplicas: 6 }, gpuNodes: 1 } },
      'gpuSlices and gpuTopology are alternatives, got both (gpuSlices 64)',
    ],
    [
      { gpuSlices: undefined, gpuTopology: { devicePlugin: { timeSlicingReplicas: 6 }, gpuNodes: 0 } },
      'gpuTopology.gpuNodes must be an integer from 1 to 10000, got 0',
    ],
    [
      {
        gpuSlices: undefined,
        gpuTopology: { devicePlugin: { timeSlicingReplicas: 6 }, gpuNodes: 1, gpusPerNode: 1.5 },
      },
      'gpuTopology.gpusPerNode must be an integer from 1 to 64, got 1.5',
    ],
    [{ metrics: [] }, 'metrics must list at least one metric (cpu, gpu, inflight or queueTime), got []'],
    [
      { metrics: [HpaMetric.cpuUtilization(0)] },
      'metrics[0].target (percent) must be an integer from 1 to 100, got 0',
    ],
    [
      { metrics: [HpaMetric.gpuUtilization(101)] },
      'metrics[0].target (percent) must be an integer from 1 to 100, got 101',
    ],
    [
      { metrics: [HpaMetric.inflightRequests(0)] },
      'metrics[0].target (requests per pod) must be a number greater than 0',
    ],
    [
      { metrics: [HpaMetric.queueTime(0)] },
      'metrics[0].target (seconds) must be a number at least 0.001 and at most 600, got 0',
    ],
    [
      { metrics: [HpaMetric.cpuUtilization(60), HpaMetric.cpuUtilization(70)] },
      'metrics[1].kind "cpu" is listed twice; list each kind once',
    ],
    [
      { metrics: [{ kind: 'memory', target: 1 } as never] },
      'metrics[0].kind must be one of "cpu", "gpu", "inflight", "queueTime", got "memory"',
    ],
    [
      { backend: 'hpa-v2beta2' as never },
      'backend must be one of "prometheus-adapter", "keda", got "hpa-v2beta2"',
    ],
    [
      { prometheusUrl: 'prometheus:9090' },
      'prometheusUrl must be an http(s) URL such as "http://prometheus.monitoring.svc:9090", got "prometheus:9090"',
    ],
    [
      { behavior: { scaleUp: { policies: [{ type: 'Pods', value: 0, periodSeconds: 15 }] } } },
      'behavior.scaleUp.policies[0].value must be an integer from 1 to 2147483647, got 0',
    ],
    [
      { behavior: { scaleDown: { stabilizationWindowSeconds: 7200 } } },
      'behavior.scaleDown.stabilizationWindowSeconds must be an integer from 0 to 3600, got 7200',
    ],
    [
      { behavior: { scaleDown: { policies: [] } } },
      'behavior.scaleDown.policies must list at least one policy, got []',
    ],
    [
      { backend: 'prometheus-adapter', keda: { scaleToZero: { demandQuery: 'x', targetPerPod: 1 } } },
      'keda.scaleToZero needs backend "keda", got backend "prometheus-adapter"',
    ],
    [
      { adapter: { namespace: 'monitoring' } },
      'adapter needs backend "prometheus-adapter" (GpuHpa\'s default backend is "keda"), got backend "keda"',
    ],
    [
      { backend: 'prometheus-adapter', keda: { fallback: { failureThreshold: 3, replicas: 2 } } },
      'keda.fallback needs backend "keda", got backend "prometheus-adapter"',
    ],
    [
      { keda: { fallback: { failureThreshold: 3, replicas: 2 } } },
      "keda.fallback needs every trigger to be of metric type AverageValue (KEDA's admission webhook rejects the rest), got queueTime (Value)",
    ],
    [
      {
        metrics: [HpaMetric.cpuUtilization(60), HpaMetric.inflightRequests(4)],
        keda: { fallback: { failureThreshold: 3, replicas: 2 } },
      },
      'keda.fallback needs every trigger to be of metric type AverageValue',
    ],
    [
      { metrics: [HpaMetric.inflightRequests(4)], keda: { fallback: { failureThreshold: 0, replicas: 2 } } },
      'keda.fallback.failureThreshold must be an integer from 1 to 1000, got 0',
    ],
    [
      {
        minReplicas: 2,
        maxReplicas: 6,
        metrics: [HpaMetric.inflightRequests(4)],
        keda: { fallback: { failureThreshold: 3, replicas: 7 } },
      },
      'keda.fallback.replicas must be an integer from 2 (minReplicas) to 6 (maxReplicas), got 7',
    ],
    [
      {
        metrics: [HpaMetric.inflightRequests(4)],
        keda: { fallback: { failureThreshold: 3, replicas: 2, behavior: 'scalingModifiers' as never } },
      },
      'keda.fallback.behavior must be one of "static", "currentReplicas", "currentReplicasIfHigher", "currentReplicasIfLower", got "scalingModifiers"',
    ],
    [
      {
        backend: 'keda',
        metrics: [HpaMetric.cpuUtilization(60)],
        keda: { scaleToZero: { demandQuery: 'up', targetPerPod: 10 } },
      },
      'metrics must not include cpu with keda.scaleToZero',
    ],
    [
      { metrics: [HpaMetric.queueTime(0.02, { window: '1 minute' })] },
      'metrics[0].window must be a Prometheus duration such as "30s", "2m" or "1h", got "1 minute"',
    ],
    [
      { metrics: [{ kind: 'inflight', target: 8, window: '1m' }] },
      'metrics[0].window applies to queueTime only, got window "1m" on kind "inflight"',
    ],
    [
      {
        backend: 'keda',
        metrics: [HpaMetric.inflightRequests(4)],
        keda: { scaleToZero: { demandQuery: ' ', targetPerPod: 10 } },
      },
      'keda.scaleToZero.demandQuery must be a PromQL expression, got ""',
    ],
    [
      { backend: 'keda', keda: { pollingIntervalSeconds: 0 } },
      'keda.pollingIntervalSeconds must be an integer from 1 to 3600, got 0',
    ],
    [
      { backend: 'prometheus-adapter', adapter: { deploy: false, serveResourceMetrics: true } },
      'adapter.serveResourceMetrics needs adapter.deploy true, got deploy false',
    ],
  ] as [Partial<GpuHpaProps>, string][])('rejects %j', (props, message) => {
    expect(() => synthChart((c) => hpa(c, props))).toThrow(atPath(message));
  });

  it('names the path of the construct whose prop is wrong, down to a child construct', () => {
    expect(() => synthChart((c) => hpa(c, { minReplicas: 3, maxReplicas: 0 }))).toThrow(
      /^test\/Hpa: maxReplicas must be an integer from 3 \(minReplicas\) to 1000, got 0$/,
    );
    expect(() => synthChart((c) => adapterHpa(c, { adapter: { namespace: 'Monitoring' } }))).toThrow(
      /^test\/Hpa\/Adapter: adapter\.namespace must be a DNS-1123 label/,
    );
  });

  it('refuses a second autoscaler on the same service', () => {
    expect(() =>
      synthChart((c) => {
        const s = service(c);
        new GpuHpa(c, 'A', { target: s, prometheusUrl: PROM, gpuSlices: 64 });
        new GpuHpa(c, 'B', { target: s, prometheusUrl: PROM, gpuSlices: 64, name: 'other' });
      }),
    ).toThrow(
      'GpuInferenceService inference is already scaled by GpuHpa inference; a second autoscaler (GpuHpa other) would fight over replicas',
    );
  });
});

describe('GpuHpa on a GPU topology', () => {
  const topologyHpa = (c: Chart, timeSlicingReplicas: number, props: Partial<GpuHpaProps> = {}) => {
    const devicePlugin = new NvidiaDevicePlugin(c, 'Dp', { timeSlicingReplicas });
    return hpa(c, {
      gpuSlices: undefined,
      gpuTopology: { devicePlugin, gpuNodes: 2, gpusPerNode: 2 },
      maxReplicas: 4 * timeSlicingReplicas - 1,
      ...props,
    });
  };

  it("derives the slices from the device plugin's time-slicing and the node count, and fills them", () => {
    let h!: GpuHpa;
    synthChart((c) => {
      h = topologyHpa(c, 3);
    });
    expect(h.gpuSlices).toBe(12);
    expect(h.maxReplicas).toBe(11);
    expect(() => synthChart((c) => topologyHpa(c, 3, { maxReplicas: 12 }))).toThrow(
      atPath(
        "maxReplicas must be at most 11 (gpuTopology's 12 slices: 2 GPU nodes x 2 GPUs per node x 3 time-slicing replicas",
      ),
    );
  });

  it('warns (warningsOf) when GPU utilization drives the HPA on time-sliced GPUs, and only then', () => {
    const gpu = [HpaMetric.gpuUtilization(70), HpaMetric.inflightRequests(8)];
    let warnings: string[] = [];
    synthChart((c) => {
      topologyHpa(c, 3, { metrics: gpu });
      warnings = warningsOf(c);
    });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /^test\/Hpa: metrics include gpuUtilization on GPUs time-sliced 3 ways \(gpuTopology\): every pod on a GPU reads the whole GPU's utilization/,
    );
    for (const build of [
      (c: Chart) => topologyHpa(c, 1, { metrics: gpu }),
      (c: Chart) => topologyHpa(c, 3),
    ]) {
      synthChart((c) => {
        build(c);
        warnings = warningsOf(c);
      });
      expect(warnings).toEqual([]);
    }
  });
});

describe("main.ts's GPU topology", () => {
  it('fits its bounds: one A40 time-sliced six ways, five replicas plus the surge pod, no warnings', () => {
    const { system } = synthSystem();
    expect(system.devicePlugin.timeSlicingReplicas).toBe(6);
    expect(system.hpa.gpuSlices).toBe(6);
    expect(system.hpa.maxReplicas).toBe(5);
    expect(warningsOf(system.app)).toEqual([]);
    const two = synthSystem({ gpus: 2 }).system.hpa;
    expect([two.gpuSlices, two.maxReplicas]).toEqual([12, 11]);
    expect(() => synthSystem({ maxReplicas: 6 })).toThrow(
      /^40-autoscaling\/Autoscaler: maxReplicas must be at most 5 /,
    );
  });

  it('warns when its HPA scales on GPU utilization (the GPUs are time-sliced)', () => {
    const { system } = synthSystem({ hpaMetrics: [HpaMetric.gpuUtilization(70)] });
    expect(warningsOf(system.app)).toEqual([
      expect.stringMatching(
        /^40-autoscaling\/Autoscaler: metrics include gpuUtilization on GPUs time-sliced 6 ways/,
      ),
    ]);
  });
});

describe('further validation messages', () => {
  it.each([
    [{ name: 'Scaler' }, 'name must be a DNS-1123 label'],
    [
      { behavior: { scaleUp: { selectPolicy: 'Fastest' as never } } },
      'behavior.scaleUp.selectPolicy must be one of "Max", "Min", "Disabled", got "Fastest"',
    ],
    [
      { behavior: { scaleUp: { policies: [{ type: 'Replicas' as never, value: 1, periodSeconds: 15 }] } } },
      'behavior.scaleUp.policies[0].type must be one of "Pods", "Percent", got "Replicas"',
    ],
    [
      { behavior: { scaleDown: { policies: [{ type: 'Pods' as const, value: 1, periodSeconds: 3600 }] } } },
      'behavior.scaleDown.policies[0].periodSeconds must be an integer from 1 to 1800, got 3600',
    ],
    [
      { backend: 'keda' as const, keda: { cooldownPeriodSeconds: -1 } },
      'keda.cooldownPeriodSeconds must be an integer from 0 to 86400, got -1',
    ],
    [
      {
        backend: 'keda' as const,
        metrics: [HpaMetric.inflightRequests(4)],
        keda: { scaleToZero: { demandQuery: 'up', targetPerPod: 0 } },
      },
      'keda.scaleToZero.targetPerPod must be a number greater than 0',
    ],
    [
      {
        backend: 'keda' as const,
        metrics: [HpaMetric.inflightRequests(4)],
        keda: { scaleToZero: { demandQuery: 'up', targetPerPod: 5, activationThreshold: -1 } },
      },
      'keda.scaleToZero.activationThreshold must be a number at least 0',
    ],
  ] as [Partial<GpuHpaProps>, string][])('GpuHpa rejects %j', (props, message) => {
    expect(() => synthChart((c) => hpa(c, props))).toThrow(atPath(message));
  });
});

describe('GpuHpa on a GPU topology of node groups', () => {
  const plugin = (c: Chart) =>
    new NvidiaDevicePlugin(c, 'Dp', {
      timeSlicingReplicas: 2,
      nodeGroups: [
        { name: 'a40', timeSlicingReplicas: 4 },
        { name: 'h100', migStrategy: 'single' },
      ],
    });
  const groupHpa = (c: Chart, topology: Partial<GpuTopology>, props: Partial<GpuHpaProps> = {}) =>
    hpa(c, {
      gpuSlices: undefined,
      gpuTopology: { devicePlugin: plugin(c), ...topology },
      maxReplicas: 1,
      ...props,
    });

  it("sums each group's nodes x GPUs per node x its own config's replicas", () => {
    const topology = {
      gpuNodes: 1,
      gpusPerNode: 2,
      nodeGroups: [
        { config: 'a40', gpuNodes: 3 },
        { config: 'h100', gpuNodes: 2, gpusPerNode: 8 },
      ],
    };
    let h!: GpuHpa;
    let slices = 0;
    synthChart((c) => {
      h = groupHpa(c, topology, { maxReplicas: 31 });
      slices = gpuSlicesOf({
        devicePlugin: h.node.scope!.node.findChild('Dp') as NvidiaDevicePlugin,
        ...topology,
      });
    });
    // default 1 x 2 x 2 = 4, a40 3 x 1 x 4 = 12, h100 2 x 8 x 1 = 16
    expect([h.gpuSlices, slices, h.maxReplicas]).toEqual([32, 32, 31]);
    expect(() => synthChart((c) => groupHpa(c, topology, { maxReplicas: 32 }))).toThrow(
      atPath(
        "maxReplicas must be at most 31 (gpuTopology's 32 slices: 1 GPU nodes x 2 GPUs per node x 2 time-slicing replicas (default) + 3 GPU nodes x 1 GPUs per node x 4 time-slicing replicas (a40) + 2 GPU nodes x 8 GPUs per node x 1 time-slicing replicas (h100), / 1 nvidia.com/gpu per pod, less 1 for the rollout's surge pod), got 32",
      ),
    );
  });

  it('counts only the node groups when no node runs the default config', () => {
    let h!: GpuHpa;
    synthChart((c) => {
      h = groupHpa(c, { nodeGroups: [{ config: 'h100', gpuNodes: 1, gpusPerNode: 4 }] }, { maxReplicas: 3 });
    });
    expect(h.gpuSlices).toBe(4);
  });

  it('warns about gpuUtilization when any counted group is time-sliced, with its most pods per GPU', () => {
    const gpu = [HpaMetric.gpuUtilization(70)];
    let warnings: string[] = [];
    synthChart((c) => {
      groupHpa(c, { nodeGroups: [{ config: 'a40', gpuNodes: 1 }] }, { metrics: gpu });
      warnings = warningsOf(c);
    });
    expect(warnings).toEqual([
      expect.stringMatching(/^test\/Hpa: metrics include gpuUtilization on GPUs time-sliced 4 ways/),
    ]);
    synthChart((c) => {
      groupHpa(c, { nodeGroups: [{ config: 'h100', gpuNodes: 2 }] }, { metrics: gpu });
      warnings = warningsOf(c);
    });
    expect(warnings).toEqual([]);
  });

  it.each([
    [{}, 'gpuTopology needs gpuNodes (nodes on the default device plugin config) or nodeGroups, got neither'],
    [
      { nodeGroups: [{ config: 'l4', gpuNodes: 1 }] },
      'gpuTopology.nodeGroups[0].config must name one of the device plugin\'s node groups ("a40", "h100"), got "l4"',
    ],
    [
      {
        nodeGroups: [
          { config: 'a40', gpuNodes: 1 },
          { config: 'a40', gpuNodes: 2 },
        ],
      },
      'gpuTopology.nodeGroups[1].config "a40" is listed twice; list each node group once',
    ],
    [
      { nodeGroups: [{ config: 'a40', gpuNodes: 0 }] },
      'gpuTopology.nodeGroups[0].gpuNodes must be an integer from 1 to 10000, got 0',
    ],
    [
      { nodeGroups: [{ config: 'h100', gpuNodes: 1, gpusPerNode: 65 }] },
      'gpuTopology.nodeGroups[0].gpusPerNode must be an integer from 1 to 64, got 65',
    ],
    [
      { gpuNodes: -1, nodeGroups: [{ config: 'a40', gpuNodes: 1 }] },
      'gpuTopology.gpuNodes must be an integer from 0 to 10000, got -1',
    ],
  ] as [Partial<GpuTopology>, string][])('rejects gpuTopology %j', (topology, message) => {
    expect(() => synthChart((c) => groupHpa(c, topology))).toThrow(
      new RegExp(`^test/Hpa: ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
    );
  });
});
