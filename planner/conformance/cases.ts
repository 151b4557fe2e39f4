/**
 * Runs the HPA conformance cases (third_party/hpa-conformance/README.md) through the planner's HPA
 * implementation: a case with `metricType` is a replica calculation, one with `stage` calls that
 * single normalization stage, as the upstream unit tests do.
 */
import {
  averageValueReplicas,
  objectAverageValueReplicas,
  objectValueReplicas,
  resourceUtilizationReplicas,
  type PodMetrics,
  type PodPhase,
  type PodState,
  type Tolerances,
} from '../hpa/replica-calculator.ts';
import {
  applyBehaviorRate,
  applyLegacyRules,
  scaleDownLimit,
  scaleUpLimit,
  stabilizeLegacy,
  stabilizeWithBehavior,
  type Recommendation,
  type ScaleEvent,
} from '../hpa/normalize.ts';
import { apiDefaultBehavior } from '../../constructs/autoscaling-v2/defaults.ts';
import type { ResolvedScalingBehavior, ResolvedScalingRules } from '../../constructs/autoscaling-v2/types.ts';

/** Go's zero time, as seconds relative to "now" (0): far in the past, but finite. */
const GO_ZERO_TIME = -63_900_000_000;

export interface ReplicaCalcOutput {
  id: string;
  replicas: number | null;
  utilization: number | null;
  value: number | null;
  error: string | null;
}

export interface BehaviorOutput {
  id: string;
  replicas: number | null;
  condition: string | null;
  recommendationsAfter: number[] | null;
  limit?: number | null;
}

export type CaseOutput = ReplicaCalcOutput | BehaviorOutput;

type Json = Record<string, unknown>;

export class CaseInputError extends Error {
  override readonly name = 'CaseInputError';
}

function field(c: Json, name: string): unknown {
  return c[name];
}

function num(c: Json, name: string, id: string): number {
  const v = field(c, name);
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new CaseInputError(`case ${id}: field "${name}" is ${JSON.stringify(v)}; expected a number`);
  }
  return v;
}

function optNum(c: Json, name: string, id: string): number | null {
  const v = field(c, name);
  if (v === null || v === undefined) return null;
  return num(c, name, id);
}

/** A time field: "zero" (Go's zero time), a number of seconds ago, or null (unset). */
function timeAgo(v: unknown, name: string, id: string): number | null {
  if (v === null || v === undefined) return null;
  if (v === 'zero') return GO_ZERO_TIME;
  if (typeof v === 'number' && Number.isFinite(v)) return -v;
  throw new CaseInputError(
    `case ${id}: field "${name}" is ${JSON.stringify(v)}; expected "zero", seconds ago or null`,
  );
}

const PHASES: readonly PodPhase[] = ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown'];

function toPod(p: Json, id: string): PodState {
  const phase = p.phase as PodPhase;
  if (!PHASES.includes(phase)) {
    throw new CaseInputError(
      `case ${id}: pod phase ${JSON.stringify(p.phase)}; expected one of ${PHASES.join(', ')}`,
    );
  }
  const readyTransition = timeAgo(p.readySecondsAgo, 'readySecondsAgo', id);
  return {
    name: String(p.name),
    phase,
    ready: typeof p.ready === 'boolean' ? p.ready : null,
    readyTransitionTime: readyTransition ?? GO_ZERO_TIME,
    startTime: timeAgo(p.startedSecondsAgo, 'startedSecondsAgo', id),
    deleting: p.deleting === true,
    requestMilli: typeof p.requestMilli === 'number' ? p.requestMilli : null,
  };
}

function tolerancesOf(c: Json, id: string): Tolerances {
  const symmetric = optNum(c, 'tolerance', id);
  return {
    scaleDown: optNum(c, 'toleranceScaleDown', id) ?? symmetric ?? 0.1,
    scaleUp: optNum(c, 'toleranceScaleUp', id) ?? symmetric ?? 0.1,
  };
}

