/**
 * kubelet-csr-approver's part, in the server image: approves the kubelets' serving-certificate
 * CSRs (signer kubernetes.io/kubelet-serving) that pass every check of serving-checks.ts and denies
 * those that fail one (decide.ts), so that the certificates the kubelets rotate keep being signed
 * after provisioning's one-shot bootstrap approval. Lists, then watches, the CSRs; relists every
 * RESYNC_SECONDS. Deployed by KubeletCsrApprover (constructs/kubelet-csr-approver.ts).
 *
 * Logs one JSON line per decision (the CSR's name, signer, requestor, decision and the failing
 * check); never the request, the token or a certificate.
 */
import { readConfig, type ApproverConfig } from './config.ts';
import { approvalCondition, decide } from './decide.ts';
import { ApiError, KubeClient } from './kube-client.ts';
import { nodeAddresses, requestingNode, type CsrObject, type NodeObject } from './serving-checks.ts';

const CSRS = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

function log(level: 'info' | 'debug' | 'error', msg: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
}

async function nodeOf(api: KubeClient, csr: CsrObject) {
  const name = requestingNode(csr);
  if (!name || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name)) return undefined;
  try {
    return nodeAddresses(await api.get<NodeObject>(`/api/v1/nodes/${name}`));
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return undefined;
    throw e;
  }
}

/** Decide one CSR and, for approve or deny, write the condition through /approval. */
export async function reconcile(api: KubeClient, csr: CsrObject, config: ApproverConfig): Promise<void> {
  const fields = {
    csr: csr.metadata.name,
    signer: csr.spec.signerName,
    requestor: csr.spec.username,
  };
  // Ignore other signers before reading the Node: they are not ours to look at.
  const first = decide(csr, undefined);
  const d = first.action === 'ignore' ? first : decide(csr, await nodeOf(api, csr));
  if (d.action === 'ignore') {
    if (config.logLevel === 'debug') log('debug', 'ignored', { ...fields, why: d.why });
    return;
  }
  if (d.action === 'pending') {
    log('info', 'decision', { ...fields, decision: 'pending', check: d.check, message: d.message });
    return;
  }
  const body = {
    ...csr,
    status: {
      ...csr.status,
      conditions: [...(csr.status?.conditions ?? []), approvalCondition(d, new Date())],
    },
  };
  try {
    await api.send('PUT', `${CSRS}/${encodeURIComponent(csr.metadata.name)}/approval`, body);
  } catch (e) {
    // 409: changed since it was read (the watch brings the new version); 404: deleted.
    if (e instanceof ApiError && (e.status === 409 || e.status === 404)) {
      log('info', 'decision', { ...fields, decision: 'retry', message: e.message });
      return;
    }
    throw e;
  }
  const decision = d.action === 'approve' ? 'approved' : 'denied';
  log('info', 'decision', {
    ...fields,
    decision,
    ...(d.action === 'deny' ? { check: d.check } : {}),
    message: d.message,
  });
}

async function run(api: KubeClient, config: ApproverConfig): Promise<never> {
  for (;;) {
    try {
      const list = await api.get<{ metadata: { resourceVersion: string }; items: CsrObject[] }>(CSRS);
      for (const csr of list.items) await reconcile(api, csr, config);
      // The API server ends the watch after timeoutSeconds: the loop relists (the resync).
      await api.watch<CsrObject>(
        `${CSRS}?watch=1&allowWatchBookmarks=true&resourceVersion=${list.metadata.resourceVersion}&timeoutSeconds=${config.resyncSeconds}`,
        async (e) => {
          if (e.type === 'ADDED' || e.type === 'MODIFIED') await reconcile(api, e.object, config);
        },
        // Longer than the server's timeoutSeconds: a healthy watch always ends before.
        (config.resyncSeconds + 60) * 1000,
      );
    } catch (e) {
      log('error', 'list/watch failed; retrying in 5 s', { error: (e as Error).message });
      await new Promise((r) => setTimeout(r, 5000));
    }
  }
}

let config: ApproverConfig;
let api: KubeClient;
try {
  config = readConfig(process.env);
  api = new KubeClient(process.env);
} catch (e) {
  log('error', 'bad configuration', { error: (e as Error).message });
  process.exit(2);
}
// No state to save: stop at once (SIGTERM from the kubelet).
for (const s of ['SIGTERM', 'SIGINT'] as const) process.on(s, () => process.exit(0));
log('info', 'started', { resyncSeconds: config.resyncSeconds, logLevel: config.logLevel });
void run(api, config);
