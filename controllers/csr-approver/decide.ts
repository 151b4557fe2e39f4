/**
 * The approver's decision for one CSR. Like postfinance/kubelet-csr-approver (its
 * internal/controller/csr_controller.go), a kubelet-serving CSR that fails a check is Denied, with
 * the failing check in the condition's message: a Denied CSR is final, the kubelet sees it and
 * requests again (a pending one would only pile up) and the message tells an operator why. Two
 * cases are left pending instead, as upstream leaves an unparsable request pending and retries
 * what may change: a request that cannot be read, and a requestor whose Node does not exist (yet);
 * the next resync decides them again.
 */
import { CSR_APPROVER_REASON } from '../../constructs/contract.ts';
import {
  KUBELET_SERVING_SIGNER,
  isDecided,
  requestingNode,
  servingCsrProblem,
  type CsrObject,
  type NodeAddresses,
} from './serving-checks.ts';

export type Decision =
  | { readonly action: 'ignore'; readonly why: string }
  | { readonly action: 'pending'; readonly check: string; readonly message: string }
  | { readonly action: 'approve'; readonly message: string }
  | { readonly action: 'deny'; readonly check: string; readonly message: string };

/** The checks left pending rather than denied (see the file's header). */
const RETRIED_CHECKS = ['node', 'request'];

/**
 * What to do with `csr`, given the Node its requestor names (undefined: none, or not a node). Only
 * pending kubelet-serving CSRs are decided; every other one is ignored.
 */
export function decide(csr: CsrObject, node: NodeAddresses | undefined): Decision {
  if (csr.spec.signerName !== KUBELET_SERVING_SIGNER)
    return { action: 'ignore', why: `signer ${csr.spec.signerName ?? '(none)'}` };
  if (isDecided(csr) || csr.status?.certificate) return { action: 'ignore', why: 'decided already' };
  const problem = servingCsrProblem(csr, node);
  if (problem === null)
    return {
      action: 'approve',
      message: `kubelet-serving CSR of node ${requestingNode(csr)}: requestor, signature, subject, usages and subjectAltNames match the Node`,
    };
  const check = problem.slice(0, problem.indexOf(':'));
  return RETRIED_CHECKS.includes(check)
    ? { action: 'pending', check, message: problem }
    : { action: 'deny', check, message: `failed check ${problem}` };
}

/** The condition the approver adds through the /approval subresource. */
export function approvalCondition(d: Decision & { action: 'approve' | 'deny' }, now: Date) {
  const approved = d.action === 'approve';
  return {
    type: approved ? 'Approved' : 'Denied',
    status: 'True',
    reason: approved ? CSR_APPROVER_REASON.approved : CSR_APPROVER_REASON.denied,
    message: d.message,
    lastUpdateTime: now.toISOString().replace(/\.\d+Z$/, 'Z'),
  };
}
