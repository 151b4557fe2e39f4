/**
 * The Kubernetes API from inside a pod, as client-go's rest.InClusterConfig reads it:
 * KUBERNETES_SERVICE_HOST/PORT, the service account's projected token (re-read for every request:
 * the kubelet rotates it) and the cluster CA that verifies the API server. node:https only: four
 * calls (get, list, watch, update) do not need a client library.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { isIP } from 'node:net';

/** Where the kubelet mounts the service account (the API server's kube-api-access-* volume). */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export class KubeClient {
  private readonly ca: Buffer;
  private readonly host: string;
  private readonly port: number;

  /** Fails at once, naming what is missing, when the pod has no in-cluster configuration. */
  constructor(
    env: NodeJS.ProcessEnv,
    private readonly dir = SERVICE_ACCOUNT_DIR,
  ) {
    const host = env.KUBERNETES_SERVICE_HOST;
    const port = env.KUBERNETES_SERVICE_PORT;
    if (!host || !port || !/^[0-9]+$/.test(port))
      throw new Error(
        `KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT (a port number) must be set, as in a pod; got ${JSON.stringify(host ?? null)} and ${JSON.stringify(port ?? null)}`,
      );
    this.host = isIP(host) === 6 ? `[${host}]` : host;
    this.port = Number(port);
    this.ca = this.read('ca.crt');
    this.token(); // fails now, not at the first request
  }

  private read(file: string): Buffer {
    try {
      return readFileSync(`${this.dir}/${file}`);
    } catch (e) {
      throw new Error(
        `cannot read the service account's ${this.dir}/${file} (${(e as NodeJS.ErrnoException).code}): the pod needs its token mounted (automountServiceAccountToken)`,
        { cause: e },
      );
    }
  }

  private token(): string {
    return this.read('token').toString('utf8').trim();
  }

  private call(method: string, path: string, body?: unknown) {
    const data = body === undefined ? undefined : JSON.stringify(body);
    return request({
      host: this.host.replace(/^\[|\]$/g, ''),
      port: this.port,
      path,
      method,
      ca: this.ca,
      headers: {
        authorization: `Bearer ${this.token()}`,
        accept: 'application/json',
        ...(data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}),
      },
    }).end(data);
  }

  /** One request; a non-2xx answer throws ApiError with the API server's message. */
  send<T>(method: 'GET' | 'PUT', path: string, body?: unknown): Promise<T> {
    return new Promise((resolve, reject) => {
      const req = this.call(method, path, body);
      req.on('error', reject);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return resolve(JSON.parse(text) as T);
          let message = text;
          try {
            message = (JSON.parse(text) as { message?: string }).message ?? text;
          } catch {
            // not a Status object: keep the text
          }
          reject(new ApiError(status, `${method} ${path}: ${status} ${message}`));
        });
      });
    });
  }

  get<T>(path: string): Promise<T> {
    return this.send<T>('GET', path);
  }

  /**
   * A watch: calls `onEvent` for each event, in order, and resolves when the API server ends the
   * stream (its timeoutSeconds); rejects on a transport error, an ERROR event (e.g. 410 Gone) or
   * `idleTimeoutMs` without a byte.
   */
  watch<T>(path: string, onEvent: (e: WatchEvent<T>) => Promise<void>, idleTimeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = this.call('GET', path);
      req.on('error', reject);
      // A connection that died without a FIN would otherwise hang the watch, and the approver, forever.
      req.setTimeout(idleTimeoutMs, () =>
        req.destroy(new Error(`watch ${path}: nothing for ${idleTimeoutMs} ms`)),
      );
      req.on('response', (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          return reject(new ApiError(res.statusCode ?? 0, `watch ${path}: ${res.statusCode}`));
        }
        let buffered = '';
        let chain = Promise.resolve();
        const fail = (e: Error) => {
          req.destroy();
          reject(e);
        };
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffered += chunk;
          let nl;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            if (!line) continue;
            const event = JSON.parse(line) as WatchEvent<T>;
            if (event.type === 'ERROR') {
              const status = (event.object as { code?: number; message?: string }) ?? {};
              return fail(new ApiError(status.code ?? 0, `watch ${path}: ${status.message ?? line}`));
            }
            chain = chain.then(() => onEvent(event)).catch(fail);
          }
        });
        res.on('error', fail);
        res.on('end', () => void chain.then(resolve, reject));
      });
    });
  }
}
