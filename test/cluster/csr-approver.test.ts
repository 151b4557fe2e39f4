/**
 * KubeletCsrApprover on a real control plane: dist/'s ServiceAccount, ClusterRole, binding and
 * Deployment applied as they are, the node agent runs the Deployment's pod as a process
 * (`node controllers/csr-approver/main.ts`) with its projected service-account token, and
 * kubelet-serving CSRs are created as a node would create them: impersonating
 * `system:node:cp-1` in `system:nodes`, which the API server records as the requestor. The valid
 * CSR must end Approved by this controller and Issued by kube-controller-manager's signer (the
 * cluster CA, --cluster-signing-cert-file); every other one Denied naming its check, or left
 * alone. Its own cluster (started once, ~1 min) rather than apply.test.ts's, so that a failure
 * here names the approver.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { down, up, type Cluster } from '../../cluster/cluster.ts';
import { kubectl, kubectlJson, kubectlRun } from '../../cluster/kubectl.ts';
import { REPO_ROOT } from '../../cluster/layout.ts';
import { CSR_APPROVER_REASON } from '../../constructs/contract.ts';
import { waitUntil } from './wait.ts';
import { opensslCsr } from '../csr-request.ts';

interface Csr {
  metadata: { name: string };
  spec: { username: string };
  status?: { conditions?: { type: string; reason?: string; message?: string }[]; certificate?: string };
}

const NODE = 'cp-1'; // cluster/inventory.yaml: address 10.0.0.10
const AS_NODE = [`--as=system:node:${NODE}`, '--as-group=system:nodes', '--as-group=system:authenticated'];
let cluster: Cluster;

/** A real request from openssl, base64 as in the CSR object. */
const request = (subject: string, san: string): string =>
  Buffer.from(opensslCsr(subject, san)).toString('base64');

function createCsr(
  name: string,
  as: string[],
  opts: { subject?: string; san?: string; usages?: string[]; signer?: string },
) {
  const csr = {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { name },
    spec: {
      signerName: opts.signer ?? 'kubernetes.io/kubelet-serving',
      usages: opts.usages ?? ['digital signature', 'server auth'],
      request: request(
        opts.subject ?? `/O=system:nodes/CN=system:node:${NODE}`,
        opts.san ?? `DNS:${NODE},IP:10.0.0.10`,
      ),
    },
  };
  return kubectlRun(cluster.layout, [...as, 'create', '-f', '-'], stringify(csr));
}

const getCsr = (name: string) => kubectlJson<Csr>(cluster.layout, ['get', 'csr', name]);

/** The condition the approver wrote, once there is one. */
type Condition = NonNullable<NonNullable<Csr['status']>['conditions']>[number];
const decided = (name: string) =>
  waitUntil<{ csr: Csr; cond: Condition }>(`CSR ${name} is decided`, 60_000, () => {
    const c = getCsr(name);
    const cond = c.status?.conditions?.find((x) => x.type === 'Approved' || x.type === 'Denied');
    return cond ? { csr: c, cond } : { pending: JSON.stringify(c.status ?? {}) };
  });

beforeAll(async () => {
  cluster = await up({ apply: false });
  // dist/'s objects of the approver, unchanged: its RBAC and its Deployment.
  const docs = parseAllDocuments(readFileSync(join(REPO_ROOT, 'dist', '20-monitoring.k8s.yaml'), 'utf8'))
    .map((d) => d.toJS() as { metadata: { labels?: Record<string, string> } })
    .filter((o) => o.metadata.labels?.['app.kubernetes.io/name'] === 'kubelet-csr-approver');
  expect(docs.map((d) => (d as { kind?: string }).kind)).toEqual([
    'ServiceAccount',
    'ClusterRole',
    'ClusterRoleBinding',
    'Deployment',
  ]);
  kubectl(cluster.layout, ['apply', '--server-side', '-f', '-'], docs.map((d) => stringify(d)).join('---\n'));
}, 300_000);

afterAll(async () => {
  await down();
});

