import { stringify } from 'yaml';
import { redact } from '../redact.ts';
import { atomicWriteFromStdinCommand } from '../shell.ts';
import { changed, ok, type Task } from '../types.ts';
import { KUBEADM_API } from '../versions.ts';
import { BOOTSTRAP_TOKEN_TTL, CRI_SOCKET, type RoleContext } from './context.ts';
import { gpuRegistration } from './gpu-node.ts';
import { servingCsrTask } from './kubelet-serving.ts';

const R = 'join';
export const JOIN_CONFIG = '/etc/kubernetes/kubeadm-join.yaml';

/** Parse `kubeadm token create --print-join-command`. */
export function parseJoinCommand(out: string): { endpoint: string; token: string; caHash: string } {
  const m = /kubeadm join (\S+) --token (\S+)\s+--discovery-token-ca-cert-hash (\S+)/.exec(out);
  if (!m)
    throw new Error(
      `unexpected output of kubeadm token create --print-join-command: ${out.trim().slice(0, 200)}`,
    );
  return { endpoint: m[1]!, token: m[2]!, caHash: m[3]! };
}

export function kubeadmJoinConfig(
  node: string,
  gpu: boolean,
  j: { endpoint: string; token: string; caHash: string },
): string {
  return stringify({
    apiVersion: KUBEADM_API,
    kind: 'JoinConfiguration',
    discovery: {
      bootstrapToken: { apiServerEndpoint: j.endpoint, token: j.token, caCertHashes: [j.caHash] },
    },
    nodeRegistration: { name: node, criSocket: CRI_SOCKET, ...gpuRegistration(gpu, false) },
  });
}

export function joinRole(ctx: RoleContext): Task[] {
  return [
    {
      role: R,
      name: 'kubeadm join',
      tags: [],
      plan: async (c) => {
        if (c.host.kubeadmMember) return ok('/etc/kubernetes/kubelet.conf exists: already a cluster member');
        if (c.check)
          return changed(
            `not a member: would take a join token from ${ctx.controlPlane.name} and run kubeadm join`,
            [{ run: `kubeadm join --config ${JOIN_CONFIG}` }],
          );
        await ctx.controlPlane.ready();
        // A short-lived token per join: nothing long-lived is left on disk or in the cluster.
        const t = await ctx.controlPlane.exec(
          `kubeadm token create --ttl ${BOOTSTRAP_TOKEN_TTL} --print-join-command`,
        );
        if (t.code !== 0)
          throw new Error(
            `kubeadm token create on ${ctx.controlPlane.name} failed: ${redact(t.stderr.trim())}`,
          );
        const cfg = kubeadmJoinConfig(ctx.host.name, ctx.gpu, parseJoinCommand(t.stdout));
        return changed(`not a member: joining through ${ctx.controlPlane.name}`, [
          {
            run: atomicWriteFromStdinCommand({
              path: JOIN_CONFIG,
              mode: '0600',
              owner: 'root',
              group: 'root',
            }),
            stdin: cfg,
          },
          { run: `kubeadm join --config ${JOIN_CONFIG}` },
        ]);
      },
    },
    servingCsrTask(R, ctx),
  ];
}
