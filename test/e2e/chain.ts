/**
 * The autoscaling signal chain, end to end on one machine: real server processes standing in for
 * the Deployment's pods, a real Prometheus scraping them through the scrape job generated from the
 * synthesized ServiceMonitor and evaluating the synthesized alert groups, real HTTP load that rises
 * past capacity and falls, the synthesized prometheus-adapter rules and KEDA triggers evaluated as
 * the adapter and KEDA evaluate them, and the planner's port of the HPA controller turning the
 * values into replica counts. The test (autoscale-chain.test.ts) asserts on the result; the demo
 * (demo.ts) prints the same run as a timeline.
 */
import { Testing } from 'cdk8s';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { AlertThresholds, RuleGroup } from '../../constructs/alert-rules.ts';
import { DEFAULT_HPA_METRICS, HpaMetric } from '../../constructs/gpu-hpa.ts';
import { substituteGrafanaVariables } from '../../constructs/promql.ts';
import { createSystem, type RecipeSystem } from '../../main.ts';
import {
  HpaController,
  computeDesiredReplicas,
  type HpaSpec,
  type MetricObservation,
  type MetricSpecV2,
  type PodState,
} from '../../planner/index.ts';
import { podsMetric, type AdapterRule } from './adapter.ts';
import { ClusterStandIn, type HpaStatus } from './cluster-standin.ts';
import { evaluateKedaTrigger, type KedaPrometheusTrigger } from './keda.ts';
import { LoadDriver, measureCapacity, type LoadWindow } from './load.ts';
import { ServerPod, ROOT } from './pods.ts';
import { Prometheus, sleep } from './prometheus.ts';
import { serviceMonitorScrapeConfigs, type K8sObject } from './scrape-config.ts';

/** The bundled model that drives the load: slow enough on a CPU to saturate a pod. */
export const LOAD_MODEL = 'squeezenet1_1';
/** Scrape and rule-evaluation interval of the test's Prometheus (the ServiceMonitor says 15s). */
export const SCRAPE_INTERVAL = '2s';
/** HpaAtMaxReplicas' `for:` here (15m / 20). */
export const AT_MAX_REPLICAS_FOR_SECONDS = 45;
/**
 * The alert rules' windows and `for:` durations, through AlertRules' props: its defaults divided by
 * 20 (5m windows -> 15s, `for: 2m` -> 6s), because minutes do not fit a CI test. Thresholds, names,
 * labels and query structure stay as main.ts synthesizes them.
 */
export const ALERT_THRESHOLDS: AlertThresholds = {
  gpuUtilizationFor: '6s',
  gpuMemoryFor: '15s',
  xidErrorsWindow: '15s',
  gpuTemperatureFor: '15s',
  latencyP99Window: '15s',
  latencyP99For: '15s',
  errorRatioWindow: '15s',
  errorRatioFor: '15s',
  rejectionsWindow: '15s',
  rejectionsFor: '6s',
  podsNotReadyFor: '30s',
  atMaxReplicasFor: `${AT_MAX_REPLICAS_FOR_SECONDS}s`,
};
/**
 * GpuHpa's queue-time rate() window here: DEFAULT_QUEUE_TIME_WINDOW (1m, 4 scrapes at 15 s) divided
 * like the alert durations; the signals and targets are main.ts's DEFAULT_HPA_METRICS.
 */
export const QUEUE_TIME_WINDOW = '15s';
/**
 * Alerts on spec replicas, not on load: HpaAtMaxReplicas stays firing while the scale-down
 * stabilization (300 s, not run here) holds the HPA at maxReplicas.
 */
export const REPLICA_ALERTS: readonly string[] = ['HpaAtMaxReplicas'];
/** `$__rate_interval` for evaluating dashboard queries (Grafana's is at least 4 scrape intervals). */
export const DASHBOARD_RATE_INTERVAL = '15s';

const DCGM_SERIES = /\bDCGM_FI_[A-Z0-9_]+\b/;

export type Backend = 'prometheus-adapter' | 'keda';
export type Phase = 'baseline' | 'overload' | 'cooldown';
export type AlertState = 'inactive' | 'pending' | 'firing';

