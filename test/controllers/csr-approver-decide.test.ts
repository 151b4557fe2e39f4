/**
 * The CSR approver's decisions (controllers/csr-approver/decide.ts over serving-checks.ts) on real
 * PKCS#10 requests made by openssl: ECDSA P-256 as the kubelet makes them, RSA for the usage set
 * with key encipherment. Each refused case differs from the approved one in the one field it names.
 */
import { describe, expect, it } from 'vitest';
import { opensslCsr } from '../csr-request.ts';
import { CSR_APPROVER_REASON } from '../../constructs/contract.ts';
import { readConfig } from '../../controllers/csr-approver/config.ts';
import { parseCsr } from '../../controllers/csr-approver/csr.ts';
import { approvalCondition, decide, type Decision } from '../../controllers/csr-approver/decide.ts';
import { nodeAddresses, type CsrObject } from '../../controllers/csr-approver/serving-checks.ts';

const pem = opensslCsr;

/** The same request with one bit of its signature flipped: still well formed, no longer verifiable. */
function tampered(request: string): string {
  const der = Buffer.from(request.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
  der[der.length - 1]! ^= 0x01;
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN CERTIFICATE REQUEST-----\n${b64}\n-----END CERTIFICATE REQUEST-----\n`;
}

const SUBJECT = '/O=system:nodes/CN=system:node:gpu-1';
const SANS = 'DNS:gpu-1,IP:10.0.0.21';
const ECDSA_USAGES = ['digital signature', 'server auth'];

function csr(spec: Partial<CsrObject['spec']> & { pem?: string }, conditions: string[] = []): CsrObject {
  const { pem: request, ...rest } = spec;
  return {
    metadata: { name: 'csr-x', resourceVersion: '1' },
    spec: {
      signerName: 'kubernetes.io/kubelet-serving',
      username: 'system:node:gpu-1',
      groups: ['system:nodes', 'system:authenticated'],
      usages: ECDSA_USAGES,
      request: Buffer.from(request ?? pem(SUBJECT, SANS)).toString('base64'),
      ...rest,
    },
    status: { conditions: conditions.map((type) => ({ type })) },
  };
}

const node = nodeAddresses({
  metadata: { name: 'gpu-1' },
  status: {
    addresses: [
      { type: 'InternalIP', address: '10.0.0.21' },
      { type: 'InternalIP', address: 'FD00:0:0:0::21' },
      { type: 'Hostname', address: 'gpu-1' },
    ],
  },
});

describe('nodeAddresses', () => {
  it("takes a Node's IPs (canonical form) and DNS-type addresses", () => {
    expect(node).toEqual({ name: 'gpu-1', dnsNames: ['gpu-1'], ipAddresses: ['10.0.0.21', 'fd00::21'] });
  });
});

describe('parseCsr (the one PKCS#10 parser)', () => {
  it('reads subject, every subjectAltName kind and verifies the signature', () => {
    expect(
      parseCsr(pem('/O=system:nodes/CN=x/C=CH', 'DNS:a,IP:fd00:0:0:0:0:0:0:21,email:a@b.c,URI:https://u')),
    ).toEqual({
      commonName: 'x',
      organizations: ['system:nodes'],
      otherSubject: ['2.5.4.6=CH'],
      dnsNames: ['a'],
      ipAddresses: ['fd00::21'],
      otherNames: ['email:a@b.c', 'URI:https://u'],
      signatureValid: true,
    });
    expect(parseCsr(tampered(pem(SUBJECT, SANS))).signatureValid).toBe(false);
    expect(() => parseCsr('garbage')).toThrow('not a PEM certificate request');
    expect(() =>
      parseCsr('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----'),
    ).toThrow('malformed certificate request');
  });
});

describe('decide', () => {
  const cases: {
    name: string;
    csr: () => CsrObject;
    node?: typeof node | null;
    want: Partial<Decision> & { message?: string };
  }[] = [
    {
      name: 'a valid ECDSA request (the kubelet’s) is approved',
      csr: () => csr({}),
      want: { action: 'approve' },
    },
    {
      name: 'a valid RSA request with key encipherment is approved',
      csr: () =>
        csr({
          pem: pem(SUBJECT, 'IP:fd00::21', 'rsa'),
          usages: ['key encipherment', 'digital signature', 'server auth'],
        }),
      want: { action: 'approve' },
    },
    {
      name: 'wrong CN (another node) is denied',
      csr: () => csr({ pem: pem('/O=system:nodes/CN=system:node:cp-1', SANS) }),
      want: {
        action: 'deny',
        check: 'subject',
        message:
          'failed check subject: CN=system:node:cp-1, O=system:nodes; allowed: CN=system:node:gpu-1, O=system:nodes',
      },
    },
    {
      name: 'wrong O is denied',
      csr: () => csr({ pem: pem('/O=system:masters/CN=system:node:gpu-1', SANS) }),
      want: { action: 'deny', check: 'subject' },
    },
    {
      name: 'an extra subject attribute is denied',
      csr: () => csr({ pem: pem(`${SUBJECT}/OU=x`, SANS) }),
      want: { action: 'deny', check: 'subject' },
    },
    {
      name: 'an extra usage (client auth) is denied',
      csr: () => csr({ usages: [...ECDSA_USAGES, 'client auth'] }),
      want: {
        action: 'deny',
        check: 'usages',
        message:
          'failed check usages: client auth, digital signature, server auth; allowed: digital signature, key encipherment, server auth or digital signature, server auth',
      },
    },
    {
      name: 'usages without server auth are denied',
      csr: () => csr({ usages: ['digital signature', 'key encipherment'] }),
      want: { action: 'deny', check: 'usages' },
    },
    {
      name: "a SAN that is not one of the Node's addresses is denied",
      csr: () => csr({ pem: pem(SUBJECT, `${SANS},IP:10.96.0.1`) }),
      want: {
        action: 'deny',
        check: 'subjectAltNames',
        message:
          'failed check subjectAltNames: IP:10.96.0.1; allowed: at least one of DNS:gpu-1, IP:10.0.0.21, IP:fd00::21, nothing else',
      },
    },
    {
      name: 'a DNS SAN of another name is denied',
      csr: () => csr({ pem: pem(SUBJECT, 'DNS:kubernetes.default.svc,IP:10.0.0.21') }),
      want: { action: 'deny', check: 'subjectAltNames' },
    },
    {
      name: 'an email SAN is denied',
      csr: () => csr({ pem: pem(SUBJECT, `${SANS},email:node@example.com`) }),
      want: { action: 'deny', check: 'subjectAltNames' },
    },
    {
      name: 'a URI SAN is denied',
      csr: () => csr({ pem: pem(SUBJECT, `${SANS},URI:spiffe://x/y`) }),
      want: { action: 'deny', check: 'subjectAltNames' },
    },
    {
      name: 'no SAN at all is denied',
      csr: () => csr({ pem: pem(SUBJECT, '') }),
      want: { action: 'deny', check: 'subjectAltNames' },
    },
    {
      name: 'a request whose signature does not verify is denied',
      csr: () => csr({ pem: tampered(pem(SUBJECT, SANS)) }),
      want: { action: 'deny', check: 'signature' },
    },
    {
      name: 'a requestor that is not a node is denied',
      csr: () => csr({ username: 'mallory', groups: ['system:authenticated'] }),
      want: { action: 'deny', check: 'requestor' },
    },
    {
      name: 'a node name outside group system:nodes is denied',
      csr: () => csr({ groups: ['system:authenticated'] }),
      want: { action: 'deny', check: 'requestor' },
    },
    {
      name: 'another signer is ignored (the kubelet’s client certificate)',
      csr: () => csr({ signerName: 'kubernetes.io/kube-apiserver-client-kubelet' }),
      want: { action: 'ignore' },
    },
    {
      name: 'a CSR decided already is ignored',
      csr: () => csr({}, ['Approved']),
      want: { action: 'ignore' },
    },
    {
      name: 'a requestor without a Node is left pending (retried at the next resync)',
      csr: () => csr({}),
      node: null,
      want: { action: 'pending', check: 'node', message: 'node: no Node gpu-1' },
    },
    {
      name: 'an unreadable request is left pending',
      csr: () => csr({ pem: 'not a request' }),
      want: { action: 'pending', check: 'request' },
    },
  ];
  for (const c of cases)
    it(c.name, () => {
      const d = decide(c.csr(), c.node === null ? undefined : (c.node ?? node));
      expect(d).toMatchObject(c.want);
    });

  it('writes an Approved or Denied condition whose reason names the controller', () => {
    const now = new Date('2026-01-02T03:04:05.678Z');
    expect(approvalCondition({ action: 'approve', message: 'm' }, now)).toEqual({
      type: 'Approved',
      status: 'True',
      reason: CSR_APPROVER_REASON.approved,
      message: 'm',
      lastUpdateTime: '2026-01-02T03:04:05Z',
    });
    expect(
      approvalCondition({ action: 'deny', check: 'usages', message: 'failed check usages: x' }, now),
    ).toMatchObject({
      type: 'Denied',
      reason: CSR_APPROVER_REASON.denied,
      message: 'failed check usages: x',
    });
  });
});

describe('readConfig', () => {
  it('defaults, and a bad value fails naming the variable and what is allowed', () => {
    expect(readConfig({})).toEqual({ resyncSeconds: 300, logLevel: 'info' });
    expect(readConfig({ RESYNC_SECONDS: '60', LOG_LEVEL: 'debug' })).toEqual({
      resyncSeconds: 60,
      logLevel: 'debug',
    });
    expect(() => readConfig({ RESYNC_SECONDS: '5' })).toThrow(
      'RESYNC_SECONDS must be an integer from 10 to 86400 (seconds), got "5"',
    );
    expect(() => readConfig({ RESYNC_SECONDS: '1m' })).toThrow('RESYNC_SECONDS must be an integer');
    expect(() => readConfig({ LOG_LEVEL: 'trace' })).toThrow(
      'LOG_LEVEL must be one of info, debug, got "trace"',
    );
  });
});
