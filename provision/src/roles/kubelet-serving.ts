import { isIP } from 'node:net';
import {
  KUBELET_SERVING_SIGNER,
  isDecided,
  servingCsrProblem,
  type CsrObject,
  type NodeAddresses,
} from '../../../controllers/csr-approver/serving-checks.ts';
import { canonicalIp } from '../../../controllers/csr-approver/csr.ts';
import { changed, ok, skipped, type Plan, type Task } from '../types.ts';
import { KUBECTL, type RoleContext } from './context.ts';

/**
 * Signed kubelet serving certificates, so that metrics-server (and the API server) can verify the
 * kubelets' TLS instead of running with `--kubelet-insecure-tls`.
 * https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/kubeadm-certs/#kubelet-serving-certs :
 * `serverTLSBootstrap: true` in the KubeletConfiguration given to `kubeadm init` (kubeadm uploads
 * it to the kubelet-config ConfigMap, which `kubeadm join` hands to every node) makes each kubelet
 * request its serving certificate from the certificates API with signer
 * `kubernetes.io/kubelet-serving`. kube-controller-manager does not approve those CSRs, kubeadm
 * neither.
 *
 * This task is the bootstrap step only: it approves a node's first CSR while the playbook runs, so
 * that metrics-server works as soon as the node joins. Every later CSR (the kubelet rotates its
 * serving certificate before it expires) is approved by the KubeletCsrApprover controller that
 * dist/ deploys (controllers/csr-approver/), with the same checks (serving-checks.ts), against the
 * Node's addresses instead of the inventory's. Here a node's identity is its inventory name and
 * address; a pending CSR from this node that fails a check fails the task, naming the check.
 */
export { KUBELET_SERVING_SIGNER, type CsrObject };
/** Where the kubelet keeps the serving certificate it obtained (a symlink to the newest). */
export const KUBELET_SERVING_CERT = '/var/lib/kubelet/pki/kubelet-server-current.pem';

export interface NodeIdentity {
  name: string;
  /** The inventory address: an IP (allowed as iPAddress SAN) or a DNS name (as dNSName). */
  address: string;
}

/** What the inventory lets a node's serving certificate name: its name, and its address. */
export function inventoryAddresses(node: NodeIdentity): NodeAddresses {
  return isIP(node.address)
    ? { name: node.name, dnsNames: [node.name], ipAddresses: [canonicalIp(node.address)] }
    : { name: node.name, dnsNames: [node.name, node.address], ipAddresses: [] };
}

const isPending = (c: CsrObject) => !isDecided(c);

/**
 * Compare a node's kubelet-serving CSRs with "its serving certificate is signed": the approve
 * commands for its pending CSRs, ok when one was approved already or the kubelet holds its
 * certificate, null when the kubelet has not asked yet (the caller waits). CSRs of other
 * signers, other requestors and already decided ones are never touched.
 */
export function planServingCsrs(node: NodeIdentity, csrs: CsrObject[], certIssued: boolean): Plan | null {
  const mine = csrs.filter(
    (c) => c.spec.signerName === KUBELET_SERVING_SIGNER && c.spec.username === `system:node:${node.name}`,
  );
  const pending = mine.filter(isPending);
  const refused = pending
    .map((c) => [c.metadata.name, servingCsrProblem(c, inventoryAddresses(node))] as const)
    .filter(([, why]) => why !== null);
  if (refused.length)
    throw new Error(
      `not approving the kubelet-serving CSR of node ${node.name}: ${refused.map(([n, why]) => `${n}: ${why}`).join('; ')}. ` +
        `Check it (kubectl get csr ${refused[0]![0]} -o yaml) and approve it by hand only if it is right`,
    );
  if (pending.length)
    return changed(
      `node ${node.name}: pending ${KUBELET_SERVING_SIGNER} CSR ${pending.map((c) => c.metadata.name).join(', ')} (requestor, signature, subject, usages and SANs match the node)`,
      pending.map((c) => ({ run: `${KUBECTL} certificate approve ${c.metadata.name}` })),
    );
  const approved = mine.find(
    (c) => !isPending(c) && c.status?.conditions?.some((x) => x.type === 'Approved'),
  );
  if (certIssued)
    return ok(`node ${node.name}: kubelet serving certificate signed (${KUBELET_SERVING_CERT})`);
  if (approved) return ok(`node ${node.name}: kubelet-serving CSR ${approved.metadata.name} approved`);
  return null;
}

export interface ServingCsrTiming {
  /** Attempts to find the kubelet's CSR before failing. @default 30 */
  attempts?: number;
  /** Pause between attempts. @default 2000 */
  intervalMs?: number;
}

/** The task approving one node's kubelet serving CSR, delegated to the control plane. */
export function servingCsrTask(role: string, ctx: RoleContext, timing: ServingCsrTiming = {}): Task {
  const node: NodeIdentity = { name: ctx.host.name, address: ctx.host.address };
  return {
    role,
    name: 'approve kubelet serving certificate',
    tags: [],
    plan: async (c) => {
      if (c.check && !c.host.kubeadmMember)
        return changed(
          `check mode: node ${node.name} registers in this run; its pending ${KUBELET_SERVING_SIGNER} CSR (requestor system:node:${node.name}, SANs ${node.name}/${node.address}) would be approved`,
          [{ run: `${KUBECTL} certificate approve <kubelet-serving CSR of system:node:${node.name}>` }],
        );
      const conf = await c.facts.read('cat /var/lib/kubelet/config.yaml');
      if (!/^serverTLSBootstrap:\s*true\s*$/m.test(conf.stdout))
        return skipped(
          `/var/lib/kubelet/config.yaml has no serverTLSBootstrap: true (a cluster created before provision set it): ` +
            'see https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/kubeadm-certs/#kubelet-serving-certs',
        );
      if (ctx.host.role !== 'control-plane') await ctx.controlPlane.ready();
      const attempts = c.check ? 1 : (timing.attempts ?? 30);
      for (let i = 0; i < attempts; i++) {
        if (i) await new Promise((res) => setTimeout(res, timing.intervalMs ?? 2000));
        const certIssued = (await c.facts.read(`test -s ${KUBELET_SERVING_CERT}`)).code === 0;
        const r = await ctx.controlPlane.exec(`${KUBECTL} get csr -o json`);
        if (r.code !== 0)
          throw new Error(`${KUBECTL} get csr on ${ctx.controlPlane.name} failed: ${r.stderr.trim()}`);
        const p = planServingCsrs(node, (JSON.parse(r.stdout) as { items: CsrObject[] }).items, certIssued);
        if (p?.status === 'changed') return { ...p, delegate: ctx.controlPlane };
        if (p) return p;
      }
      if (c.check)
        return skipped(`check mode: node ${node.name} has not requested a serving certificate yet`);
      throw new Error(
        `node ${node.name}: no ${KUBELET_SERVING_SIGNER} CSR from system:node:${node.name} after ${attempts} attempts (is the kubelet running? journalctl -u kubelet)`,
      );
    },
  };
}
