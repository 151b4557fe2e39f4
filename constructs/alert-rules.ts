import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import {
  PrometheusRule,
  PrometheusRuleSpecGroupsRulesExpr,
} from '../imports/prometheusrule-monitoring.coreos.com.ts';
import { DCGM, DCGM_LABELS, KUBE_STATE_METRICS } from './dcgm-metrics.ts';
import type { GpuHpa } from './hpa/gpu-hpa.ts';
import type { IGpuScalable } from './gpu-scalable.ts';
import { appLabels } from './k8s-helpers.ts';
import { deploymentSelector, hpaSelector } from './promql.ts';
import { validator } from './validate.ts';
import { UPSTREAM } from './versions.ts';

/** One alerting rule, in Prometheus's rule-file format. */
export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  readonly for: string;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
}

export interface RuleGroup {
  readonly name: string;
  readonly rules: readonly AlertRule[];
}

export interface AlertThresholds {
  /**
   * GPU utilization percent above which HighGPULoad fires (the recipe's 85).
   * @default 85
   */
  readonly gpuUtilizationPercent?: number;
  /**
   * How long GPU utilization must stay high (the recipe's 2m).
   * @default '2m'
   */
  readonly gpuUtilizationFor?: string;
  /**
   * Percent of GPU framebuffer memory in use above which GpuMemoryPressure fires.
   * @default 90
   */
  readonly gpuMemoryPercent?: number;
  /**
   * How long GPU memory must stay above the threshold.
   * @default '5m'
   */
  readonly gpuMemoryFor?: string;
  /**
   * Window in which any XID error fires GpuXidErrors (max_over_time).
   * @default '5m'
   */
  readonly xidErrorsWindow?: string;
  /**
   * GPU temperature in °C above which GpuTemperatureHigh fires.
   * @default 85
   */
  readonly gpuTemperatureCelsius?: number;
  /**
   * How long the GPU temperature must stay above the threshold.
   * @default '5m'
   */
  readonly gpuTemperatureFor?: string;
  /**
   * p99 latency SLO in seconds.
   * @default 0.5
   */
  readonly latencyP99Seconds?: number;
  /**
   * rate() window of the p99 latency (histogram_quantile over the buckets' rates).
   * @default '5m'
   */
  readonly latencyP99Window?: string;
  /**
   * How long p99 must stay over the SLO before InferenceLatencyP99High fires.
   * @default '5m'
   */
  readonly latencyP99For?: string;
  /**
   * Fraction of failed requests (server_error, timeout) above which InferenceErrorRatioHigh fires.
   * @default 0.05
   */
  readonly errorRatio?: number;
  /**
   * rate() window of the error ratio.
   * @default '5m'
   */
  readonly errorRatioWindow?: string;
  /**
   * How long the error ratio must stay above the threshold.
   * @default '5m'
   */
  readonly errorRatioFor?: string;
  /**
   * Rejected (queue full) requests per second above which InferenceQueueRejections fires.
   * @default 0
   */
  readonly rejectionsPerSecond?: number;
  /**
   * rate() window of the rejections.
   * @default '5m'
   */
  readonly rejectionsWindow?: string;
  /**
   * How long rejections must go on before InferenceQueueRejections fires.
   * @default '2m'
   */
  readonly rejectionsFor?: string;
  /**
   * How long the HPA may sit at maxReplicas before HpaAtMaxReplicas fires.
   * @default '15m'
   */
  readonly atMaxReplicasFor?: string;
  /**
   * How long a model version must run on a fallback execution provider (CUDA asked for, CPU in
   * use) before InferenceProviderFallback fires. The state is set at load and lasts, so only a
   * short wait: one that lets a pod replaced at once go unreported.
   * @default '1m'
   */
  readonly providerFallbackFor?: string;
  /**
   * How long pods may be not ready before InferencePodsNotReady fires.
   * @default '10m'
   */
  readonly podsNotReadyFor?: string;
}

