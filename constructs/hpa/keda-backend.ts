/** GpuHpa's KEDA backend: a ScaledObject with Prometheus triggers, and a NetworkPolicy for KEDA's API server. */
import { k8s } from 'cdk8s-plus-27';
import type { Construct } from 'constructs';
import { ScaledObject } from '../../imports/scaledobject-keda.sh.ts';
import type { IGpuScalable } from '../gpu-scalable.ts';
import { appLabels, ingressPolicy, networkPeer } from '../k8s-helpers.ts';
import type { Validator } from '../validate.ts';
import { toQuantity } from '../autoscaling-v2/quantity.ts';
import type { MetricTarget } from '../autoscaling-v2/types.ts';
import type { HpaBackendBinding, HpaBackendContext, IHpaBackend } from './backend.ts';
import {
  DEFAULT_QUEUE_TIME_WINDOW,
  cpuMetric,
  windowOf,
  type HpaMetric,
  type ResolvedHpaMetric,
} from './metrics.ts';

/** The port KEDA's metrics API server serves the external metrics API on (its `--secure-port`). */
export const KEDA_METRICS_API_SERVER_PORT = 6443;
/**
 * The `app` label of KEDA's metrics API server pods: `keda-operator-metrics-apiserver` from the Helm
 * chart, `keda-metrics-apiserver` from the release manifests (config/metrics-server/deployment.yaml).
 */
export const KEDA_METRICS_API_SERVER_APPS = [
  'keda-operator-metrics-apiserver',
  'keda-metrics-apiserver',
] as const;

/** What KEDA scales to while a trigger's metric cannot be read (ScaledObject `fallback.behavior`). */
export type KedaFallbackBehavior =
  'static' | 'currentReplicas' | 'currentReplicasIfHigher' | 'currentReplicasIfLower';

/**
 * The ScaledObject's `fallback`: the replicas KEDA reports while Prometheus cannot be queried, after
 * `failureThreshold` failed polls in a row. KEDA's admission webhook accepts it only when every
 * trigger is of metric type AverageValue (apis/keda/v1alpha1 CheckFallbackValid): not with `cpu`
 * (Utilization) nor `queueTime` (a mean, compared as a Value); `inflight`, `gpu` and the
 * scale-to-zero demand trigger qualify.
 */
export interface KedaFallbackOptions {
  /** Consecutive failed polls of a trigger before KEDA falls back (an integer from 1 to 1000). */
  readonly failureThreshold: number;
  /** Replicas to fall back to: an integer from minReplicas to maxReplicas. */
  readonly replicas: number;
  /**
   * How `replicas` combines with the current replica count.
   * @default 'static' (exactly `replicas`)
   */
  readonly behavior?: KedaFallbackBehavior;
}

/** The `behavior` values of KEDA's fallback that apply without scalingModifiers. */
export const KEDA_FALLBACK_BEHAVIORS: readonly KedaFallbackBehavior[] = [
  'static',
  'currentReplicas',
  'currentReplicasIfHigher',
  'currentReplicasIfLower',
];

export interface ScaleToZeroOptions {
  /**
   * PromQL of the demand, measured in front of the pods (an ingress or gateway request rate): at zero
   * pods the server exports nothing, so only an upstream signal can activate the workload.
   */
  readonly demandQuery: string;
  /** Demand per pod the trigger scales to (AverageValue). */
  readonly targetPerPod: number;
  /**
   * Demand above which the workload is woken from zero.
   * @default 0
   */
  readonly activationThreshold?: number;
}

export interface KedaBackendOptions {
  /**
   * Seconds between KEDA's trigger polls.
   * @default 15
   */
  readonly pollingIntervalSeconds?: number;
  /**
   * Seconds after the last active trigger before scaling to zero (only with scaleToZero).
   * @default 300
   */
  readonly cooldownPeriodSeconds?: number;
  /**
   * Scale to zero replicas when there is no demand. GPU utilization never activates the workload.
   * @default - no scale to zero: minReplicas >= 1
   */
  readonly scaleToZero?: ScaleToZeroOptions;
  /**
   * A NetworkPolicy in KEDA's namespace that lets only the aggregated API port (6443) reach KEDA's
   * metrics API server (pods labelled `app` keda-operator-metrics-apiserver, as KEDA's Helm chart
   * labels them, or keda-metrics-apiserver, as its release manifests do), from `apiServerFrom`.
   * @default true
   */
  readonly networkPolicy?: boolean;
  /**
   * Namespace KEDA is installed in.
   * @default 'keda'
   */
  readonly namespace?: string;
  /**
   * Who may reach KEDA's metrics API server: the API server's aggregation layer, which is not a
   * pod, so no selector matches it; list the control plane's CIDRs to narrow it.
   * @default - any source
   */
  readonly apiServerFrom?: readonly k8s.NetworkPolicyPeer[];
  /**
   * Replicas to hold while Prometheus cannot be queried (ScaledObject `fallback`); needs every
   * metric to be of AverageValue type (inflight, gpu).
   * @default - none: while a trigger fails, KEDA's HPA keeps the replicas it has
   */
  readonly fallback?: KedaFallbackOptions;
}

