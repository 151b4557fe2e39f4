/** GpuHpa's prometheus-adapter backend: the adapter's rules, an autoscaling/v2 HPA, and the adapter. */
import { ApiObject } from 'cdk8s';
import { k8s } from 'cdk8s-plus-27';
import type { Construct } from 'constructs';
import { METRICS } from '../contract.ts';
import { DCGM, DCGM_LABELS } from '../dcgm-metrics.ts';
import type { IGpuScalable } from '../gpu-scalable.ts';
import {
  PrometheusAdapter,
  RESOURCE_RULES,
  type AdapterConfig,
  type AdapterRule,
} from '../prometheus-adapter.ts';
import { ADAPTER_TEMPLATE as A, histogramMean, meanOfRates, podsSelector } from '../promql.ts';
import { toQuantity } from '../autoscaling-v2/quantity.ts';
import type { HpaBackendBinding, HpaBackendContext, IHpaBackend } from './backend.ts';
import {
  DEFAULT_QUEUE_TIME_WINDOW,
  cpuMetric,
  windowOf,
  type HpaMetric,
  type HpaMetricKind,
  type ResolvedHpaMetric,
} from './metrics.ts';

export interface AdapterBackendOptions {
  /**
   * Deploy prometheus-adapter itself (Deployment, APIService, RBAC); false emits only its rules.
   * @default true
   */
  readonly deploy?: boolean;
  /**
   * Namespace of the adapter.
   * @default 'monitoring'
   */
  readonly namespace?: string;
  /**
   * Serve the resource metrics API (`metrics.k8s.io`) from cAdvisor series too, replacing
   * metrics-server (Monitoring then must not deploy it).
   * @default false
   */
  readonly serveResourceMetrics?: boolean;
  /**
   * PrometheusAdapter's `networkPolicy`: only the aggregated API port reaches the adapter.
   * @default true
   */
  readonly networkPolicy?: boolean;
  /**
   * PrometheusAdapter's `apiServerFrom`: who may reach that port.
   * @default - any source (the API server is not a pod; see PrometheusAdapterProps.apiServerFrom)
   */
  readonly apiServerFrom?: readonly k8s.NetworkPolicyPeer[];
}

const ADAPTER_METRIC_NAMES: Record<Exclude<HpaMetricKind, 'cpu'>, string> = {
  gpu: 'gpu_utilization_percent',
  inflight: METRICS.inflight.name,
  queueTime: `${METRICS.queueDuration.name}_mean`,
};

/**
 * prometheus-adapter rules producing each custom metric (one rule per metric, for every pod in the
 * cluster); `window` is queueTime's rate() window.
 */
export function adapterRuleFor(
  kind: Exclude<HpaMetricKind, 'cpu'>,
  window: string = DEFAULT_QUEUE_TIME_WINDOW,
): AdapterRule {
  const podLabels = { overrides: { namespace: { resource: 'namespace' }, pod: { resource: 'pod' } } };
  switch (kind) {
    case 'gpu':
      return {
        seriesQuery: `${DCGM.gpuUtil}{${DCGM_LABELS.workloadNamespace}!="",${DCGM_LABELS.workloadPod}!=""}`,
        // The workload's pod is in exported_pod/exported_namespace after a prometheus-operator scrape.
        resources: {
          overrides: {
            [DCGM_LABELS.workloadNamespace]: { resource: 'namespace' },
            [DCGM_LABELS.workloadPod]: { resource: 'pod' },
          },
        },
        name: { matches: `^${DCGM.gpuUtil}$`, as: ADAPTER_METRIC_NAMES.gpu },
        metricsQuery: `avg by (${A.groupBy}) (${A.series}${A.selector})`,
      };
    case 'inflight':
      return {
        seriesQuery: `${METRICS.inflight.name}{namespace!="",pod!=""}`,
        resources: podLabels,
        name: { matches: `^${METRICS.inflight.name}$`, as: ADAPTER_METRIC_NAMES.inflight },
        metricsQuery: `sum by (${A.groupBy}) (${A.series}${A.selector})`,
      };
    case 'queueTime': {
      const m = METRICS.queueDuration.name;
      return {
        seriesQuery: `${m}_sum{namespace!="",pod!=""}`,
        resources: podLabels,
        name: { matches: `^${m}_sum$`, as: ADAPTER_METRIC_NAMES.queueTime },
        metricsQuery: meanOfRates(`${A.series}${A.selector}`, `${m}_count${A.selector}`, window, [A.groupBy]),
      };
    }
  }
}

