/**
 * The simulator: one second at a time, offered load meets the ready pods' capacity (a shared FIFO
 * backlog, bounded per pod), pods start and stop as the Deployment follows the HPA, and every sync
 * period the real HPA computation (../hpa/controller.ts) reads metrics derived from the simulated
 * state the way the metric pipeline would deliver them.
 */
import { HpaController, type ControllerConfig, type MetricObservation } from '../hpa/controller.ts';
import type { PodMetric, PodState } from '../hpa/replica-calculator.ts';
import { resolveCapacity, podCapacity, podLoadState, type CapacityModel } from './capacity.ts';
import { loadAt, type TrafficProfile } from './profile.ts';
import type { HpaUnderTest, SignalKind } from './target.ts';

/** How long a new pod takes: Pending until scheduled, then model load until the readiness probe passes. */
export interface StartupModel {
  /** Creation to Running (scheduling, sandbox, image already on the node), seconds. */
  readonly schedulingSeconds: number;
  /** Running to the readiness probe passing (model load, warm-up; add image pull if not cached), seconds. */
  readonly startupSeconds: number;
  /** readinessProbe.periodSeconds: readiness is noticed at the next probe. */
  readonly readinessPeriodSeconds: number;
}

export const DEFAULT_STARTUP: StartupModel = {
  schedulingSeconds: 5,
  startupSeconds: 45,
  readinessPeriodSeconds: 5,
};

/** How a signal reaches the HPA: sampled every `sampleEverySeconds`, averaged over a window, plus a lag. */
export interface SignalPipeline {
  readonly sampleEverySeconds: number;
  readonly averageOverSeconds: number;
  readonly lagSeconds: number;
}

export type MetricPipeline = Readonly<Record<SignalKind, SignalPipeline>>;

/**
 * cpu: metrics-server's --metric-resolution (15 s) over the kubelet's CPU rate window;
 * gpu: DCGM's utilization averaged over a 30 s collect interval (conservative; `npm run plan` reads
 * the deployed DCGM_EXPORTER_INTERVAL), scraped every 15 s;
 * inflight: a gauge scraped every 15 s; queueTime: rate(...[1m]) as the adapter rule queries it.
 * prometheus-adapter and KEDA query Prometheus when the HPA asks, so no extra lag by default.
 */
export const DEFAULT_PIPELINE: MetricPipeline = {
  cpu: { sampleEverySeconds: 15, averageOverSeconds: 15, lagSeconds: 0 },
  gpu: { sampleEverySeconds: 15, averageOverSeconds: 30, lagSeconds: 0 },
  inflight: { sampleEverySeconds: 15, averageOverSeconds: 1, lagSeconds: 0 },
  queueTime: { sampleEverySeconds: 15, averageOverSeconds: 60, lagSeconds: 0 },
};

export interface SimulationOptions {
  readonly hpa: HpaUnderTest;
  readonly profile: TrafficProfile;
  readonly capacity?: Partial<CapacityModel>;
  readonly startup?: Partial<StartupModel>;
  readonly pipeline?: Partial<Record<SignalKind, Partial<SignalPipeline>>>;
  readonly controller?: Partial<ControllerConfig>;
  /** Latency SLO on the p95, seconds. @default 0.1 */
  readonly sloSeconds?: number;
  /** Ready pods at t = 0. @default spec.minReplicas (at least 1) */
  readonly initialReplicas?: number;
}

/** One second of the simulation. Latencies are null while no pod is ready. */
export interface SecondSample {
  readonly t: number;
  readonly offered: number;
  readonly served: number;
  readonly dropped: number;
  /** Pods that exist (Pending or Running): what is paid for. */
  readonly pods: number;
  readonly ready: number;
  /** The scale's spec.replicas (what the HPA last set). */
  readonly desired: number;
  /** Requests waiting beyond what the ready pods are serving. */
  readonly queue: number;
  /** Ready pods' capacity, req/s. */
  readonly capacity: number;
  /** GPU busy percent per ready pod (DCGM_FI_DEV_GPU_UTIL). */
  readonly gpuUtilization: number;
  /** CPU usage percent of request per ready pod. */
  readonly cpuUtilization: number;
  /** In-flight requests per ready pod (Little's law: rate x mean latency). */
  readonly inflightPerPod: number;
  readonly meanQueueSeconds: number | null;
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
}

