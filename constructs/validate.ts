/**
 * Prop validation shared by the constructs. Every message names the prop, echoes the value and
 * says what is allowed, so a bad prop fails `npm run synth` with a message that can be acted on.
 */

export class ValidationError extends Error {
  override readonly name = 'ValidationError';
}

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** An integer within [min, max]. */
export function integerInRange(field: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ValidationError(`${field} must be an integer from ${min} to ${max}, got ${show(value)}`);
  }
  return value;
}

/** A finite number within (or at) [min, max]; `exclusiveMin` makes the lower bound open. */
export function numberInRange(
  field: string,
  value: number,
  min: number,
  max: number,
  exclusiveMin = false,
): number {
  const tooLow = exclusiveMin ? value <= min : value < min;
  if (!Number.isFinite(value) || tooLow || value > max) {
    const lower = exclusiveMin ? `greater than ${min}` : `at least ${min}`;
    throw new ValidationError(`${field} must be a number ${lower} and at most ${max}, got ${show(value)}`);
  }
  return value;
}

const DNS_1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A Kubernetes object name (RFC 1123 label: lower-case alphanumerics and '-', at most `max` chars). */
export function dnsLabel(field: string, value: string, max = 63): string {
  if (value.length > max || !DNS_1123_LABEL.test(value)) {
    throw new ValidationError(
      `${field} must be a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit, at most ${max} characters), got ${show(value)}`,
    );
  }
  return value;
}

const DNS_1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A Kubernetes object name of the DNS-1123 subdomain kind (Secrets, ConfigMaps): at most 253 characters. */
export function dnsSubdomain(field: string, value: string): string {
  if (value.length > 253 || !DNS_1123_SUBDOMAIN.test(value)) {
    throw new ValidationError(
      `${field} must be a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters), got ${show(value)}`,
    );
  }
  return value;
}

const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;

/** A Kubernetes resource quantity such as "2000m" or "8Gi". */
export function quantity(field: string, value: string): string {
  if (!QUANTITY.test(value)) {
    throw new ValidationError(
      `${field} must be a Kubernetes quantity such as "500m", "2" or "8Gi", got ${show(value)}`,
    );
  }
  return value;
}

const DURATION = /^([0-9]+(ms|s|m|h|d|w|y))+$/;

/** A Prometheus duration such as "2m" or "1h30m". */
export function promDuration(field: string, value: string): string {
  if (!DURATION.test(value)) {
    throw new ValidationError(
      `${field} must be a Prometheus duration such as "30s", "2m" or "1h", got ${show(value)}`,
    );
  }
  return value;
}

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

/** Seconds of a Prometheus duration such as "15s", "1m30s" or "500ms"; throws naming the field if it is not one. */
export function promDurationSeconds(field: string, value: string): number {
  return durationMs(promDuration(field, value)) / 1000;
}

/**
 * A Prometheus duration within [min, max] (both Prometheus durations, e.g. "0s" and "1d"), for rule
 * windows and `for:` durations.
 */
export function promDurationInRange(field: string, value: string, min: string, max: string): string {
  if (!DURATION.test(value) || durationMs(value) < durationMs(min) || durationMs(value) > durationMs(max)) {
    throw new ValidationError(
      `${field} must be a Prometheus duration from ${min} to ${max} such as "30s", "2m" or "1h", got ${show(value)}`,
    );
  }
  return value;
}

/** One of the allowed string values. */
export function oneOf<T extends string>(field: string, value: T, allowed: readonly T[]): T {
  if (!allowed.includes(value)) {
    throw new ValidationError(`${field} must be one of ${allowed.map(show).join(', ')}, got ${show(value)}`);
  }
  return value;
}

/** An http(s) URL with a host, such as a Prometheus endpoint. */
export function httpUrl(field: string, value: string): string {
  if (!/^https?:\/\/[^\s/]+/.test(value)) {
    throw new ValidationError(
      `${field} must be an http(s) URL such as "http://prometheus.monitoring.svc:9090", got ${show(value)}`,
    );
  }
  return value;
}