export interface AlertRulesProps {
  /** The service the inference alerts watch. */
  readonly service: IGpuScalable;
  /**
   * Its autoscaler, for HpaAtMaxReplicas.
   * @default - no HPA alert
   */
  readonly hpa?: GpuHpa;
  /**
   * Emit a PrometheusRule (prometheus-operator).
   * @default true
   */
  readonly prometheusRule?: boolean;
  /**
   * Labels the Prometheus's ruleSelector matches (kube-prometheus-stack: `release`).
   * @default { release: 'kube-prometheus-stack' }
   */
  readonly ruleLabels?: Record<string, string>;
  /**
   * Alert thresholds.
   * @default - see AlertThresholds
   */
  readonly thresholds?: AlertThresholds;
}

/**
 * The alerts of the system, as a PrometheusRule and as a plain rules file (`rulesFile`) for a
 * Prometheus without the operator: the recipe's HighGPULoad on DCGM_FI_DEV_GPU_UTIL, GPU memory,
 * XID errors and temperature, inference latency, errors, rejections, a model on a fallback execution
 * provider, HPA at max, pods not ready.
 */
export class AlertRules extends Construct {
  readonly groups: readonly RuleGroup[];
  readonly prometheusRule?: PrometheusRule;
  readonly namespace: string;
  readonly name: string;