/** One metric of one backend's HPA at one tick. */
export interface MetricReading {
  /** The HPA metric: `cpu`, the Pods metric name, or the External metric name (`s<i>-prometheus`). */
  readonly name: string;
  /** The PromQL evaluated (templated adapter query or KEDA trigger query); absent for cpu. */
  readonly query?: string;
  /** Per-pod values (cpu in millicores, Pods metrics in the metric's unit) or the trigger's value. */
  readonly perPod?: Readonly<Record<string, number>>;
  readonly value?: number;
  /** How many series a KEDA trigger's query returned (KEDA reads 0 series as the value 0). */
  readonly elements?: number;
  /** Replicas this metric proposes (null when it failed or was left out). */
  readonly replicas: number | null;
  readonly error?: string;
  /** Why this metric is not fed to the HPA here (GPU series do not exist without a GPU). */
  readonly skipped?: string;
}

export interface BackendTick {
  readonly metrics: readonly MetricReading[];
  /**
   * The HPA's recommendation this tick: the max over the metrics' proposals within
   * [minReplicas, maxReplicas], before stabilization and rate limits (-1 when no metric was usable).
   */
  readonly proposal: number;
  /**
   * spec.replicas after the last 15 s sync (stabilization and policies of the synthesized behavior).
   * Pods beyond the server processes running here count as Pending, as pods that cannot be
   * scheduled would.
   */
  readonly desired: number;
}

export interface TimelineRow {
  /** Seconds since the load started. */
  readonly t: number;
  readonly phase: Phase;
  readonly load: LoadWindow;
  readonly backends: Readonly<Record<Backend, BackendTick>>;
  /** Pod targets whose last scrape failed (an overloaded server can miss the scrape timeout). */
  readonly podsNotScraped: number;
  /** State of each alert of the rule groups (inactive when absent from /api/v1/alerts). */
  readonly alerts: Readonly<Record<string, AlertState>>;
}

export interface DashboardQueryResult {
  readonly panel: string;
  readonly expr: string;
  readonly series: number;
  readonly dcgm: boolean;
  readonly error?: string;
}

export interface ChainResult {
  readonly pods: readonly string[];
  readonly namespace: string;
  /** Requests per second one pod answered closed-loop (calibration). */
  readonly podCapacity: number;
  readonly baselineRate: number;
  readonly overloadRate: number;
  readonly timeline: readonly TimelineRow[];
  readonly dashboards: readonly DashboardQueryResult[];
  /** Rules that failed to evaluate (bad PromQL at run time), as "group/rule: error". */
  readonly ruleErrors: readonly string[];
  /** The alert names of the serving (non-GPU) group, and of the GPU group. */
  readonly servingAlerts: readonly string[];
  readonly gpuAlerts: readonly string[];
  readonly minReplicas: number;
  readonly maxReplicas: number;
  /** HpaAtMaxReplicas' `for:` in seconds, as synthesized for this run. */
  readonly atMaxReplicasForSeconds: number;
  readonly seconds: number;
}

export interface ChainOptions {
  /** Server processes standing in for pods. @default 2 */
  readonly pods?: number;
  /** @default 3 */
  readonly tickSeconds?: number;
  /** @default 15 */
  readonly baselineSeconds?: number;
  /** @default 45 */
  readonly overloadSeconds?: number;
  /** Cooldown ends once every proposal is back at minReplicas and the alerts resolved, or after this. @default 90 */
  readonly cooldownMaxSeconds?: number;
  /**
   * Overload offered = this × one pod's measured capacity. Generous because the calibration runs on
   * a shared, noisy machine; the driver's in-flight bound keeps any factor safe (arrivals beyond it
   * are shed, not sent). @default 8
   */
  readonly overloadFactor?: number;
  /** Called with each timeline row as it is recorded (the demo prints it). */
  readonly onRow?: (row: TimelineRow) => void;
  /** Progress messages (start-up, calibration). */
  readonly onEvent?: (message: string) => void;
  /**
   * Changes the synthesized inputs before the run (for showing that a wrong name breaks the chain);
   * never used by the committed test.
   */
  readonly mutate?: (inputs: ChainInputs) => void;
}

