import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import type { Logger } from 'pino';
import { createApp, type ModelControlMode, type RestrictedApi } from './app.ts';
import { binaryCodec } from './binary.ts';
import type { InferCodec } from './codec.ts';
import { Lifecycle } from './lifecycle.ts';
import { createMetrics } from './metrics.ts';
import type { ProviderFallback } from './model.ts';
import { ModelRepository } from './repository.ts';
import { createScheduler, type SchedulerFactory } from './scheduler.ts';

export interface ServerOptions {
  readonly modelRepository: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly host: string;
  /** After SIGTERM, how long accepted requests get to finish. */
  readonly drainSeconds: number;
  readonly maxBodyBytes: number;
  /** Ready only while every known model is READY (Triton's --strict-readiness); else once loading is over. */
  readonly strictReadiness: boolean;
  readonly logger: Logger;
  /** @default createScheduler */
  readonly schedulerFactory?: SchedulerFactory;
  /**
   * A keep-alive connection older than this is closed after its next response (`Connection:
   * close`), so that clients reconnect and a Service's new pods get a share of the load.
   * @default DEFAULT_MAX_CONNECTION_AGE_SECONDS
   */
  readonly maxConnectionAgeSeconds?: number;
  /** Tried before JSON, first match wins. @default [binaryCodec] (Triton's binary tensor data extension) */
  readonly codecs?: readonly InferCodec[];
  /** @default 'none' (AppDeps.modelControl) */
  readonly modelControl?: ModelControlMode;
  /** @default unrestricted (AppDeps.repositoryRestriction) */
  readonly repositoryRestriction?: RestrictedApi;
  /** @default 'allow' (LoadOptions.providerFallback, --provider-fallback) */
  readonly providerFallback?: ProviderFallback;
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly repository: ModelRepository;
  readonly lifecycle: Lifecycle;
  /** Resolves when the startup load of the repository is over (the server is then ready). */
  readonly loaded: Promise<void>;
  /** Readiness 503 at once, waits for in-flight requests (up to drainSeconds), closes. True if all were answered. */
  shutdown(): Promise<boolean>;
}

/**
 * Load balancers in front of the server (kube-proxy, cloud L4 balancers) balance connections, not
 * requests: a client that keeps its connections alive stays on the pods that existed when it
 * connected, and pods an autoscaler adds get none of its load. The local cluster showed it: after
 * a scale-out from 1 to 4 pods every request still went to the first pod. gRPC servers bound
 * connection age for the same reason (MAX_CONNECTION_AGE); 30 s rebalances within one HPA sync
 * period or two at the cost of one reconnect per client connection every 30 s.
 */
export const DEFAULT_MAX_CONNECTION_AGE_SECONDS = 30;

/**
 * `Connection: close` on the next response of a connection older than maxAgeSeconds, and on every
 * response once draining: a client then reconnects (through the Service, to a pod that stays)
 * instead of sending its next request on a connection the server is about to close.
 */
function closeConnections(server: Server, lifecycle: Lifecycle, maxAgeSeconds: number): { open(): number } {
  const born = new Map<object, number>();
  server.on('connection', (socket) => {
    born.set(socket, performance.now());
    socket.once('close', () => born.delete(socket));
  });
  server.on('request', (req, res) => {
    const at = born.get(req.socket) ?? performance.now();
    if ((lifecycle.draining || performance.now() - at > maxAgeSeconds * 1000) && !res.headersSent)
      res.setHeader('connection', 'close');
  });
  return { open: () => born.size };
}

/** Listens at once (liveness answers while models load), then loads and warms up the repository. */
export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const { logger } = opts;
  const { registry, metrics } = createMetrics();
  const repository = new ModelRepository({
    root: opts.modelRepository,
    metrics,
    logger,
    schedulerFactory: opts.schedulerFactory ?? createScheduler,
    ...(opts.providerFallback && { providerFallback: opts.providerFallback }),
  });
  // Fail fast on a repository path that does not exist rather than serve nothing.
  await repository.modelNames().catch((err: Error) => {
    throw new Error(`model repository ${opts.modelRepository} cannot be read: ${err.message}`);
  });
  const lifecycle = new Lifecycle(() => {
    if (!opts.strictReadiness) return undefined;
    const notReady = repository.notReady();
    return notReady.length > 0 ? `models not ready: ${notReady.join(', ')}` : undefined;
  });
  const app = createApp({
    repository,
    lifecycle,
    registry,
    metrics,
    logger,
    maxBodyBytes: opts.maxBodyBytes,
    codecs: opts.codecs ?? [binaryCodec],
    modelControl: opts.modelControl,
    repositoryRestriction: opts.repositoryRestriction,
  });
  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  const connections = closeConnections(
    server,
    lifecycle,
    opts.maxConnectionAgeSeconds ?? DEFAULT_MAX_CONNECTION_AGE_SECONDS,
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const { port, address } = server.address() as AddressInfo;
  const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
  logger.info({ url, host: address, port, modelRepository: opts.modelRepository }, `listening on ${url}`);

  const started = performance.now();
  const loaded = repository.loadAll().then(() => {
    lifecycle.markReady();
    const states = Object.fromEntries(repository.states());
    logger.info(
      { models: states, seconds: (performance.now() - started) / 1000 },
      'model repository loaded: ready',
    );
  });

  let stopping: Promise<boolean> | undefined;
  const shutdown = () =>
    (stopping ??= (async () => {
      lifecycle.markDraining();
      logger.info({ inflight: lifecycle.inflight, drainSeconds: opts.drainSeconds }, 'draining');
      const deadline = Date.now() + opts.drainSeconds * 1000;
      // Idle means no request in flight across a full turn of the event loop: a request whose bytes
      // arrived while the loop was busy is parsed (and counted) before the server stops.
      let drained = false;
      while (!drained && Date.now() < deadline) {
        drained = await lifecycle.waitIdle(deadline - Date.now());
        await new Promise((r) => setTimeout(r, 50));
        drained &&= lifecycle.inflight === 0;
      }
      if (!drained)
        logger.warn({ inflight: lifecycle.inflight }, 'drain period over with requests still in flight');
      // An idle keep-alive connection is left for its client to close (clients' idle timeouts are
      // shorter than the server's keepAliveTimeout): closing it here races a request the client
      // may be sending on it, which then fails (the local cluster's rollout test lost 8 of 5289).
      const idleDeadline = Math.min(deadline, Date.now() + server.keepAliveTimeout + 1000);
      while (connections.open() > 0 && Date.now() < idleDeadline) await new Promise((r) => setTimeout(r, 50));
      await new Promise<void>((resolve) => {
        // close() stops accepting and ends idle keep-alive connections; busy ones finish first.
        const force = setTimeout(() => server.closeAllConnections(), Math.max(0, deadline - Date.now()));
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
      await loaded.catch(() => undefined);
      await repository.close();
      logger.info({ drained }, 'stopped');
      return drained;
    })());

  return { url, port, repository, lifecycle, loaded, shutdown };
}
