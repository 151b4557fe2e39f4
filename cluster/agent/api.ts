/** A small Kubernetes API client over HTTPS with the agent's client certificate. */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { parse } from 'yaml';

export interface ApiClient {
  get<T>(path: string): Promise<T>;
  send<T>(
    method: 'POST' | 'PATCH' | 'DELETE' | 'PUT',
    path: string,
    body: unknown,
    contentType?: string,
  ): Promise<T>;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface KubeconfigFile {
  clusters: { cluster: { server: string; 'certificate-authority-data': string } }[];
  users: { user: { 'client-certificate-data': string; 'client-key-data': string } }[];
}

export function apiClient(kubeconfig: string): ApiClient {
  const kc = parse(readFileSync(kubeconfig, 'utf8')) as KubeconfigFile;
  const server = kc.clusters[0]!.cluster.server;
  const b = (s: string) => Buffer.from(s, 'base64');
  const tls = {
    ca: b(kc.clusters[0]!.cluster['certificate-authority-data']),
    cert: b(kc.users[0]!.user['client-certificate-data']),
    key: b(kc.users[0]!.user['client-key-data']),
  };
  const call = <T>(
    method: string,
    path: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<T> =>
    new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        `${server}${path}`,
        {
          method,
          ...tls,
          timeout: 10_000,
          headers: data ? { 'content-type': contentType, 'content-length': Buffer.byteLength(data) } : {},
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 300)
              reject(new ApiError(status, `${method} ${path}: ${status} ${text.slice(0, 500)}`));
            else resolve((text ? JSON.parse(text) : undefined) as T);
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timeout`)));
      req.on('error', reject);
      req.end(data);
    });
  return {
    get: (path) => call('GET', path),
    send: (method, path, body, contentType) => call(method, path, body, contentType),
  };
}