/** What the run takes from the synthesized system, as plain objects. */
export interface ChainInputs {
  namespace: string;
  deployment: K8sObject;
  service: K8sObject;
  serviceMonitor: K8sObject;
  ruleGroups: RuleGroup[];
  adapterRules: AdapterRule[];
  adapterHpa: { name: string; spec: HpaSpec };
  kedaTriggers: KedaPrometheusTrigger[];
  kedaHpa: { name: string; spec: HpaSpec };
  dashboards: { panel: string; expr: string }[];
}

function synthesize(backend: Backend): { system: RecipeSystem; objects: K8sObject[] } {
  const app = Testing.app();
  const hpaMetrics = DEFAULT_HPA_METRICS.map((m) =>
    m.kind === 'queueTime' ? HpaMetric.queueTime(m.target, { window: QUEUE_TIME_WINDOW }) : m,
  );
  const system = createSystem(app, { backend, hpaMetrics, alertThresholds: ALERT_THRESHOLDS });
  return { system, objects: app.charts.flatMap((c) => c.toJson() as K8sObject[]) };
}

function find(objects: readonly K8sObject[], kind: string, namespace: string, name?: string): K8sObject {
  const found = objects.filter(
    (o) =>
      o.kind === kind &&
      o.metadata.namespace === namespace &&
      (name === undefined || o.metadata.name === name),
  );
  if (found.length !== 1) {
    throw new Error(
      `expected one ${kind}${name ? ` ${name}` : ''} in namespace ${namespace}, found ${found.length}`,
    );
  }
  return found[0];
}

/**
 * The HPA KEDA creates for a ScaledObject (kedacore/keda pkg/scaling/executor and the scalers'
 * GetMetricSpecForScaling): trigger i of type prometheus becomes External `s<i>-prometheus` with
 * `threshold` as AverageValue (or Value with `metricType: Value`); a cpu trigger becomes Resource cpu.
 */
export function kedaHpaSpec(scaledObject: K8sObject): HpaSpec {
  const spec = scaledObject.spec as {
    minReplicaCount?: number;
    maxReplicaCount?: number;
    advanced?: { horizontalPodAutoscalerConfig?: { behavior?: HpaSpec['behavior'] } };
    triggers: KedaPrometheusTrigger[];
  };
  const metrics: MetricSpecV2[] = spec.triggers.map((t, i) => {
    if (t.type === 'cpu') {
      const type = t.metricType ?? 'Utilization';
      const value = Number(t.metadata.value);
      return {
        type: 'Resource',
        resource: {
          name: 'cpu',
          target:
            type === 'Utilization' ? { type, averageUtilization: value } : { type, averageValue: value },
        },
      };
    }
    if (t.type !== 'prometheus') throw new Error(`KEDA trigger ${i}: type ${t.type} is not handled here`);
    const type = t.metricType === 'Value' ? 'Value' : 'AverageValue';
    const threshold = t.metadata.threshold;
    return {
      type: 'External',
      external: {
        metric: { name: `s${i}-prometheus` },
        target: type === 'Value' ? { type, value: threshold } : { type, averageValue: threshold },
      },
    };
  });
  return {
    minReplicas: spec.minReplicaCount ?? 1,
    maxReplicas: spec.maxReplicaCount ?? 100,
    metrics,
    ...(spec.advanced?.horizontalPodAutoscalerConfig?.behavior
      ? { behavior: spec.advanced.horizontalPodAutoscalerConfig.behavior }
      : {}),
  };
}

