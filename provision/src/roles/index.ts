import type { Handler, Task } from '../types.ts';
import { commonRole } from './common.ts';
import { containerdHandlers, containerdRole } from './containerd.ts';
import type { RoleContext } from './context.ts';
import { controlPlaneRole } from './control-plane.ts';
import { gpuNodeRole } from './gpu-node.ts';
import { joinRole } from './join.ts';
import { kubernetesRole } from './kubernetes.ts';
import { nvidiaHandlers, nvidiaRole } from './nvidia.ts';

export const ROLE_NAMES = [
  'common',
  'containerd',
  'nvidia',
  'kubernetes',
  'control-plane',
  'join',
  'gpu-node',
] as const;
/** Tags on single tasks, usable with --tags next to role names. */
export const TASK_TAGS = ['apt', 'swap', 'modules', 'sysctl', 'images'] as const;

/** The play for one host, in order: every node, then GPU, then its cluster role. */
export function playFor(ctx: RoleContext): Task[] {
  return [
    ...commonRole(ctx),
    ...containerdRole(ctx),
    ...(ctx.gpu ? nvidiaRole(ctx) : []),
    ...kubernetesRole(ctx),
    ...(ctx.host.role === 'control-plane' ? controlPlaneRole(ctx) : joinRole(ctx)),
    ...(ctx.gpu ? gpuNodeRole(ctx) : []),
  ];
}

export const HANDLERS: Handler[] = [...containerdHandlers, ...nvidiaHandlers];
