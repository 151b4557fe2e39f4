/**
 * One thing an operation does to a host: a shell command, or a local file pushed over SSH. A
 * command's `stdin` carries what must not appear in a command line (which `-v`, `--json` and the
 * host's process list all show): a bootstrap token, for one.
 */
export type Step = { run: string; stdin?: string } | { put: { local: string; name: string } };

/**
 * The host's private staging directory for pushed files, as commands name it: a `mktemp -d` of
 * the login user (0700) per run, never a predictable /tmp name another local user could create
 * or swap first. `put` steps name files inside it.
 */
export const STAGE = '"$CDK8S_STAGE"';

/**
 * What an operation decided after comparing desired with actual state. `changed` means steps will
 * run (or would, in check mode); `ok` and `skipped` carry no steps and say why.
 */
export interface Plan {
  status: 'ok' | 'changed' | 'skipped';
  reason: string;
  steps: Step[];
  /** Unified diff of a file edit, shown with --diff. */
  diff?: string;
  /** Handlers to run once at the end of the role if this plan changed something. */
  notify?: string[];
  /** Run the steps somewhere else (Ansible delegate_to), e.g. kubectl on the control plane. */
  delegate?: { name: string; exec(command: string): Promise<ExecResult> };
}

export const ok = (reason: string): Plan => ({ status: 'ok', reason, steps: [] });
export const skipped = (reason: string): Plan => ({ status: 'skipped', reason, steps: [] });
export const changed = (reason: string, steps: Step[], extra: Partial<Plan> = {}): Plan => ({
  status: 'changed',
  reason,
  steps,
  ...extra,
});

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type OutputSink = (chunk: string, stream: 'stdout' | 'stderr') => void;

/** How the engine reaches a host. Success is judged by exit code only. */
export interface Connector {
  readonly name: string;
  exec(command: string, onOutput?: OutputSink, stdin?: string): Promise<ExecResult>;
  /** Copy a local file to a path on the host (a path the login user can write, e.g. /tmp). */
  put(localPath: string, remotePath: string): Promise<void>;
  /** A new private directory (mktemp -d) the login user can push files into. */
  stagingDir?(): Promise<string>;
  close(): Promise<void>;
}

/** Read-only queries; facts never change the host. */
export interface FactReader {
  read(command: string): Promise<ExecResult>;
}

export interface HostFacts {
  osId: string;
  osVersionId: string;
  osCodename: string;
  kernel: string;
  arch: string;
  /** systemd-detect-virt -c: "none" on metal/VMs, e.g. "systemd-nspawn" in a container. */
  container: string;
  /** The kernel has loadable module support (/proc/modules exists). */
  modulesSupported: boolean;
  /** /proc/sys can be written (read-only in containers that share the host kernel). */
  procSysWritable: boolean;
  nvidiaGpu: boolean;
  swapActive: boolean;
  /** /etc/kubernetes/kubelet.conf exists: the node already joined or initialised a cluster. */
  kubeadmMember: boolean;
}

export interface TaskContext {
  facts: FactReader;
  host: HostFacts;
  check: boolean;
  /** Seconds apt and dpkg wait for a lock another process holds (cluster.aptLockTimeout). @default 60 */
  aptLockTimeout?: number;
}

export interface Task {
  role: string;
  name: string;
  tags: string[];
  plan(ctx: TaskContext): Promise<Plan>;
}

export interface Handler {
  name: string;
  steps: Step[];
  /** Reboot the host and wait for it to come back (only when the inventory allows reboots). */
  reboot?: boolean;
}
