import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { LIVENESS_PATH, METRICS_PATH, READINESS_PATH, type Outcome } from '../constructs/contract.ts';
import {
  BodyBudget,
  bodyTooLarge,
  declaredLength,
  discardBody,
  readBody,
  webBodySource,
  type BodySource,
} from './body.ts';
import { BODY_POOL_BYTES, BodyPool } from './body-pool.ts';
import { jsonCodec, type InferCodec } from './codec.ts';
import { InvalidRequestError, ServerError, UnavailableError } from './errors.ts';
import { EXTENSIONS, SERVER_NAME, SERVER_VERSION } from './identity.ts';
import { runInference } from './inference-request.ts';
import type { Lifecycle } from './lifecycle.ts';
import { recordRequest, unknownModel, type RequestLabels, type ServerMetricSet } from './metrics.ts';
import { notFoundHandler } from './not-found.ts';
import { PLATFORM, type ModelVersion } from './model.ts';
import type { ModelRepository } from './repository.ts';
import {
  checkModelControl,
  checkRestriction,
  type ModelControlMode,
  type RestrictedApi,
} from './repository-access.ts';
import { tritonModelConfig } from './triton-config.ts';

export { SERVER_NAME, SERVER_VERSION };
export { MODEL_CONTROL_MODES, type ModelControlMode, type RestrictedApi } from './repository-access.ts';

export interface AppDeps {
  readonly repository: ModelRepository;
  readonly lifecycle: Lifecycle;
  readonly metrics: ServerMetricSet;
  readonly logger: Logger;
  /** Largest request body accepted; larger ones get 413. */
  readonly maxBodyBytes: number;
  /**
   * Bytes of request bodies received at once over all connections; beyond it 503 (BodyBudget).
   * @default DEFAULT_PENDING_BODIES x maxBodyBytes
   */
  readonly maxPendingBodyBytes?: number;
  /** Codecs tried before JSON, e.g. the binary tensor data extension. @default [] */
  readonly codecs?: readonly InferCodec[];
  /**
   * Triton's --model-control-mode: 'none' refuses the repository API's load and unload (403),
   * 'explicit' allows them.
   * @default 'none'
   */
  readonly modelControl?: ModelControlMode;
  /**
   * Triton's --http-restricted-api model-repository:KEY=VALUE: every /v2/repository request must
   * carry the header KEY with VALUE, else 403.
   * @default none: unrestricted (still subject to modelControl)
   */
  readonly repositoryRestriction?: RestrictedApi;
}

/**
 * `incoming`, `outgoing`: the Node request and response, bound by @hono/node-server (server.ts
 * serves the app with it); absent when the app runs in memory (`app.request()`), where the body is
 * the web Request's.
 */
type Env = {
  Bindings: { incoming?: IncomingMessage; outgoing?: ServerResponse } | undefined;
  Variables: { reqId: string; body?: BodySource };
};

/** The request's body source, made once per request: a web body can be read only once. */
function bodySource(c: Context<Env>): BodySource {
  let source = c.get('body');
  if (!source) {
    source = c.env?.incoming ?? webBodySource(c.req.raw);
    c.set('body', source);
  }
  return source;
}

/** Probes arrive every few seconds: logged at debug level only. */
const QUIET_PATHS = new Set([LIVENESS_PATH, READINESS_PATH]);

/** Largest bodies received at once by default: a few uploads in parallel, not forty. */
export const DEFAULT_PENDING_BODIES = 4;

/** Labels of requests for models the server does not serve (bounded: no label per unknown name). */
const UNKNOWN_MODEL = unknownModel('http');

/** The model and optional version named by a route's path. */
function target(c: Context): [string, string | undefined] {
  const params = c.req.param() as Record<string, string | undefined>;
  return [params.model ?? '', params.version];
}

function outcomeOf(err: unknown): Outcome {
  if (err instanceof ServerError) return err.outcome;
  if (err instanceof HTTPException) return err.status < 500 ? 'client_error' : 'server_error';
  return 'server_error';
}

const modelMetadata = (versions: readonly ModelVersion[]) => {
  const mv = versions[0]!;
  return {
    name: mv.name,
    versions: versions.map((v) => v.version),
    platform: PLATFORM,
    inputs: mv.signature.inputs,
    outputs: mv.signature.outputs,
    parameters: {
      execution_provider: mv.provider,
      instances: mv.config.instances,
      max_batch_size: mv.config.max_batch_size,
      dynamic_batching: mv.config.dynamic_batching !== undefined,
    },
  };
};

/**
 * The metrics endpoint, served on its own port (contract METRICS_PORT, Triton's 8002): the
 * inference port, which a LoadBalancer publishes, carries no metrics.
 */
