import { createLogger } from './logger.ts';
import { parseCommandLine, USAGE } from './cli.ts';
import { startServer } from './server.ts';
import { createScheduler } from './scheduler.ts';
import { EMULATED_GPU_ENV, withEmulatedGpu } from './emulated-gpu.ts';

async function main(): Promise<void> {
  let options: ReturnType<typeof parseCommandLine>;
  try {
    options = parseCommandLine(process.argv.slice(2), process.env);
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
  if (options.help) {
    console.log(USAGE);
    return;
  }
  const logger = createLogger(options.logLevel);
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception');
    process.exit(1);
  });
  // Test and demo only (server/emulated-gpu.ts): set by the local cluster's node agent, never by
  // the constructs or the image.
  const emulatedGpu = process.env[EMULATED_GPU_ENV];
  let schedulerFactory;
  if (emulatedGpu) {
    schedulerFactory = withEmulatedGpu(createScheduler, emulatedGpu);
    logger.warn(
      { socket: emulatedGpu },
      'EMULATED GPU: compute is followed by a modelled device time (test and demo only)',
    );
  }
  let server;
  try {
    server = await startServer({ ...options, logger, schedulerFactory });
  } catch (err) {
    logger.fatal({ err: (err as Error).message }, 'cannot start the server');
    process.exit(1);
  }
  const running = server;
  // One drain per signal: the same signal again within DUPLICATE_SIGNAL_MS is the same request
  // delivered twice (a signal to the process group reaches the server, and npm or another wrapper
  // forwards its own copy), not an operator's second one, which exits at once.
  let first: { signal: string; at: number } | undefined;
  const stop = (signal: string) => {
    const at = performance.now();
    if (first) {
      if (signal === first.signal && at - first.at < DUPLICATE_SIGNAL_MS) {
        logger.debug({ signal }, 'same signal again at once: one drain');
        return;
      }
      logger.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    first = { signal, at };
    logger.info({ signal }, 'shutting down');
    running.shutdown().then(
      (drained) => process.exit(drained ? 0 : 1),
      (err) => {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** A repeat of the first signal within this many ms is a duplicate delivery, not a second signal. */
const DUPLICATE_SIGNAL_MS = 1000;

await main();
