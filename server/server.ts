import { METRICS_PORT } from '../constructs/contract.ts';
import { Server as NetServer, type AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createAdaptorServer } from '@hono/node-server';
import type { Logger } from 'pino';
import { createApp, createMetricsApp } from './app.ts';
import { binaryCodec } from './binary.ts';
import type { InferCodec } from './codec.ts';
import { startGrpcServer, type RunningGrpcServer } from './grpc/server.ts';
import { Lifecycle } from './lifecycle.ts';
import { createMetrics } from './metrics.ts';
import type { ProviderFallback } from './model.ts';
import { ModelRepository } from './repository.ts';
import type { ModelControlMode, RestrictedApi } from './repository-access.ts';
import { createScheduler } from './scheduler.ts';
import type { SchedulerFactory } from './scheduling.ts';

export interface ServerOptions {
  readonly modelRepository: string;
  /** 0 picks a free port. */
  readonly port: number;
  /** Port of /metrics (Triton's --metrics-port); 0 picks a free port. @default METRICS_PORT */
  readonly metricsPort?: number;
  /**
   * Port of the KServe V2 gRPC service (server/grpc/); 0 picks a free port. The command line's
   * `--grpc-port 0` (off) leaves it undefined.
   * @default undefined: no gRPC service
   */
  readonly grpcPort?: number;
  readonly host: string;
  /** After SIGTERM, how long accepted requests get to finish. */
  readonly drainSeconds: number;
  readonly maxBodyBytes: number;
  /** @default DEFAULT_PENDING_BODIES x maxBodyBytes (AppDeps.maxPendingBodyBytes) */
  readonly maxPendingBodyBytes?: number;
  /**
   * Triton's --strict-readiness: ready only while at least one model is loaded and every model
   * that should serve is READY. Off: ready once the startup load is over, whatever it loaded.
   * @default true
   */
  readonly strictReadiness?: boolean;
  /** @default DEFAULT_TIMEOUTS */
  readonly timeouts?: Partial<Timeouts>;
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
  /**
   * The gRPC repository RPCs' restriction (Triton's --grpc-restricted-protocol model-repository:KEY=VALUE).
   * @default repositoryRestriction: restricting the REST repository API restricts gRPC's too
   */
  readonly grpcRepositoryRestriction?: RestrictedApi;
  /**
   * Models loaded at start (Triton's --load-model, explicit mode only); '*' is every model.
   * @default every model with model control 'none'; none with 'explicit'
   */
  readonly loadModels?: readonly string[];
  /** @default 'allow' (LoadOptions.providerFallback, --provider-fallback) */
  readonly providerFallback?: ProviderFallback;
}

/** Seconds a client gets for each part of a request (Node's http.Server timeouts). */
export interface Timeouts {
  /** From the connection's first byte to the end of the request headers (408 after it). */
  readonly headersSeconds: number;
  /** From the first byte to the end of the whole request, headers and body (408 after it). */
  readonly requestSeconds: number;
  /** How long an idle keep-alive connection stays open for a next request. */
  readonly keepAliveSeconds: number;
}

/**
 * Node's defaults are 60 s for headers and 300 s for a request, checked every 30 s: a client that
 * stalls mid-body held its connection and its body's memory for five minutes. A 64 MiB body at
 * 10 MB/s takes under 7 s; 60 s leaves room for slow links. keepAlive stays Node's 5 s, shorter
 * than any L4 balancer's idle timeout, so that the balancer never sends into a closed connection.
 */
export const DEFAULT_TIMEOUTS: Timeouts = { headersSeconds: 10, requestSeconds: 60, keepAliveSeconds: 5 };

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  /** Where /metrics is served (its own port). */
  readonly metricsUrl: string;
  /** host:port of the gRPC service; undefined when it is off. */
  readonly grpcAddress?: string;
  readonly repository: ModelRepository;
  readonly lifecycle: Lifecycle;
  /** Resolves when the startup load of the repository is over (the server is then ready). */
  readonly loaded: Promise<void>;
  /**
   * Readiness 503 and no new connection at once; each open connection closes after its current
   * request; waits up to drainSeconds for them. True if every request was answered.
   */
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

function listen(
  server: NetServer,
  port: number,
  host: string,
): Promise<{ url: string; port: number; address: string }> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const { port, address } = server.address() as AddressInfo;
      resolve({ url: `http://${address.includes(':') ? `[${address}]` : address}:${port}`, port, address });
    });
  });
}

/**
 * Stops accepting connections and leaves the open ones alone. http.Server.close() also ends every
 * idle keep-alive connection at once, which races a request the client may be sending on it (the
 * local cluster's rollout test lost 8 of 5289 that way): those close after their next response
 * (Connection: close while draining) or when their keep-alive timeout ends.
 */
