/**
 * Prop validation shared by the constructs. Every message names the construct path, the prop,
 * echoes the value and says what is allowed, so a bad prop fails `npm run synth` with a message
 * that can be acted on: `test/Hpa: maxReplicas must be an integer from 3 (minReplicas) to 1000, got 0`.
 *
 * A construct validates through `validator(this)`, whose checks prefix every message with the
 * construct's `node.path`; the exported functions are the same checks without a path, for callers
 * that are not constructs (the planner).
 */
import type { IConstruct } from 'constructs';
import { parseQuantity } from './autoscaling-v2/quantity.ts';

export class ValidationError extends Error {
  override readonly name = 'ValidationError';
}

/** Names of a range's bounds when they come from other props, e.g. `{ min: 'minReplicas' }`. */
export interface BoundNames {
  readonly min?: string;
  readonly max?: string;
}

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** A bound with the prop it comes from: `3 (minReplicas)`. */
function bound(value: number | string, name: string | undefined): string {
  return name === undefined ? String(value) : `${value} (${name})`;
}

const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DURATION = /^([0-9]+(ms|s|m|h|d|w|y))+$/;

const DURATION_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};

/** Milliseconds of a valid Prometheus duration. */
function durationMs(value: string): number {
  let ms = 0;
  for (const [, n, unit] of value.matchAll(/([0-9]+)(ms|s|m|h|d|w|y)/g)) ms += Number(n) * DURATION_MS[unit];
  return ms;
}

/**
 * The checks, bound to a construct: each throws a ValidationError whose message starts with
 * `<node.path>: ` (nothing without a scope), names the field, echoes the value and says what is allowed.
 */
export function validator(scope?: IConstruct) {
  const prefix = scope === undefined ? '' : `${scope.node.path}: `;
  /** A ValidationError with this construct's path in front of `message`. */
  const error = (message: string): ValidationError => new ValidationError(prefix + message);

  /** A Prometheus duration such as "2m" or "1h30m". */
  function promDuration(field: string, value: string): string {
    if (!DURATION.test(value)) {
      throw error(`${field} must be a Prometheus duration such as "30s", "2m" or "1h", got ${show(value)}`);
    }
    return value;
  }

  return {
    error,
    /** An integer within [min, max]; `names` says which props the bounds come from. */
    integerInRange(field: string, value: number, min: number, max: number, names: BoundNames = {}): number {
      if (!Number.isInteger(value) || value < min || value > max) {
        throw error(
          `${field} must be an integer from ${bound(min, names.min)} to ${bound(max, names.max)}, got ${show(value)}`,
        );
      }
      return value;
    },

    /** A finite number within (or at) [min, max]; `exclusiveMin` makes the lower bound open. */
    numberInRange(field: string, value: number, min: number, max: number, exclusiveMin = false): number {
      const tooLow = exclusiveMin ? value <= min : value < min;
      if (!Number.isFinite(value) || tooLow || value > max) {
        const lower = exclusiveMin ? `greater than ${min}` : `at least ${min}`;
        throw error(`${field} must be a number ${lower} and at most ${max}, got ${show(value)}`);
      }
      return value;
    },

    /** A Kubernetes object name (RFC 1123 label: lower-case alphanumerics and '-', at most `max` chars). */
    dnsLabel(field: string, value: string, max = 63): string {
      if (value.length > max || !DNS_1123_LABEL.test(value)) {
        throw error(
          `${field} must be a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit, at most ${max} characters), got ${show(value)}`,
        );
      }
      return value;
    },

    /** A Kubernetes object name of the DNS-1123 subdomain kind (Secrets, ConfigMaps): at most 253 characters. */
    dnsSubdomain(field: string, value: string): string {
      if (value.length > 253 || !DNS_1123_SUBDOMAIN.test(value)) {
        throw error(
          `${field} must be a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters), got ${show(value)}`,
        );
      }
      return value;
    },

    /** A Kubernetes resource quantity such as "2000m" or "8Gi", not negative (a request or limit). */
    quantity(field: string, value: string): string {
      const parsed = parseQuantity(value);
      if (parsed === undefined) {
        throw error(
          `${field} must be a Kubernetes quantity such as "500m", "2" or "8Gi", got ${show(value)}`,
        );
      }
      if (parsed < 0) throw error(`${field} must be a quantity of at least 0, got ${show(value)}`);
      return value;
    },

    promDuration,

    /** Seconds of a Prometheus duration such as "15s", "1m30s" or "500ms"; throws naming the field if it is not one. */
    promDurationSeconds(field: string, value: string): number {
      return durationMs(promDuration(field, value)) / 1000;
    },

    /**
     * A Prometheus duration within [min, max] (both Prometheus durations, e.g. "0s" and "1d"), for rule
     * windows and `for:` durations.
     */
    promDurationInRange(field: string, value: string, min: string, max: string): string {
      if (
        !DURATION.test(value) ||
        durationMs(value) < durationMs(min) ||
        durationMs(value) > durationMs(max)
      ) {
        throw error(
          `${field} must be a Prometheus duration from ${min} to ${max} such as "30s", "2m" or "1h", got ${show(value)}`,
        );
      }
      return value;
    },

    /** One of the allowed string values. */
    oneOf<T extends string>(field: string, value: T, allowed: readonly T[]): T {
      if (!allowed.includes(value)) {
        throw error(`${field} must be one of ${allowed.map(show).join(', ')}, got ${show(value)}`);
      }
      return value;
    },

    /** An http(s) URL with a host, such as a Prometheus endpoint. */
    httpUrl(field: string, value: string): string {
      if (!/^https?:\/\/[^\s/]+/.test(value)) {
        throw error(
          `${field} must be an http(s) URL such as "http://prometheus.monitoring.svc:9090", got ${show(value)}`,
        );
      }
      return value;
    },
  };
}

/** The checks of one construct (`validator(this)`). */
export type Validator = ReturnType<typeof validator>;

/** The checks without a construct path, for callers that are not constructs. */
export const {
  integerInRange,
  numberInRange,
  dnsLabel,
  dnsSubdomain,
  quantity,
  promDuration,
  promDurationSeconds,
  promDurationInRange,
  oneOf,
  httpUrl,
} = validator();