describe('KubeletCsrApprover on a real control plane', () => {
  it('runs as a process of the node agent, on the control plane, with its own service account', async () => {
    const pod = await waitUntil('the approver pod runs', 120_000, () => {
      const pods = kubectlJson<{
        items: { spec: { nodeName?: string; serviceAccountName?: string }; status: { phase?: string } }[];
      }>(cluster.layout, [
        'get',
        'pods',
        '-n',
        'kube-system',
        '-l',
        'app.kubernetes.io/name=kubelet-csr-approver',
      ]);
      const p = pods.items[0];
      return p?.status.phase === 'Running' ? p : { pending: JSON.stringify(pods.items.map((i) => i.status)) };
    });
    expect(pod.spec).toMatchObject({ nodeName: NODE, serviceAccountName: 'kubelet-csr-approver' });
  }, 150_000);

  it('leaves other signers and nodes without a Node alone, approves the valid CSR (issued by the cluster CA) and denies each invalid one naming its check', async () => {
    // Created first: once the later ones are decided, the controller has seen these too.
    createCsr('other-signer', [], {
      signer: 'kubernetes.io/kube-apiserver-client',
      subject: '/CN=someone',
      san: 'DNS:someone',
      usages: ['digital signature', 'client auth'],
    });
    createCsr('ghost-node', ['--as=system:node:ghost', '--as-group=system:nodes'], {
      subject: '/O=system:nodes/CN=system:node:ghost',
      san: 'DNS:ghost',
    });
    createCsr('valid', AS_NODE, {});
    const invalid: [string, string[], Parameters<typeof createCsr>[2], string][] = [
      [
        'foreign-ip',
        AS_NODE,
        { san: `DNS:${NODE},IP:10.0.0.10,IP:10.96.0.1` },
        'subjectAltNames: IP:10.96.0.1',
      ],
      ['wrong-o', AS_NODE, { subject: `/O=system:masters/CN=system:node:${NODE}` }, 'subject: '],
      ['client-usage', AS_NODE, { usages: ['digital signature', 'server auth', 'client auth'] }, 'usages: '],
      [
        'email-san',
        AS_NODE,
        { san: `DNS:${NODE},email:a@example.com` },
        'subjectAltNames: email:a@example.com',
      ],
      // The admin, not a node: the API server records its own name as the requestor.
      ['not-a-node', [], {}, 'requestor: '],
    ];
    for (const [name, as, opts] of invalid) {
      const r = createCsr(name, as, opts);
      expect({ name, code: r.code, stderr: r.stderr }).toEqual({ name, code: 0, stderr: '' });
    }
    // A node asking for another node's name never reaches the approver: the API server's
    // NodeRestriction admission refuses it (decide()'s subject check is tested on its own).
    const otherCn = createCsr('other-cn', AS_NODE, { subject: '/O=system:nodes/CN=system:node:gpu-1' });
    expect(otherCn.code).toBe(1);
    expect(otherCn.stderr).toContain(`can only create a node CSR with CN=system:node:${NODE}`);

    const ok = await decided('valid');
    expect(ok.cond).toMatchObject({ type: 'Approved', reason: CSR_APPROVER_REASON.approved });
    expect(ok.csr.spec.username).toBe(`system:node:${NODE}`);
    const issued = await waitUntil('kube-controller-manager signs the approved CSR', 60_000, () => {
      const c = getCsr('valid');
      return c.status?.certificate ?? { pending: JSON.stringify(c.status) };
    });
    const cert = new X509Certificate(Buffer.from(issued, 'base64'));
    const ca = new X509Certificate(
      kubectl(cluster.layout, [
        'get',
        'cm',
        'kube-root-ca.crt',
        '-n',
        'kube-system',
        '-o',
        'jsonpath={.data.ca\\.crt}',
      ]),
    );
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.subject).toContain(`CN=system:node:${NODE}`);
    expect(cert.subjectAltName).toBe('DNS:cp-1, IP Address:10.0.0.10');

    for (const [name, , , check] of invalid) {
      const d = await decided(name);
      expect({ name, type: d.cond.type, reason: d.cond.reason }).toEqual({
        name,
        type: 'Denied',
        reason: CSR_APPROVER_REASON.denied,
      });
      expect(d.cond.message, name).toContain(`failed check ${check}`);
      expect(d.csr.status?.certificate, name).toBeUndefined();
    }
    for (const name of ['other-signer', 'ghost-node'])
      expect({ name, conditions: getCsr(name).status?.conditions ?? [] }).toEqual({ name, conditions: [] });
  }, 180_000);

  it('may approve for the kubelet-serving signer only: RBAC from dist/, asked through SubjectAccessReviews', () => {
    const allowed = (signer: string) => {
      const review = {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: 'system:serviceaccount:kube-system:kubelet-csr-approver',
          groups: ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated'],
          resourceAttributes: {
            group: 'certificates.k8s.io',
            resource: 'signers',
            verb: 'approve',
            name: signer,
          },
        },
      };
      const out = kubectl(cluster.layout, ['create', '-o', 'json', '-f', '-'], JSON.stringify(review));
      return (JSON.parse(out) as { status: { allowed: boolean } }).status.allowed;
    };
    expect(allowed('kubernetes.io/kubelet-serving')).toBe(true);
    expect(allowed('kubernetes.io/kube-apiserver-client')).toBe(false);
    expect(allowed('kubernetes.io/kube-apiserver-client-kubelet')).toBe(false);
  });
});