export interface ScalingEvent {
  readonly t: number;
  readonly from: number;
  readonly to: number;
  readonly proposal: number;
  readonly reason?: string;
}

export interface SimulationSummary {
  readonly hpa: string;
  readonly profile: string;
  readonly durationSeconds: number;
  readonly podCapacityRps: number;
  readonly sloSeconds: number;
  readonly offeredRequests: number;
  readonly servedRequests: number;
  readonly droppedRequests: number;
  /** Seconds with p95 above the SLO, or with load and no ready pod. */
  readonly secondsOverSlo: number;
  /** Longest stretch with offered load above the ready pods' capacity, seconds. */
  readonly timeToCapacitySeconds: number;
  /** All seconds with offered load above the ready pods' capacity. */
  readonly underCapacitySeconds: number;
  /** Sum over seconds of pods that exist (GPU held), and of ready pods. */
  readonly podSeconds: number;
  readonly readyPodSeconds: number;
  readonly maxPods: number;
  readonly worstP95Seconds: number | null;
  /** p95 averaged over seconds, weighted by served requests. */
  readonly meanP95Seconds: number | null;
  readonly scalingEvents: number;
}

export interface SimulationResult {
  readonly series: readonly SecondSample[];
  readonly events: readonly ScalingEvent[];
  readonly summary: SimulationSummary;
  readonly capacity: CapacityModel;
}

export class SimulationError extends Error {
  override readonly name = 'SimulationError';
}

interface SimPod {
  readonly name: string;
  readonly createdAt: number;
  readonly startTime: number;
  readonly readyAt: number;
}

/** Per-second history of what each ready pod reports and of the ready count. */
interface History {
  readonly perPod: Record<SignalKind, number[]>;
  readonly ready: number[];
}

function resolveStartup(partial: Partial<StartupModel> = {}): StartupModel {
  const s = { ...DEFAULT_STARTUP, ...partial };
  for (const [k, v] of Object.entries(s)) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0)
      throw new SimulationError(`startup.${k}: ${JSON.stringify(v)} must be a number >= 0`);
  }
  if (s.readinessPeriodSeconds === 0)
    throw new SimulationError('startup.readinessPeriodSeconds: 0 must be >= 1');
  return s;
}

function resolvePipeline(partial: SimulationOptions['pipeline'] = {}): MetricPipeline {
  const out = {} as Record<SignalKind, SignalPipeline>;
  for (const kind of Object.keys(DEFAULT_PIPELINE) as SignalKind[]) {
    const p = { ...DEFAULT_PIPELINE[kind], ...partial[kind] };
    if (!(p.sampleEverySeconds >= 1) || !(p.averageOverSeconds >= 1) || !(p.lagSeconds >= 0)) {
      throw new SimulationError(
        `pipeline.${kind}: ${JSON.stringify(p)}: sampleEverySeconds and averageOverSeconds must be >= 1, lagSeconds >= 0`,
      );
    }
    out[kind] = p;
  }
  return out;
}

/** Mean of history[from..to] (inclusive, clipped to recorded seconds). */
function windowMean(values: readonly number[], to: number, length: number): number {
  const end = Math.min(to, values.length - 1);
  const start = Math.max(0, end - length + 1);
  if (end < 0) return 0;
  let sum = 0;
  for (let i = start; i <= end; i++) sum += values[i];
  return sum / (end - start + 1);
}

/** Signals summed over pods by the External/Object queries (KEDA's `sum(...)`), or averaged. */
const EXTERNAL_SUMS: Record<SignalKind, boolean> = { cpu: true, gpu: true, inflight: true, queueTime: false };

/** The metric's value unit to milli-units (Quantity.MilliValue()); CPU is in millicores already. */
function toMilli(kind: SignalKind, value: number): number {
  return kind === 'cpu' ? Math.round(value) : Math.round(value * 1000);
}

