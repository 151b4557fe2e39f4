import { pino, type Logger } from 'pino';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** JSON lines on stdout (pino), ISO timestamps; request logs carry `reqId`. */
export function createLogger(level: LogLevel = 'info'): Logger {
  return pino({ level, base: { service: 'inference-server' }, timestamp: pino.stdTimeFunctions.isoTime });
}
