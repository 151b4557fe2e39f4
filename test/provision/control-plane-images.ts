/**
 * kubeadm's control-plane images (etcd, kube-apiserver, kube-controller-manager, kube-scheduler),
 * built here since no registry can be reached: each is ONE binary this repository already builds
 * from the pinned modules (cluster/components.ts), with the glibc files it links against (they are
 * built with cgo against this machine's glibc, Debian 12's, as the booted host's is), committed
 * FROM scratch with buildah under the name kubeadm of the pinned release puts in its static pod
 * manifests. Not the upstream images (those are distroless with more files), but the same binaries
 * and the same names: kubeadm's manifests run `command: [<binary>, ...]`, found on the image's PATH.
 *
 * OCI archives are cached per name and binary hash: /var/cache/cdk8s-gpu-inference/cp-<name>-<tag>-<key>.oci.tar.
 * Needs root (buildah).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { binary } from '../../cluster/build.ts';
import { COMPONENTS, KUBERNETES_VERSION } from '../../cluster/components.ts';
import { buildScratchImage, IMAGE_CACHE_DIR } from '../../server/image/buildah.ts';

const run = (cmd: string, args: readonly string[]): string =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

export interface BuiltImage {
  readonly name: string;
  readonly archive: string;
  /** Seconds the build took; 0 when the cached archive was used. */
  readonly seconds: number;
}

/** The shared objects `ldd` resolves for a binary, the dynamic loader included (absolute paths). */
function sharedObjects(bin: string): string[] {
  return [...run('ldd', [bin]).matchAll(/(\/\S+) \(0x/g)].map((m) => m[1]!);
}

function buildOne(name: string, bin: string): BuiltImage {
  const t0 = Date.now();
  const libs = sharedObjects(bin);
  const hash = createHash('sha256').update(readFileSync(bin));
  for (const l of libs) hash.update(l).update(readFileSync(l));
  const key = hash.digest('hex').slice(0, 8);
  const base = name.split('/').at(-1)!.replace(':', '-');
  const archive = join(IMAGE_CACHE_DIR, `cp-${base}-${key}.oci.tar`);
  if (existsSync(archive)) return { name, archive, seconds: 0 };

  mkdirSync(IMAGE_CACHE_DIR, { recursive: true });
  const work = join(IMAGE_CACHE_DIR, `cp-build-${process.pid}`);
  const exe = bin.split('/').at(-1)!;
  try {
    mkdirSync(work, { recursive: true });
    buildScratchImage(
      {
        name,
        archive,
        files: [
          { src: bin, dest: `/usr/local/bin/${exe}`, mode: '0755' },
          ...libs.map((l) => ({ src: l, dest: l })),
        ],
        config: [
          '--os',
          'linux',
          '--arch',
          'amd64',
          '--env',
          'PATH=/usr/local/bin:/usr/bin:/bin',
          '--entrypoint',
          JSON.stringify([`/usr/local/bin/${exe}`]),
          '--created-by',
          `test/provision/control-plane-images.ts (${exe})`,
        ],
      },
      work,
    );
    return { name, archive, seconds: (Date.now() - t0) / 1000 };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The images `kubeadm config images list` names for etcd and the three control-plane components
 * (`images`: that list), built unless cached. Throws when the list names an etcd tag other than the
 * pinned etcd's, since the image would then carry another version than its name says.
 */
export function ensureControlPlaneImages(images: readonly string[]): BuiltImage[] {
  const k8s = COMPONENTS.kubernetes;
  const wanted: [string, string][] = [
    ['etcd', binary(COMPONENTS.etcd, 'etcd')],
    ['kube-apiserver', binary(k8s, 'kube-apiserver')],
    ['kube-controller-manager', binary(k8s, 'kube-controller-manager')],
    ['kube-scheduler', binary(k8s, 'kube-scheduler')],
  ];
  return wanted.map(([component, bin]) => {
    const name = images.find((i) => i.startsWith(`registry.k8s.io/${component}:`));
    if (!name) throw new Error(`kubeadm's image list names no ${component} image: ${images.join(', ')}`);
    const tag = name.split(':')[1]!;
    const expected =
      component === 'etcd' ? `${COMPONENTS.etcd.version.replace(/^v/, '')}-0` : KUBERNETES_VERSION;
    if (tag !== expected)
      throw new Error(
        `kubeadm wants ${name}, but the pinned ${component} is ${expected}: rebuild with matching pins`,
      );
    return buildOne(name, bin);
  });
}
