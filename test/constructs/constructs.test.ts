import type { Chart } from 'cdk8s';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  AlertRules,
  Dashboards,
  DcgmMonitoring,
  DEFAULT_BEHAVIOR,
  ENV,
  GpuHpa,
  GpuInferenceService,
  HpaMetric,
  IMAGES,
  warningsOf,
  LIVENESS_PATH,
  GRPC_PORT,
  METRICS_PORT,
  ModelSource,
  MODEL_REPOSITORY_PATH,
  Monitoring,
  NvidiaDevicePlugin,
  PrometheusAdapter,
  READINESS_PATH,
  SERVER_PORT,
  SERVER_UID,
  type GpuHpaProps,
} from '../../constructs/index.ts';
import { atPath, find, one, repoRoot, synthChart, synthSystem, type K8sObject } from './helpers.ts';
import { IMAGE_NAME } from '../../server/image/build.ts';

const PROM = 'http://prometheus.monitoring.svc:9090';

function service(
  chart: Chart,
  props: ConstructorParameters<typeof GpuInferenceService>[2] = {},
): GpuInferenceService {
  return new GpuInferenceService(chart, 'Svc', { namespace: 'ml', ...props });
}

function hpa(chart: Chart, props: Partial<GpuHpaProps> = {}): GpuHpa {
  return new GpuHpa(chart, 'Hpa', { target: service(chart), prometheusUrl: PROM, gpuSlices: 64, ...props });
}

/** A GpuHpa on the prometheus-adapter backend (the library's default is KEDA). */
function adapterHpa(chart: Chart, props: Partial<GpuHpaProps> = {}): GpuHpa {
  return hpa(chart, { backend: 'prometheus-adapter', ...props });
}