/** Everything the chain reads, from main.ts's system synthesized once per backend. */
export function chainInputs(): ChainInputs {
  const adapter = synthesize('prometheus-adapter');
  const keda = synthesize('keda');
  const svc = adapter.system.service;
  const namespace = svc.namespace;
  const hpa = find(adapter.objects, 'HorizontalPodAutoscaler', namespace, adapter.system.hpa.hpaName);
  const scaledObject = find(keda.objects, 'ScaledObject', namespace);
  const service = find(adapter.objects, 'Service', namespace, svc.name);
  const serviceMonitors = adapter.objects.filter(
    (o) =>
      o.kind === 'ServiceMonitor' &&
      o.metadata.namespace === namespace &&
      Object.entries(
        (o.spec as { selector: { matchLabels?: Record<string, string> } }).selector.matchLabels ?? {},
      ).every(([k, v]) => service.metadata.labels?.[k] === v),
  );
  if (serviceMonitors.length !== 1) {
    throw new Error(
      `expected one ServiceMonitor selecting Service ${svc.name}, found ${serviceMonitors.length}`,
    );
  }
  return {
    namespace,
    deployment: find(adapter.objects, 'Deployment', namespace, svc.deploymentName),
    service,
    serviceMonitor: serviceMonitors[0],
    ruleGroups: (JSON.parse(adapter.system.alerts.rulesFile()) as { groups: RuleGroup[] }).groups,
    adapterRules: synthesizedAdapterRules(adapter.objects),
    adapterHpa: { name: hpa.metadata.name, spec: hpa.spec as HpaSpec },
    kedaTriggers: (scaledObject.spec as { triggers: KedaPrometheusTrigger[] }).triggers,
    kedaHpa: { name: keda.system.hpa.hpaName, spec: kedaHpaSpec(scaledObject) },
    dashboards: synthesizedDashboardQueries(adapter.objects),
  };
}

interface ConfigMapObject extends K8sObject {
  readonly data?: Record<string, string>;
}

/** The `rules` of the adapter's config file as written to its ConfigMap (what the adapter loads). */
function synthesizedAdapterRules(objects: readonly K8sObject[]): AdapterRule[] {
  const configs = (objects as ConfigMapObject[])
    .filter((o) => o.kind === 'ConfigMap' && o.data?.['config.yaml'])
    .map((o) => parseYaml(o.data!['config.yaml']) as { rules?: AdapterRule[] })
    .filter((c) => Array.isArray(c?.rules));
  if (configs.length !== 1) {
    throw new Error(
      `expected one prometheus-adapter ConfigMap with config.yaml rules, found ${configs.length}`,
    );
  }
  return configs[0].rules!;
}

/** Every target of every Grafana dashboard ConfigMap (sidecar label grafana_dashboard). */
function synthesizedDashboardQueries(objects: readonly K8sObject[]): { panel: string; expr: string }[] {
  const out: { panel: string; expr: string }[] = [];
  for (const o of objects as ConfigMapObject[]) {
    if (o.kind !== 'ConfigMap' || !o.metadata.labels?.grafana_dashboard) continue;
    for (const json of Object.values(o.data ?? {})) {
      const dashboard = JSON.parse(json) as { panels: { title: string; targets?: { expr: string }[] }[] };
      for (const panel of dashboard.panels) {
        for (const t of panel.targets ?? []) out.push({ panel: panel.title, expr: t.expr });
      }
    }
  }
  if (out.length === 0)
    throw new Error('no Grafana dashboard ConfigMap (label grafana_dashboard) was synthesized');
  return out;
}

/** The CPU request of the pod template in millicores (the HPA's Utilization denominator). */
function cpuRequestMilli(deployment: K8sObject): number {
  const containers = (
    deployment.spec as {
      template: { spec: { containers: { resources?: { requests?: { cpu?: string } } }[] } };
    }
  ).template.spec.containers;
  let total = 0;
  for (const c of containers) {
    const cpu = c.resources?.requests?.cpu;
    if (cpu === undefined) throw new Error('a container of the Deployment has no cpu request');
    total += cpu.endsWith('m') ? Number(cpu.slice(0, -1)) : Number(cpu) * 1000;
  }
  return total;
}

/**
 * A model repository holding only the load model, with a bounded dynamic-batching queue (so
 * overload produces rejections as in production rather than an unbounded queue) and one
 * onnxruntime thread per pod (the pods share two cores).
 */
