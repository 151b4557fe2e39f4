/**
 * What every image built here shares: the cache folder outside the work tree (the server image,
 * the pause and control-plane images, the tests' one-file images; `CDK8S_IMAGE_CACHE` moves it)
 * and buildah's storage flags.
 */
import { execFileSync } from 'node:child_process';
import { renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const IMAGE_CACHE_DIR = process.env.CDK8S_IMAGE_CACHE ?? '/var/cache/cdk8s-gpu-inference';

/**
 * buildah's global flags: one storage under the cache, shared by all builds (vfs: no overlay
 * mount needed), and a runroot of the build's own.
 */
export const buildahStorage = (runroot: string): string[] => [
  '--root',
  join(IMAGE_CACHE_DIR, 'buildah', 'storage'),
  '--runroot',
  runroot,
  '--storage-driver',
  'vfs',
];

/** An image of a few files FROM scratch (the pause and control-plane images). */
export interface ScratchImage {
  /** The name written into the archive. */
  readonly name: string;
  /** The OCI archive to write. */
  readonly archive: string;
  /** Files of this machine and where they go in the image, with `buildah add --chmod` when given. */
  readonly files: readonly { readonly src: string; readonly dest: string; readonly mode?: string }[];
  /** `buildah config` flags (os, arch, user, entrypoint, created-by). */
  readonly config: readonly string[];
}

/**
 * Builds a ScratchImage with buildah (runroot under `work`) and commits it with timestamp 0, so the
 * same files give the same digest. The archive is written under a temporary name and renamed, so a
 * cached archive is never a partial one.
 */
export function buildScratchImage(img: ScratchImage, work: string): void {
  const storage = buildahStorage(join(work, 'runroot'));
  const buildah = (...args: string[]): string =>
    execFileSync('buildah', [...storage, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const partial = `${img.archive}.${process.pid}`;
  let container = '';
  try {
    container = buildah('from', '--name', `cgi-scratch-${process.pid}`, 'scratch').trim();
    for (const f of img.files)
      buildah('add', ...(f.mode ? ['--chmod', f.mode] : []), container, f.src, f.dest);
    buildah('config', ...img.config, container);
    buildah(
      'commit',
      '--quiet',
      '--timestamp',
      '0',
      '--format',
      'oci',
      container,
      `oci-archive:${partial}:${img.name}`,
    );
    renameSync(partial, img.archive);
  } finally {
    if (container) buildah('rm', container);
    rmSync(partial, { force: true });
  }
}