/** A KEDA trigger as written to the ScaledObject. */
export interface KedaTrigger {
  readonly type: 'prometheus' | 'cpu';
  readonly name: string;
  readonly metricType: 'Utilization' | 'AverageValue' | 'Value';
  readonly metadata: Record<string, string>;
}

/**
 * KEDA (installed separately) reads Prometheus for each trigger and creates the HPA from the
 * ScaledObject; it can scale to zero on an upstream demand signal.
 */
export class KedaHpaBackend implements IHpaBackend {
  readonly kind = 'keda';
  triggers: readonly KedaTrigger[] = [];
  fallback?: Required<KedaFallbackOptions>;
  scaledObject?: ScaledObject;
  networkPolicy?: k8s.KubeNetworkPolicy;

  /**
   * Validates `scaleToZero` against the metrics asked for (GpuHpa calls it once the metrics are
   * valid, so errors come in the order of the props).
   */
  constructor(
    private readonly options: KedaBackendOptions,
    metrics: readonly HpaMetric[],
    v: Validator,
  ) {
    const scaleToZero = options.scaleToZero;
    if (scaleToZero) {
      v.numberInRange('keda.scaleToZero.targetPerPod', scaleToZero.targetPerPod, 0, 1e9, true);
      v.numberInRange('keda.scaleToZero.activationThreshold', scaleToZero.activationThreshold ?? 0, 0, 1e9);
      if (scaleToZero.demandQuery.trim() === '') {
        throw v.error('keda.scaleToZero.demandQuery must be a PromQL expression, got ""');
      }
      if (metrics.some((m) => m.kind === 'cpu')) {
        throw v.error(
          'metrics must not include cpu with keda.scaleToZero: KEDA cannot scale to zero on CPU (no pods, no CPU metric); use gpu, inflight or queueTime',
        );
      }
    }
  }

  bind(scope: Construct, ctx: HpaBackendContext): HpaBackendBinding {
    const keda = this.options;
    const v = ctx.v;
    const scaleToZero = keda.scaleToZero;
    const pollingInterval = v.integerInRange(
      'keda.pollingIntervalSeconds',
      keda.pollingIntervalSeconds ?? 15,
      1,
      3600,
    );
    const cooldownPeriod = v.integerInRange(
      'keda.cooldownPeriodSeconds',
      keda.cooldownPeriodSeconds ?? 300,
      0,
      86400,
    );
    const built = ctx.metrics.map((m) => kedaMetric(m, ctx, scaleToZero !== undefined));
    if (scaleToZero) {
      built.push({
        trigger: {
          type: 'prometheus',
          name: 'demand',
          metricType: 'AverageValue',
          metadata: {
            serverAddress: ctx.prometheusUrl,
            query: scaleToZero.demandQuery,
            threshold: String(scaleToZero.targetPerPod),
            activationThreshold: String(scaleToZero.activationThreshold ?? 0),
          },
        },
        metric: undefined,
      });
    }
    this.triggers = built.map((b) => b.trigger);
    this.fallback = keda.fallback && this.resolveFallback(keda.fallback, ctx);
    // KEDA names the external metric of trigger i `s<i>-<type>`.
    const metrics = built.flatMap((b, i) =>
      b.metric
        ? [{ ...b.metric, ...(b.metric.type === 'External' ? externalSpec(b.metric, i, ctx.name) : {}) }]
        : [],
    );
    const hpaName = `keda-hpa-${ctx.name}`;
    this.scaledObject = new ScaledObject(scope, 'ScaledObject', {
      metadata: { name: ctx.name, namespace: ctx.namespace, labels: ctx.labels },
      spec: {
        scaleTargetRef: ctx.scaleTargetRef,
        minReplicaCount: ctx.minReplicas,
        maxReplicaCount: ctx.maxReplicas,
        pollingInterval,
        ...(scaleToZero ? { cooldownPeriod } : {}),
        ...(this.fallback ? { fallback: { ...this.fallback } as never } : {}),
        advanced: {
          horizontalPodAutoscalerConfig: {
            name: hpaName,
            behavior: ctx.behavior as never,
          },
        },
        triggers: this.triggers.map((t) => ({ ...t, metadata: { ...t.metadata } })),
      },
    });
    if (keda.networkPolicy ?? true) {
      const from = keda.apiServerFrom?.map((p, i) => networkPeer(`keda.apiServerFrom[${i}]`, p, v));
      this.networkPolicy = ingressPolicy(scope, 'KedaMetricsApiServerPolicy', {
        name: 'keda-operator-metrics-apiserver',
        namespace: v.dnsLabel('keda.namespace', keda.namespace ?? 'keda'),
        labels: appLabels('network-policy', 'keda-operator-metrics-apiserver'),
        podSelector: {
          matchExpressions: [{ key: 'app', operator: 'In', values: [...KEDA_METRICS_API_SERVER_APPS] }],
        },
        rules: [{ port: KEDA_METRICS_API_SERVER_PORT, from }],
      });
    }
    return { hpaName, metrics, servesResourceMetrics: false };
  }

