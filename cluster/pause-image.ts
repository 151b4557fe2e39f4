/**
 * The pod sandbox ("pause") image a real kubelet's containerd needs, built here since no registry
 * can be reached: Kubernetes' own build/pause/linux/pause.c, read from the pinned k8s.io/kubernetes
 * module in Go's module cache (the module cluster/components.ts builds kubelet from), compiled as
 * its Makefile does (`-Os -Wall -Werror -static -DVERSION=...`), and committed with buildah as its
 * Dockerfile describes (FROM scratch, /pause, USER 65535:65535, ENTRYPOINT ["/pause"]).
 *
 * The name is the one kubeadm of that release pulls and containerd pins as its sandbox image
 * (PauseVersion in cmd/kubeadm/app/constants/constants.go). The OCI archive is cached per
 * Kubernetes version and source: /var/cache/cdk8s-gpu-inference/pause-<tag>-<key>.oci.tar.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { COMPONENTS, KUBERNETES_VERSION } from './components.ts';
import { buildScratchImage, IMAGE_CACHE_DIR } from '../server/image/buildah.ts';

const run = (cmd: string, args: readonly string[], cwd?: string): string =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], cwd });

/** The pinned k8s.io/kubernetes module's folder in Go's module cache (downloaded if absent). */
export function kubernetesModuleDir(): string {
  const m = COMPONENTS.kubernetes;
  const dir = join(run('go', ['env', 'GOMODCACHE']).trim(), `${m.module}@${m.version}`);
  if (!existsSync(dir)) run('go', ['mod', 'download', `${m.module}@${m.version}`], IMAGE_CACHE_DIR);
  return dir;
}

/** kubeadm's PauseVersion at the pinned release: the sandbox image tag a provisioned node uses. */
export function pauseVersion(moduleDir = kubernetesModuleDir()): string {
  const constants = readFileSync(join(moduleDir, 'cmd/kubeadm/app/constants/constants.go'), 'utf8');
  const m = /^\s*PauseVersion = "([^"]+)"/m.exec(constants);
  if (!m) throw new Error(`PauseVersion not found in ${moduleDir}/cmd/kubeadm/app/constants/constants.go`);
  return m[1]!;
}

export interface PauseImage {
  /** `registry.k8s.io/pause:<PauseVersion>` */
  readonly name: string;
  readonly archive: string;
  /** Seconds the build took; 0 when the cached archive was used. */
  readonly seconds: number;
}

/** The pause image's OCI archive, built unless cached. Needs root (buildah), gcc and glibc's static libc. */
export function ensurePauseImage(): PauseImage {
  const t0 = Date.now();
  const moduleDir = kubernetesModuleDir();
  const tag = pauseVersion(moduleDir);
  const name = `registry.k8s.io/pause:${tag}`;
  const source = join(moduleDir, 'build/pause/linux/pause.c');
  const key = createHash('sha256')
    .update(readFileSync(source))
    .update(run('gcc', ['--version']))
    .digest('hex')
    .slice(0, 8);
  const archive = join(IMAGE_CACHE_DIR, `pause-${tag}-${KUBERNETES_VERSION}-${key}.oci.tar`);
  if (existsSync(archive)) return { name, archive, seconds: 0 };

  mkdirSync(IMAGE_CACHE_DIR, { recursive: true });
  const work = join(IMAGE_CACHE_DIR, `pause-build-${process.pid}`);
  try {
    mkdirSync(work, { recursive: true });
    const bin = join(work, 'pause');
    // The Makefile's CFLAGS; its REV (git describe of the Kubernetes tree) is the module version here.
    run('gcc', [
      '-Os',
      '-Wall',
      '-Werror',
      '-static',
      `-DVERSION=v${tag}-${KUBERNETES_VERSION}`,
      '-o',
      bin,
      source,
    ]);
    run('strip', [bin]);
    buildScratchImage(
      {
        name,
        archive,
        files: [{ src: bin, dest: '/pause', mode: '0755' }],
        config: [
          '--os',
          'linux',
          '--arch',
          'amd64',
          '--user',
          '65535:65535',
          '--entrypoint',
          '["/pause"]',
          '--created-by',
          'cluster/pause-image.ts (build/pause/linux/pause.c)',
        ],
      },
      work,
    );
    return { name, archive, seconds: (Date.now() - t0) / 1000 };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const p = ensurePauseImage();
  console.log(`${p.name} ${p.archive} (${p.seconds.toFixed(1)} s)`);
}
