/**
 * Replays the real HPA controller's syncs through the planner's HPA port (planner/hpa) and says, sync
 * by sync, whether both recommend the same replicas.
 *
 * What is observed, and why (kube-controller-manager v1.37.2, pkg/controller/podautoscaler/horizontal.go):
 *
 * - The controller's log, with `--vmodule=horizontal=4`, is the sync clock. Every reconcile that
 *   computes logs "Proposing desired replicas" (V4: the max over the metrics' proposals before
 *   stabilization and rate limits, and the tolerances) and then either "Decided not to scale" (V4) or
 *   "Successfully rescaled" (V0: currentReplicas, desiredReplicas); "Successfully updated status" (V2)
 *   follows when the status changed. A failed reconcile returns its error, logged as "Unhandled Error"
 *   with the scale target's reference. The header gives each line's time to the microsecond, which the
 *   stabilization windows and policy periods need: with a 15 s sync and a 30 s window, a recommendation
 *   two syncs old is 30.00x s old, just outside.
 * - The HPA's status gives the values the controller read: status.currentMetrics[i] is metric i of the
 *   spec as the last sync computed it. The controller writes status only when it differs
 *   (updateStatusIfNeeded), so a sync without "Successfully updated status" read the values of the
 *   last write: polling `kubectl get hpa` more often than once per sync period sees every write, and
 *   the log says which sync each write came from. Polling alone misses the syncs that change nothing
 *   and the pre-normalization proposal; the log alone has no metric values.
 *
 * What neither shows is which pods had a sample at that instant (a Running pod without one is "missing",
 * a Pending one "unready"), and the per-pod average in the status is over the pods with a sample only.
 * The replay feeds the planner `currentReplicas` pods, each with the average, unless told otherwise
 * (`PodCensus`); when the planner's proposal then differs from the logged one it looks for the pod
 * census nearest to the nominal one that reproduces it, reports it, and goes on with it, so that the
 * stabilization and rate-limit state stays aligned and a later decision mismatch is one of
 * normalization, not of inputs. A proposal no census reproduces is a mismatch.
 *
 * Use: poll `kubectl get hpa -o json --show-managed-fields` every few seconds into `HpaSnapshot`s for
 * the whole run, then `replayHpa(hpa.spec, observeSyncs(hpa, controllerLog, snapshots))` and
 * `formatReplay(report)`. The controller manager needs `--vmodule=horizontal=4`; without the log,
 * `observeSyncsFromSnapshots` infers the syncs from the status writes (approximate times).
 */
import {
  computeDesiredReplicas,
  HpaController,
  quantityToMilli,
  tolerancesFor,
  type ControllerConfig,
  type HpaSpec,
  type MetricObservation,
  type PodState,
  type ResolvedHpa,
  type ResolvedMetric,
  type SyncInput,
} from '../../planner/index.ts';

// ---------------------------------------------------------------------------------------------------
// The HPA object as `kubectl get hpa -o json` returns it (autoscaling/v2)

export interface MetricValueStatusV2 {
  readonly value?: string;
  readonly averageValue?: string;
  readonly averageUtilization?: number;
}

export interface MetricStatusV2 {
  /** "" for a metric whose computation failed in that sync. */
  readonly type: string;
  readonly pods?: { readonly metric: { readonly name: string }; readonly current: MetricValueStatusV2 };
  readonly object?: { readonly metric: { readonly name: string }; readonly current: MetricValueStatusV2 };
  readonly external?: { readonly metric: { readonly name: string }; readonly current: MetricValueStatusV2 };
  readonly resource?: { readonly name: string; readonly current: MetricValueStatusV2 };
  readonly containerResource?: { readonly name: string; readonly current: MetricValueStatusV2 };
}

export interface HpaConditionV2 {
  readonly type: string;
  readonly status: string;
  readonly reason?: string;
  readonly message?: string;
  readonly lastTransitionTime?: string;
}

export interface HpaStatusV2 {
  readonly currentReplicas?: number;
  readonly desiredReplicas?: number;
  readonly currentMetrics?: readonly MetricStatusV2[] | null;
  readonly conditions?: readonly HpaConditionV2[];
  readonly lastScaleTime?: string;
  readonly observedGeneration?: number;
}

export interface HpaObjectV2 {
  readonly metadata: {
    readonly namespace?: string;
    readonly name: string;
    readonly resourceVersion?: string;
    /** Present with `kubectl get --show-managed-fields`: the status write's time (to the second). */
    readonly managedFields?: readonly {
      readonly manager?: string;
      readonly operation?: string;
      readonly subresource?: string;
      readonly time?: string;
    }[];
  };
  readonly spec: HpaSpec & {
    readonly scaleTargetRef: { readonly kind: string; readonly name: string; readonly apiVersion?: string };
  };
  readonly status?: HpaStatusV2;
}

/** One poll of the HPA: when the test read it (epoch ms) and what it read. */
export interface HpaSnapshot {
  readonly observedAt: number;
  readonly hpa: HpaObjectV2;
}

// ---------------------------------------------------------------------------------------------------
// klog text lines

export interface KlogRecord {
  /** Epoch ms (fractional: the header has microseconds). */
  readonly at: number;
  readonly severity: 'I' | 'W' | 'E' | 'F';
  readonly file: string;
  readonly line: number;
  readonly msg: string;
  /** Quoted values unquoted; others (numbers, JSON) as written. */
  readonly kv: Readonly<Record<string, string>>;
}

export interface KlogTimeOptions {
  /** The header has no year: the year making the time nearest before `reference`. @default Date.now() */
  readonly reference?: number;
  /** The header is UTC (a TZ=UTC controller manager); otherwise this process's local time zone. @default false */
  readonly utc?: boolean;
}