  private resolveFallback(
    fallback: KedaFallbackOptions,
    ctx: HpaBackendContext,
  ): Required<KedaFallbackOptions> {
    const v = ctx.v;
    const notAverage = this.triggers.filter((t) => t.metricType !== 'AverageValue');
    if (notAverage.length > 0) {
      throw v.error(
        `keda.fallback needs every trigger to be of metric type AverageValue (KEDA's admission webhook rejects the rest), got ${notAverage.map((t) => `${t.name} (${t.metricType})`).join(', ')}; scale on inflight or gpu, or leave fallback unset`,
      );
    }
    return {
      failureThreshold: v.integerInRange(
        'keda.fallback.failureThreshold',
        fallback.failureThreshold,
        1,
        1000,
      ),
      replicas: v.integerInRange(
        'keda.fallback.replicas',
        fallback.replicas,
        ctx.minReplicas,
        ctx.maxReplicas,
        {
          min: 'minReplicas',
          max: 'maxReplicas',
        },
      ),
      behavior: v.oneOf('keda.fallback.behavior', fallback.behavior ?? 'static', KEDA_FALLBACK_BEHAVIORS),
    };
  }
}

/** A metric's trigger, and how KEDA's HPA evaluates it (its External spec follows from the trigger's index). */
function kedaMetric(
  m: HpaMetric,
  ctx: HpaBackendContext,
  scaleToZero: boolean,
): { trigger: KedaTrigger; metric?: ResolvedHpaMetric } {
  const target: IGpuScalable = ctx.target;
  if (m.kind === 'cpu') {
    return {
      trigger: {
        type: 'cpu',
        name: 'cpu',
        metricType: 'Utilization',
        metadata: { value: String(m.target) },
      },
      metric: cpuMetric(m),
    };
  }
  // Sums over pods compare per pod (AverageValue); a mean (queue time) compares as a Value.
  const query =
    m.kind === 'gpu'
      ? `sum(${target.gpuUtilizationQuery()})`
      : m.kind === 'inflight'
        ? target.inflightQuery()
        : target.queueTimeQuery({ window: m.window ?? DEFAULT_QUEUE_TIME_WINDOW });
  const metricType = m.kind === 'queueTime' ? 'Value' : 'AverageValue';
  const metadata: Record<string, string> = {
    serverAddress: ctx.prometheusUrl,
    query,
    threshold: String(m.target),
  };
  // Demand wakes the workload, never GPU utilization: an idle GPU pod would otherwise keep itself alive.
  if (scaleToZero && m.kind === 'gpu') metadata.activationThreshold = String(100 * ctx.maxReplicas);
  return {
    trigger: { type: 'prometheus', name: m.kind, metricType, metadata },
    metric: {
      kind: m.kind,
      target: m.target,
      ...windowOf(m),
      type: 'External',
      metricName: '',
      targetType: metricType,
      spec: { type: 'External' },
      query,
    },
  };
}

function externalSpec(
  metric: ResolvedHpaMetric,
  index: number,
  scaledObjectName: string,
): Pick<ResolvedHpaMetric, 'metricName' | 'spec'> {
  const metricName = `s${index}-prometheus`;
  const target: MetricTarget =
    metric.targetType === 'Value'
      ? { type: 'Value', value: toQuantity(metric.target) }
      : { type: 'AverageValue', averageValue: toQuantity(metric.target) };
  return {
    metricName,
    spec: {
      type: 'External',
      external: {
        metric: { name: metricName, selector: { matchLabels: { scaledobject_name: scaledObjectName } } },
        target,
      },
    },
  };
}
