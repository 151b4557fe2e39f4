/** The kubectl this repository built, against the local cluster's admin kubeconfig. */
import { spawnSync } from 'node:child_process';
import { COMPONENTS } from './components.ts';
import { binary } from './build.ts';
import type { Layout } from './layout.ts';

export interface KubectlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

let kubectlPath: string | undefined;

export function kubectlBinary(): string {
  kubectlPath ??= binary(COMPONENTS.kubernetes, 'kubectl');
  return kubectlPath;
}

/** Runs kubectl; returns its exit code and output (never throws for a non-zero exit). */
export function kubectlRun(l: Layout, args: readonly string[], input?: string): KubectlResult {
  const r = spawnSync(kubectlBinary(), [`--kubeconfig=${l.kubeconfig}`, ...args], {
    input,
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  return { code: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** Runs kubectl and returns stdout; throws with kubectl's stderr when it fails. */
export function kubectl(l: Layout, args: readonly string[], input?: string): string {
  const r = kubectlRun(l, args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

export function kubectlJson<T = unknown>(l: Layout, args: readonly string[]): T {
  return JSON.parse(kubectl(l, [...args, '-o', 'json'])) as T;
}