/**
 * prometheus-adapter serves the custom metrics (one rule per metric kind) to a plain autoscaling/v2
 * HorizontalPodAutoscaler; it deploys the adapter too unless `deploy` is false.
 */
export class AdapterHpaBackend implements IHpaBackend {
  readonly kind = 'prometheus-adapter';
  rules: readonly AdapterRule[] = [];
  config?: AdapterConfig;
  hpa?: ApiObject;
  adapter?: PrometheusAdapter;
  /** The adapter rules ConfigMap when the adapter is not deployed here. */
  configMap?: k8s.KubeConfigMap;

  constructor(private readonly options: AdapterBackendOptions = {}) {}

  bind(scope: Construct, ctx: HpaBackendContext): HpaBackendBinding {
    const adapterOptions = this.options;
    const v = ctx.v;
    const servesResourceMetrics = adapterOptions.serveResourceMetrics ?? false;
    const custom = ctx.metrics.filter((m) => m.kind !== 'cpu');
    this.rules = custom.map((m) =>
      adapterRuleFor(m.kind as Exclude<HpaMetricKind, 'cpu'>, m.window ?? DEFAULT_QUEUE_TIME_WINDOW),
    );
    this.config = {
      rules: this.rules,
      ...(servesResourceMetrics ? { resourceRules: RESOURCE_RULES } : {}),
    };
    const metrics = ctx.metrics.map((m) => adapterMetric(m, ctx.target));
    // Plain JSON (not the L1 class): the resolved specs above are exactly what is written.
    this.hpa = new ApiObject(scope, 'Hpa', {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: ctx.name, namespace: ctx.namespace, labels: ctx.labels },
      spec: {
        scaleTargetRef: ctx.scaleTargetRef,
        minReplicas: ctx.minReplicas,
        maxReplicas: ctx.maxReplicas,
        metrics: metrics.map((m) => m.spec),
        behavior: ctx.behavior,
      },
    });
    if (adapterOptions.deploy ?? true) {
      this.adapter = new PrometheusAdapter(scope, 'Adapter', {
        namespace: adapterOptions.namespace,
        prometheusUrl: ctx.prometheusUrl,
        config: this.config,
        networkPolicy: adapterOptions.networkPolicy,
        apiServerFrom: adapterOptions.apiServerFrom,
      });
    } else {
      if (servesResourceMetrics) {
        throw v.error('adapter.serveResourceMetrics needs adapter.deploy true, got deploy false');
      }
      this.configMap = new k8s.KubeConfigMap(scope, 'AdapterRules', {
        metadata: { name: `${ctx.name}-adapter-rules`, namespace: ctx.namespace, labels: ctx.labels },
        data: { 'config.yaml': JSON.stringify(this.config, null, 2) + '\n' },
      });
    }
    return { hpaName: ctx.name, metrics, servesResourceMetrics };
  }
}

/** A metric as the HPA reads it from prometheus-adapter: a Pods metric, averaged per pod. */
function adapterMetric(m: HpaMetric, target: IGpuScalable): ResolvedHpaMetric {
  if (m.kind === 'cpu') return cpuMetric(m);
  const metricName = ADAPTER_METRIC_NAMES[m.kind];
  return {
    kind: m.kind,
    target: m.target,
    ...windowOf(m),
    type: 'Pods',
    metricName,
    targetType: 'AverageValue',
    spec: {
      type: 'Pods',
      pods: {
        metric: { name: metricName },
        target: { type: 'AverageValue', averageValue: toQuantity(m.target) },
      },
    },
    query: perPodQuery(m, target),
  };
}

/** The per-pod PromQL a Pods metric resolves to for this workload. */
function perPodQuery(metric: HpaMetric, target: IGpuScalable): string {
  if (metric.kind === 'gpu') return target.gpuUtilizationQuery();
  const sel = podsSelector(target);
  if (metric.kind === 'inflight') return `sum by (pod) (${METRICS.inflight.name}${sel})`;
  const w = metric.window ?? DEFAULT_QUEUE_TIME_WINDOW;
  return histogramMean(METRICS.queueDuration.name, sel, w, ['pod']);
}