export function simulate(options: SimulationOptions): SimulationResult {
  const capacity = resolveCapacity(options.capacity);
  const startup = resolveStartup(options.startup);
  const pipeline = resolvePipeline(options.pipeline);
  const slo = options.sloSeconds ?? 0.1;
  if (!(slo > 0)) throw new SimulationError(`sloSeconds: ${slo} must be > 0`);
  const hpa = new HpaController(options.hpa.spec, options.controller);
  if (options.hpa.signals.length !== hpa.hpa.metrics.length) {
    throw new SimulationError(
      `hpa.signals: ${options.hpa.signals.length} given for ${hpa.hpa.metrics.length} metrics`,
    );
  }
  const syncPeriod = hpa.config.syncPeriodSeconds;
  const mu = podCapacity(capacity);
  const duration = options.profile.durationSeconds;

  let podCounter = 0;
  const newPod = (createdAt: number, alreadyReady: boolean): SimPod => {
    const name = `pod-${podCounter++}`;
    if (alreadyReady) return { name, createdAt: -3600, startTime: -3600, readyAt: -3600 };
    const startTime = createdAt + startup.schedulingSeconds;
    const readyAt =
      startTime +
      Math.ceil(startup.startupSeconds / startup.readinessPeriodSeconds) * startup.readinessPeriodSeconds;
    return { name, createdAt, startTime, readyAt };
  };
  const initial = options.initialReplicas ?? Math.max(1, hpa.hpa.minReplicas);
  let pods: SimPod[] = Array.from({ length: initial }, () => newPod(0, true));
  let specReplicas = initial;

  const history: History = { perPod: { cpu: [], gpu: [], inflight: [], queueTime: [] }, ready: [] };
  const series: SecondSample[] = [];
  const events: ScalingEvent[] = [];
  let backlog = 0;

  const podStateAt = (p: SimPod, t: number): PodState => {
    const running = t >= p.startTime;
    const ready = t >= p.readyAt;
    return {
      name: p.name,
      phase: running ? 'Running' : 'Pending',
      ready: running ? ready : false,
      // The Ready condition turns False when the container starts and True when the probe passes.
      readyTransitionTime: ready ? p.readyAt : running ? p.startTime : p.createdAt,
      startTime: running ? p.startTime : null,
      deleting: false,
      requestMilli: capacity.cpuRequestMilli,
    };
  };

  const observe = (kind: SignalKind, metricType: string, t: number): MetricObservation => {
    const pl = pipeline[kind];
    const ts = Math.floor((t - pl.lagSeconds) / pl.sampleEverySeconds) * pl.sampleEverySeconds;
    const readyValue = windowMean(history.perPod[kind], ts, pl.averageOverSeconds);
    if (metricType === 'Object' || metricType === 'External') {
      const readyCount = windowMean(history.ready, ts, pl.averageOverSeconds);
      return { valueMilli: toMilli(kind, EXTERNAL_SUMS[kind] ? readyValue * readyCount : readyValue) };
    }
    const samples = new Map<string, PodMetric>();
    for (const p of pods) {
      // A pod shows up once it has run through one sampling interval before the sample.
      if (p.startTime > ts - pl.sampleEverySeconds) continue;
      let value: number | undefined;
      if (p.readyAt <= ts) value = readyValue;
      else if (kind === 'cpu') value = capacity.startupCpuMilli;
      else if (kind === 'gpu') value = 0;
      // inflight / queueTime: the server's per-model series exist only once the model serves.
      if (value !== undefined)
        samples.set(p.name, { value: toMilli(kind, value), timestamp: ts, window: pl.averageOverSeconds });
    }
    return { podSamples: samples };
  };

  const metricTypes = (options.hpa.spec.metrics ?? []).map((m) => m.type);
  const scaleTo = (t: number, target: number) => {
    if (target > pods.length) {
      for (let i = pods.length; i < target; i++) pods.push(newPod(t, false));
    } else if (target < pods.length) {
      // ReplicaSet deletion order: unscheduled, then not ready, then the most recently ready.
      const ranked = [...pods].sort((a, b) => {
        const rank = (p: SimPod) => (t < p.startTime ? 0 : t < p.readyAt ? 1 : 2);
        return rank(a) - rank(b) || b.readyAt - a.readyAt;
      });
      const remove = new Set(ranked.slice(0, pods.length - target).map((p) => p.name));
      pods = pods.filter((p) => !remove.has(p.name));
    }
  };

  for (let t = 0; t < duration; t++) {
    if (t % syncPeriod === 0) {
      const result = hpa.sync(t, {
        currentReplicas: specReplicas,
        pods: pods.map((p) => podStateAt(p, t)),
        metrics: options.hpa.signals.map((kind, i) => observe(kind, metricTypes[i] ?? 'Resource', t)),
      });
      if (result.rescale) {
        events.push({
          t,
          from: specReplicas,
          to: result.desiredReplicas,
          proposal: result.proposal,
          reason: result.limitReason,
        });
        specReplicas = result.desiredReplicas;
        scaleTo(t, specReplicas);
      }
    }
    const ready = pods.filter((p) => t >= p.readyAt).length;
    const offered = loadAt(options.profile, t);
    let served = 0;
    let dropped = 0;
    let sample: Omit<
      SecondSample,
      't' | 'offered' | 'served' | 'dropped' | 'pods' | 'ready' | 'desired' | 'queue' | 'capacity'
    >;
    const cap = ready * mu;
    if (ready === 0) {
      // No endpoints: the Service has nowhere to send requests, and queued ones are lost with their pods.
      dropped = offered + backlog;
      backlog = 0;
      sample = {
        gpuUtilization: 0,
        cpuUtilization: 0,
        inflightPerPod: 0,
        meanQueueSeconds: null,
        p50: null,
        p95: null,
        p99: null,
      };
      history.perPod.cpu.push(0);
      history.perPod.gpu.push(0);
      history.perPod.inflight.push(0);
      history.perPod.queueTime.push(0);
    } else {
      const available = backlog + offered;
      served = Math.min(available, cap);
      backlog = available - served;
      const maxQueue = ready * capacity.maxQueuePerPod;
      if (backlog > maxQueue) {
        dropped = backlog - maxQueue;
        backlog = maxQueue;
      }
      const perPodRate = served / ready;
      const state = podLoadState(capacity, perPodRate, backlog / cap);
      const cpuMilli = capacity.cpuIdleMilli + capacity.cpuSecondsPerRequest * perPodRate * 1000;
      const inflight = perPodRate * state.meanLatencySeconds;
      sample = {
        gpuUtilization: state.busy * 100,
        cpuUtilization: (cpuMilli / capacity.cpuRequestMilli) * 100,
        inflightPerPod: inflight,
        meanQueueSeconds: state.meanQueueSeconds,
        p50: state.p50,
        p95: state.p95,
        p99: state.p99,
      };
      history.perPod.cpu.push(cpuMilli);
      history.perPod.gpu.push(state.busy * 100);
      history.perPod.inflight.push(inflight);
      history.perPod.queueTime.push(state.meanQueueSeconds);
    }
    history.ready.push(ready);
    series.push({
      t,
      offered,
      served,
      dropped,
      pods: pods.length,
      ready,
      desired: specReplicas,
      queue: backlog,
      capacity: cap,
      ...sample,
    });
  }

  return { series, events, capacity, summary: summarize(options, series, events, mu, slo) };
}

