/**
 * The cluster's processes are detached so that they outlive `npm run cluster:up`; a program that
 * starts a cluster for itself (the demo, the cluster tests) must therefore stop it on every exit
 * path. `finally` covers errors; a signal (Ctrl-C, a test runner's SIGTERM, a closed terminal)
 * ends Node before any `finally` runs, and left the cluster and its inference servers running.
 */
const SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;

/**
 * Until the returned function is called, a SIGINT, SIGTERM or SIGHUP runs `stop` (once), then
 * exits with 128 + the signal's number, as a shell reports a process killed by it.
 */
export function stopOnSignal(stop: () => Promise<unknown>): () => void {
  let stopping = false;
  const handlers = Object.entries(SIGNALS).map(([name, number]) => {
    const handler = () => {
      if (stopping) return;
      stopping = true;
      console.error(`${name}: stopping the local cluster before exiting ...`);
      stop().then(
        () => process.exit(128 + number),
        (err: Error) => {
          console.error(`stopping the local cluster failed: ${err.message}`);
          process.exit(128 + number);
        },
      );
    };
    process.on(name, handler);
    return [name, handler] as const;
  });
  return () => {
    for (const [name, handler] of handlers) process.off(name, handler);
  };
}
