/**
 * What the test suite runs besides Node: the programs its tests spawn, the Debian package of each,
 * and which test files need them. test/global-setup.ts checks them before any test starts, for the
 * files of the run only, and stops the run naming each missing tool and the command that installs it
 * (missing tools otherwise surfaced as `spawnSync promtool ENOENT`, `expected +0 to be ''`, or a
 * hook that hung for minutes). `.ci/apt-packages.txt` lists every package here (test/preflight.test.ts).
 */
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { benchPython } from '../server/bench/venv.ts';
import { perfAnalyzerBinary } from './clients/perf-analyzer.ts';
import { clientPython } from './clients/venv.ts';

export interface Requirement {
  /** A program looked up on PATH, or an absolute path of a file that must exist. */
  readonly tool: string;
  /** The Debian package that installs it. */
  readonly debianPackage: string;
  /** The test files (relative to the root, '/' separators) that use it. */
  readonly files: RegExp;
  /** Only root runs these files (the others skip them); checked only as root. */
  readonly rootOnly?: boolean;
  /** What it is used for, in a few words. */
  readonly why: string;
  /** What creates it once the Debian package is installed, when apt-get alone does not. */
  readonly create?: string;
}

// Every provisioning e2e boots Debian hosts (e2e-debian11/12/13, e2e-bastion, ...).
const PROVISION_E2E = /^test\/provision\/e2e-[\w-]+\.test\.ts$/;
const IMAGE = /^test\/image\/image\.test\.ts$/;
/** The inference pod on a real kubelet: builds the server image and the pause image. */
const KUBELET_NODE = /^test\/cluster\/kubelet-node\.test\.ts$/;
/** buildah: the server image, the pause image, and the tiny OCI archive the containerd e2e imports. */
const BUILDAH = /^test\/(image\/image|provision\/e2e-containerd|cluster\/kubelet-node)\.test\.ts$/;
const PERF_ANALYZER = /^test\/clients\/perf-analyzer\.test\.ts$/;
const DEBOOTSTRAP = /^test\/(provision\/e2e-[\w-]+|image\/image|cluster\/kubelet-node)\.test\.ts$/;

