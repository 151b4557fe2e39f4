import {
  CSR_APPROVER_DEFAULTS,
  CSR_APPROVER_ENV,
  CSR_APPROVER_LOG_LEVELS,
  CSR_APPROVER_RESYNC_RANGE,
} from '../../constructs/contract.ts';

export type ApproverLogLevel = (typeof CSR_APPROVER_LOG_LEVELS)[number];

export interface ApproverConfig {
  readonly resyncSeconds: number;
  readonly logLevel: ApproverLogLevel;
}

/** The controller's settings from its environment; a bad value throws naming the variable and what is allowed. */
export function readConfig(env: NodeJS.ProcessEnv): ApproverConfig {
  const resync = env[CSR_APPROVER_ENV.resyncSeconds];
  const { min, max } = CSR_APPROVER_RESYNC_RANGE;
  let resyncSeconds: number = CSR_APPROVER_DEFAULTS.resyncSeconds;
  if (resync !== undefined) {
    resyncSeconds = Number(resync);
    if (!/^[0-9]+$/.test(resync) || resyncSeconds < min || resyncSeconds > max)
      throw new Error(
        `${CSR_APPROVER_ENV.resyncSeconds} must be an integer from ${min} to ${max} (seconds), got ${JSON.stringify(resync)}`,
      );
  }
  const level = env[CSR_APPROVER_ENV.logLevel] ?? CSR_APPROVER_DEFAULTS.logLevel;
  if (!(CSR_APPROVER_LOG_LEVELS as readonly string[]).includes(level))
    throw new Error(
      `${CSR_APPROVER_ENV.logLevel} must be one of ${CSR_APPROVER_LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`,
    );
  return { resyncSeconds, logLevel: level as ApproverLogLevel };
}
