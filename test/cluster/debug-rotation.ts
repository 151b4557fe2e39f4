import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { down, upControlPlane } from '../../cluster/cluster.ts';
import { startKubeletNode } from '../../cluster/kubelet-node.ts';
import { kubectl } from '../../cluster/kubectl.ts';
import { REPO_ROOT } from '../../cluster/layout.ts';
import { GPU_NODE_TAINT, SERVER_IMAGE } from '../../constructs/contract.ts';
import { buildImage } from '../../server/image/build.ts';

const image = buildImage();
const c = await upControlPlane();
const l = c.layout;
try {
  const node = await startKubeletNode(l, c.pki, { images: { [SERVER_IMAGE]: image.archive }, serviceCidr: c.inventory.cluster.serviceCidr });
  const docs = parseAllDocuments(readFileSync(join(REPO_ROOT, 'dist', '20-monitoring.k8s.yaml'), 'utf8'))
    .map((d) => d.toJS())
    .filter((o) => o.metadata.labels?.['app.kubernetes.io/name'] === 'kubelet-csr-approver');
  kubectl(l, ['apply', '--server-side', '-f', '-'], docs.map((d) => stringify(d)).join('---\n'));
  kubectl(l, ['patch', 'deployment', 'kubelet-csr-approver', '-n', 'kube-system', '--type=json', '-p',
    JSON.stringify([{ op: 'add', path: '/spec/template/spec/tolerations/-', value: { ...GPU_NODE_TAINT, operator: 'Equal' } }])]);
  await new Promise((r) => setTimeout(r, 25_000));
  console.log(kubectl(l, ['get', 'pods', '-A', '-o', 'wide']));
  console.log(kubectl(l, ['get', 'csr']));
  console.log(execFileSync('sh', ['-c', `find ${node.paths.podLogs} -type f | xargs tail -n 30`], { encoding: 'utf8' }));
  console.log(execFileSync('sh', ['-c', 'iptables-save -c -t nat | grep -i "kubernetes\\|DNAT"; iptables -S INPUT; iptables -S FORWARD | head; ip addr show cgk0; ip route'], { encoding: 'utf8' }));
} finally {
  await down(l);
}