function summarize(
  options: SimulationOptions,
  series: readonly SecondSample[],
  events: readonly ScalingEvent[],
  mu: number,
  slo: number,
): SimulationSummary {
  let offered = 0;
  let served = 0;
  let dropped = 0;
  let overSlo = 0;
  let under = 0;
  let run = 0;
  let longest = 0;
  let podSeconds = 0;
  let readyPodSeconds = 0;
  let maxPods = 0;
  let worst: number | null = null;
  let p95Weighted = 0;
  for (const s of series) {
    offered += s.offered;
    served += s.served;
    dropped += s.dropped;
    podSeconds += s.pods;
    readyPodSeconds += s.ready;
    maxPods = Math.max(maxPods, s.pods);
    if ((s.p95 === null && s.offered > 0) || (s.p95 !== null && s.p95 > slo)) overSlo++;
    if (s.p95 !== null) {
      worst = worst === null ? s.p95 : Math.max(worst, s.p95);
      p95Weighted += s.p95 * s.served;
    }
    if (s.offered > s.capacity) {
      under++;
      run++;
      longest = Math.max(longest, run);
    } else {
      run = 0;
    }
  }
  return {
    hpa: options.hpa.name,
    profile: options.profile.name,
    durationSeconds: series.length,
    podCapacityRps: mu,
    sloSeconds: slo,
    offeredRequests: Math.round(offered),
    servedRequests: Math.round(served),
    droppedRequests: Math.round(dropped),
    secondsOverSlo: overSlo,
    timeToCapacitySeconds: longest,
    underCapacitySeconds: under,
    podSeconds,
    readyPodSeconds,
    maxPods,
    worstP95Seconds: worst,
    meanP95Seconds: served > 0 ? p95Weighted / served : null,
    scalingEvents: events.length,
  };
}