function loadModelRepository(): string {
  const dir = mkdtempSync(join(tmpdir(), 'e2e-models-'));
  mkdirSync(join(dir, LOAD_MODEL, '1'), { recursive: true });
  symlinkSync(
    join(ROOT, 'server', 'models', LOAD_MODEL, '1', 'model.onnx'),
    join(dir, LOAD_MODEL, '1', 'model.onnx'),
  );
  writeFileSync(
    join(dir, LOAD_MODEL, 'config.json'),
    JSON.stringify({
      max_batch_size: 8,
      instances: 1,
      execution_providers: ['cpu'],
      intra_op_threads: 1,
      inter_op_threads: 1,
      dynamic_batching: { max_queue_delay_microseconds: 2000, max_queue_size: 8 },
    }),
  );
  return dir;
}

/** A V2 JSON inference request on the model's declared input, batch 1. */
async function requestBody(pod: ServerPod): Promise<string> {
  const meta = (await (await fetch(`${pod.url}/v2/models/${LOAD_MODEL}`)).json()) as {
    inputs: { name: string; datatype: string; shape: number[] }[];
  };
  const input = meta.inputs[0];
  const shape = input.shape.map((d) => (d < 0 ? 1 : d));
  const size = shape.reduce((a, b) => a * b, 1);
  return JSON.stringify({
    inputs: [{ name: input.name, datatype: input.datatype, shape, data: new Array<number>(size).fill(0.5) }],
  });
}

async function waitForTargets(prometheus: Prometheus, jobPrefix: string, count: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const ours = (await prometheus.targets()).filter((t) => t.scrapePool.startsWith(jobPrefix));
    const up = ours.filter((t) => t.health === 'up');
    if (up.length >= count) return;
    last = JSON.stringify(ours.map((t) => ({ labels: t.labels, health: t.health, error: t.lastError })));
    await sleep(500);
  }
  throw new Error(
    `Prometheus has fewer than ${count} healthy targets from ${jobPrefix} after ${timeoutMs} ms ` +
      `(a ServiceMonitor selector, port name or namespace that does not match drops them): ${last || 'none'}`,
  );
}

interface BackendState {
  readonly backend: Backend;
  readonly hpaName: string;
  /** The HPA spec as synthesized (all metrics). */
  readonly spec: HpaSpec;
  /** Index into spec.metrics -> why it is not fed to the HPA here. */
  readonly skipped: ReadonlyMap<number, string>;
  /** The controller for the spec without the skipped metrics. */
  readonly controller: HpaController;
  readonly status: HpaStatus;
  desired: number;
}

/**
 * Metrics of an adapter-backed HPA that cannot have data here: Pods metrics whose adapter rule reads
 * dcgm-exporter series. Fed to the HPA as failed, they would block every scale-down (the controller
 * never scales down on partial data), so the chain computes the HPA on the other metrics and reports
 * these as skipped. (KEDA's GPU trigger needs no skipping: its empty result is 0, as KEDA reads it.)
 */
export function gpuOnlyMetrics(spec: HpaSpec, rules: readonly AdapterRule[]): Map<number, string> {
  const skipped = new Map<number, string>();
  (spec.metrics ?? []).forEach((m, i) => {
    if (m.type !== 'Pods' || !m.pods) return;
    const rule = rules.find((r) => r.name?.as === m.pods!.metric.name);
    const dcgm = rule && DCGM_SERIES.exec(rule.seriesQuery);
    if (dcgm) skipped.set(i, `needs ${dcgm[0]} from dcgm-exporter: no GPU here`);
  });
  return skipped;
}

function alertStates(alerts: Awaited<ReturnType<Prometheus['alerts']>>, names: readonly string[]) {
  const out: Record<string, AlertState> = {};
  for (const name of names) {
    const states = alerts.filter((a) => a.labels.alertname === name).map((a) => a.state);
    out[name] = states.includes('firing') ? 'firing' : states.includes('pending') ? 'pending' : 'inactive';
  }
  return out;
}

