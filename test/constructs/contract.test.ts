/**
 * The contract's facts that cross from the constructs to the server, each checked on both sides:
 * what the server does, against what the manifests ask.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import {
  ENV,
  GpuInferenceService,
  LOG_LEVELS,
  MAX_BODY_BYTES_RANGE,
  SERVER_DEFAULTS,
} from '../../constructs/index.ts';
import { parseCommandLine, USAGE } from '../../server/cli.ts';
import { one, synthChart, type K8sObject } from './helpers.ts';

describe("the server's defaults and bounds are the contract's, and the construct keeps to them", () => {
  const server = parseCommandLine([], {});
  const svc = (props: ConstructorParameters<typeof GpuInferenceService>[2] = {}) =>
    synthChart((c) => new GpuInferenceService(c, 'Svc', { namespace: 'ml', ...props }));
  const env = (objects: K8sObject[]): Record<string, string> =>
    Object.fromEntries(
      one(objects, 'Deployment').spec.template.spec.containers[0].env.map(
        (e: { name: string; value: string }) => [e.name, e.value],
      ),
    );

  it('the server starts with them and its --help says so', () => {
    const { host, drainSeconds, maxBodyBytes, logLevel } = server;
    expect({ host, drainSeconds, maxBodyBytes, logLevel }).toEqual(SERVER_DEFAULTS);
    for (const [flag, value] of [
      ['host', SERVER_DEFAULTS.host],
      ['drain-seconds', SERVER_DEFAULTS.drainSeconds],
      ['max-body-bytes', SERVER_DEFAULTS.maxBodyBytes],
      ['log-level', SERVER_DEFAULTS.logLevel],
    ] as const)
      expect(USAGE).toMatch(new RegExp(`--${flag} .*; default ${value}\\)`));
  });

  it("the construct's pod runs the server on the same host, drain and log level, and its body limit", () => {
    const e = env(svc());
    expect(e[ENV.host]).toBe(SERVER_DEFAULTS.host);
    expect(e[ENV.drainSeconds]).toBe(String(SERVER_DEFAULTS.drainSeconds));
    expect(e[ENV.logLevel]).toBe(SERVER_DEFAULTS.logLevel);
    expect(e[ENV.maxBodyBytes]).toBeUndefined();
  });

  it("the default drain fits Kubernetes' default grace period after the construct's preStop sleep", () => {
    const pod = one(svc(), 'Deployment').spec.template.spec;
    const preStop: number = pod.containers[0].lifecycle.preStop.sleep.seconds;
    expect(preStop + SERVER_DEFAULTS.drainSeconds).toBeLessThan(pod.terminationGracePeriodSeconds);
    expect(pod.terminationGracePeriodSeconds).toBeLessThanOrEqual(30);
  });

  it('the body limit: both accept the bounds and refuse one beyond either', () => {
    const { min, max } = MAX_BODY_BYTES_RANGE;
    for (const n of [min, max]) {
      expect(parseCommandLine(['--max-body-bytes', String(n)], {}).maxBodyBytes).toBe(n);
      expect(env(svc({ maxBodyBytes: n }))[ENV.maxBodyBytes]).toBe(String(n));
    }
    for (const n of [min - 1, max + 1]) {
      expect(() => parseCommandLine(['--max-body-bytes', String(n)], {})).toThrow(
        `an integer from ${min} to ${max}`,
      );
      expect(() => svc({ maxBodyBytes: n })).toThrow(`maxBodyBytes must be an integer from ${min} to ${max}`);
    }
  });

  it("log levels: pino's and silent, accepted by both, anything else refused by both", () => {
    expect([...LOG_LEVELS].sort()).toEqual([...Object.keys(pino.levels.values), 'silent'].sort());
    for (const level of LOG_LEVELS) {
      expect(parseCommandLine(['--log-level', level], {}).logLevel).toBe(level);
      expect(env(svc({ logLevel: level }))[ENV.logLevel]).toBe(level);
    }
    expect(() => parseCommandLine(['--log-level', 'loud'], {})).toThrow(`allowed: ${LOG_LEVELS.join(', ')}`);
    expect(() => svc({ logLevel: 'loud' })).toThrow('logLevel must be one of');
  });
});
