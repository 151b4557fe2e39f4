/**
 * What every image built here shares: the cache folder outside the work tree (the server image,
 * the pause and control-plane images, the tests' one-file images; `CDK8S_IMAGE_CACHE` moves it)
 * and buildah's storage flags.
 */
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