describe('GpuInferenceService', () => {
  it('runs the server on the contract with GPU, security context, probes and drain', () => {
    const objects = synthChart((c) => service(c, { runtimeClassName: 'nvidia' }));
    expect(objects).toMatchSnapshot();
    const pod = one(objects, 'Deployment').spec.template.spec;
    const c = pod.containers[0];
    expect(c.image).toBe(IMAGES.inferenceServer);
    // What `npm run image` commits, under its local name, tagged with the package version; the node
    // runs the imported image without asking a registry.
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(IMAGES.inferenceServer).toBe(`localhost/cdk8s-gpu-inference/server:${pkg.version}`);
    expect(IMAGES.inferenceServer).toBe(IMAGE_NAME);
    expect(c.imagePullPolicy).toBe('IfNotPresent');
    expect(c.ports).toEqual([
      { name: 'http', containerPort: SERVER_PORT, protocol: 'TCP' },
      { name: 'grpc', containerPort: GRPC_PORT, protocol: 'TCP' },
      { name: 'metrics', containerPort: METRICS_PORT, protocol: 'TCP' },
    ]);
    expect(c.resources.limits).toEqual({ cpu: '2000m', memory: '8Gi', 'nvidia.com/gpu': 1 });
    expect(c.readinessProbe.httpGet.path).toBe(READINESS_PATH);
    expect(c.livenessProbe.httpGet.path).toBe(LIVENESS_PATH);
    expect(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold).toBe(300);
    // Liveness never waits for the models (server/README.md); readiness does, so it bounds the load.
    expect(c.startupProbe.httpGet.path).toBe(READINESS_PATH);
    expect(c.env).toContainEqual({ name: 'MODEL_REPOSITORY', value: MODEL_REPOSITORY_PATH });
    expect(c.env).toContainEqual({ name: 'DRAIN_SECONDS', value: '20' });
    expect(c.lifecycle).toEqual({ preStop: { sleep: { seconds: 5 } } });
    expect(pod.terminationGracePeriodSeconds).toBe(30);
    expect(c.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: SERVER_UID,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.runtimeClassName).toBe('nvidia');
    expect(pod.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(pod.nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true' });
    expect(one(objects, 'Deployment').spec.replicas).toBe(1);
    expect(one(objects, 'Service', 'inference').spec.type).toBe('ClusterIP');
    expect(one(objects, 'PodDisruptionBudget').spec.maxUnavailable).toBe(1);
    expect(one(objects, 'ServiceMonitor').metadata.labels.release).toBe('kube-prometheus-stack');
  });

  it('mounts each model source at the model repository path', () => {
    const podWith = (modelSource?: ModelSource) =>
      one(
        synthChart((c) => service(c, { modelSource })),
        'Deployment',
      ).spec.template.spec;
    const pvc = podWith(ModelSource.persistentVolumeClaim('models'));
    expect(pvc.volumes).toContainEqual({
      name: 'models',
      persistentVolumeClaim: { claimName: 'models', readOnly: true },
    });
    expect(pvc.containers[0].volumeMounts).toContainEqual({
      name: 'models',
      mountPath: MODEL_REPOSITORY_PATH,
      readOnly: true,
    });
    const host = podWith(ModelSource.hostPath('/srv/models'));
    expect(host.volumes).toContainEqual({
      name: 'models',
      hostPath: { path: '/srv/models', type: 'Directory' },
    });
    const init = podWith(ModelSource.initContainer('amazon/aws-cli:2', ['aws', 's3', 'sync']));
    expect(init.initContainers[0].volumeMounts).toEqual([
      { name: 'models', mountPath: MODEL_REPOSITORY_PATH },
    ]);
    expect(init.initContainers[0].securityContext.runAsNonRoot).toBe(true);
    const baked = podWith();
    expect(baked.volumes.map((v: { name: string }) => v.name)).toEqual(['tmp']);
  });

  it('runs on CPU without GPU scheduling when gpus is 0, and exposes a LoadBalancer', () => {
    const objects = synthChart((c) => service(c, { gpus: 0, serviceType: 'LoadBalancer' }));
    const pod = one(objects, 'Deployment').spec.template.spec;
    expect(pod.containers[0].resources.limits['nvidia.com/gpu']).toBeUndefined();
    expect(pod.tolerations).toBeUndefined();
    expect(pod.nodeSelector).toBeUndefined();
    expect(one(objects, 'Service', 'inference').spec.type).toBe('LoadBalancer');
  });

  it('builds PromQL from the contract metrics and its own labels', () => {
    synthChart((c) => {
      const s = service(c);
      expect(s.requestRateQuery()).toBe(
        'sum (rate(inference_requests_total{namespace="ml",service="inference-metrics"}[1m]))',
      );
      expect(s.latencyQuantileQuery(0.99, { window: '5m' })).toBe(
        'histogram_quantile(0.99, sum by (le) (rate(inference_request_duration_seconds_bucket{namespace="ml",service="inference-metrics"}[5m])))',
      );
      expect(s.inflightQuery({ byPod: true })).toBe(
        'sum by (pod) (inference_inflight_requests{namespace="ml",service="inference-metrics"})',
      );
      expect(s.queueDepthQuery()).toBe(
        'sum (inference_queue_depth{namespace="ml",service="inference-metrics"})',
      );
      expect(s.gpuUtilizationQuery()).toContain(
        'DCGM_FI_DEV_GPU_UTIL{exported_namespace="ml",exported_pod=~"inference-[a-z0-9]+-[a-z0-9]+"}',
      );
      expect(() => s.latencyQuantileQuery(1.5)).toThrow(
        'quantile must be a number greater than 0 and at most 1, got 1.5',
      );
      expect(() => s.requestRateQuery({ window: 'five' })).toThrow(
        'window must be a Prometheus duration such as "30s", "2m" or "1h", got "five"',
      );
    });
  });

  it('passes extra env and maxBodyBytes through, but no env key the contract owns', () => {
    const objects = synthChart((c) => service(c, { maxBodyBytes: 1024, env: { OMP_NUM_THREADS: '4' } }));
    const env = one(objects, 'Deployment').spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'MAX_BODY_BYTES', value: '1024' });
    expect(env).toContainEqual({ name: 'OMP_NUM_THREADS', value: '4' });
    expect(env.filter((e: { name: string }) => e.name === 'PORT')).toEqual([
      { name: 'PORT', value: String(SERVER_PORT) },
    ]);
    const defaults = one(
      synthChart((c) => service(c)),
      'Deployment',
    ).spec.template.spec.containers[0].env;
    expect(defaults.map((e: { name: string }) => e.name)).not.toContain('MAX_BODY_BYTES');
    for (const key of Object.values(ENV)) {
      expect(() => synthChart((c) => service(c, { env: { [key]: 'x' } }))).toThrow(
        `env.${key} is "x", but ${key} is a contract variable: `,
      );
    }
  });

  it.each([
    [
      { env: { PORT: '9' } },
      'env.PORT is "9", but PORT is a contract variable: fixed by the contract at 8080, which the probes and Service target (set servicePort for the Service\'s port)',
    ],
    [
      { env: { DRAIN_SECONDS: '60' } },
      'env.DRAIN_SECONDS is "60", but DRAIN_SECONDS is a contract variable: set drainSeconds instead',
    ],
    [
      { env: { LOG_LEVEL: 'debug' } },
      'env.LOG_LEVEL is "debug", but LOG_LEVEL is a contract variable: set logLevel instead',
    ],
    [
      { env: { MAX_BODY_BYTES: '1' } },
      'env.MAX_BODY_BYTES is "1", but MAX_BODY_BYTES is a contract variable: set maxBodyBytes instead',
    ],
    [
      { env: { MODEL_REPOSITORY: '/data' } },
      'env.MODEL_REPOSITORY is "/data", but MODEL_REPOSITORY is a contract variable: fixed by the contract at /models',
    ],
    [
      { env: { HOST: '127.0.0.1' } },
      'env.HOST is "127.0.0.1", but HOST is a contract variable: fixed by the contract at 0.0.0.0',
    ],
    [{ maxBodyBytes: 0 }, 'maxBodyBytes must be an integer from 1 to 2147483647, got 0'],
    [{ gpus: 17 }, 'gpus must be an integer from 0 to 16, got 17'],
    [{ replicas: -1 }, 'replicas must be an integer from 0 to 1000, got -1'],
    [{ cpu: '2 cores' }, 'cpu must be a Kubernetes quantity such as "500m", "2" or "8Gi", got "2 cores"'],
    [{ memory: '8GB' }, 'memory must be a Kubernetes quantity such as "500m", "2" or "8Gi", got "8GB"'],
    [{ name: 'Inference' }, 'name must be a DNS-1123 label'],
    [{ namespace: 'ml_team' }, 'namespace must be a DNS-1123 label'],
    [
      { serviceType: 'Ingress' as never },
      'serviceType must be one of "ClusterIP", "LoadBalancer", "NodePort", got "Ingress"',
    ],
    [{ servicePort: 70000 }, 'servicePort must be an integer from 1 to 65535, got 70000'],
    [{ drainSeconds: 1.5 }, 'drainSeconds must be an integer from 0 to 3600, got 1.5'],
    [{ startupTimeoutSeconds: 5 }, 'startupTimeoutSeconds must be an integer from 10 to 3600, got 5'],
    [{ image: 'my image' }, 'image must be a container image reference without spaces, got "my image"'],
    [{ env: { 'BAD-KEY': 'x' } }, 'env key must match [A-Za-z_][A-Za-z0-9_]*, got "BAD-KEY"'],
    [
      { logLevel: 'loud' },
      'logLevel must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got "loud"',
    ],
    [{ scrape: { interval: '15' } }, 'scrape.interval must be a Prometheus duration'],
  ])('rejects %j', (props, message) => {
    expect(() => synthChart((c) => service(c, props))).toThrow(atPath(message));
  });
});