const KLOG_HEADER = /^([IWEF])(\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{6}) +\d+ ([^:\s]+):(\d+)\] (.*)$/;

/** Reads a Go strconv.Quote'd string at s[i] (a '"'); returns it and the index after the closing quote. */
function readGoQuoted(s: string, i: number): [string, number] {
  if (s[i] !== '"') throw new SyntaxError(`expected '"' at ${i} in ${s}`);
  let out = '';
  let j = i + 1;
  const simple: Record<string, string> = {
    a: '\x07',
    b: '\b',
    f: '\f',
    n: '\n',
    r: '\r',
    t: '\t',
    v: '\v',
    '\\': '\\',
    '"': '"',
    "'": "'",
  };
  while (j < s.length) {
    const c = s[j]!;
    if (c === '"') return [out, j + 1];
    if (c !== '\\') {
      out += c;
      j++;
      continue;
    }
    const e = s[j + 1] ?? '';
    if (e in simple) {
      out += simple[e];
      j += 2;
    } else if (e === 'x' || e === 'u' || e === 'U') {
      const n = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      out += String.fromCodePoint(parseInt(s.slice(j + 2, j + 2 + n), 16));
      j += 2 + n;
    } else if (/[0-7]/.test(e)) {
      out += String.fromCharCode(parseInt(s.slice(j + 1, j + 4), 8));
      j += 4;
    } else {
      out += e;
      j += 2;
    }
  }
  throw new SyntaxError(`unterminated string in ${s}`);
}

/** A bare value: up to the next space outside JSON brackets and strings. */
function readBare(s: string, i: number): [string, number] {
  let depth = 0;
  let j = i;
  while (j < s.length) {
    const c = s[j]!;
    if (c === '"') {
      j = readGoQuoted(s, j)[1];
      continue;
    }
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    else if (c === ' ' && depth <= 0) break;
    j++;
  }
  return [s.slice(i, j), j];
}

function headerTime(m: RegExpExecArray, opts: KlogTimeOptions): number {
  const [mo, d, h, mi, se, us] = [m[2], m[3], m[4], m[5], m[6], m[7]].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const reference = opts.reference ?? Date.now();
  const make = (year: number) =>
    (opts.utc ? Date.UTC(year, mo - 1, d, h, mi, se) : new Date(year, mo - 1, d, h, mi, se).getTime()) +
    us / 1000;
  const year = new Date(reference).getUTCFullYear();
  const t = make(year);
  // A December line read in January belongs to last year.
  return t > reference + 180 * 86_400_000 ? make(year - 1) : t;
}

/** One klog text-format line (kube-controller-manager's default format); undefined for other lines. */
export function parseKlogLine(line: string, opts: KlogTimeOptions = {}): KlogRecord | undefined {
  const m = KLOG_HEADER.exec(line);
  if (!m) return undefined;
  const rest = m[10]!;
  let msg: string;
  let i: number;
  try {
    [msg, i] = rest.startsWith('"') ? readGoQuoted(rest, 0) : [rest, rest.length];
  } catch {
    return undefined;
  }
  const kv: Record<string, string> = {};
  while (i < rest.length) {
    while (rest[i] === ' ') i++;
    const eq = rest.indexOf('=', i);
    if (eq < 0) break;
    const key = rest.slice(i, eq);
    let value: string;
    try {
      [value, i] = rest[eq + 1] === '"' ? readGoQuoted(rest, eq + 1) : readBare(rest, eq + 1);
    } catch {
      break;
    }
    kv[key] = value;
  }
  return {
    at: headerTime(m, opts),
    severity: m[1] as KlogRecord['severity'],
    file: m[8]!,
    line: Number(m[9]),
    msg,
    kv,
  };
}

// ---------------------------------------------------------------------------------------------------
// The controller's syncs of one HPA, from its log

export interface HpaRef {
  readonly namespace: string;
  readonly name: string;
  readonly scaleTargetRef: { readonly kind: string; readonly name: string };
}

function refOf(hpa: HpaRef | HpaObjectV2): HpaRef {
  if ('metadata' in hpa) {
    return {
      namespace: hpa.metadata.namespace ?? 'default',
      name: hpa.metadata.name,
      scaleTargetRef: hpa.spec.scaleTargetRef,
    };
  }
  return hpa;
}

export interface LoggedSync {
  /** When it computed ("Proposing desired replicas"), else its first line. Epoch ms. */
  readonly at: number;
  /** Its decision ("Decided not to scale" / "Successfully rescaled") or error line. */
  readonly decidedAt: number;
  readonly outcome: 'hold' | 'rescale' | 'failed';
  /** The max over the metrics' proposals, before normalization (absent: not computed, or not logged). */
  readonly proposal?: number;
  /** Which metric gave it ("pods metric inference_inflight_requests"). */
  readonly proposalMetric?: string;
  /** As logged: "[down:10.0%, up:10.0%]". */
  readonly tolerances?: string;
  /** The scale's spec.replicas this sync read (absent for a failed sync). */
  readonly currentReplicas?: number;
  /** What it set (rescale), or held at (hold). */
  readonly desiredReplicas?: number;
  readonly reason?: string;
  readonly error?: string;
  /** "Successfully updated status": this sync wrote the status (epoch ms of the line). */
  readonly statusWrittenAt?: number;
  /** The controller has no memory of this HPA before this sync: first seen, or after a restart or a deletion. */
  readonly fresh: boolean;
}

type Draft = { -readonly [K in keyof LoggedSync]: LoggedSync[K] };

