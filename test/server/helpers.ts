import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import { parse } from 'yaml';
import { request as httpRequest } from 'node:http';
import { createLogger } from '../../server/logger.ts';
import { startServer, type RunningServer, type ServerOptions } from '../../server/server.ts';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const serverDir = join(repoRoot, 'server');
export const bundledModels = join(serverDir, 'models');

/** A temporary model repository; `models` are copied from the bundled repository. */
export function tempRepository(models: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), 'inference-repo-'));
  for (const m of models) cpSync(join(bundledModels, m), join(dir, m), { recursive: true });
  return dir;
}

export function writeFile(path: string, content: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Options of an in-process test server: ephemeral loopback port, silent logs. */
export function testServerOptions(
  modelRepository: string,
  options: Partial<ServerOptions> = {},
): ServerOptions {
  return {
    modelRepository,
    port: 0,
    metricsPort: 0,
    host: '127.0.0.1',
    drainSeconds: 5,
    maxBodyBytes: 64 * 1024 * 1024,
    strictReadiness: false,
    logger: createLogger('silent'),
    ...options,
  };
}

/** An in-process server, models loaded. */
export async function startTestServer(
  modelRepository: string,
  options: Partial<ServerOptions> = {},
): Promise<RunningServer> {
  const server = await startServer(testServerOptions(modelRepository, options));
  await server.loaded;
  return server;
}

export interface JsonResponse {
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  headers: Headers;
}

export async function request(url: string, init: RequestInit = {}): Promise<JsonResponse> {
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON (e.g. /metrics): keep the text
  }
  return { status: res.status, body, headers: res.headers };
}

export const post = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  request(url, {
    method: 'POST',
    body: typeof body === 'string' ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  });

/**
 * POSTs `body` with node:http in writes of `chunk` bytes: with Content-Length, or chunked
 * (Transfer-Encoding: chunked, no length) when `chunked`. The response body is parsed as JSON.
 */
export function postInChunks(
  url: string,
  body: string | Buffer,
  opts: { chunk: number; chunked: boolean; headers?: Record<string, string> },
): Promise<{ status: number; body: unknown }> {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const headers = { ...opts.headers, ...(!opts.chunked && { 'content-length': String(bytes.length) }) };
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers });
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    for (let i = 0; i < bytes.length; i += opts.chunk) req.write(bytes.subarray(i, i + opts.chunk));
    req.end();
  });
}

/** A JSON inference request with one FP32 input. */
export const fp32Request = (name: string, shape: number[], data: ArrayLike<number>) => ({
  inputs: [{ name, shape, datatype: 'FP32', data: Array.from(data) }],
});

/** Reference tensors exported with PyTorch by server/models/export.py. */
export function reference(model: string) {
  const dir = join(serverDir, 'reference', model);
  const meta = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8'));
  const read = (file: string) => {
    const buf = readFileSync(join(dir, file));
    const out = new Float32Array(buf.length / 4);
    for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(i * 4);
    return out;
  };
  return {
    input: { ...meta.input, data: read(meta.input.file) } as {
      name: string;
      shape: number[];
      data: Float32Array;
    },
    output: { ...meta.output, data: read(meta.output.file) } as {
      name: string;
      shape: number[];
      data: Float32Array;
    },
  };
}

let oip: Ajv | undefined;

/** Validator for a schema of the Open Inference Protocol REST spec (components/schemas/<name>). */
export function oipSchema(name: string): ValidateFunction {
  if (!oip) {
    const spec = parse(
      readFileSync(join(repoRoot, 'third_party', 'oip', 'open_inference_rest.yaml'), 'utf8'),
    );
    // OpenAPI 3.0 schemas carry x-examples/title annotations: not strict JSON Schema keywords.
    oip = new Ajv({ strict: false, allErrors: true });
    oip.addSchema({ $id: 'oip', components: spec.components });
  }
  const validate = oip.getSchema(`oip#/components/schemas/${name}`);
  if (!validate) throw new Error(`no schema ${name} in the OIP spec`);
  return validate;
}

/** Asserts a body against an OIP schema, with ajv's errors in the message. */
export function expectSchema(name: string, body: unknown): void {
  const validate = oipSchema(name);
  if (!validate(body)) {
    throw new Error(
      `response does not match OIP schema ${name}: ${JSON.stringify(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`,
    );
  }
}