  constructor(scope: Construct, id: string, props: AlertRulesProps) {
    super(scope, id);
    const v = validator(this);
    const svc = props.service;
    const t = props.thresholds ?? {};
    this.namespace = svc.namespace;
    this.name = v.dnsLabel('name', `${svc.name}-alerts`);
    const gpuUtil = v.integerInRange(
      'thresholds.gpuUtilizationPercent',
      t.gpuUtilizationPercent ?? 85,
      1,
      100,
    );
    // Windows are rate()/max_over_time ranges (> 0); `for:` may be 0s (fire at once).
    const window = (field: keyof AlertThresholds, value: string | undefined, fallback: string) =>
      v.promDurationInRange(`thresholds.${field}`, value ?? fallback, '1s', '1d');
    const forDuration = (field: keyof AlertThresholds, value: string | undefined, fallback: string) =>
      v.promDurationInRange(`thresholds.${field}`, value ?? fallback, '0s', '1d');
    const gpuFor = forDuration('gpuUtilizationFor', t.gpuUtilizationFor, '2m');
    const gpuMemFor = forDuration('gpuMemoryFor', t.gpuMemoryFor, '5m');
    const xidWindow = window('xidErrorsWindow', t.xidErrorsWindow, '5m');
    const gpuTempFor = forDuration('gpuTemperatureFor', t.gpuTemperatureFor, '5m');
    const p99Window = window('latencyP99Window', t.latencyP99Window, '5m');
    const p99For = forDuration('latencyP99For', t.latencyP99For, '5m');
    const errorWindow = window('errorRatioWindow', t.errorRatioWindow, '5m');
    const errorFor = forDuration('errorRatioFor', t.errorRatioFor, '5m');
    const rejectionsWindow = window('rejectionsWindow', t.rejectionsWindow, '5m');
    const rejectionsFor = forDuration('rejectionsFor', t.rejectionsFor, '2m');
    const gpuMem = v.integerInRange('thresholds.gpuMemoryPercent', t.gpuMemoryPercent ?? 90, 1, 100);
    const gpuTemp = v.integerInRange(
      'thresholds.gpuTemperatureCelsius',
      t.gpuTemperatureCelsius ?? 85,
      30,
      120,
    );
    const p99 = v.numberInRange('thresholds.latencyP99Seconds', t.latencyP99Seconds ?? 0.5, 0, 600, true);
    const errorRatio = v.numberInRange('thresholds.errorRatio', t.errorRatio ?? 0.05, 0, 1, true);
    const rejections = v.numberInRange('thresholds.rejectionsPerSecond', t.rejectionsPerSecond ?? 0, 0, 1e6);
    const atMaxFor = forDuration('atMaxReplicasFor', t.atMaxReplicasFor, '15m');
    const notReadyFor = forDuration('podsNotReadyFor', t.podsNotReadyFor, '10m');
    const fallbackFor = forDuration('providerFallbackFor', t.providerFallbackFor, '1m');
    const { hostname, gpu: gpuIndex, uuid } = DCGM_LABELS;
    const gpuBy = `${hostname}, ${gpuIndex}, ${uuid}`;
    const onGpu = `GPU {{ $labels.${gpuIndex} }} on {{ $labels.${hostname} }}`;

    const gpu: AlertRule[] = [
      {
        alert: 'HighGPULoad',
        expr: `max by (${gpuBy}) (${DCGM.gpuUtil}) > ${gpuUtil}`,
        for: gpuFor,
        labels: { severity: 'warning' },
        annotations: {
          summary: `GPU utilization above ${gpuUtil}% for ${gpuFor}`,
          description: `${onGpu} is at {{ $value }}% utilization.`,
        },
      },
      {
        alert: 'GpuMemoryPressure',
        expr: `max by (${gpuBy}) (${DCGM.fbUsed} / (${DCGM.fbUsed} + ${DCGM.fbFree})) * 100 > ${gpuMem}`,
        for: gpuMemFor,
        labels: { severity: 'warning' },
        annotations: {
          summary: `GPU framebuffer memory above ${gpuMem}%`,
          description: `${onGpu} has {{ $value }}% of its memory in use.`,
        },
      },
      {
        alert: 'GpuXidErrors',
        expr: `max by (${gpuBy}) (max_over_time(${DCGM.xidErrors}[${xidWindow}])) > 0`,
        for: '0s',
        labels: { severity: 'critical' },
        annotations: {
          summary: 'GPU reported an XID error',
          description: `${onGpu} reported XID {{ $value }}; see NVIDIA XID docs.`,
        },
      },
      {
        alert: 'GpuTemperatureHigh',
        expr: `max by (${gpuBy}) (${DCGM.gpuTemp}) > ${gpuTemp}`,
        for: gpuTempFor,
        labels: { severity: 'warning' },
        annotations: {
          summary: `GPU temperature above ${gpuTemp} °C`,
          description: `${onGpu} is at {{ $value }} °C.`,
        },
      },
    ];

    const deploymentSel = deploymentSelector(svc.namespace, svc.deploymentName);
    const serving: AlertRule[] = [
      {
        alert: 'InferenceLatencyP99High',
        expr: `${svc.latencyQuantileQuery(0.99, { window: p99Window })} > ${p99}`,
        for: p99For,
        labels: { severity: 'warning' },
        annotations: {
          summary: `p99 inference latency above the ${p99}s SLO`,
          description: `p99 latency of ${svc.namespace}/${svc.name} is {{ $value }}s.`,
        },
      },
      {
        alert: 'InferenceErrorRatioHigh',
        expr: `${svc.errorRatioQuery({ window: errorWindow })} > ${errorRatio}`,
        for: errorFor,
        labels: { severity: 'critical' },
        annotations: {
          summary: `More than ${errorRatio * 100}% of inference requests fail`,
          description: `{{ $value }} of requests to ${svc.namespace}/${svc.name} end in server_error or timeout.`,
        },
      },
      {
        alert: 'InferenceQueueRejections',
        expr: `${svc.rejectionRateQuery({ window: rejectionsWindow })} > ${rejections}`,
        for: rejectionsFor,
        labels: { severity: 'warning' },
        annotations: {
          summary: 'Inference requests rejected: batcher queue full',
          description: `${svc.namespace}/${svc.name} rejects {{ $value }} requests/s; add capacity or raise maxReplicas.`,
        },
      },
      {
        alert: 'InferenceProviderFallback',
        expr: `${svc.providerFallbackQuery()} > 0`,
        for: fallbackFor,
        labels: { severity: 'warning' },
        annotations: {
          summary: 'A model computes on a fallback execution provider',
          description: `Model {{ $labels.model }} version {{ $labels.version }} on pod {{ $labels.pod }} of ${svc.namespace}/${svc.name} asked for {{ $labels.requested_provider }} and runs on {{ $labels.provider }}: it holds its GPU and computes on the CPU (see the pod's log for the provider's error; --provider-fallback fail makes this a load failure).`,
        },
      },
      {
        alert: 'InferencePodsNotReady',
        expr: `${KUBE_STATE_METRICS.deploymentSpecReplicas}${deploymentSel} - ${KUBE_STATE_METRICS.deploymentAvailableReplicas}${deploymentSel} > 0`,
        for: notReadyFor,
        labels: { severity: 'warning' },
        annotations: {
          summary: 'Inference pods not ready',
          description: `{{ $value }} pods of ${svc.namespace}/${svc.deploymentName} have not been available for ${notReadyFor}.`,
        },
      },
    ];
    if (props.hpa) {
      const hpaSel = hpaSelector(props.hpa.namespace, props.hpa.hpaName);
      serving.push({
        alert: 'HpaAtMaxReplicas',
        expr: `${KUBE_STATE_METRICS.hpaCurrentReplicas}${hpaSel} >= ${KUBE_STATE_METRICS.hpaMaxReplicas}${hpaSel}`,
        for: atMaxFor,
        labels: { severity: 'warning' },
        annotations: {
          summary: 'Autoscaler pinned at maxReplicas',
          description: `HPA ${props.hpa.namespace}/${props.hpa.hpaName} has run at its maximum ({{ $value }} replicas) for ${atMaxFor}.`,
        },
      });
    }
    this.groups = [
      { name: 'gpu', rules: gpu },
      { name: `inference-${svc.name}`, rules: serving },
    ];

    if (props.prometheusRule ?? true) {
      this.prometheusRule = new PrometheusRule(this, 'PrometheusRule', {
        metadata: {
          name: this.name,
          namespace: this.namespace,
          labels: {
            ...appLabels('inference-server', svc.name, 'alerts'),
            ...(props.ruleLabels ?? { release: UPSTREAM.kubePrometheusStackRelease }),
          },
        },
        spec: {
          groups: this.groups.map((g) => ({
            name: g.name,
            rules: g.rules.map((r) => ({ ...r, expr: PrometheusRuleSpecGroupsRulesExpr.fromString(r.expr) })),
          })),
        },
      });
    }
  }