function runReplicaCalcCase(c: Json): ReplicaCalcOutput {
  const id = String(c.id);
  const out: ReplicaCalcOutput = { id, replicas: null, utilization: null, value: null, error: null };
  try {
    const metricType = c.metricType;
    const targetType = c.targetType;
    const target = num(c, 'target', id);
    const currentReplicas = num(c, 'currentReplicas', id);
    const tolerances = tolerancesOf(c, id);
    const pods = ((c.pods as Json[] | undefined) ?? []).map((p) => toPod(p, id));
    const metricTimestamp = timeAgo(c.metricTimestamp, 'metricTimestamp', id) ?? GO_ZERO_TIME;
    const window = optNum(c, 'metricWindowSeconds', id) ?? 0;
    const metrics: PodMetrics = new Map();
    for (const p of (c.pods as Json[] | undefined) ?? []) {
      if (typeof p.usageMilli === 'number') {
        metrics.set(String(p.name), { value: p.usageMilli, timestamp: metricTimestamp, window });
      }
    }
    ((c.unmatchedPodMetrics as unknown[] | undefined) ?? []).forEach((raw, i) => {
      // Either { name, usageMilli | value | valueMilli } or a bare value for an unnamed extra pod.
      const m = (typeof raw === 'number' ? { value: raw } : raw) as Json;
      const value = [m.usageMilli, m.value, m.valueMilli].find((v) => typeof v === 'number') as
        number | undefined;
      if (value === undefined) {
        throw new CaseInputError(
          `case ${id}: unmatchedPodMetrics[${i}] is ${JSON.stringify(raw)}; expected a value in milli`,
        );
      }
      metrics.set(String(m.name ?? m.pod ?? `unmatched-pod-${i}`), {
        value,
        timestamp: metricTimestamp,
        window,
      });
    });
    const config = {
      cpuInitializationPeriodSeconds: optNum(c, 'cpuInitializationPeriodSeconds', id) ?? 300,
      delayOfInitialReadinessStatusSeconds: optNum(c, 'delayOfInitialReadinessStatusSeconds', id) ?? 30,
    };
    const common = { currentReplicas, pods, metrics, tolerances, config, now: 0 };
    let replicas: number;
    if (metricType === 'Resource' && targetType === 'Utilization') {
      const r = resourceUtilizationReplicas({
        ...common,
        resource: String(c.resourceName ?? 'cpu'),
        targetUtilization: target,
      });
      replicas = r.replicas;
      out.utilization = r.utilization;
      out.value = r.rawValue;
    } else if ((metricType === 'Resource' || metricType === 'Pods') && targetType === 'AverageValue') {
      const resource = metricType === 'Resource' ? String(c.resourceName ?? 'cpu') : null;
      const r = averageValueReplicas({ ...common, resource, targetAverageMilli: target });
      replicas = r.replicas;
      out.value = r.value;
    } else if ((metricType === 'Object' || metricType === 'External') && targetType === 'Value') {
      const r = objectValueReplicas({
        currentReplicas,
        valueMilli: num(c, 'objectOrExternalValue', id),
        targetMilli: target,
        tolerances,
        pods,
      });
      replicas = r.replicas;
      out.value = r.value;
    } else if ((metricType === 'Object' || metricType === 'External') && targetType === 'AverageValue') {
      const r = objectAverageValueReplicas({
        statusReplicas: currentReplicas,
        valueMilli: num(c, 'objectOrExternalValue', id),
        targetAverageMilli: target,
        tolerances,
      });
      replicas = r.replicas;
      out.value = r.value;
    } else {
      throw new CaseInputError(
        `case ${id}: metricType ${JSON.stringify(metricType)} with targetType ${JSON.stringify(targetType)} is not a valid pair`,
      );
    }
    const minReplicas = optNum(c, 'minReplicas', id);
    const maxReplicas = optNum(c, 'maxReplicas', id);
    if (minReplicas !== null || maxReplicas !== null) {
      // Controller-level case: the proposal goes through the legacy normalization (no behavior).
      replicas = controllerLevel(
        currentReplicas,
        replicas,
        minReplicas ?? 1,
        maxReplicas ?? Number.MAX_SAFE_INTEGER,
      );
    }
    out.replicas = replicas;
  } catch (e) {
    if (e instanceof CaseInputError) throw e;
    out.replicas = null;
    out.error = e instanceof Error ? e.message : String(e);
  }
  return out;
}

/** reconcileAutoscaler without behavior, first sync: the store is seeded with currentReplicas. */
function controllerLevel(current: number, proposal: number, min: number, max: number): number {
  if (current === 0 && min !== 0) return 0;
  if (current > max) return max;
  if (current < min) return min;
  const recs: Recommendation[] = [{ replicas: current, timestamp: 0 }];
  const stabilized = stabilizeLegacy(recs, 0, proposal, 300);
  return applyLegacyRules({
    currentReplicas: current,
    desiredReplicas: stabilized,
    minReplicas: min,
    maxReplicas: max,
  }).replicas;
}

function rulesOf(raw: unknown, fallback: ResolvedScalingRules): ResolvedScalingRules {
  if (raw === null || raw === undefined) return fallback;
  const r = raw as Json;
  return {
    stabilizationWindowSeconds:
      typeof r.stabilizationWindowSeconds === 'number'
        ? r.stabilizationWindowSeconds
        : fallback.stabilizationWindowSeconds,
    selectPolicy:
      (r.selectPolicy as ResolvedScalingRules['selectPolicy'] | undefined) ?? fallback.selectPolicy,
    policies: (r.policies as ResolvedScalingRules['policies'] | undefined) ?? fallback.policies,
  };
}

