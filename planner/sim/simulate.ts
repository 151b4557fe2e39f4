/**
 * The simulator: one second at a time, offered load meets the ready pods' capacity (a shared FIFO
 * backlog, bounded per pod), pods start and stop as the Deployment follows the HPA, and every sync
 * period the real HPA computation (../hpa/controller.ts) reads metrics derived from the simulated
 * state the way the metric pipeline would deliver them.
 *
 * GPUs: with a `topology`, a pod runs only on a free slice of one of `gpus` GPUs (otherwise it stays
 * Pending, unscheduled), and the pods on one GPU share its capacity (the capacity model is per GPU).
 */
import { HpaController, type ControllerConfig, type MetricObservation } from '../hpa/controller.ts';
import type { PodMetric, PodState } from '../hpa/replica-calculator.ts';
import { resolveCapacity, podCapacity, podLoadState, type CapacityModel } from './capacity.ts';
import { loadAt, type TrafficProfile } from './profile.ts';
import type { HpaMetricKind } from '../../constructs/hpa/metrics.ts';
import type { HpaUnderTest } from './target.ts';

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

export type MetricPipeline = Readonly<Record<HpaMetricKind, SignalPipeline>>;

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

/**
 * The GPUs the pods schedule on: `gpus` GPUs, each time-sliced `slicesPerGpu` ways (the device
 * plugin's timeSlicingReplicas), one slice per pod.
 */
export interface GpuTopologyModel {
  /** GPUs in the cluster (GPU nodes x GPUs per node), an integer >= 1. */
  readonly gpus: number;
  /** Pods one GPU takes (time-slicing replicas), an integer >= 1. */
  readonly slicesPerGpu: number;
}

