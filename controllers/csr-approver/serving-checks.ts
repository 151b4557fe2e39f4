/**
 * When a kubelet-serving CSR may be approved: the checks of the approver controller (main.ts) and
 * of provisioning's bootstrap approval (provision/src/roles/kubelet-serving.ts), kept here once.
 *
 * https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/kubeadm-certs/#kubelet-serving-certs
 * warns that approving these CSRs is only safe when the approver checks the requested IPs and DNS
 * names as well as the common name: anyone holding a kubelet's client certificate could otherwise
 * obtain a cluster-CA-signed serving certificate for any name and impersonate another node or a
 * Service. So a CSR passes only when all of these hold (Kubernetes' ValidateKubeletServingCSR in
 * pkg/apis/certificates/v1/helpers.go, and postfinance/kubelet-csr-approver's checks, whose DNS
 * resolution is replaced by the Node's own addresses):
 * - signerName is kubernetes.io/kubelet-serving;
 * - the requestor the API server authenticated is `system:node:<n>` in group `system:nodes` (the
 *   CSR body alone could claim anything);
 * - the PKCS#10 signature verifies (the API server checks it at create too);
 * - the subject is exactly CN=system:node:<n>, O=system:nodes;
 * - the usages are Kubernetes' kubelet-serving set: digital signature + server auth, with key
 *   encipherment (RSA keys) or without (ECDSA, the kubelet's default);
 * - at least one subjectAltName, only DNS names and IPs, each one of node <n>'s addresses.
 */
import { canonicalIp, parseCsr } from './csr.ts';

export const KUBELET_SERVING_SIGNER = 'kubernetes.io/kubelet-serving';
export const NODE_USER_PREFIX = 'system:node:';
export const NODES_GROUP = 'system:nodes';
/** Kubernetes' kubeletServingRequiredUsages and kubeletServingRequiredUsagesNoRSA. */
export const SERVING_USAGES = [
  ['digital signature', 'key encipherment', 'server auth'],
  ['digital signature', 'server auth'],
] as const;

/** A certificates.k8s.io/v1 CertificateSigningRequest (the fields read here). */
export interface CsrObject {
  metadata: { name: string; resourceVersion?: string };
  spec: {
    signerName?: string;
    username?: string;
    groups?: string[];
    usages?: string[];
    request?: string;
    expirationSeconds?: number;
  };
  status?: { conditions?: { type: string; reason?: string; message?: string }[]; certificate?: string };
}

/** What a node may have in its serving certificate: DNS names and (canonical) IP addresses. */
export interface NodeAddresses {
  name: string;
  dnsNames: string[];
  ipAddresses: string[];
}

/** A core/v1 Node (the fields read here). */
export interface NodeObject {
  metadata: { name: string };
  status?: { addresses?: { type: string; address: string }[] };
}

/** A Node's addresses as the kubelet puts them in its CSR (kubelet's cert manager, getAddresses). */
export function nodeAddresses(node: NodeObject): NodeAddresses {
  const out: NodeAddresses = { name: node.metadata.name, dnsNames: [], ipAddresses: [] };
  for (const a of node.status?.addresses ?? [])
    if (['InternalIP', 'ExternalIP'].includes(a.type) && /^[0-9a-fA-F:.]+$/.test(a.address))
      out.ipAddresses.push(canonicalIp(a.address));
    else if (['Hostname', 'InternalDNS', 'ExternalDNS'].includes(a.type)) out.dnsNames.push(a.address);
  return out;
}

/** Approved, Denied or Failed already: nobody decides it again. */
export function isDecided(c: CsrObject): boolean {
  return (c.status?.conditions ?? []).some((x) => ['Approved', 'Denied', 'Failed'].includes(x.type));
}

/** The node a requestor `system:node:<n>` is, or undefined for any other requestor. */
export function requestingNode(c: CsrObject): string | undefined {
  const user = c.spec.username ?? '';
  return user.startsWith(NODE_USER_PREFIX) ? user.slice(NODE_USER_PREFIX.length) : undefined;
}

/**
 * Why this CSR must not be approved, with the check's values and what is allowed, or null when it
 * passes every check. `node` is the requestor's node (requestingNode); undefined: it has no Node.
 */
export function servingCsrProblem(c: CsrObject, node: NodeAddresses | undefined): string | null {
  if (c.spec.signerName !== KUBELET_SERVING_SIGNER)
    return `signer: ${c.spec.signerName ?? '(none)'}; allowed: ${KUBELET_SERVING_SIGNER}`;
  const nodeName = requestingNode(c);
  const groups = c.spec.groups ?? [];
  if (nodeName === undefined || !nodeName || !groups.includes(NODES_GROUP))
    return `requestor: ${c.spec.username ?? '(none)'} in groups ${groups.join(',') || '(none)'}; allowed: ${NODE_USER_PREFIX}<node> in group ${NODES_GROUP}`;
  if (!node || node.name !== nodeName) return `node: no Node ${nodeName}`;
  let req;
  try {
    req = parseCsr(Buffer.from(c.spec.request ?? '', 'base64').toString('utf8'));
  } catch (e) {
    return `request: unreadable (${(e as Error).message})`;
  }
  if (!req.signatureValid)
    return 'signature: the request is not signed by the key it carries (or with an unsupported algorithm)';
  const cn = `${NODE_USER_PREFIX}${nodeName}`;
  if (req.commonName !== cn || req.organizations.join(',') !== NODES_GROUP || req.otherSubject.length)
    return `subject: CN=${req.commonName ?? ''}, O=${req.organizations.join('+')}${req.otherSubject.map((s) => `, ${s}`).join('')}; allowed: CN=${cn}, O=${NODES_GROUP}`;
  const usages = [...new Set(c.spec.usages ?? [])].sort();
  if (!SERVING_USAGES.some((set) => set.join(',') === usages.join(',')))
    return `usages: ${usages.join(', ') || '(none)'}; allowed: ${SERVING_USAGES.map((s) => s.join(', ')).join(' or ')}`;
  const allowed = [...node.dnsNames.map((d) => `DNS:${d}`), ...node.ipAddresses.map((ip) => `IP:${ip}`)];
  const bad = [
    ...req.dnsNames.filter((d) => !node.dnsNames.includes(d)).map((d) => `DNS:${d}`),
    ...req.ipAddresses.filter((ip) => !node.ipAddresses.includes(ip)).map((ip) => `IP:${ip}`),
    ...req.otherNames,
  ];
  if (bad.length || req.dnsNames.length + req.ipAddresses.length === 0)
    return `subjectAltNames: ${bad.join(', ') || '(none)'}; allowed: at least one of ${allowed.join(', ') || '(the Node has no addresses)'}, nothing else`;
  return null;
}
