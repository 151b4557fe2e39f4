import { packagesTask, repoTask } from '../ops/apt.ts';
import { fileTask } from '../ops/file.ts';
import { serviceTask } from '../ops/service.ts';
import type { Task } from '../types.ts';
import { k8sRepo } from '../versions.ts';
import { CRI_SOCKET, type RoleContext } from './context.ts';

const R = 'kubernetes';

/** "1.34" -> apt glob "1.34.*"; "1.34.2" -> "1.34.2-*" (pkgs.k8s.io versions look like 1.34.2-1.1). */
export function aptVersionGlob(kubernetesVersion: string): string {
  return kubernetesVersion.split('.').length === 2 ? `${kubernetesVersion}.*` : `${kubernetesVersion}-*`;
}

export const minorOf = (v: string): string => v.split('.').slice(0, 2).join('.');

export function kubernetesRole(ctx: RoleContext): Task[] {
  const v = ctx.cluster.kubernetesVersion;
  return [
    repoTask(R, { name: 'kubernetes', ...k8sRepo(minorOf(v)) }, ctx.site),
    // Pinned and held so an apt upgrade never moves the cluster: upgrades go through kubeadm upgrade.
    packagesTask(R, `kubelet kubeadm kubectl ${v}`, {
      names: ['kubelet', 'kubeadm', 'kubectl'],
      version: aptVersionGlob(v),
      hold: true,
    }),
    fileTask(R, 'crictl.yaml', {
      path: '/etc/crictl.yaml',
      content: `runtime-endpoint: ${CRI_SOCKET}\nimage-endpoint: ${CRI_SOCKET}\ntimeout: 10\n`,
    }),
    serviceTask(R, { name: 'kubelet', state: 'unmanaged' }),
  ];
}
