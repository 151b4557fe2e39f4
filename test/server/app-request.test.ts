/**
 * createApp in memory: its error paths through Hono's `app.request()`, with no socket and no
 * listening server (the request body is the web Request's, read by the same reader, limits and
 * budget as a socket's). The repository, models, scheduler and metrics are the real ones.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../server/app.ts';
import { binaryCodec } from '../../server/binary.ts';
import { Lifecycle } from '../../server/lifecycle.ts';
import { createLogger } from '../../server/logger.ts';
import { createMetrics } from '../../server/metrics.ts';
import { ModelRepository } from '../../server/repository.ts';
import { createScheduler } from '../../server/scheduler.ts';
import { fp32Request, removeDir, tempRepository } from './helpers.ts';

const MAX_BODY = 64 * 1024;

let repo: string;
let repository: ModelRepository;
let lifecycle: Lifecycle;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  repo = tempRepository(['mlp']);
  const { metrics } = createMetrics();
  const logger = createLogger('silent');
  repository = new ModelRepository({ root: repo, metrics, logger, schedulerFactory: createScheduler });
  await repository.load('mlp');
  lifecycle = new Lifecycle();
  lifecycle.markReady();
  app = createApp({
    repository,
    lifecycle,
    metrics,
    logger,
    maxBodyBytes: MAX_BODY,
    codecs: [binaryCodec],
    modelControl: 'none',
  });
}, 60_000);

afterAll(async () => {
  await repository?.close();
  removeDir(repo);
});

/** One request through the app in memory: status and parsed JSON body. */
async function call(path: string, init: RequestInit = {}) {
  const res = await app.request(path, init);
  return { status: res.status, headers: res.headers, body: (await res.json()) as unknown };
}

const infer = (body: unknown, model = 'mlp', headers: Record<string, string> = {}) =>
  call(`/v2/models/${model}/infer`, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  });

describe('createApp in memory (app.request, no socket)', () => {
  it('answers a good inference: the in-memory body path reads what a socket would', async () => {
    const res = await infer(fp32Request('input', [1, 16], new Array(16).fill(0.5)));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ model_name: 'mlp', model_version: '1' });
  });

  describe('400', () => {
    it('malformed JSON', async () => {
      const text = '{"inputs": [';
      let parseError = '';
      try {
        JSON.parse(text);
      } catch (err) {
        parseError = (err as Error).message;
      }
      expect(parseError).not.toBe('');
      const res = await infer(text);
      expect(res).toMatchObject({
        status: 400,
        body: { error: `malformed JSON in request body: ${parseError}` },
      });
    });

    it('a tensor that is not an object', async () => {
      const res = await infer({ inputs: [42] });
      expect(res).toMatchObject({
        status: 400,
        body: { error: 'inputs[0] is 42; expected an object {name, shape, datatype, data}' },
      });
    });

    it('data that does not fill the shape', async () => {
      const res = await infer(fp32Request('input', [1, 16], [1, 2]));
      expect(res).toMatchObject({
        status: 400,
        body: { error: "input 'input': shape [1, 16] needs 16 elements, data has 2" },
      });
    });

    it('a wrong shape', async () => {
      const res = await infer(fp32Request('input', [1, 15], new Array(15).fill(0)));
      expect(res).toMatchObject({
        status: 400,
        body: { error: "input 'input': shape [1, 15] does not match the model's [-1, 16] (-1: any size)" },
      });
    });

    it('a wrong datatype', async () => {
      const res = await infer({ inputs: [{ name: 'input', shape: [1, 16], datatype: 'INT32', data: [] }] });
      expect(res).toMatchObject({
        status: 400,
        body: { error: "input 'input': datatype INT32 does not match the model's FP32" },
      });
    });

    it('a batch over max_batch_size (the message batch-limits.ts owns)', async () => {
      const res = await infer(fp32Request('input', [1025, 16], []));
      expect(res).toMatchObject({
        status: 400,
        body: {
          error: "input 'input': batch size 1025 exceeds the model's max_batch_size 1024 (allowed: 1..1024)",
        },
      });
    });
  });

  describe('404', () => {
    it.each([
      ['/v2/models/nope', "unknown model 'nope'"],
      ['/v2/models/mlp/versions/7', "unknown version '7' of model 'mlp'; versions: 1"],
      ['/v2/models/mlp/versions/7/ready', "unknown version '7' of model 'mlp'; versions: 1"],
      ['/v2/nowhere', 'no route for GET /v2/nowhere'],
    ])('GET %s', async (path, error) => {
      expect(await call(path)).toMatchObject({ status: 404, body: { error } });
    });

    it('inference on an unknown model', async () => {
      const res = await infer(fp32Request('input', [1, 16], new Array(16).fill(0)), 'nope');
      expect(res).toMatchObject({ status: 404, body: { error: "unknown model 'nope'" } });
    });
  });

  it('405 with Allow for a known path and a method it has no route for', async () => {
    const res = await call('/v2/models/mlp/infer', { method: 'GET' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect(res.body).toEqual({ error: 'method GET is not allowed for /v2/models/mlp/infer; allowed: POST' });
  });

  describe('413', () => {
    const big = 'x'.repeat(MAX_BODY + 1);
    const error = `request body larger than the limit of ${MAX_BODY} bytes`;

    it('a body over the limit, no Content-Length (held to the limit while it is read)', async () => {
      expect(await infer(big)).toMatchObject({ status: 413, body: { error } });
    });

    it('a declared Content-Length over the limit (refused before anything is read)', async () => {
      const res = await infer(big, 'mlp', { 'content-length': String(big.length) });
      expect(res).toMatchObject({ status: 413, body: { error } });
    });
  });

  it('403 for repository load and unload with model control none', async () => {
    const error =
      'model control is off (--model-control-mode none): load and unload are refused; start the server with --model-control-mode explicit to allow them';
    for (const action of ['load', 'unload']) {
      const res = await call(`/v2/repository/models/mlp/${action}`, { method: 'POST' });
      expect(res).toMatchObject({ status: 403, body: { error } });
    }
  });

  it('503 on readiness while models load, then 200', async () => {
    const starting = new Lifecycle();
    const { metrics } = createMetrics();
    const fresh = createApp({
      repository,
      lifecycle: starting,
      metrics,
      logger: createLogger('silent'),
      maxBodyBytes: MAX_BODY,
    });
    const before = await fresh.request('/v2/health/ready');
    expect(before.status).toBe(503);
    expect(await before.json()).toEqual({ error: 'not ready: models are loading' });
    starting.markReady();
    expect((await fresh.request('/v2/health/ready')).status).toBe(200);
    starting.markDraining();
    const draining = await fresh.request('/v2/health/ready');
    expect(draining.status).toBe(503);
    expect(await draining.json()).toEqual({ error: 'not ready: server is shutting down' });
  });
});