/**
 * The syncs of one HPA in a kube-controller-manager log (klog text, `--vmodule=horizontal=4`).
 * Lines of other HPAs (the controller runs several workers) and other controllers are skipped.
 */
export function parseControllerLog(
  text: string,
  hpa: HpaRef | HpaObjectV2,
  opts: KlogTimeOptions & { readonly since?: number } = {},
): LoggedSync[] {
  const ref = refOf(hpa);
  const target = `${ref.scaleTargetRef.kind}/${ref.namespace}/${ref.scaleTargetRef.name}`;
  const key = `${ref.namespace}/${ref.name}`;
  const records: KlogRecord[] = [];
  for (const line of text.split(/\r?\n/)) {
    const r = parseKlogLine(line, opts);
    if (!r || (opts.since !== undefined && r.at < opts.since)) continue;
    const relevant =
      r.msg === 'Starting HPA controller' ||
      (r.msg === 'Horizontal Pod Autoscaler has been deleted' && r.kv.HPA === key) ||
      (r.msg.startsWith('Proposing desired replicas') && r.kv.scaleTarget === target) ||
      (r.msg === 'Decided not to scale' && r.kv.scaleTarget === target) ||
      ((r.msg === 'Successfully rescaled' || r.msg === 'Successfully updated status') && r.kv.HPA === key) ||
      (r.severity === 'E' && (r.kv.err ?? '').includes(`${target}:`));
    if (relevant) records.push(r);
  }
  const syncs: Draft[] = [];
  let fresh = true;
  let open: Draft | undefined;
  let last: Draft | undefined;
  const draft = (at: number): Draft => {
    const d: Draft = { at, decidedAt: at, outcome: 'failed', fresh };
    fresh = false;
    return d;
  };
  const close = (d: Draft) => {
    syncs.push(d);
    last = d;
    open = undefined;
  };
  const int = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    if (r.msg === 'Starting HPA controller' || r.msg === 'Horizontal Pod Autoscaler has been deleted') {
      if (open) close({ ...open, error: 'no decision logged' });
      fresh = true;
      last = undefined;
    } else if (r.msg.startsWith('Proposing desired replicas')) {
      if (open) close({ ...open, error: 'no decision logged' });
      open = {
        ...draft(r.at),
        proposal: int(r.kv.desiredReplicas),
        proposalMetric: r.kv.metric,
        tolerances: r.kv.tolerances,
      };
    } else if (r.msg === 'Decided not to scale') {
      const d = open ?? draft(r.at);
      const held = int(r.kv.desiredReplicas);
      close({ ...d, decidedAt: r.at, outcome: 'hold', currentReplicas: held, desiredReplicas: held });
    } else if (r.msg === 'Successfully rescaled') {
      const d = open ?? draft(r.at);
      close({
        ...d,
        decidedAt: r.at,
        outcome: 'rescale',
        currentReplicas: int(r.kv.currentReplicas),
        desiredReplicas: int(r.kv.desiredReplicas),
        reason: r.kv.reason,
      });
    } else if (r.msg === 'Successfully updated status') {
      // A failed reconcile writes its status before it returns the error; a decided one after its decision.
      const next = records[i + 1];
      const failedNext = next?.severity === 'E' && next.at - r.at < 5000;
      if (failedNext || open) {
        (open ??= draft(r.at)).statusWrittenAt = r.at;
      } else if (last && last.statusWrittenAt === undefined) {
        last.statusWrittenAt = r.at;
      }
    } else if (r.severity === 'E') {
      const d = open ?? draft(r.at);
      close({ ...d, decidedAt: r.at, outcome: 'failed', error: r.kv.err });
    }
  }
  if (open) syncs.push({ ...open, error: 'no decision logged (log ends)' });
  return syncs;
}

// ---------------------------------------------------------------------------------------------------
// Status versions and the observed syncs

/** The pods the controller listed, as the replay feeds them to the planner. */
export interface PodCensus {
  /** Running pods with a sample of each per-pod metric. */
  readonly sampled: number;
  /** Running pods the metrics API returned no sample for. @default 0 */
  readonly missing?: number;
  /** Pending pods. @default 0 */
  readonly pending?: number;
  /** Running pods with Ready=True (Object/External Value targets scale by it). @default sampled + missing */
  readonly ready?: number;
  /** The scale's status.replicas (Object/External AverageValue targets divide by it). @default currentReplicas */
  readonly statusReplicas?: number;
}

/** Metric i of the spec as the sync read it: milli-units (Quantity.MilliValue()), or percent. */
export interface ObservedMetric {
  readonly averageValueMilli?: number;
  readonly valueMilli?: number;
  readonly averageUtilization?: number;
}

export interface RealOutcome {
  readonly outcome: 'hold' | 'rescale' | 'failed';
  /** The scale's spec.replicas after the sync. */
  readonly replicas: number;
  /** Pre-normalization proposal, when known. */
  readonly proposal?: number;
  /** As logged. */
  readonly tolerances?: string;
  /** Why it failed, as logged. */
  readonly error?: string;
}

export interface ObservedSync {
  /** Epoch ms (any origin: the replay uses differences): when it computed. */
  readonly at: number;
  /** When it decided (after the scale update, for a rescale: when upstream stamps the scale event). */
  readonly decidedAt?: number;
  /** The scale's spec.replicas the sync read. */
  readonly currentReplicas: number;
  /** One per spec metric (null: failed in this sync); undefined: the values were not observed. */
  readonly metrics?: readonly (ObservedMetric | null)[];
  /** @default currentReplicas pods, each Running with a sample */
  readonly census?: PodCensus;
  readonly real: RealOutcome;
  /** The controller starts with no memory of the HPA here. */
  readonly fresh?: boolean;
  /** The sync time was inferred (status-only observation). */
  readonly inferred?: boolean;
  readonly note?: string;
}