export interface SimulationOptions {
  readonly hpa: HpaUnderTest;
  /**
   * GPUs and slices. Pods past the free slices stay Pending; pods on one GPU share its capacity.
   * @default every pod on a GPU of its own, unlimited (the capacity model per pod)
   */
  readonly topology?: GpuTopologyModel;
  readonly profile: TrafficProfile;
  readonly capacity?: Partial<CapacityModel>;
  readonly startup?: Partial<StartupModel>;
  readonly pipeline?: Partial<Record<HpaMetricKind, Partial<SignalPipeline>>>;
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
  /** Pods that exist (Pending or Running): the replicas the HPA counts. */
  readonly pods: number;
  /** Pods Pending for want of a free GPU slice (unscheduled). */
  readonly unscheduled: number;
  readonly ready: number;
  /** The scale's spec.replicas (what the HPA last set). */
  readonly desired: number;
  /** Requests waiting beyond what the ready pods are serving. */
  readonly queue: number;
  /**
   * Ready pods' capacity, req/s: the offered rate at which the busiest GPU saturates (the Service
   * spreads evenly, so a GPU with k of the R ready pods gets k/R of it): R x capacity / max k.
   */
  readonly capacity: number;
  /** GPU busy percent, mean over ready pods (each reports its whole GPU's, DCGM_FI_DEV_GPU_UTIL). */
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
  /** Capacity of one GPU (of one pod without a topology), req/s. */
  readonly podCapacityRps: number;
  /** The GPUs simulated; null: a GPU per pod, unlimited. */
  readonly topology: GpuTopologyModel | null;
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
  /** Most pods Pending at once for want of a free GPU slice. */
  readonly maxUnscheduledPods: number;
  /** Seconds with at least one pod Pending for want of a free GPU slice. */
  readonly unscheduledSeconds: number;
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

/** startTime and readyAt are Infinity and gpu -1 while the pod waits for a free slice. */
interface SimPod {
  readonly name: string;
  readonly createdAt: number;
  startTime: number;
  readyAt: number;
  gpu: number;
}

/** Per-second history of what each ready pod reports and of the ready count. */
interface History {
  readonly perPod: Record<HpaMetricKind, number[]>;
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

function resolveTopology(topology: SimulationOptions['topology']): GpuTopologyModel | undefined {
  if (topology === undefined) return undefined;
  for (const key of ['gpus', 'slicesPerGpu'] as const) {
    const v = topology[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 100_000)
      throw new SimulationError(`topology.${key}: ${JSON.stringify(v)} must be an integer from 1 to 100000`);
  }
  return { gpus: topology.gpus, slicesPerGpu: topology.slicesPerGpu };
}

/** Mean of per-group values weighted by counts; one group gives its value exactly. */
function weightedMean(groups: readonly { weight: number; value: number }[]): number {
  const used = groups.filter((g) => g.weight > 0);
  if (used.length === 1) return used[0].value;
  const total = used.reduce((a, g) => a + g.weight, 0);
  return total > 0 ? used.reduce((a, g) => a + g.weight * g.value, 0) / total : 0;
}

function resolvePipeline(partial: SimulationOptions['pipeline'] = {}): MetricPipeline {
  const out = {} as Record<HpaMetricKind, SignalPipeline>;
  for (const kind of Object.keys(DEFAULT_PIPELINE) as HpaMetricKind[]) {
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
const EXTERNAL_SUMS: Record<HpaMetricKind, boolean> = {
  cpu: true,
  gpu: true,
  inflight: true,
  queueTime: false,
};

/** The metric's value unit to milli-units (Quantity.MilliValue()); CPU is in millicores already. */
function toMilli(kind: HpaMetricKind, value: number): number {
  return kind === 'cpu' ? Math.round(value) : Math.round(value * 1000);
}

export function simulate(options: SimulationOptions): SimulationResult {
  const capacity = resolveCapacity(options.capacity);
  const startup = resolveStartup(options.startup);
  const pipeline = resolvePipeline(options.pipeline);
  const topology = resolveTopology(options.topology);
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
  let pods: SimPod[] = [];
  let nextOwnGpu = 0;
  // Without a topology every pod gets a GPU of its own; with one, the scheduler puts a pod on the
  // GPU with the fewest pods that has a free slice (an assumption: the default scheduler's
  // least-allocated scoring spreads pods over nodes; within a node the device plugin picks).
  const freeGpu = (): number => {
    if (!topology) return nextOwnGpu++;
    const used = new Array<number>(topology.gpus).fill(0);
    for (const p of pods) if (p.gpu >= 0) used[p.gpu]++;
    let best = -1;
    for (let g = 0; g < topology.gpus; g++)
      if (used[g] < topology.slicesPerGpu && (best < 0 || used[g] < used[best])) best = g;
    return best;
  };
  const bind = (p: SimPod, t: number) => {
    p.gpu = freeGpu();
    if (p.gpu < 0) return;
    p.startTime = t + startup.schedulingSeconds;
    p.readyAt =
      p.startTime +
      Math.ceil(startup.startupSeconds / startup.readinessPeriodSeconds) * startup.readinessPeriodSeconds;
  };
  const newPod = (createdAt: number, alreadyReady: boolean): SimPod => {
    const name = `pod-${podCounter++}`;
    const p: SimPod = { name, createdAt, startTime: Infinity, readyAt: Infinity, gpu: -1 };
    if (alreadyReady) {
      p.gpu = freeGpu();
      if (p.gpu < 0)
        throw new SimulationError(
          `initialReplicas: ${options.initialReplicas} exceeds the ${topology!.gpus} x ${topology!.slicesPerGpu} GPU slices of topology`,
        );
      Object.assign(p, { createdAt: -3600, startTime: -3600, readyAt: -3600 });
    } else {
      bind(p, createdAt);
    }
    return p;
  };
  const initial = options.initialReplicas ?? Math.max(1, hpa.hpa.minReplicas);
  for (let i = 0; i < initial; i++) pods.push(newPod(0, true));
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
      // Unscheduled pods have no startTime, as the HPA reads them from the API.
      startTime: running ? p.startTime : null,
      deleting: false,
      requestMilli: capacity.cpuRequestMilli,
    };
  };

  const observe = (kind: HpaMetricKind, metricType: string, t: number): MetricObservation => {
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
      // ReplicaSet deletion order: unassigned, then pending, then not ready, then the most recently
      // ready (newest first within a rank).
      const rank = (p: SimPod) => (p.gpu < 0 ? 0 : t < p.startTime ? 1 : t < p.readyAt ? 2 : 3);
      const ranked = [...pods].sort(
        (a, b) => rank(a) - rank(b) || (rank(a) === 3 ? b.readyAt - a.readyAt : b.createdAt - a.createdAt),
      );
      const remove = new Set(ranked.slice(0, pods.length - target).map((p) => p.name));
      pods = pods.filter((p) => !remove.has(p.name));
      // Freed slices go to the Pending pods, oldest first (the scheduler's queue). With the
      // ReplicaSet's order above, unassigned pods go first, so this binds only pods that a future
      // deletion order leaves behind; kept so that a deletion never strands a free slice.
      for (const p of pods) if (p.gpu < 0) bind(p, t);
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
    const readyPods = pods.filter((p) => t >= p.readyAt);
    const ready = readyPods.length;
    // Ready pods per GPU, and how many GPUs hold k ready pods: a GPU's state depends only on k.
    const perGpu = new Map<number, number>();
    for (const p of readyPods) perGpu.set(p.gpu, (perGpu.get(p.gpu) ?? 0) + 1);
    const gpusWith = new Map<number, number>();
    for (const k of perGpu.values()) gpusWith.set(k, (gpusWith.get(k) ?? 0) + 1);
    const maxK = Math.max(0, ...gpusWith.keys());
    const offered = loadAt(options.profile, t);
    let served = 0;
    let dropped = 0;
    let sample: Omit<
      SecondSample,
      | 't'
      | 'offered'
      | 'served'
      | 'dropped'
      | 'pods'
      | 'unscheduled'
      | 'ready'
      | 'desired'
      | 'queue'
      | 'capacity'
    >;
    const cap = ready === 0 ? 0 : (ready * mu) / maxK;
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
      // The Service spreads requests evenly over ready pods: a GPU with k of them gets k shares of
      // what is waiting and serves at most mu (its pods take turns on it: time-slicing).
      const available = backlog + offered;
      const groups = [...gpusWith].map(([k, n]) => ({ k, n, rate: Math.min((available * k) / ready, mu) }));
      if (groups.length === 1 && groups[0].k === 1) {
        // A GPU per pod (no topology): the same arithmetic as a plain pool of ready x mu.
        served = Math.min(available, cap);
        groups[0].rate = served / ready;
      } else {
        served = groups.reduce((a, g) => a + g.n * g.rate, 0);
      }
      backlog = available - served;
      const maxQueue = ready * capacity.maxQueuePerPod;
      if (backlog > maxQueue) {
        dropped = backlog - maxQueue;
        backlog = maxQueue;
      }
      // Each pod's batcher holds its share of the backlog; a GPU drains its k shares at mu.
      const states = groups.map((g) => {
        const state = podLoadState(capacity, g.rate, (backlog * g.k) / (ready * mu));
        const podRate = g.rate / g.k;
        return {
          ...g,
          state,
          podRate,
          pods: g.n * g.k,
          served: g.n * g.rate,
          // Every pod on the GPU reports the whole GPU's busy fraction (DCGM under time-slicing).
          cpuMilli: capacity.cpuIdleMilli + capacity.cpuSecondsPerRequest * podRate * 1000,
          inflight: podRate * state.meanLatencySeconds,
        };
      });
      const perPodMean = (f: (g: (typeof states)[number]) => number) =>
        weightedMean(states.map((g) => ({ weight: g.pods, value: f(g) })));
      // Latency of the mix: p50 weighted by served requests, p95/p99 the worst GPU that serves.
      const serving = states.some((g) => g.served > 0) ? states.filter((g) => g.served > 0) : states;
      const worst = (f: (g: (typeof states)[number]) => number) => Math.max(...serving.map(f));
      const cpuMilli = perPodMean((g) => g.cpuMilli);
      const busy = perPodMean((g) => g.state.busy);
      const inflight = perPodMean((g) => g.inflight);
      const queueSeconds = perPodMean((g) => g.state.meanQueueSeconds);
      sample = {
        gpuUtilization: busy * 100,
        cpuUtilization: (cpuMilli / capacity.cpuRequestMilli) * 100,
        inflightPerPod: inflight,
        meanQueueSeconds: queueSeconds,
        p50:
          serving.length === 1
            ? serving[0].state.p50
            : weightedMean(serving.map((g) => ({ weight: g.served, value: g.state.p50 }))),
        p95: worst((g) => g.state.p95),
        p99: worst((g) => g.state.p99),
      };
      history.perPod.cpu.push(cpuMilli);
      history.perPod.gpu.push(busy * 100);
      history.perPod.inflight.push(inflight);
      history.perPod.queueTime.push(queueSeconds);
    }
    history.ready.push(ready);
    series.push({
      t,
      offered,
      served,
      dropped,
      pods: pods.length,
      unscheduled: pods.filter((p) => p.gpu < 0).length,
      ready,
      desired: specReplicas,
      queue: backlog,
      capacity: cap,
      ...sample,
    });
  }

  return { series, events, capacity, summary: summarize(options, topology, series, events, mu, slo) };
}

function summarize(
  options: SimulationOptions,
  topology: GpuTopologyModel | undefined,
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
  let maxUnscheduled = 0;
  let unscheduledSeconds = 0;
  let worst: number | null = null;
  let p95Weighted = 0;
  for (const s of series) {
    offered += s.offered;
    served += s.served;
    dropped += s.dropped;
    podSeconds += s.pods;
    readyPodSeconds += s.ready;
    maxPods = Math.max(maxPods, s.pods);
    maxUnscheduled = Math.max(maxUnscheduled, s.unscheduled);
    if (s.unscheduled > 0) unscheduledSeconds++;
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
    topology: topology ?? null,
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
    maxUnscheduledPods: maxUnscheduled,
    unscheduledSeconds,
    worstP95Seconds: worst,
    meanP95Seconds: served > 0 ? p95Weighted / served : null,
    scalingEvents: events.length,
  };
}