function stopAccepting(server: Server): Promise<void> {
  return new Promise((resolve) => NetServer.prototype.close.call(server, () => resolve()));
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
  const onDisk = await repository.modelNames().catch((err: Error) => {
    throw new Error(`model repository ${opts.modelRepository} cannot be read: ${err.message}`);
  });
  const modelControl = opts.modelControl ?? 'none';
  const startup = startupModels(modelControl, opts.loadModels, onDisk);
  const strict = opts.strictReadiness ?? true;
  const lifecycle = new Lifecycle(() => {
    if (!strict) return undefined;
    const notReady = repository.notReady();
    if (notReady.length > 0) return `models not ready: ${notReady.join(', ')}`;
    return repository.readyCount() === 0 ? 'no model is loaded' : undefined;
  });
  const app = createApp({
    repository,
    lifecycle,
    metrics,
    logger,
    maxBodyBytes: opts.maxBodyBytes,
    maxPendingBodyBytes: opts.maxPendingBodyBytes,
    codecs: opts.codecs ?? [binaryCodec],
    modelControl,
    repositoryRestriction: opts.repositoryRestriction,
  });
  const timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
  const server = createAdaptorServer({
    fetch: app.fetch,
    serverOptions: {
      headersTimeout: timeouts.headersSeconds * 1000,
      requestTimeout: timeouts.requestSeconds * 1000,
      keepAliveTimeout: timeouts.keepAliveSeconds * 1000,
      // Node checks the two timeouts above this often (30 s by default, which made a 10 s timeout 40 s).
      connectionsCheckingInterval: Math.min(1000, timeouts.headersSeconds * 500),
    },
  }) as Server;
  const metricsServer = createAdaptorServer({ fetch: createMetricsApp(registry).fetch }) as Server;
  const connections = closeConnections(
    server,
    lifecycle,
    opts.maxConnectionAgeSeconds ?? DEFAULT_MAX_CONNECTION_AGE_SECONDS,
  );
  const { url, port, address } = await listen(server, opts.port, opts.host);
  const { url: metricsUrl } = await listen(metricsServer, opts.metricsPort ?? METRICS_PORT, opts.host).catch(
    (err: Error) => {
      server.close();
      throw new Error(`cannot serve metrics: ${err.message}`);
    },
  );
  let grpc: RunningGrpcServer | undefined;
  if (opts.grpcPort !== undefined) {
    grpc = await startGrpcServer({
      repository,
      lifecycle,
      metrics,
      logger,
      modelControl,
      repositoryRestriction: opts.grpcRepositoryRestriction ?? opts.repositoryRestriction,
      port: opts.grpcPort,
      host: opts.host,
      maxMessageBytes: opts.maxBodyBytes,
      maxConnectionAgeSeconds: opts.maxConnectionAgeSeconds ?? DEFAULT_MAX_CONNECTION_AGE_SECONDS,
    }).catch((err: Error) => {
      server.close();
      metricsServer.close();
      throw err;
    });
  }
  const grpcAddress = grpc?.address;
  logger.info(
    { url, host: address, port, metricsUrl, grpcAddress, modelRepository: opts.modelRepository },
    `listening on ${url}${grpcAddress ? ` and gRPC ${grpcAddress}` : ''}`,
  );

  const started = performance.now();
  const loaded = repository.loadAll(startup).then(() => {
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
      const closed = stopAccepting(server);
      // gRPC drains beside HTTP, within the same grace period: GOAWAY now, accepted calls answered.
      const grpcDrained = grpc?.shutdown(opts.drainSeconds) ?? Promise.resolve(true);
      // Every connection now ends after its current or next request: the wait is bounded by the
      // work already accepted, not by how long clients keep sending.
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        closed.then(() => true),
        new Promise<boolean>((r) => (timer = setTimeout(() => r(false), opts.drainSeconds * 1000))),
      ]);
      clearTimeout(timer);
      if (!drained) {
        logger.warn(
          { inflight: lifecycle.inflight, connections: connections.open() },
          'drain period over with connections still open: closing them',
        );
        server.closeAllConnections();
        await closed;
      }
      const drainedGrpc = await grpcDrained;
      if (!drainedGrpc) logger.warn('drain period over with gRPC calls still open: closed them');
      metricsServer.close();
      metricsServer.closeAllConnections();
      await loaded.catch(() => undefined);
      await repository.close();
      logger.info({ drained: drained && drainedGrpc }, 'stopped');
      return drained && drainedGrpc;
    })());

  return { url, port, metricsUrl, grpcAddress, repository, lifecycle, loaded, shutdown };
}

/** The models the startup load loads, as Triton chooses them from --model-control-mode and --load-model. */
function startupModels(
  mode: ModelControlMode,
  requested: readonly string[] | undefined,
  onDisk: readonly string[],
): readonly string[] {
  if (mode === 'none') {
    if (requested && requested.length > 0)
      throw new Error(
        `--load-model is ${JSON.stringify(requested.join(','))}; allowed only with --model-control-mode explicit (with none every model is loaded)`,
      );
    return onDisk;
  }
  if (!requested) return [];
  if (requested.includes('*')) return onDisk;
  const missing = requested.filter((m) => !onDisk.includes(m));
  if (missing.length > 0)
    throw new Error(
      `--load-model names ${missing.map((m) => JSON.stringify(m)).join(', ')}, not in the model repository; allowed: ${onDisk.join(', ') || '(the repository is empty)'} or *`,
    );
  return requested;
}