interface StatusVersion {
  readonly status: HpaStatusV2;
  readonly firstSeen: number;
  /** The poll before (which still saw the previous version); -Infinity for the first. */
  readonly prevSeen: number;
  /** From managedFields (second precision), when shown. */
  readonly writtenAt?: number;
}

function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stable((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

function statusWriteTime(hpa: HpaObjectV2): number | undefined {
  const times = (hpa.metadata.managedFields ?? [])
    .filter((f) => f.subresource === 'status' && f.time)
    .map((f) => Date.parse(f.time!));
  return times.length ? Math.max(...times) : undefined;
}

/** The distinct statuses the polls saw, in order. */
function statusVersions(snapshots: readonly HpaSnapshot[]): StatusVersion[] {
  const sorted = [...snapshots].sort((a, b) => a.observedAt - b.observedAt);
  const out: (StatusVersion & { key: string })[] = [];
  let prev = -Infinity;
  for (const s of sorted) {
    const status = s.hpa.status ?? {};
    const writtenAt = statusWriteTime(s.hpa);
    const key = `${stable(status)}|${writtenAt ?? ''}`;
    if (out.at(-1)?.key !== key)
      out.push({ key, status, firstSeen: s.observedAt, prevSeen: prev, writtenAt });
    prev = s.observedAt;
  }
  return out;
}

function condition(status: HpaStatusV2, type: string): HpaConditionV2 | undefined {
  return status.conditions?.find((c) => c.type === type);
}

function statusKind(m: MetricStatusV2) {
  return m.pods ?? m.object ?? m.external;
}

/** status.currentMetrics against the spec: one value per spec metric, null where it failed. */
export function metricsFromStatus(hpa: ResolvedHpa, status: HpaStatusV2): (ObservedMetric | null)[] {
  const current = status.currentMetrics ?? [];
  return hpa.metrics.map((spec, i) => {
    const m = current[i];
    if (!m || m.type === '') return null;
    const named = statusKind(m);
    const src = named?.current ?? m.resource?.current ?? m.containerResource?.current;
    const name = named?.metric.name ?? m.resource?.name ?? m.containerResource?.name;
    if (!src || name !== spec.name) return null;
    const milli = (q: string | undefined) => (q === undefined ? undefined : quantityToMilli(q, name));
    return {
      averageValueMilli: milli(src.averageValue),
      valueMilli: milli(src.value),
      averageUtilization: src.averageUtilization,
    };
  });
}

export interface ObserveOptions extends KlogTimeOptions {
  /** Only log lines from then on (epoch ms). */
  readonly since?: number;
  /** The controller-manager flags the replay will use (for resolving the spec). */
  readonly config?: Partial<ControllerConfig>;
  /** Pods at a sync, when the test observed them (a pod watch or poll). */
  readonly census?: (at: number) => PodCensus | undefined;
  /** Slack between the log's clock and the polls' (same host: small). @default 1000 ms */
  readonly clockToleranceMs?: number;
}

/**
 * The syncs of the controller log, each with the metric values of the status it read: the status this
 * sync wrote, or the last one written before it.
 */
export function observeSyncs(
  hpa: HpaObjectV2,
  log: string | readonly LoggedSync[],
  snapshots: readonly HpaSnapshot[],
  opts: ObserveOptions = {},
): ObservedSync[] {
  const logged = typeof log === 'string' ? parseControllerLog(log, hpa, opts) : log;
  const resolved = new HpaController(hpa.spec, opts.config).hpa;
  const versions = statusVersions(snapshots);
  const tol = opts.clockToleranceMs ?? 1000;
  // Each version to the last status write logged between the poll before it and the poll that saw it.
  const written = new Map<LoggedSync, StatusVersion>();
  const matchedVersions = new Set<StatusVersion>();
  let from = 0;
  for (const v of versions) {
    let pick = -1;
    for (let j = from; j < logged.length; j++) {
      const w = logged[j]!;
      const at = w.statusWrittenAt;
      if (at === undefined) continue;
      if (at > v.firstSeen + tol) break;
      if (at <= v.prevSeen - tol) continue;
      if (v.writtenAt !== undefined && Math.abs(Math.floor(at / 1000) * 1000 - v.writtenAt) > 1000) continue;
      const consistent =
        w.outcome === 'failed' ||
        (v.status.currentReplicas === w.currentReplicas && v.status.desiredReplicas === w.desiredReplicas);
      if (consistent) pick = j;
    }
    if (pick >= 0) {
      written.set(logged[pick]!, v);
      matchedVersions.add(v);
      from = pick + 1;
    }
  }
  // Before the first logged write, the status in effect is the one the polls saw first, if no logged write made it.
  let inEffect: StatusVersion | undefined =
    versions[0] && !matchedVersions.has(versions[0]) ? versions[0] : undefined;
  let lastReplicas: number | undefined;
  const out: ObservedSync[] = [];
  for (const s of logged) {
    let note: string | undefined;
    if (s.statusWrittenAt !== undefined) {
      inEffect = written.get(s);
      if (!inEffect) note = 'its status write was not seen by any poll';
    }
    const status = inEffect?.status;
    const current = s.currentReplicas ?? status?.currentReplicas ?? lastReplicas ?? 0;
    if (status && !note && s.outcome !== 'failed' && status.currentReplicas !== current) {
      note = `status in effect has currentReplicas ${status.currentReplicas}, the log ${current}`;
    }
    const replicas = s.outcome === 'rescale' ? (s.desiredReplicas ?? current) : current;
    lastReplicas = replicas;
    out.push({
      at: s.at,
      decidedAt: s.decidedAt,
      currentReplicas: current,
      metrics: status ? metricsFromStatus(resolved, status) : undefined,
      census: opts.census?.(s.at),
      real: { outcome: s.outcome, replicas, proposal: s.proposal, tolerances: s.tolerances, error: s.error },
      fresh: s.fresh,
      note,
    });
  }
  return out;
}

/**
 * Without the log: one sync per status write (at its managedFields time, else between the polls) and
 * holds every sync period in between. Sync times are approximate, and the pre-normalization proposal
 * is known only where the conditions imply it (ReadyForNewScale and not ScalingLimited).
 */
export function observeSyncsFromSnapshots(
  hpa: HpaObjectV2,
  snapshots: readonly HpaSnapshot[],
  opts: { readonly syncPeriodSeconds?: number; readonly config?: Partial<ControllerConfig> } = {},
): ObservedSync[] {
  const resolved = new HpaController(hpa.spec, opts.config).hpa;
  const period = (opts.syncPeriodSeconds ?? 15) * 1000;
  const versions = statusVersions(snapshots).filter((v) => v.status.currentReplicas !== undefined);
  const lastPoll = Math.max(...snapshots.map((s) => s.observedAt));
  const out: ObservedSync[] = [];
  versions.forEach((v, i) => {
    const at = v.writtenAt ?? (Number.isFinite(v.prevSeen) ? (v.prevSeen + v.firstSeen) / 2 : v.firstSeen);
    const status = v.status;
    const current = status.currentReplicas ?? 0;
    const active = condition(status, 'ScalingActive');
    const failed = active?.status === 'False' && (active.reason ?? '').startsWith('Failed');
    const desired = status.desiredReplicas ?? current;
    const implied =
      condition(status, 'AbleToScale')?.reason === 'ReadyForNewScale' &&
      condition(status, 'ScalingLimited')?.status === 'False';
    const metrics = metricsFromStatus(resolved, status);
    out.push({
      at,
      currentReplicas: current,
      metrics,
      real: failed
        ? { outcome: 'failed', replicas: current }
        : {
            outcome: desired === current ? 'hold' : 'rescale',
            replicas: desired,
            proposal: implied ? desired : undefined,
          },
      fresh: i === 0,
      inferred: true,
    });
    const next = versions[i + 1];
    const nextAt = next ? (next.writtenAt ?? (next.prevSeen + next.firstSeen) / 2) : lastPoll + period / 2;
    if (failed || desired !== current) return;
    for (let t = at + period; t < nextAt - period / 2; t += period) {
      out.push({
        at: t,
        currentReplicas: current,
        metrics,
        real: { outcome: 'hold', replicas: current, proposal: implied ? desired : undefined },
        inferred: true,
      });
    }
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The replay

export interface ReplayOptions {
  /** kube-controller-manager's HPA flags as the cluster runs them. @default production defaults */
  readonly config?: Partial<ControllerConfig>;
  /** Look for a pod census that reproduces a logged proposal the nominal one does not. @default true */
  readonly searchCensus?: boolean;
  /**
   * A mismatch where a recommendation is this close to a stabilization window's edge is flagged as
   * timing-sensitive (upstream stamps it a little after the logged proposal). @default 0.01
   */
  readonly edgeSeconds?: number;
}

export interface PlannerOutcome {
  readonly proposal: number;
  readonly replicas: number;
  readonly limitReason?: string;
  readonly error?: string;
}

export interface ReplayedSync {
  readonly index: number;
  /** Seconds since the first sync. */
  readonly t: number;
  readonly at: number;
  readonly inputs: {
    readonly currentReplicas: number;
    /** By metric name, in the metric's unit (per pod for AverageValue), or percent; null: failed. */
    readonly metrics: Readonly<Record<string, number | null>> | null;
    readonly census: PodCensus;
  };
  readonly real: RealOutcome;
  /** null: not replayed (the values it read are unknown). */
  readonly planner: PlannerOutcome | null;
  /** The planner's pre-normalization proposal from the nominal census equals the logged one; null: unknown. */
  readonly proposalMatch: boolean | null;
  /** A census other than the nominal one reproduced the logged proposal, and the replay used it. */
  readonly censusAdjusted: boolean;
  /** Same replicas after the sync (and a reproducible proposal); null: not compared. */
  readonly match: boolean | null;
  readonly notes: readonly string[];
}

export interface ReplayReport {
  readonly syncs: readonly ReplayedSync[];
  /** Syncs where the planner and the real controller differ. */
  readonly mismatches: readonly ReplayedSync[];
  readonly adjusted: readonly ReplayedSync[];
  readonly uncompared: readonly ReplayedSync[];
  /** No mismatch. */
  readonly ok: boolean;
}

interface Variant {
  readonly census: Required<PodCensus>;
  /** Added to one pod's sample (the status average truncates the sum). */
  readonly remainderMilli: number;
  /** Subtracted from average × statusReplicas (the status average of an Object/External AverageValue rounds up). */
  readonly deficitMilli: number;
}

function fullCensus(c: PodCensus | undefined, current: number): Required<PodCensus> {
  const sampled = c?.sampled ?? current;
  const missing = c?.missing ?? 0;
  return {
    sampled,
    missing,
    pending: c?.pending ?? 0,
    ready: c?.ready ?? sampled + missing,
    statusReplicas: c?.statusReplicas ?? current,
  };
}

/** Pods that the calculator groups as the census says (every Running pod past CPU initialization). */
function syntheticPods(c: Required<PodCensus>, now: number): PodState[] {
  const started = now - 1e6;
  const running = (name: string, ready: boolean): PodState => ({
    name,
    phase: 'Running',
    ready,
    // A not-ready pod was ready before: its samples count (for CPU too).
    readyTransitionTime: ready ? started + 60 : started + 3600,
    startTime: started,
    deleting: false,
    requestMilli: 100_000,
  });
  const pods: PodState[] = [];
  let ready = c.ready;
  for (let i = 0; i < c.sampled; i++) pods.push(running(`sampled-${i}`, ready-- > 0));
  for (let i = 0; i < c.missing; i++) pods.push(running(`missing-${i}`, ready-- > 0));
  for (let i = 0; i < c.pending; i++) {
    pods.push({
      name: `pending-${i}`,
      phase: 'Pending',
      ready: false,
      readyTransitionTime: started,
      startTime: null,
      deleting: false,
      requestMilli: 100_000,
    });
  }
  return pods;
}

function observation(
  metric: ResolvedMetric,
  value: ObservedMetric | null,
  v: Variant,
): MetricObservation | null {
  if (value === null) return null;
  const perPod = (milli: number) => {
    const samples: Record<string, number> = {};
    for (let i = 0; i < v.census.sampled; i++)
      samples[`sampled-${i}`] = milli + (i === 0 ? v.remainderMilli : 0);
    return { podSamples: samples };
  };
  switch (metric.kind) {
    case 'PodsAverageValue':
    case 'ResourceAverageValue':
      return value.averageValueMilli === undefined ? null : perPod(value.averageValueMilli);
    case 'ResourceUtilization':
      // requests of 100 units: a sample of U units is U % of it.
      return value.averageUtilization === undefined ? null : perPod(value.averageUtilization * 1000);
    case 'ObjectValue':
    case 'ExternalValue':
      return value.valueMilli === undefined ? null : { valueMilli: value.valueMilli };
    case 'ObjectAverageValue':
    case 'ExternalAverageValue':
      return value.averageValueMilli === undefined
        ? null
        : { valueMilli: value.averageValueMilli * v.census.statusReplicas - v.deficitMilli };
  }
}

function syncInput(hpa: ResolvedHpa, s: ObservedSync, v: Variant, now: number): SyncInput {
  const values = s.metrics ?? hpa.metrics.map(() => null);
  return {
    currentReplicas: s.currentReplicas,
    statusReplicas: v.census.statusReplicas,
    pods: syntheticPods(v.census, now),
    metrics: hpa.metrics.map((m, i) => observation(m, values[i] ?? null, v)),
  };
}

/**
 * Censuses and value variants near the nominal one, nearest first: up to 2 pods more or fewer, any split
 * of them into sampled / Running without a sample / Pending, and the sums the status's rounding hides.
 */
function variants(hpa: ResolvedHpa, nominal: Required<PodCensus>, current: number): Variant[] {
  const kinds = new Set(hpa.metrics.map((m) => m.kind));
  const perPod = kinds.has('PodsAverageValue') || kinds.has('ResourceAverageValue');
  const readyMatters = kinds.has('ObjectValue') || kinds.has('ExternalValue');
  const statusMatters = kinds.has('ObjectAverageValue') || kinds.has('ExternalAverageValue');
  const nominalN = nominal.sampled + nominal.missing + nominal.pending;
  const range = (lo: number, hi: number) =>
    Array.from({ length: Math.max(0, hi - lo + 1) }, (_, i) => lo + i);
  /** 0..few, and the top of the range. */
  const some = (top: number, few: number) => [
    ...new Set([...range(0, Math.min(top, few)), Math.max(0, top)]),
  ];
  const out: (Variant & { cost: number })[] = [];
  for (const n of range(Math.max(1, Math.min(current, nominalN) - 2), Math.max(current, nominalN) + 2)) {
    for (const pending of range(0, n - 1)) {
      for (const missing of range(0, n - 1 - pending)) {
        const sampled = n - pending - missing;
        const running = sampled + missing;
        const readies = readyMatters ? range(Math.max(0, running - 2), running) : [running];
        const statuses = statusMatters
          ? range(Math.max(1, current - 1), current + 1)
          : [nominal.statusReplicas];
        for (const ready of readies) {
          for (const statusReplicas of statuses) {
            for (const remainderMilli of perPod ? some(sampled - 1, 7) : [0]) {
              for (const deficitMilli of statusMatters ? some(statusReplicas - 1, 3) : [0]) {
                const cost =
                  4 * Math.abs(n - nominalN) +
                  2 * (Math.abs(pending - nominal.pending) + Math.abs(missing - nominal.missing)) +
                  Math.abs(ready - nominal.ready) +
                  Math.abs(statusReplicas - nominal.statusReplicas) +
                  (remainderMilli > 0 ? 0.5 : 0) +
                  (deficitMilli > 0 ? 0.5 : 0);
                out.push({
                  census: { sampled, missing, pending, ready, statusReplicas },
                  remainderMilli,
                  deficitMilli,
                  cost,
                });
              }
            }
          }
        }
      }
    }
  }
  // The nearest 20000 (a few seconds of the planner's calculation at most).
  return out.sort((a, b) => a.cost - b.cost).slice(0, 20_000);
}

/** "1 with samples, 2 Running without" (defaults left out). */
export function describeCensus(
  c: PodCensus,
  currentReplicas: number,
  v?: Pick<Variant, 'remainderMilli' | 'deficitMilli'>,
): string {
  const parts = [`${c.sampled} pod(s) with samples`];
  if (c.missing) parts.push(`${c.missing} Running without`);
  if (c.pending) parts.push(`${c.pending} Pending`);
  if (c.ready !== undefined && c.ready !== c.sampled + (c.missing ?? 0)) parts.push(`${c.ready} Ready`);
  if (c.statusReplicas !== undefined && c.statusReplicas !== currentReplicas) {
    parts.push(`status.replicas ${c.statusReplicas}`);
  }
  if (v?.remainderMilli) parts.push(`sum ${v.remainderMilli}m above average × pods`);
  if (v?.deficitMilli) parts.push(`sum ${v.deficitMilli}m below average × replicas`);
  return parts.join(', ');
}

function formatTolerances(t: { scaleDown: number; scaleUp: number }): string {
  return `[down:${(t.scaleDown * 100).toFixed(1)}%, up:${(t.scaleUp * 100).toFixed(1)}%]`;
}

function metricDisplay(hpa: ResolvedHpa, values: readonly (ObservedMetric | null)[] | undefined) {
  if (!values) return null;
  const out: Record<string, number | null> = {};
  hpa.metrics.forEach((m, i) => {
    const v = values[i];
    const key = m.name in out ? `${m.name}#${i}` : m.name;
    const milli = v?.averageValueMilli ?? v?.valueMilli;
    out[key] =
      v == null
        ? null
        : m.kind === 'ResourceUtilization'
          ? (v.averageUtilization ?? null)
          : milli === undefined
            ? null
            : milli / 1000;
  });
  return out;
}

/**
 * Drives the planner's HpaController through the observed syncs, at the same times, and compares each
 * sync's outcome with the real controller's.
 */
export function replayHpa(
  spec: HpaSpec,
  syncs: readonly ObservedSync[],
  options: ReplayOptions = {},
): ReplayReport {
  const edge = options.edgeSeconds ?? 0.01;
  let controller = new HpaController(spec, options.config);
  const hpa = controller.hpa;
  const t0 = syncs[0]?.at ?? 0;
  const rescales: Rescale[] = [];
  let skipped: number | undefined;
  const memory = Math.max(
    controller.config.downscaleStabilizationSeconds,
    ...(hpa.behavior
      ? [hpa.behavior.scaleUp, hpa.behavior.scaleDown].flatMap((r) => [
          r.stabilizationWindowSeconds,
          ...r.policies.map((p) => p.periodSeconds),
        ])
      : []),
  );
  const out: ReplayedSync[] = [];
  syncs.forEach((s, index) => {
    const now = (s.at - t0) / 1000;
    if (s.fresh && index > 0) {
      controller = new HpaController(spec, options.config);
      rescales.length = 0;
    }
    const notes: string[] = [];
    if (s.note) notes.push(s.note);
    if (s.inferred) notes.push('sync time inferred from the status');
    const nominal = fullCensus(s.census, s.currentReplicas);
    const base = {
      index,
      t: Math.round(now * 1000) / 1000,
      at: s.at,
      inputs: { currentReplicas: s.currentReplicas, metrics: metricDisplay(hpa, s.metrics), census: nominal },
      real: s.real,
    };
    const computes =
      s.currentReplicas >= hpa.minReplicas &&
      s.currentReplicas <= hpa.maxReplicas &&
      !(s.currentReplicas === 0 && hpa.minReplicas !== 0);
    const skip = (why: string) => {
      notes.push(why);
      skipped = now;
      out.push({ ...base, planner: null, proposalMatch: null, censusAdjusted: false, match: null, notes });
    };
    if (s.real.error) notes.push(s.real.error);
    // Upstream seeds its recommendations and computes only once it has read the scale.
    const beforeComputing =
      s.real.outcome === 'failed' &&
      s.real.proposal === undefined &&
      s.real.error !== undefined &&
      !s.real.error.startsWith('failed to compute desired number of replicas');
    if (beforeComputing) return skip('failed before computing: not replayed');
    if (s.metrics === undefined && computes) {
      return skip('the values this sync read were not observed: not replayed');
    }
    if (s.real.tolerances !== undefined) {
      const mine = formatTolerances(tolerancesFor(hpa, controller.config.tolerance));
      if (mine !== s.real.tolerances) notes.push(`tolerances: real ${s.real.tolerances}, planner ${mine}`);
    }
    let variant: Variant = { census: nominal, remainderMilli: 0, deficitMilli: 0 };
    let proposalMatch: boolean | null = null;
    let censusAdjusted = false;
    let unexplained = false;
    if (s.real.proposal !== undefined && computes && s.metrics) {
      const propose = (v: Variant) =>
        computeDesiredReplicas(hpa, { ...syncInput(hpa, s, v, now), now }, controller.config).proposal;
      const nominalProposal = propose(variant);
      proposalMatch = nominalProposal === s.real.proposal;
      if (!proposalMatch) {
        const found =
          options.searchCensus === false
            ? undefined
            : variants(hpa, nominal, s.currentReplicas).find((v) => propose(v) === s.real.proposal);
        if (found) {
          variant = found;
          censusAdjusted = true;
          notes.push(
            `nominal census proposes ${nominalProposal}; ${describeCensus(found.census, s.currentReplicas, found)} reproduces ${s.real.proposal}`,
          );
        } else {
          unexplained = true;
          notes.push(
            `proposal: real ${s.real.proposal}, planner ${nominalProposal} (${describeCensus(nominal, s.currentReplicas)})` +
              (options.searchCensus === false ? '' : ', and no pod census near it reproduces the real one'),
          );
        }
      }
    }
    const before = controller.recommendationHistory.map((r) => ({ ...r }));
    const r = controller.sync(now, syncInput(hpa, s, variant, now));
    const planner: PlannerOutcome = {
      proposal: r.proposal,
      replicas: r.desiredReplicas,
      limitReason: r.limitReason,
      error: r.error,
    };
    // A rescale that failed (the error after a proposal) stored a recommendation but no scale event.
    const failedRescale = s.real.outcome === 'failed' && s.real.proposal !== undefined;
    if (failedRescale) notes.push('the real sync failed after computing: not compared');
    const match = failedRescale ? null : planner.replicas === s.real.replicas && !unexplained;
    if (planner.replicas !== s.real.replicas) {
      notes.push(...edgeNotes(controller, now, before, rescales, edge));
      if (skipped !== undefined && now - skipped <= memory) {
        notes.push(
          `follows a sync not replayed (t=${skipped.toFixed(3)}): the planner lacks its recommendation`,
        );
      }
    }
    if (s.real.outcome === 'rescale') {
      const stamped = s.decidedAt === undefined ? undefined : (s.decidedAt - t0) / 1000;
      rescales.push({ t: now, stamped, up: s.real.replicas > s.currentReplicas });
    }
    out.push({
      ...base,
      inputs: { ...base.inputs, census: variant.census },
      planner,
      proposalMatch,
      censusAdjusted,
      match,
      notes,
    });
  });
  const mismatches = out.filter((s) => s.match === false);
  return {
    syncs: out,
    mismatches,
    adjusted: out.filter((s) => s.censusAdjusted),
    uncompared: out.filter((s) => s.match === null),
    ok: mismatches.length === 0,
  };
}

interface Rescale {
  /** The planner's stamp: the sync's now. */
  readonly t: number;
  /** Upstream's stamp (after the scale update), when logged. */
  readonly stamped?: number;
  readonly up: boolean;
}

/**
 * Why a decision may differ by timing alone: a recommendation at the edge of a stabilization window,
 * or a rescale that one side counts in a policy period and the other does not.
 */
function edgeNotes(
  controller: HpaController,
  now: number,
  recommendations: readonly { replicas: number; timestamp: number }[],
  rescales: readonly Rescale[],
  edge: number,
): string[] {
  const notes: string[] = [];
  const hpa = controller.hpa;
  const windows: [string, number][] = hpa.behavior
    ? [
        ['scale-up window', hpa.behavior.scaleUp.stabilizationWindowSeconds],
        ['scale-down window', hpa.behavior.scaleDown.stabilizationWindowSeconds],
      ]
    : [['downscale stabilization', controller.config.downscaleStabilizationSeconds]];
  for (const rec of recommendations) {
    for (const [what, w] of windows) {
      const age = now - rec.timestamp;
      if (w > 0 && Math.abs(age - w) < edge) {
        notes.push(
          `timing: the recommendation ${rec.replicas} of t=${rec.timestamp.toFixed(3)} is ${age.toFixed(3)} s old, at the edge of the ${w} s ${what}`,
        );
      }
    }
  }
  if (!hpa.behavior) return notes;
  const periods = new Set(
    [...hpa.behavior.scaleUp.policies, ...hpa.behavior.scaleDown.policies].map((p) => p.periodSeconds),
  );
  for (const e of rescales) {
    for (const p of periods) {
      const cutoff = now - p;
      const planner = e.t > cutoff;
      // Unlogged, upstream's stamp is later by the scale update's round trip: assume up to 0.1 s.
      const upstream = (e.stamped ?? e.t + 0.1) > cutoff;
      if (planner !== upstream) {
        notes.push(
          `timing: the ${e.up ? 'scale-up' : 'scale-down'} of t=${e.t.toFixed(3)} is ${(now - e.t).toFixed(3)} s old: ` +
            `inside a ${p} s policy period as upstream stamps it${e.stamped === undefined ? ' (maybe)' : ` (t=${e.stamped.toFixed(3)}, after the scale update)`}, ` +
            `outside as the planner stamps it (the sync's now)`,
        );
      }
    }
  }
  return notes;
}

function outcomeText(o: { replicas: number; proposal?: number }, current: number): string {
  const verb = o.replicas === current ? `hold ${current}` : `${current}->${o.replicas}`;
  return o.proposal === undefined ? verb : `${verb} (proposal ${o.proposal})`;
}

/** One line per sync: inputs, the real outcome, the planner's, and the verdict; notes indented below. */
export function formatReplay(report: ReplayReport): string {
  const lines = [
    `HPA replay: ${report.syncs.length} syncs, ${report.mismatches.length} mismatched, ` +
      `${report.adjusted.length} census-adjusted, ${report.uncompared.length} not compared`,
  ];
  for (const s of report.syncs) {
    const metrics = s.inputs.metrics
      ? Object.entries(s.inputs.metrics)
          .map(([k, v]) => `${k}=${v === null ? 'failed' : v}`)
          .join(' ')
      : 'unobserved';
    const real =
      s.real.outcome === 'failed'
        ? `failed, stays ${s.real.replicas}`
        : outcomeText(s.real, s.inputs.currentReplicas);
    const planner = s.planner
      ? s.planner.error
        ? `failed, stays ${s.planner.replicas}`
        : outcomeText(
            {
              replicas: s.planner.replicas,
              proposal: s.planner.proposal < 0 ? undefined : s.planner.proposal,
            },
            s.inputs.currentReplicas,
          ) +
          (s.planner.limitReason && s.planner.limitReason !== 'DesiredWithinRange'
            ? ` ${s.planner.limitReason}`
            : '')
      : '-';
    const verdict = s.match === null ? 'not compared' : s.match ? 'ok' : 'MISMATCH';
    lines.push(
      `#${s.index} t=${s.t.toFixed(3)}s current=${s.inputs.currentReplicas} ${metrics} | real ${real} | planner ${planner} | ${verdict}`,
    );
    for (const n of s.notes) lines.push(`    ${n}`);
  }
  return lines.join('\n');
}
