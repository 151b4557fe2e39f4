/**
 * Time compression of Prometheus rule groups, so alerts written for minutes can be watched going
 * pending, firing and resolved within a test of a few minutes. Every duration — `for:` and every
 * range selector / subquery / offset in `expr` — is divided by the same factor; metric names,
 * labels, thresholds and query structure are left exactly as synthesized, which is what the
 * signal-chain test checks. (Used only where AlertRules has no prop for the duration.)
 */

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};

const DURATION = /^(?:\d+(?:ms|s|m|h|d|w|y))+$/;

/** Milliseconds of a Prometheus duration ("1h30m", "5m", "250ms"). */
export function parseDuration(text: string): number {
  if (!DURATION.test(text))
    throw new Error(`${JSON.stringify(text)} is not a Prometheus duration such as "5m"`);
  let ms = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)(ms|s|m|h|d|w|y)/g)) ms += Number(n) * UNIT_MS[unit];
  return ms;
}

/** A duration in whole seconds (at least `minSeconds` unless zero), as Prometheus accepts it. */
export function formatDuration(ms: number, minSeconds = 1): string {
  if (ms === 0) return '0s';
  return `${Math.max(minSeconds, Math.round(ms / 1000))}s`;
}

function scale(text: string, factor: number): string {
  return formatDuration(parseDuration(text) / factor);
}

/** Divide every duration in a PromQL expression (ranges `[5m]`, subqueries `[5m:30s]`, `offset 1h`). */
export function compressExpr(expr: string, factor: number): string {
  return expr
    .replace(
      /\[(\s*)((?:\d+(?:ms|s|m|h|d|w|y))+)(\s*)(?::(\s*)((?:\d+(?:ms|s|m|h|d|w|y))+)?(\s*))?\]/g,
      (_all, a: string, range: string, b: string, c?: string, step?: string, d?: string) => {
        const sub =
          c !== undefined || step !== undefined
            ? `:${c ?? ''}${step ? scale(step, factor) : ''}${d ?? ''}`
            : '';
        return `[${a}${scale(range, factor)}${b}${sub}]`;
      },
    )
    .replace(
      /\boffset(\s+)(-?)((?:\d+(?:ms|s|m|h|d|w|y))+)/g,
      (_all, ws: string, sign: string, d: string) => {
        return `offset${ws}${sign}${scale(d, factor)}`;
      },
    );
}

export interface RuleLike {
  readonly alert?: string;
  readonly record?: string;
  readonly expr: string;
  readonly for?: string;
  readonly [key: string]: unknown;
}

export interface RuleGroupLike {
  readonly name: string;
  readonly interval?: string;
  readonly rules: readonly RuleLike[];
}

export function compressRuleGroups(groups: readonly RuleGroupLike[], factor: number): RuleGroupLike[] {
  if (!(factor >= 1)) throw new Error(`time compression factor ${factor} must be >= 1`);
  return groups.map((g) => ({
    ...g,
    ...(g.interval ? { interval: scale(g.interval, factor) } : {}),
    rules: g.rules.map((r) => ({
      ...r,
      expr: compressExpr(r.expr, factor),
      ...(r.for !== undefined ? { for: scale(r.for, factor) } : {}),
    })),
  }));
}
