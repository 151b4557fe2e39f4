import { GPU_NODE_LABEL, GPU_NODE_LABEL_VALUE, GPU_NODE_TAINT } from '../../../constructs/contract.ts';
import { checkTask } from '../ops/command.ts';
import { changed, ok, skipped, type Task } from '../types.ts';
import { KUBECTL, type RoleContext } from './context.ts';

const R = 'gpu-node';

const LABEL = `${GPU_NODE_LABEL}=${GPU_NODE_LABEL_VALUE}`;

/**
 * The label and taint the construct library schedules on (the contract's), set at registration
 * through kubeadm's nodeRegistration so that no pod lands on a GPU node before they are there.
 */
export function gpuRegistration(gpu: boolean, controlPlane: boolean): Record<string, unknown> {
  if (!gpu) return controlPlane ? {} : { taints: [] };
  return { taints: [{ ...GPU_NODE_TAINT }], kubeletExtraArgs: [{ name: 'node-labels', value: LABEL }] };
}

interface NodeState {
  labels: Record<string, string>;
  taints: { key: string; value?: string; effect: string }[];
}

/** kubectl commands (run on the control plane) that bring a node's GPU label and taint in line. */
export function planGpuNodeLabels(node: string, state: NodeState | null) {
  if (state === null) return skipped(`node ${node} is not registered yet (join first)`);
  const cmds: string[] = [];
  if (state.labels[GPU_NODE_LABEL] !== GPU_NODE_LABEL_VALUE)
    cmds.push(`${KUBECTL} label node ${node} ${LABEL} --overwrite`);
  if (!state.taints.some((t) => t.key === GPU_NODE_TAINT.key && t.effect === GPU_NODE_TAINT.effect))
    cmds.push(
      `${KUBECTL} taint node ${node} ${GPU_NODE_TAINT.key}=${GPU_NODE_TAINT.value}:${GPU_NODE_TAINT.effect} --overwrite`,
    );
  return cmds.length
    ? changed(
        `node ${node}: missing ${cmds.length === 2 ? 'label and taint' : cmds[0]!.includes(' label ') ? 'label' : 'taint'}`,
        cmds.map((run) => ({ run })),
      )
    : ok(`node ${node} labelled ${LABEL} and tainted ${GPU_NODE_TAINT.key}:${GPU_NODE_TAINT.effect}`);
}

export function gpuNodeRole(ctx: RoleContext): Task[] {
  const node = ctx.host.name;
  return [
    checkTask(R, 'nvidia-smi', 'nvidia-smi -L', 'the NVIDIA driver answers (nvidia-smi -L lists the GPUs)'),
    {
      role: R,
      name: 'label and taint',
      tags: [],
      plan: async (c) => {
        if (c.check && !c.host.kubeadmMember)
          return skipped(`check mode: node ${node} joins in this run; kubeadm registers the label and taint`);
        // On the control plane itself kubeadm init already ran in this same play: waiting for the
        // control plane's run to finish would wait for this very task.
        if (ctx.host.role !== 'control-plane') await ctx.controlPlane.ready();
        const r = await ctx.controlPlane.exec(`${KUBECTL} get node ${node} -o json`);
        const state: NodeState | null =
          r.code === 0
            ? (({ metadata, spec }) => ({ labels: metadata.labels ?? {}, taints: spec.taints ?? [] }))(
                JSON.parse(r.stdout),
              )
            : null;
        const p = planGpuNodeLabels(node, state);
        return p.status === 'changed' ? { ...p, delegate: ctx.controlPlane } : p;
      },
    },
  ];
}