/** Run the chain once; everything started is stopped before it returns or throws. */
export async function runChain(options: ChainOptions = {}): Promise<ChainResult> {
  const started = Date.now();
  const say = options.onEvent ?? (() => {});
  const inputs = chainInputs();
  options.mutate?.(inputs);
  const namespace = inputs.namespace;
  const podCount = options.pods ?? 2;
  const tick = (options.tickSeconds ?? 3) * 1000;
  const repo = loadModelRepository();
  const cleanups: (() => Promise<void> | void)[] = [() => rmSync(repo, { recursive: true, force: true })];
  try {
    say(`starting ${podCount} server pods of Deployment ${namespace}/${inputs.deployment.metadata.name}`);
    const pods = await ServerPod.startReplicaSet(podCount, {
      namespace,
      deployment: inputs.deployment.metadata.name,
      modelRepository: repo,
    });
    cleanups.push(() => Promise.all(pods.map((p) => p.stop())).then(() => {}));
    const podTemplate = (
      inputs.deployment.spec as { template: Parameters<typeof serviceMonitorScrapeConfigs>[0]['podTemplate'] }
    ).template;
    const container = podTemplate.spec.containers[0].name;

    const standIn = await ClusterStandIn.start({
      namespace,
      name: inputs.deployment.metadata.name,
      specReplicas: podCount,
    });
    cleanups.push(() => standIn.stop());
    for (const p of pods) standIn.pods.push({ name: p.name, namespace, container, pid: p.pid, ready: true });

    const smJobs = serviceMonitorScrapeConfigs({
      serviceMonitor: inputs.serviceMonitor,
      service: inputs.service,
      podTemplate,
      pods,
      intervalOverride: SCRAPE_INTERVAL,
    });
    const ruleGroups = inputs.ruleGroups;
    say(`starting Prometheus (${smJobs.length} ServiceMonitor job(s), ${ruleGroups.length} rule groups)`);
    const prometheus = await Prometheus.start({
      scrapeConfigs: [...smJobs, ...standIn.scrapeConfigs(SCRAPE_INTERVAL)],
      ruleFiles: [{ groups: ruleGroups }],
      interval: SCRAPE_INTERVAL,
    });
    cleanups.push(() => prometheus.stop());
    await waitForTargets(prometheus, `serviceMonitor/`, podCount, 20_000);

    const body = await requestBody(pods[0]);
    const inferUrls = pods.map((p) => `${p.url}/v2/models/${LOAD_MODEL}/infer`);
    const podCapacity = await measureCapacity(inferUrls[0], body, 4);
    say(`one pod answers ${podCapacity.toFixed(1)} req/s closed-loop (${LOAD_MODEL}, JSON, batch 1)`);
    const baselineRate = Math.max(1, podCapacity * 0.15);
    const overloadRate = podCapacity * (options.overloadFactor ?? 8);

    const gpuGroup = ruleGroups.find((g) => g.rules.some((r) => DCGM_SERIES.test(r.expr)));
    const servingAlerts = ruleGroups
      .filter((g) => g !== gpuGroup)
      .flatMap((g) => g.rules.filter((r) => r.alert).map((r) => r.alert!));
    const gpuAlerts = gpuGroup ? gpuGroup.rules.filter((r) => r.alert).map((r) => r.alert!) : [];

    const requestMilli = cpuRequestMilli(inputs.deployment);
    const podNames = pods.map((p) => p.name);
    const pendingPrefix = podNames[0].replace(/-[^-]+$/, '-pending');
    // The pods the HPA sees at `replicas`: the running servers, then Pending pods for the rest
    // (surplus servers, should the HPA go below them, as being deleted).
    const podStates = (replicas: number): PodState[] => [
      ...pods.map((p, i) => ({
        name: p.name,
        phase: 'Running' as const,
        ready: true,
        readyTransitionTime: p.readyAt,
        startTime: p.startedAt,
        deleting: i >= replicas,
        requestMilli,
      })),
      ...Array.from({ length: Math.max(0, replicas - podCount) }, (_, i) => ({
        name: `${pendingPrefix}${i}`,
        phase: 'Pending' as const,
        ready: false,
        readyTransitionTime: 0,
        startTime: null,
        deleting: false,
        requestMilli,
      })),
    ];

    const backends: BackendState[] = (
      [
        [
          'prometheus-adapter',
          inputs.adapterHpa,
          gpuOnlyMetrics(inputs.adapterHpa.spec, inputs.adapterRules),
        ],
        ['keda', inputs.kedaHpa, new Map<number, string>()],
      ] as const
    ).map(([backend, hpa, skipped]) => {
      const fedSpec: HpaSpec = { ...hpa.spec, metrics: hpa.spec.metrics!.filter((_, i) => !skipped.has(i)) };
      const controller = new HpaController(fedSpec);
      const status: HpaStatus = {
        namespace,
        name: hpa.name,
        minReplicas: controller.hpa.minReplicas,
        maxReplicas: controller.hpa.maxReplicas,
        currentReplicas: podCount,
        desiredReplicas: podCount,
      };
      standIn.hpas.push(status);
      return { backend, hpaName: hpa.name, spec: hpa.spec, skipped, controller, status, desired: podCount };
    });

    const driver = new LoadDriver({ urls: inferUrls, body, maxInFlight: 32 * podCount, maxSeconds: 400 });
    cleanups.push(() => driver.stop());

    const readBackend = async (
      state: BackendState,
      cpu: ReadonlyMap<string, number>,
      now: number,
      sync: boolean,
    ): Promise<BackendTick> => {
      const readings: MetricReading[] = [];
      const observations: (MetricObservation | null)[] = [];
      for (const [i, spec] of (state.spec.metrics ?? []).entries()) {
        const skipped = state.skipped.get(i);
        if (skipped) {
          readings.push({ name: spec.pods?.metric.name ?? spec.type, replicas: null, skipped });
          continue;
        }
        const { reading, observation } = await readMetric(spec);
        readings.push(reading);
        observations.push(observation);
      }
      const input = { currentReplicas: state.desired, pods: podStates(state.desired), metrics: observations };
      const computed = computeDesiredReplicas(
        state.controller.hpa,
        { ...input, now },
        state.controller.config,
      );
      let k = 0;
      for (const [i, r] of readings.entries()) {
        if (r.skipped) continue;
        const p = computed.proposals[k++];
        readings[i] = { ...r, replicas: p.replicas, ...(p.error && !r.error ? { error: p.error } : {}) };
      }
      if (sync) {
        const result = state.controller.sync(now, input);
        state.desired = result.desiredReplicas;
        state.status.desiredReplicas = state.desired;
        state.status.currentReplicas = state.desired;
      }
      const { minReplicas, maxReplicas } = state.controller.hpa;
      const proposal =
        computed.proposal === -1 ? -1 : Math.min(maxReplicas, Math.max(minReplicas, computed.proposal));
      return { metrics: readings, proposal, desired: state.desired };

      async function readMetric(
        spec: MetricSpecV2,
      ): Promise<{ reading: MetricReading; observation: MetricObservation | null }> {
        if (spec.type === 'Resource' && spec.resource?.name === 'cpu') {
          const perPod = Object.fromEntries(podNames.map((p) => [p, cpu.get(p) ?? 0]));
          return { reading: { name: 'cpu', perPod, replicas: null }, observation: { podSamples: perPod } };
        }
        if (spec.type === 'Pods' && spec.pods) {
          const name = spec.pods.metric.name;
          try {
            const r = await podsMetric(prometheus, inputs.adapterRules, name, namespace, podNames);
            // The adapter hands the HPA milli-quantities (int64(value * 1000)).
            const milli = Object.fromEntries([...r.values].map(([pod, v]) => [pod, Math.trunc(v * 1000)]));
            return {
              reading: { name, query: r.query, perPod: Object.fromEntries(r.values), replicas: null },
              observation: { podSamples: milli },
            };
          } catch (error) {
            return { reading: { name, replicas: null, error: (error as Error).message }, observation: null };
          }
        }
        if (spec.type === 'External' && spec.external) {
          const name = spec.external.metric.name;
          const index = Number(/^s(\d+)-/.exec(name)?.[1]);
          try {
            const r = await evaluateKedaTrigger(prometheus, inputs.kedaTriggers[index], index);
            return {
              reading: { name, query: r.query, value: r.value, elements: r.elements, replicas: null },
              observation: { valueMilli: Math.round(r.value * 1000) },
            };
          } catch (error) {
            return { reading: { name, replicas: null, error: (error as Error).message }, observation: null };
          }
        }
        throw new Error(`HPA ${state.hpaName}: metric type ${spec.type} is not handled by the chain`);
      }
    };

    const timeline: TimelineRow[] = [];
    let dashboards: DashboardQueryResult[] = [];
    const loadStart = Date.now();
    let lastSync = 0;
    const record = async (phase: Phase) => {
      const now = Date.now() / 1000;
      const cpu = standIn.cpuMillicores();
      const sync = now - lastSync >= 15;
      if (sync) lastSync = now;
      const results = await Promise.all(backends.map((b) => readBackend(b, cpu, now, sync)));
      const row: TimelineRow = {
        t: Math.round((Date.now() - loadStart) / 100) / 10,
        phase,
        load: driver.takeWindow(),
        backends: { 'prometheus-adapter': results[0], keda: results[1] },
        podsNotScraped: (await prometheus.query(`up{namespace=${JSON.stringify(namespace)}} == 0`)).length,
        alerts: alertStates(await prometheus.alerts(), [...servingAlerts, ...gpuAlerts]),
      };
      timeline.push(row);
      options.onRow?.(row);
      return row;
    };
    const runPhase = async (
      phase: Phase,
      rate: number,
      seconds: number,
      until?: (row: TimelineRow) => boolean,
    ) => {
      driver.setRate(rate);
      const end = Date.now() + seconds * 1000;
      while (Date.now() < end) {
        await sleep(Math.min(tick, Math.max(0, end - Date.now())));
        const row = await record(phase);
        if (until?.(row)) return;
      }
    };

    standIn.cpuMillicores();
    await runPhase('baseline', baselineRate, options.baselineSeconds ?? 15);
    await runPhase('overload', overloadRate, options.overloadSeconds ?? 45);
    dashboards = await evaluateDashboards(prometheus, inputs.dashboards);
    const minReplicas = backends[0].controller.hpa.minReplicas;
    let calmSince: number | undefined;
    await runPhase('cooldown', baselineRate, options.cooldownMaxSeconds ?? 90, (row) => {
      const calm =
        Object.values(row.backends).every((b) => b.proposal === minReplicas) &&
        servingAlerts.every((a) => REPLICA_ALERTS.includes(a) || row.alerts[a] === 'inactive');
      calmSince = calm ? (calmSince ?? row.t) : undefined;
      return calm && row.t - calmSince! >= 6;
    });
    await driver.stop();

    const ruleErrors = (await prometheus.ruleHealth())
      .filter((r) => r.health === 'err')
      .map((r) => `${r.group}/${r.rule}: ${r.lastError}`);
    return {
      pods: podNames,
      namespace,
      podCapacity,
      baselineRate,
      overloadRate,
      timeline,
      dashboards,
      ruleErrors,
      servingAlerts,
      gpuAlerts,
      minReplicas,
      maxReplicas: backends[0].controller.hpa.maxReplicas,
      atMaxReplicasForSeconds: AT_MAX_REPLICAS_FOR_SECONDS,
      seconds: (Date.now() - started) / 1000,
    };
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch {
        // keep cleaning up the rest
      }
    }
  }
}

/** Every dashboard query at the time of the call, with Grafana's variables substituted. */
async function evaluateDashboards(
  prometheus: Prometheus,
  queries: readonly { panel: string; expr: string }[],
): Promise<DashboardQueryResult[]> {
  const out: DashboardQueryResult[] = [];
  for (const q of queries) {
    const expr = substituteGrafanaVariables(q.expr, DASHBOARD_RATE_INTERVAL);
    try {
      const series = (await prometheus.query(expr)).length;
      out.push({ panel: q.panel, expr, series, dcgm: DCGM_SERIES.test(expr) });
    } catch (error) {
      out.push({
        panel: q.panel,
        expr,
        series: 0,
        dcgm: DCGM_SERIES.test(expr),
        error: (error as Error).message,
      });
    }
  }
  return out;
}
