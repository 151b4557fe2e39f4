/**
 * Kubeconfigs for the local cluster. Every one points at the API server on loopback: nothing here
 * ever writes another address into a kubeconfig.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { stringify } from 'yaml';
import type { Pki } from './pki.ts';

export function writeKubeconfig(file: string, pki: Pki, port: number, user: string): void {
  const { crt, key } = pki.cert(user);
  const b64 = (f: string) => readFileSync(f).toString('base64');
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'local',
        cluster: { server: `https://127.0.0.1:${port}`, 'certificate-authority-data': b64(pki.ca) },
      },
    ],
    users: [{ name: user, user: { 'client-certificate-data': b64(crt), 'client-key-data': b64(key) } }],
    contexts: [{ name: 'local', context: { cluster: 'local', user } }],
    'current-context': 'local',
  };
  writeFileSync(file, stringify(config), { mode: 0o600 });
}

/** GET on the API server (or another TLS endpoint of the cluster's CA) with a client certificate. */
export function httpsGet(
  pki: Pki,
  user: string,
  url: string,
  opts: { insecure?: boolean } = {},
): Promise<{ status: number; body: string }> {
  const { crt, key } = pki.cert(user);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        ca: readFileSync(pki.ca),
        cert: readFileSync(crt),
        key: readFileSync(key),
        rejectUnauthorized: !opts.insecure,
        timeout: 5000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end();
  });
}