  /** The groups as a Prometheus rules file (JSON, which is valid YAML) for `rule_files`. */
  rulesFile(): string {
    return JSON.stringify({ groups: this.groups }, null, 2) + '\n';
  }

  /**
   * A ConfigMap holding `rulesFile()` under `key`, for a Prometheus of your own without the
   * operator (mount it and list it in `rule_files`). Monitoring's bundled Prometheus needs none:
   * `Monitoring.addAlertRules` puts these rules in its own rules ConfigMap.
   */
  addRulesConfigMap(
    scope: Construct,
    name: string,
    namespace: string,
    key = 'alerts.rules.yaml',
  ): k8s.KubeConfigMap {
    validator(this).dnsLabel('addRulesConfigMap name', name, 253);
    validator(this).dnsLabel('addRulesConfigMap namespace', namespace);
    // The API server's rule for ConfigMap keys.
    if (!/^[-._a-zA-Z0-9]{1,253}$/.test(key) || key === '.' || key === '..') {
      throw validator(this).error(
        `addRulesConfigMap key must be a file name of letters, digits, '-', '_' and '.', got ${JSON.stringify(key)}`,
      );
    }
    return new k8s.KubeConfigMap(scope, `${this.node.id}Rules`, {
      metadata: { name, namespace },
      data: { [key]: this.rulesFile() },
    });
  }
}