describe('NvidiaDevicePlugin', () => {
  it('shares each GPU with time-slicing and creates the nvidia RuntimeClass', () => {
    const objects = synthChart((c) => new NvidiaDevicePlugin(c, 'Dp', { timeSlicingReplicas: 6 }));
    expect(objects).toMatchSnapshot();
    const config = JSON.parse(one(objects, 'ConfigMap').data['config.yaml']);
    expect(config.sharing.timeSlicing.resources).toEqual([{ name: 'nvidia.com/gpu', replicas: 6 }]);
    expect(config.version).toBe('v1');
    const ds = one(objects, 'DaemonSet');
    expect(ds.metadata.namespace).toBe('kube-system');
    expect(ds.spec.template.spec.containers[0].image).toBe(IMAGES.nvidiaDevicePlugin);
    expect(ds.spec.template.spec.containers[0].env).toContainEqual({
      name: 'CONFIG_FILE',
      value: '/config/config.yaml',
    });
    expect(one(objects, 'RuntimeClass')).toMatchObject({ metadata: { name: 'nvidia' }, handler: 'nvidia' });
  });

  it('writes migStrategy and deviceListStrategy into the plugin config', () => {
    const config = (props: ConstructorParameters<typeof NvidiaDevicePlugin>[2]) =>
      JSON.parse(
        one(
          synthChart((c) => new NvidiaDevicePlugin(c, 'Dp', props)),
          'ConfigMap',
        ).data['config.yaml'],
      );
    expect(config({}).flags).toEqual({ migStrategy: 'none', failOnInitError: true });
    expect(
      config({ migStrategy: 'single', deviceListStrategy: 'volume-mounts', timeSlicingReplicas: 2 }),
    ).toMatchObject({
      flags: {
        migStrategy: 'single',
        failOnInitError: true,
        plugin: { deviceListStrategy: 'volume-mounts' },
      },
      sharing: { timeSlicing: { resources: [{ name: 'nvidia.com/gpu', replicas: 2 }] } },
    });
    expect(config({ migStrategy: 'mixed' }).flags.migStrategy).toBe('mixed');
  });

  it('writes no sharing section without time-slicing', () => {
    const config = JSON.parse(
      one(
        synthChart((c) => new NvidiaDevicePlugin(c, 'Dp')),
        'ConfigMap',
      ).data['config.yaml'],
    );
    expect(config.sharing).toBeUndefined();
  });

  it.each([
    [{ timeSlicingReplicas: 0 }, 'timeSlicingReplicas must be an integer from 1 to 64, got 0'],
    [{ timeSlicingReplicas: 65 }, 'timeSlicingReplicas must be an integer from 1 to 64, got 65'],
    [{ migStrategy: 'all' as never }, 'migStrategy must be one of "none", "single", "mixed", got "all"'],
    [
      { deviceListStrategy: 'cdi-cri' as never },
      'deviceListStrategy must be one of "envvar", "volume-mounts", got "cdi-cri"',
    ],
    [
      { migStrategy: 'mixed' as const, timeSlicingReplicas: 2 },
      'timeSlicingReplicas must be 1 with migStrategy "mixed"',
    ],
  ])('rejects %j', (props, message) => {
    expect(() => synthChart((c) => new NvidiaDevicePlugin(c, 'Dp', props))).toThrow(atPath(message));
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

describe('AlertRules', () => {
  it('writes the recipe HighGPULoad on DCGM_FI_DEV_GPU_UTIL and the serving alerts', () => {
    let rules!: AlertRules;
    const objects = synthChart((c) => {
      const h = adapterHpa(c);
      rules = new AlertRules(c, 'Alerts', {
        service: h.node.scope!.node.findChild('Svc') as GpuInferenceService,
        hpa: h,
      });
    });
    expect(one(objects, 'PrometheusRule')).toMatchSnapshot();
    const all = rules.groups.flatMap((g) => g.rules);
    expect(all.map((r) => r.alert)).toEqual([
      'HighGPULoad',
      'GpuMemoryPressure',
      'GpuXidErrors',
      'GpuTemperatureHigh',
      'InferenceLatencyP99High',
      'InferenceErrorRatioHigh',
      'InferenceQueueRejections',
      'InferenceProviderFallback',
      'InferencePodsNotReady',
      'HpaAtMaxReplicas',
    ]);
    const high = all[0];
    expect(high).toMatchObject({ for: '2m', labels: { severity: 'warning' } });
    expect(high.expr).toBe('max by (Hostname, gpu, UUID) (DCGM_FI_DEV_GPU_UTIL) > 85');
    const pr = one(objects, 'PrometheusRule');
    expect(pr.spec.groups[0].rules[0].expr).toBe(high.expr);
    expect(JSON.parse(rules.rulesFile())).toEqual({ groups: rules.groups });
  });

  it.each([
    [['Rules', 'ml'], 'addRulesConfigMap name must be a DNS-1123 label'],
    [['rules', 'ml_team'], 'addRulesConfigMap namespace must be a DNS-1123 label'],
    [
      ['rules', 'ml', 'rules/alerts.yaml'],
      "addRulesConfigMap key must be a file name of letters, digits, '-', '_' and '.', got \"rules/alerts.yaml\"",
    ],
  ])('addRulesConfigMap rejects %j', (args, message) => {
    const [name, namespace, key] = args;
    expect(() =>
      synthChart((c) =>
        new AlertRules(c, 'A', { service: service(c) }).addRulesConfigMap(c, name, namespace, key),
      ),
    ).toThrow(atPath(message));
  });

  it("takes every serving and GPU alert's windows and for: durations from thresholds", () => {
    let rules!: AlertRules;
    synthChart((c) => {
      const s = service(c);
      rules = new AlertRules(c, 'A', {
        service: s,
        hpa: new GpuHpa(c, 'H', { target: s, prometheusUrl: PROM, gpuSlices: 64 }),
        thresholds: {
          gpuUtilizationFor: '6s',
          gpuMemoryFor: '15s',
          xidErrorsWindow: '15s',
          gpuTemperatureFor: '15s',
          latencyP99Window: '20s',
          latencyP99For: '21s',
          errorRatioWindow: '30s',
          errorRatioFor: '31s',
          rejectionsWindow: '40s',
          rejectionsFor: '0s',
          podsNotReadyFor: '30s',
          atMaxReplicasFor: '45s',
          providerFallbackFor: '50s',
        },
      });
    });
    const byName = Object.fromEntries(rules.groups.flatMap((g) => g.rules).map((r) => [r.alert, r]));
    const timing = (name: string) => [byName[name].for, byName[name].expr.match(/\[[^\]]+\]/g) ?? []];
    expect(timing('HighGPULoad')).toEqual(['6s', []]);
    expect(timing('GpuMemoryPressure')).toEqual(['15s', []]);
    expect(timing('GpuXidErrors')).toEqual(['0s', ['[15s]']]);
    expect(timing('GpuTemperatureHigh')).toEqual(['15s', []]);
    expect(timing('InferenceLatencyP99High')).toEqual(['21s', ['[20s]']]);
    expect(timing('InferenceErrorRatioHigh')).toEqual(['31s', ['[30s]', '[30s]']]);
    expect(timing('InferenceQueueRejections')).toEqual(['0s', ['[40s]']]);
    expect(timing('InferencePodsNotReady')).toEqual(['30s', []]);
    expect(timing('HpaAtMaxReplicas')).toEqual(['45s', []]);
    expect(timing('InferenceProviderFallback')).toEqual(['50s', []]);
  });

  it.each([
    [
      { gpuUtilizationPercent: 0 },
      'thresholds.gpuUtilizationPercent must be an integer from 1 to 100, got 0',
    ],
    [{ gpuUtilizationFor: '2 minutes' }, 'thresholds.gpuUtilizationFor must be a Prometheus duration'],
    [
      { latencyP99Seconds: 0 },
      'thresholds.latencyP99Seconds must be a number greater than 0 and at most 600, got 0',
    ],
    [{ errorRatio: 2 }, 'thresholds.errorRatio must be a number greater than 0 and at most 1, got 2'],
    [
      { gpuTemperatureCelsius: 200 },
      'thresholds.gpuTemperatureCelsius must be an integer from 30 to 120, got 200',
    ],
    [
      { latencyP99Window: '0s' },
      'thresholds.latencyP99Window must be a Prometheus duration from 1s to 1d such as "30s", "2m" or "1h", got "0s"',
    ],
    [
      { latencyP99For: '2d' },
      'thresholds.latencyP99For must be a Prometheus duration from 0s to 1d such as "30s", "2m" or "1h", got "2d"',
    ],
    [
      { errorRatioWindow: '5 m' },
      'thresholds.errorRatioWindow must be a Prometheus duration from 1s to 1d such as "30s", "2m" or "1h", got "5 m"',
    ],
    [
      { errorRatioFor: '-1m' },
      'thresholds.errorRatioFor must be a Prometheus duration from 0s to 1d such as "30s", "2m" or "1h", got "-1m"',
    ],
    [
      { rejectionsWindow: '25h' },
      'thresholds.rejectionsWindow must be a Prometheus duration from 1s to 1d such as "30s", "2m" or "1h", got "25h"',
    ],
    [
      { rejectionsFor: 'soon' },
      'thresholds.rejectionsFor must be a Prometheus duration from 0s to 1d such as "30s", "2m" or "1h", got "soon"',
    ],
    [
      { gpuMemoryFor: '1w' },
      'thresholds.gpuMemoryFor must be a Prometheus duration from 0s to 1d such as "30s", "2m" or "1h", got "1w"',
    ],
    [
      { gpuTemperatureFor: '5' },
      'thresholds.gpuTemperatureFor must be a Prometheus duration from 0s to 1d such as "30s", "2m" or "1h", got "5"',
    ],
    [
      { xidErrorsWindow: '0ms' },
      'thresholds.xidErrorsWindow must be a Prometheus duration from 1s to 1d such as "30s", "2m" or "1h", got "0ms"',
    ],
  ])('rejects thresholds %j', (thresholds, message) => {
    expect(() => synthChart((c) => new AlertRules(c, 'A', { service: service(c), thresholds }))).toThrow(
      message,
    );
  });
});

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
  it.each([
    [{ preStopSeconds: 61 }, 'preStopSeconds must be an integer from 0 to 60, got 61'],
    [{ maxUnavailable: 0 }, 'maxUnavailable must be an integer from 1 to 1000, got 0'],
  ])('GpuInferenceService rejects %j', (props, message) => {
    expect(() => synthChart((c) => service(c, props))).toThrow(atPath(message));
  });

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

  it.each([
    [{ gpuMemoryPercent: 101 }, 'thresholds.gpuMemoryPercent must be an integer from 1 to 100, got 101'],
    [
      { rejectionsPerSecond: -1 },
      'thresholds.rejectionsPerSecond must be a number at least 0 and at most 1000000, got -1',
    ],
    [{ atMaxReplicasFor: '15' }, 'thresholds.atMaxReplicasFor must be a Prometheus duration'],
    [{ podsNotReadyFor: 'ten minutes' }, 'thresholds.podsNotReadyFor must be a Prometheus duration'],
  ])('AlertRules rejects thresholds %j', (thresholds, message) => {
    expect(() => synthChart((c) => new AlertRules(c, 'A', { service: service(c), thresholds }))).toThrow(
      message,
    );
  });

  it('Monitoring, Dashboards, DcgmMonitoring and PrometheusAdapter reject bad names, durations and URLs', () => {
    expect(() => synthChart((c) => new Monitoring(c, 'M', { releaseName: 'Kube_Prom' }))).toThrow(
      'releaseName must be a DNS-1123 label',
    );
    expect(() => synthChart((c) => new Monitoring(c, 'M', { namespace: 'Monitoring' }))).toThrow(
      'namespace must be a DNS-1123 label',
    );
    expect(() =>
      synthChart((c) => new Dashboards(c, 'D', { service: service(c), namespace: 'Grafana' })),
    ).toThrow('namespace must be a DNS-1123 label');
    expect(() => synthChart((c) => new DcgmMonitoring(c, 'Dcgm', { namespace: 'gpu_monitoring' }))).toThrow(
      'namespace must be a DNS-1123 label',
    );
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
