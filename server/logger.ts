import { pino, type Logger } from 'pino';
import { SERVER_DEFAULTS, type LogLevel } from '../constructs/contract.ts';

/**
 * JSON lines on stdout (pino), ISO timestamps; request logs carry `reqId`.
 *
 * Synchronous writes: nothing is left to flush at process.exit. With pino's default asynchronous
 * stdout, exit flushes with sonic-boom's flushSync, which (sonic-boom 4.2) retries any write error
 * forever: a server whose stdout reader had gone could hang in its exit instead of ending.
 */
export function createLogger(level: LogLevel = SERVER_DEFAULTS.logLevel): Logger {
  return pino(
    { level, base: { service: 'inference-server' }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: 1, sync: true }),
  );
}
