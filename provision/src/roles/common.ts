import { aptConfString } from '../config-quote.ts';
import { aptUpdateTask, packagesTask } from '../ops/apt.ts';
import { commandTask } from '../ops/command.ts';
import { fileTask, replaceTask } from '../ops/file.ts';
import { moduleLiveTask, sysctlLiveTask } from '../ops/kernel.ts';
import type { Task } from '../types.ts';
import type { RoleContext } from './context.ts';

const R = 'common';

/**
 * Kernel settings every kubeadm node needs:
 * https://kubernetes.io/docs/setup/production-environment/container-runtimes/#prerequisite-ipv4-forwarding-optional
 * (ip_forward) and the kubeadm preflight checks for bridge-nf-call-iptables, which exists once
 * br_netfilter is loaded (https://kubernetes.io/docs/setup/production-environment/tools/kubeadm/install-kubeadm/).
 */
export const K8S_MODULES = ['overlay', 'br_netfilter'];
export const K8S_SYSCTLS: Record<string, string> = {
  'net.ipv4.ip_forward': '1',
  'net.bridge.bridge-nf-call-iptables': '1',
  'net.bridge.bridge-nf-call-ip6tables': '1',
};

export const aptProxyConf = (proxy: string): string =>
  `// Managed by cdk8s-gpu-inference provision: apt goes through the site's HTTP proxy.\nAcquire::http::Proxy ${aptConfString(proxy)};\nAcquire::https::Proxy ${aptConfString(proxy)};\n`;

export function commonRole(ctx: RoleContext): Task[] {
  const tasks: Task[] = [];
  if (ctx.host.proxy)
    tasks.push(
      fileTask(
        R,
        'apt proxy',
        { path: '/etc/apt/apt.conf.d/95cdk8s-proxy', content: aptProxyConf(ctx.host.proxy) },
        ['apt'],
      ),
    );
  tasks.push(
    aptUpdateTask(R, {}, ['apt']),
    // curl + gnupg: keyrings; pciutils: lspci for GPU detection; iptables/conntrack: kubelet and kube-proxy.
    packagesTask(
      R,
      'base packages',
      { names: ['ca-certificates', 'curl', 'gnupg', 'pciutils', 'iptables', 'conntrack'] },
      ['apt'],
    ),
    // kubelet refuses to start with swap on unless configured otherwise (failSwapOn).
    commandTask(R, 'swap off', { run: 'swapoff -a', unless: 'test -z "$(tail -n +2 /proc/swaps)"' }, [
      'swap',
    ]),
    replaceTask(
      R,
      'swap off in fstab',
      { path: '/etc/fstab', regexp: '^([^#\\n]*\\sswap\\s.*)$', replacement: '# $1' },
      ['swap'],
    ),
    fileTask(
      R,
      'kernel modules at boot',
      { path: '/etc/modules-load.d/kubernetes.conf', content: K8S_MODULES.join('\n') + '\n' },
      ['modules'],
    ),
    ...K8S_MODULES.map((m) => moduleLiveTask(R, m, ['modules'])),
    fileTask(
      R,
      'sysctl persisted',
      {
        path: '/etc/sysctl.d/99-kubernetes.conf',
        content:
          Object.entries(K8S_SYSCTLS)
            .map(([k, v]) => `${k} = ${v}`)
            .join('\n') + '\n',
      },
      ['sysctl'],
    ),
    ...Object.entries(K8S_SYSCTLS).map(([k, v]) => sysctlLiveTask(R, k, v, ['sysctl'])),
  );
  return tasks;
}