export const REQUIREMENTS: readonly Requirement[] = [
  {
    tool: 'promtool',
    debianPackage: 'prometheus',
    files: /^test\/(constructs\/promql|server\/api|cluster-agent\/(dcgm-standin|kubelet-metrics))\.test\.ts$/,
    why: 'checks rules, configs and metrics exposition',
  },
  {
    tool: process.env.PROMETHEUS_BINARY ?? '/usr/bin/prometheus',
    debianPackage: 'prometheus',
    files: /^test\/cluster-agent\/dcgm-standin\.test\.ts$/,
    why: 'a real Prometheus scrapes the dcgm-exporter stand-in (or set PROMETHEUS_BINARY)',
  },
  {
    tool: 'ssh-keygen',
    debianPackage: 'openssh-client',
    files: /^test\/provision\/(known-hosts|e2e-[\w-]+)\.test\.ts$/,
    why: 'host keys and known_hosts files',
  },
  {
    tool: 'openssl',
    debianPackage: 'openssl',
    files: /^test\/(cluster-agent\/kubelet-metrics\.test\.ts|cluster\/)/,
    why: "the local cluster's PKI (cluster/pki.ts)",
  },
  {
    tool: 'ip',
    debianPackage: 'iproute2',
    files: /^test\/(cluster-agent\/kubelet-metrics\.test\.ts|provision\/e2e-[\w-]+\.test\.ts|cluster\/)/,
    why: 'addresses on lo, network namespaces and veth pairs',
  },
  {
    tool: 'debootstrap',
    debianPackage: 'debootstrap',
    files: DEBOOTSTRAP,
    rootOnly: true,
    why: "builds the Debian 11, 12 and 13 roots of the test hosts and the server image's trixie root",
  },
  {
    tool: '/usr/share/keyrings/debian-archive-keyring.gpg',
    debianPackage: 'debian-archive-keyring',
    files: DEBOOTSTRAP,
    rootOnly: true,
    why: "debootstrap checks bullseye's, bookworm's and trixie's Release files with it",
  },
  {
    tool: 'buildah',
    debianPackage: 'buildah',
    files: BUILDAH,
    rootOnly: true,
    why: 'npm run image commits the server image from the root it assembles; the containerd e2e commits a tiny image',
  },
  {
    tool: 'gcc',
    debianPackage: 'gcc',
    files: KUBELET_NODE,
    rootOnly: true,
    why: "compiles Kubernetes' pause.c into the sandbox image (cluster/pause-image.ts)",
  },
  {
    // gcc -static links glibc's static libc.
    tool: '/usr/lib/x86_64-linux-gnu/libc.a',
    debianPackage: 'libc6-dev',
    files: KUBELET_NODE,
    rootOnly: true,
    why: 'the static C library the pause binary is linked with',
  },
  {
    tool: 'iptables-save',
    debianPackage: 'iptables',
    files: KUBELET_NODE,
    rootOnly: true,
    why: 'records the rules kubelet adds, so that teardown removes them (cluster/host-state.ts)',
  },
  {
    tool: 'nft',
    debianPackage: 'nftables',
    files: KUBELET_NODE,
    rootOnly: true,
    why: 'lists and removes the nf_tables tables kubelet creates (cluster/host-state.ts)',
  },
  {
    tool: 'nfacct',
    debianPackage: 'nfacct',
    files: KUBELET_NODE,
    rootOnly: true,
    why: "lists and removes kube-proxy's nfacct counters (cluster/host-state.ts)",
  },
  {
    tool: 'umoci',
    debianPackage: 'umoci',
    files: IMAGE,
    rootOnly: true,
    why: 'unpacks the server image into the bundle the test boots',
  },
  {
    tool: 'systemd-nspawn',
    debianPackage: 'systemd-container',
    files: PROVISION_E2E,
    rootOnly: true,
    why: 'boots the test hosts',
  },
  {
    tool: 'tinyproxy',
    debianPackage: 'tinyproxy',
    files: PROVISION_E2E,
    rootOnly: true,
    why: "the test hosts' apt goes out through it",
  },
  {
    tool: 'gpg',
    debianPackage: 'gnupg',
    files: /^test\/provision\/e2e-debian11\.test\.ts$/,
    rootOnly: true,
    why: 'exports the archive key the apt-repository test serves',
  },
  {
    tool: clientPython(),
    debianPackage: 'python3-venv',
    files: /^test\/clients\//,
    why: 'the virtual environment of the pinned Python clients (tritonclient) in test/clients/requirements.txt',
    create: 'test/clients/venv.sh (about 10 s with PyPI reachable; .ci/run runs it)',
  },
  {
    tool: perfAnalyzerBinary(),
    debianPackage: 'python3-venv',
    files: PERF_ANALYZER,
    why: "Triton's perf_analyzer, from the tritonclient wheel pinned in test/clients/perf-analyzer-requirements.txt",
    create: 'test/clients/perf-analyzer.sh (about 15 s with PyPI reachable; .ci/run runs it)',
  },
  {
    // The wheel's binary is x86-64 only.
    tool: '/usr/lib/x86_64-linux-gnu/libb64.so.0d',
    debianPackage: 'libb64-0d',
    files: PERF_ANALYZER,
    why: 'a library the perf_analyzer binary links',
  },
  {
    tool: 'hey',
    debianPackage: 'hey',
    files: /^test\/bench\//,
    why: "npm run bench's load generator",
  },
  {
    tool: benchPython(),
    debianPackage: 'python3-venv',
    files: /^test\/bench\/peers\.test\.ts$/,
    why: 'the virtual environment of the benchmark peers (KServe, PyTriton) in server/bench/requirements.txt',
    create: 'server/bench/venv.sh (2.5-4 min and 750 MB the first time with PyPI reachable; .ci/run runs it)',
  },
];

/**
 * Components `npm run cluster:build` builds from the Go module proxy (cluster/components.ts) that
 * test files run: no Debian package has them at the pinned version.
 */
export interface ComponentRequirement {
  /** Keys of COMPONENTS; undefined: every component but those another requirement names. */
  readonly components?: readonly string[];
  readonly files: RegExp;
  readonly rootOnly?: boolean;
  /** The heading of the message, naming the files and the build command. */
  readonly why: string;
}

