/**
 * The certificates a kubeadm control plane has (kubeadm's "certs" phase), made with openssl: the
 * cluster CA, the API server's serving certificate, client certificates per component, the
 * front-proxy CA and client the aggregation layer uses, and the service-account key pair.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Pki {
  readonly dir: string;
  readonly ca: string;
  readonly caKey: string;
  readonly frontProxyCa: string;
  readonly saKey: string;
  readonly saPub: string;
  /** `<name>.crt` / `<name>.key` in dir. */
  cert(name: string): { crt: string; key: string };
}

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function newCa(dir: string, name: string, cn: string): void {
  openssl(['genrsa', '-out', join(dir, `${name}.key`), '2048']);
  openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    join(dir, `${name}.key`),
    '-subj',
    `/CN=${cn}`,
    '-days',
    '3650',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    '-out',
    join(dir, `${name}.crt`),
  ]);
}

interface Leaf {
  readonly name: string;
  readonly ca: string;
  readonly subject: string;
  readonly usage: 'serverAuth' | 'clientAuth' | 'serverAuth,clientAuth';
  readonly sans?: readonly string[];
}

function newLeaf(dir: string, leaf: Leaf): void {
  const key = join(dir, `${leaf.name}.key`);
  const csr = join(dir, `${leaf.name}.csr`);
  const ext = join(dir, `${leaf.name}.ext`);
  openssl(['genrsa', '-out', key, '2048']);
  openssl(['req', '-new', '-key', key, '-subj', leaf.subject, '-out', csr]);
  writeFileSync(
    ext,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${leaf.usage}`,
      ...(leaf.sans?.length ? [`subjectAltName=${leaf.sans.join(',')}`] : []),
    ].join('\n') + '\n',
  );
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    join(dir, `${leaf.ca}.crt`),
    '-CAkey',
    join(dir, `${leaf.ca}.key`),
    '-CAcreateserial',
    '-days',
    '365',
    '-extfile',
    ext,
    '-out',
    join(dir, `${leaf.name}.crt`),
  ]);
}

export interface PkiOptions {
  /** IP addresses the API server is reached at (its SANs). */
  readonly apiServerIps: readonly string[];
  /** Client identities: file name -> subject (`/O=group/CN=user`). */
  readonly clients: Readonly<Record<string, string>>;
  /** Serving certificates for aggregated API servers: file name -> DNS names and IPs. */
  readonly servers?: Readonly<Record<string, readonly string[]>>;
}

/** Creates the PKI in dir unless it is already there (it is created once per cluster). */
export function ensurePki(dir: string, opts: PkiOptions): Pki {
  const pki: Pki = {
    dir,
    ca: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    frontProxyCa: join(dir, 'front-proxy-ca.crt'),
    saKey: join(dir, 'sa.key'),
    saPub: join(dir, 'sa.pub'),
    cert: (name) => ({ crt: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) }),
  };
  if (existsSync(join(dir, 'done'))) return pki;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  newCa(dir, 'ca', 'kubernetes');
  newCa(dir, 'front-proxy-ca', 'front-proxy-ca');
  newLeaf(dir, {
    name: 'apiserver',
    ca: 'ca',
    subject: '/CN=kube-apiserver',
    usage: 'serverAuth',
    sans: [
      ...opts.apiServerIps.map((ip) => `IP:${ip}`),
      'DNS:localhost',
      'DNS:kubernetes',
      'DNS:kubernetes.default',
      'DNS:kubernetes.default.svc',
      'DNS:kubernetes.default.svc.cluster.local',
    ],
  });
  newLeaf(dir, {
    name: 'front-proxy-client',
    ca: 'front-proxy-ca',
    subject: '/CN=front-proxy-client',
    usage: 'clientAuth',
  });
  for (const [name, subject] of Object.entries(opts.clients))
    newLeaf(dir, { name, ca: 'ca', subject, usage: 'clientAuth' });
  for (const [name, sans] of Object.entries(opts.servers ?? {}))
    newLeaf(dir, { name, ca: 'ca', subject: `/CN=${name}`, usage: 'serverAuth', sans });
  openssl(['genrsa', '-out', pki.saKey, '2048']);
  openssl(['rsa', '-in', pki.saKey, '-pubout', '-out', pki.saPub]);
  writeFileSync(join(dir, 'done'), '');
  return pki;
}

/**
 * A serving certificate signed by the cluster CA of an existing PKI, made unless `<name>.crt` is
 * already in dir: for servers that start after cluster:up made the PKI (the node agent's kubelet
 * endpoints, one per node). sans as openssl takes them: `IP:10.0.0.21`, `DNS:gpu-1`.
 */
export function ensureServingCert(
  dir: string,
  name: string,
  subject: string,
  sans: readonly string[],
): { crt: string; key: string } {
  const crt = join(dir, `${name}.crt`);
  if (!existsSync(crt)) newLeaf(dir, { name, ca: 'ca', subject, usage: 'serverAuth', sans });
  return { crt, key: join(dir, `${name}.key`) };
}

/**
 * A client certificate signed by the cluster CA of an existing PKI, made unless `<name>.crt` is
 * already in dir: for identities that join after cluster:up made the PKI (a real kubelet's
 * `/O=system:nodes/CN=system:node:<name>`, as kubeadm's join would have the CSR signed).
 */
export function ensureClientCert(dir: string, name: string, subject: string): { crt: string; key: string } {
  const crt = join(dir, `${name}.crt`);
  if (!existsSync(crt)) newLeaf(dir, { name, ca: 'ca', subject, usage: 'clientAuth' });
  return { crt, key: join(dir, `${name}.key`) };
}
