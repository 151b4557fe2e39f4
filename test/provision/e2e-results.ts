/** What the Debian e2e files read from a CLI run: a host's result, one task of it, the files they hash. */
import type { HostResult, TaskResult } from '../../provision/src/engine.ts';
import type { CliRun } from './cli-helpers.ts';

/** Every file the common and containerd roles touch, and dpkg's database (packages installed). */
export const TOUCHED = [
  '/etc/apt/apt.conf.d/95cdk8s-proxy',
  '/var/lib/apt/cdk8s-provision-update-stamp',
  '/var/lib/dpkg/status',
  '/etc/fstab',
  '/etc/modules-load.d/kubernetes.conf',
  '/etc/sysctl.d/99-kubernetes.conf',
  '/etc/systemd/system/containerd.service.d/http-proxy.conf',
  '/etc/containerd/config.toml',
  '/etc/apt/sources.list.d/kubernetes.list',
  '/etc/apt/keyrings/kubernetes.gpg',
  '/etc/kubernetes/kubeadm-config.yaml',
];

/** The host's result in a --json run; throws with the run's output when it has none. */
export function hostResult(r: CliRun, name: string): HostResult {
  const h = r.json?.hosts.find((x) => x.host === name);
  if (!h) throw new Error(`no result for ${name}: ${r.stdout.slice(0, 2000)} ${r.stderr.slice(0, 2000)}`);
  return h;
}

/** The task `role | name` of a host's result; throws naming the tasks it has when it is missing. */
export function taskResult(h: HostResult, role: string, name: string): TaskResult {
  const t = h.tasks.find((x) => x.role === role && x.task === name);
  if (!t)
    throw new Error(
      `${h.host}: no task ${role} | ${name}; tasks: ${h.tasks.map((x) => `${x.role}|${x.task}`).join(', ')}`,
    );
  return t;
}