export const COMPONENT_REQUIREMENTS: readonly ComponentRequirement[] = [
  {
    components: ['kubeadm'],
    files: /^test\/provision\/kubeadm-validate\.test\.ts$/,
    why: "test/provision/kubeadm-validate runs the real kubeadm on provisioning's configuration; npm run cluster:build -- kubeadm builds it with Go 1.26 (a few minutes; .ci/run builds every component)",
  },
  {
    components: ['containerd', 'runc', 'cniPlugins'],
    files: /^test\/provision\/e2e-containerd\.test\.ts$/,
    rootOnly: true,
    why: "test/provision/e2e-containerd applies provisioning's default containerd (release) from air-gapped artifacts packed from these; npm run cluster:build -- containerd runc cniPlugins builds them with Go 1.26 (runc needs libseccomp-dev; .ci/run builds every component)",
  },
  {
    components: ['kubeadm', 'kubelet', 'containerd', 'runc', 'cniPlugins'],
    files: /^test\/provision\/e2e-kubeadm\.test\.ts$/,
    rootOnly: true,
    why: 'test/provision/e2e-kubeadm runs kubeadm init phase by phase with kubelet on a booted host, containerd from the air-gapped artifacts; npm run cluster:build -- kubeadm kubelet containerd runc cniPlugins builds them with Go 1.26 (.ci/run builds every component)',
  },
  {
    components: ['kubelet', 'kubeProxy', 'containerd', 'runc', 'cniPlugins'],
    files: KUBELET_NODE,
    rootOnly: true,
    why: 'test/cluster/kubelet-node runs the inference pod and the CSR approver on a real kubelet with kube-proxy, containerd, runc and the CNI plugins; npm run cluster:build -- kubelet kubeProxy containerd runc cniPlugins builds them with Go 1.26 (.ci/run builds every component)',
  },
  {
    files: /^test\/cluster\//,
    rootOnly: true,
    why: 'test/cluster/ needs the components that npm run cluster:build builds with Go 1.26 (about 25 min the first time; .ci/run does it)',
  },
];

/**
 * The components the files of the run need that `verify` (cluster/build.ts, passed in so this file
 * needs no Go) finds unbuilt: one paragraph per requirement, each problem naming npm run cluster:build.
 */
export function unbuiltComponents(
  files: readonly string[],
  opts: { root: boolean; all: readonly string[]; verify: (name: string) => string | undefined },
  requirements: readonly ComponentRequirement[] = COMPONENT_REQUIREMENTS,
): string[] {
  const named = new Set(requirements.flatMap((r) => r.components ?? []));
  return requirements
    .filter((r) => (opts.root || !r.rootOnly) && files.some((f) => r.files.test(f)))
    .flatMap((r) => {
      const problems = (r.components ?? opts.all.filter((c) => !named.has(c)))
        .map((c) => opts.verify(c))
        .filter((p): p is string => p !== undefined);
      return problems.length ? [`${r.why}:\n${problems.map((p) => `  - ${p}`).join('\n')}`] : [];
    });
}

/** Whether `tool` is an executable on `path` (or, when absolute, a file that exists). */
export function installed(tool: string, path = process.env.PATH ?? ''): boolean {
  if (isAbsolute(tool)) return existsSync(tool);
  return path
    .split(delimiter)
    .filter(Boolean)
    .some((dir) => {
      try {
        accessSync(join(dir, tool), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
}

/** The requirements of these test files (relative paths) that are not met. */
export function missing(
  files: readonly string[],
  opts: { root: boolean; path?: string; requirements?: readonly Requirement[] },
): Requirement[] {
  return (opts.requirements ?? REQUIREMENTS).filter(
    (r) => (opts.root || !r.rootOnly) && files.some((f) => r.files.test(f)) && !installed(r.tool, opts.path),
  );
}

/** The message that stops the run: each missing tool, its package, and the commands that install them. */
export function missingMessage(gaps: readonly Requirement[], files: readonly string[]): string {
  const packages = [...new Set(gaps.map((r) => r.debianPackage))];
  const lines = gaps.map((r) => {
    const users = files.filter((f) => r.files.test(f));
    return `  - ${r.tool} (Debian package ${r.debianPackage}): ${r.why}; used by ${users.join(', ')}`;
  });
  const creates = gaps.flatMap((r) => (r.create ? [`  ${r.create}`] : []));
  return [
    `The test suite needs ${gaps.length === 1 ? 'a tool that is' : 'tools that are'} not installed:`,
    ...lines,
    `Install ${packages.length === 1 ? 'it' : 'them'} (Debian 12) with:`,
    `  sudo apt-get install -y --no-install-recommends ${packages.join(' ')}`,
    ...(creates.length ? ['then create:', ...creates] : []),
    'or run .ci/run as root, which installs every package in .ci/apt-packages.txt, lints and runs the suite.',
    'To run the other tests meanwhile, name them: npx vitest run test/server (the check covers the files of the run).',
  ].join('\n');
}

/** Root-only test files: without root they skip themselves; say so once, before the run. */
export const ROOT_ONLY_TESTS =
  'test/cluster/* (a local Kubernetes cluster in network namespaces), test/provision/e2e-* ' +
  '(debootstraps Debian 11, 12 and 13 into /var/cache and boots them with systemd-nspawn), the local-connector ' +
  'tests of test/provision/engine and secrets, the apt lock test (test/provision/apt-lock: a mount namespace), kubeadm init --dry-run in ' +
  'test/provision/kubeadm-validate (namespaces and overlay mounts), and the HTTPS servers of ' +
  'test/cluster-agent/kubelet-metrics (addresses on lo)';