export function createMetricsApp(registry: Registry): Hono {
  const app = new Hono();
  app.get(METRICS_PATH, async (c) =>
    c.body(await registry.metrics(), 200, { 'content-type': registry.contentType }),
  );
  app.notFound(notFoundHandler(app));
  return app;
}

/** The HTTP API: Open Inference Protocol REST and Triton's model repository extension. */
export function createApp(deps: AppDeps): Hono<Env> {
  const { repository, lifecycle, metrics } = deps;
  const codecs = [...(deps.codecs ?? []), jsonCodec];
  const budget = new BodyBudget(deps.maxPendingBodyBytes ?? DEFAULT_PENDING_BODIES * deps.maxBodyBytes);
  const app = new Hono<Env>();

  app.use('*', async (c, next) => {
    const start = performance.now();
    const reqId = c.req.header('x-request-id') ?? randomUUID();
    c.set('reqId', reqId);
    // Set before the handler: the response is then built with it. Setting a header on a finished
    // response makes Hono copy it into a full web Response (a sixth of the MLP's CPU with the
    // web-stream body; BENCHMARKS.md).
    c.header('x-request-id', reqId);
    lifecycle.requestStarted();
    try {
      await next();
    } finally {
      lifecycle.requestFinished();
    }
    if (lifecycle.draining) c.header('connection', 'close');
    const status = c.res.status;
    const level = status >= 500 && status !== 503 ? 'error' : QUIET_PATHS.has(c.req.path) ? 'debug' : 'info';
    // The level check first: a request log below the logger's level costs no object at all.
    if (!deps.logger.isLevelEnabled(level)) return;
    const fields = { reqId, method: c.req.method, path: c.req.path, status, ms: performance.now() - start };
    deps.logger[level](fields, level === 'error' ? 'request failed' : 'request');
  });

  app.get(LIVENESS_PATH, (c) => c.json({ live: true }));
  app.get(READINESS_PATH, (c) => {
    const reason = lifecycle.notReadyReason();
    if (reason) throw new UnavailableError(`not ready: ${reason}`);
    return c.json({ ready: true });
  });
  for (const path of ['/v2', '/v2/']) {
    app.get(path, (c) =>
      c.json({
        name: SERVER_NAME,
        version: SERVER_VERSION,
        extensions: [...EXTENSIONS, ...codecs.flatMap((k) => (k.extension ? [k.extension] : []))],
      }),
    );
  }
  const models = new Hono<Env>();
  // Triton's statistics extension: every loaded version of every model, of one model, or one version.
  const stats = (versions: readonly ModelVersion[]) => ({
    model_stats: versions.map((mv) => mv.stats.toJSON(mv.name, mv.version)),
  });
  // Before '/:model': a model named 'stats' is shadowed here, as in Triton.
  models.get('/stats', (c) => c.json(stats(repository.loaded())));
  models.get('/:model', (c) => {
    const name = c.req.param('model');
    repository.resolve(name);
    return c.json(modelMetadata(repository.versions(name)));
  });
  models.get('/:model/versions/:version', (c) =>
    c.json(modelMetadata([repository.resolve(c.req.param('model'), c.req.param('version'))])),
  );
  for (const path of ['/:model/ready', '/:model/versions/:version/ready']) {
    models.get(path, (c) => {
      const mv = repository.resolve(...target(c));
      return c.json({ name: mv.name, version: mv.version, ready: true });
    });
  }

  // Triton's model configuration extension: without a version, the highest loaded one.
  for (const path of ['/:model/config', '/:model/versions/:version/config']) {
    models.get(path, (c) => c.json(tritonModelConfig(repository.resolve(...target(c)))));
  }
  models.get('/:model/stats', (c) => {
    const name = c.req.param('model');
    repository.resolve(name);
    return c.json(stats(repository.versions(name)));
  });
  models.get('/:model/versions/:version/stats', (c) =>
    c.json(stats([repository.resolve(c.req.param('model'), c.req.param('version'))])),
  );

  const labelsOf = (c: Context): RequestLabels => {
    try {
      const mv = repository.resolve(...target(c));
      return { model: mv.name, version: mv.version, protocol: 'http' };
    } catch {
      return UNKNOWN_MODEL;
    }
  };
  // A declared Content-Length over the limit gets 413 before anything is read; a chunked body is
  // held to the limit while readBody reads it.
  const limit: MiddlewareHandler<Env> = async (c, next) => {
    if ((declaredLength(bodySource(c)) ?? 0) > deps.maxBodyBytes) {
      recordRequest(metrics, labelsOf(c), 'client_error');
      throw bodyTooLarge(deps.maxBodyBytes);
    }
    await next();
  };
  // Request bodies are reused (body-pool.ts): at most a few bodies' worth kept between requests.
  const pool = new BodyPool(BODY_POOL_BYTES);
  const bodyOf = (c: Context<Env>, codec?: InferCodec, from?: BodyPool): Promise<Uint8Array> =>
    readBody(bodySource(c), deps.maxBodyBytes, budget, codec?.tensorOffset?.(c.req.raw.headers), from);
  for (const path of ['/:model/infer', '/:model/versions/:version/infer']) {
    models.post(path, limit, async (c) => {
      const start = performance.now();
      let labels = UNKNOWN_MODEL;
      let outcome: Outcome = 'success';
      let queued = false;
      let reading: Promise<Uint8Array> | undefined;
      // The body goes back to the pool once the handler is over (no queue or batch views it)
      // and the response is written or the connection gone; only behind a real socket.
      const outgoing = c.env?.outgoing;
      let body: Uint8Array | undefined;
      let pending = 2;
      const over = () => {
        if (--pending === 0 && body) pool.release(body);
      };
      if (outgoing) {
        if (outgoing.closed) over();
        else outgoing.once('close', over);
      }
      try {
        const version = repository.resolve(...target(c));
        labels = { model: version.name, version: version.version, protocol: 'http' };
        const encoded = await version.serve(async () => {
          const headers = c.req.raw.headers;
          const codec = codecs.find((k) => k.accepts(headers))!;
          body = await (reading = bodyOf(c, codec, outgoing && pool));
          const request = codec.decode(body, headers, version.signature);
          // In flight from when it is queued: a client still sending its body (or stalling halfway)
          // is no load on the model, and counting it let idle sockets drive the autoscaler.
          const outputs = await runInference(version, request, () => {
            metrics.inflight.inc(labels);
            queued = true;
          });
          return codec.encode({ model_name: version.name, model_version: version.version, outputs }, request);
        });
        return c.body(encoded.body as string, 200, encoded.headers);
      } catch (err) {
        outcome = outcomeOf(err);
        await reading?.catch(() => undefined);
        await discardBody(bodySource(c));
        throw err;
      } finally {
        if (queued) metrics.inflight.dec(labels);
        recordRequest(metrics, labels, outcome, (performance.now() - start) / 1000);
        if (outgoing) over();
      }
    });
  }
  app.route('/v2/models', models);

  const repo = new Hono<Env>();
  const restriction = deps.repositoryRestriction;
  repo.use(async (c, next) => {
    const got = restriction ? c.req.header(restriction.header) : undefined;
    checkRestriction(restriction, got, 'header', '--http-restricted-api');
    await next();
  });
  const modelControl = deps.modelControl ?? 'none';
  const control = () => checkModelControl(modelControl);
  repo.use(
    bodyLimit({
      maxSize: 64 * 1024,
      onError: () => {
        throw new HTTPException(413, { message: 'repository request body larger than 65536 bytes' });
      },
    }),
  );
  repo.post('/index', async (c) => {
    const text = await c.req.text();
    let filter: unknown = {};
    if (text.trim() !== '') {
      try {
        filter = JSON.parse(text);
      } catch (err) {
        throw new InvalidRequestError(`malformed JSON in request body: ${(err as Error).message}`);
      }
    }
    const ready = (filter as { ready?: unknown } | null)?.ready;
    if (
      typeof filter !== 'object' ||
      filter === null ||
      (ready !== undefined && typeof ready !== 'boolean')
    ) {
      throw new InvalidRequestError(
        `index request is ${text}; expected {"ready": true|false} or an empty body`,
      );
    }
    const rows = await repository.index();
    return c.json(ready ? rows.filter((r) => r.state === 'READY') : rows);
  });
  repo.post('/models/:model/load', async (c) => {
    control();
    await repository.load(c.req.param('model'));
    return c.json({});
  });
  repo.post('/models/:model/unload', async (c) => {
    control();
    await repository.unload(c.req.param('model'));
    return c.json({});
  });
  app.route('/v2/repository', repo);

  app.notFound(notFoundHandler(app));
  app.onError((err, c) => {
    if (err instanceof ServerError) {
      if (err.status === 500)
        deps.logger.error({ reqId: c.get('reqId'), err: err.message }, 'request failed');
      return c.json({ error: err.message }, err.status, err.headers);
    }
    if (err instanceof HTTPException) return c.json({ error: err.message }, err.status);
    deps.logger.error({ reqId: c.get('reqId'), err }, 'unhandled error');
    return c.json({ error: err.message || 'internal error' }, 500 as ContentfulStatusCode);
  });
  return app;
}
