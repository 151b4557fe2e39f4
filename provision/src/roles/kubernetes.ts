import { packagesTask, repoTask } from '../ops/apt.ts';
import { fileTask } from '../ops/file.ts';
import { serviceTask } from '../ops/service.ts';
import { ok, skipped, type Plan, type Task } from '../types.ts';
import { k8sRepo } from '../versions.ts';
import { containerdVersion } from './containerd.ts';
import { CRI_SOCKET, type RoleContext } from './context.ts';

const R = 'kubernetes';

/** "1.34" -> apt glob "1.34.*"; "1.34.2" -> "1.34.2-*" (pkgs.k8s.io versions look like 1.34.2-1.1). */
export function aptVersionGlob(kubernetesVersion: string): string {
  return kubernetesVersion.split('.').length === 2 ? `${kubernetesVersion}.*` : `${kubernetesVersion}-*`;
}

export const minorOf = (v: string): string => v.split('.').slice(0, 2).join('.');

/**
 * kubelet 1.26 and later speak only the CRI v1 API, which containerd has from 1.6 on
 * (containerd's Kubernetes support table,
 * https://github.com/containerd/containerd/blob/main/RELEASES.md#kubernetes-support: 1.26+ with 1.6.15+, 1.7, 2.x):
 * with Debian 11's containerd 1.4 kubelet would install and never register the node, so the
 * role stops here, before any Kubernetes package is installed.
 */
export function planCriRuntime(versionOutput: string | null, check: boolean): Plan {
  const v = versionOutput === null ? null : containerdVersion(versionOutput);
  if (v === null) {
    if (check) return skipped('check mode: containerd not installed yet (the containerd role installs it)');
    throw new Error(
      'containerd is not installed (`containerd --version` failed); run the containerd role first (--tags containerd)',
    );
  }
  const [major, minor] = v;
  if (major > 1 || minor >= 6) return ok(`containerd ${major}.${minor} speaks CRI v1`);
  throw new Error(
    `containerd is ${major}.${minor}; allowed: containerd >= 1.6 (kubelet >= 1.26 needs the CRI v1 API): set cluster.containerd.source to "release" (Debian 11's package is 1.4)`,
  );
}

export function kubernetesRole(ctx: RoleContext): Task[] {
  const v = ctx.cluster.kubernetesVersion;
  return [
    {
      role: R,
      name: 'container runtime speaks CRI v1',
      tags: [],
      plan: async (c) => {
        const r = await c.facts.read('containerd --version');
        return planCriRuntime(r.code === 0 ? r.stdout : null, c.check);
      },
    },
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