function behaviorOf(c: Json, legacyWindow: number): ResolvedScalingBehavior {
  const defaults = apiDefaultBehavior(legacyWindow);
  const b = (c.behavior as Json | null | undefined) ?? {};
  return {
    scaleUp: rulesOf(b.scaleUp, defaults.scaleUp),
    scaleDown: rulesOf(b.scaleDown, defaults.scaleDown),
  };
}

function eventsOf(raw: unknown): ScaleEvent[] {
  return ((raw as Json[] | undefined) ?? []).map((e) => ({
    replicaChange: Number(e.replicaChange),
    timestamp: -Number(e.secondsAgo),
    outdated: false,
  }));
}

function runBehaviorCase(c: Json): BehaviorOutput {
  const id = String(c.id);
  const legacyWindow = optNum(c, 'legacyDownscaleStabilizationWindowSeconds', id) ?? 300;
  const behavior = behaviorOf(c, legacyWindow);
  const recommendations: Recommendation[] = ((c.recommendations as Json[] | undefined) ?? []).map((r) => ({
    replicas: Number(r.replicas),
    timestamp: -Number(r.secondsAgo),
  }));
  const upEvents = eventsOf(c.scaleUpEvents);
  const downEvents = eventsOf(c.scaleDownEvents);
  const current = optNum(c, 'currentReplicas', id);
  const desired = optNum(c, 'desiredReplicas', id);
  const out: BehaviorOutput = { id, replicas: null, condition: null, recommendationsAfter: null };
  const need = (v: number | null, name: string): number => {
    if (v === null) throw new CaseInputError(`case ${id}: stage ${String(c.stage)} needs "${name}"`);
    return v;
  };
  switch (c.stage) {
    case 'stabilization':
      out.replicas = stabilizeWithBehavior(recommendations, 0, {
        currentReplicas: need(current, 'currentReplicas'),
        desiredReplicas: need(desired, 'desiredReplicas'),
        upWindowSeconds: behavior.scaleUp.stabilizationWindowSeconds,
        downWindowSeconds: behavior.scaleDown.stabilizationWindowSeconds,
      });
      out.recommendationsAfter = recommendations.map((r) => r.replicas);
      break;
    case 'legacyStabilization':
      out.replicas = stabilizeLegacy(recommendations, 0, need(desired, 'desiredReplicas'), legacyWindow);
      out.recommendationsAfter = recommendations.map((r) => r.replicas);
      break;
    case 'rateLimit': {
      const r = applyBehaviorRate({
        currentReplicas: need(current, 'currentReplicas'),
        desiredReplicas: need(desired, 'desiredReplicas'),
        minReplicas: optNum(c, 'minReplicas', id) ?? 1,
        maxReplicas: need(optNum(c, 'maxReplicas', id), 'maxReplicas'),
        behavior,
        upEvents,
        downEvents,
        now: 0,
      });
      out.replicas = r.replicas;
      out.condition = r.reason;
      break;
    }
    case 'scaleUpLimit':
    case 'scaleDownLimit': {
      const fn = c.stage === 'scaleUpLimit' ? scaleUpLimit : scaleDownLimit;
      const rules = c.stage === 'scaleUpLimit' ? behavior.scaleUp : behavior.scaleDown;
      const limit = fn(need(current, 'currentReplicas'), upEvents, downEvents, rules, 0);
      out.replicas = limit;
      out.limit = limit;
      break;
    }
    default:
      throw new CaseInputError(
        `case ${id}: stage ${JSON.stringify(c.stage)} is not one of stabilization, legacyStabilization, rateLimit, scaleUpLimit, scaleDownLimit`,
      );
  }
  return out;
}

/** Runs one case. A malformed case (CaseInputError) is reported through `inputErrors`. */
function runCase(c: unknown, index: number, inputErrors: string[] = []): CaseOutput {
  if (typeof c !== 'object' || c === null || Array.isArray(c)) {
    const message = `case #${index}: expected an object, got ${JSON.stringify(c)}`;
    inputErrors.push(message);
    return { id: `#${index}`, replicas: null, utilization: null, value: null, error: message };
  }
  const obj = c as Json;
  try {
    if ('metricType' in obj) return runReplicaCalcCase(obj);
    if ('stage' in obj) return runBehaviorCase(obj);
    throw new CaseInputError(`case #${index} (${String(obj.id)}): has neither "metricType" nor "stage"`);
  } catch (e) {
    if (!(e instanceof CaseInputError)) throw e;
    inputErrors.push(e.message);
    if ('stage' in obj)
      return { id: String(obj.id), replicas: null, condition: null, recommendationsAfter: null };
    return { id: String(obj.id), replicas: null, utilization: null, value: null, error: e.message };
  }
}

export function runCases(input: unknown, inputErrors: string[] = []): CaseOutput[] {
  if (!Array.isArray(input)) throw new CaseInputError('input: expected a JSON array of cases');
  return input.map((c, i) => runCase(c, i, inputErrors));
}
