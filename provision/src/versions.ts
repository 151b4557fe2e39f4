/**
 * Every upstream version and URL the roles use, pinned in this one place. Override the versions
 * per cluster in the inventory; the defaults move only with a reviewed change here.
 */
import { SERVER_IMAGE_CUDA } from '../../constructs/contract.ts';

/**
 * Kubernetes minor: one pkgs.k8s.io repository per minor (https://kubernetes.io/blog/2023/08/15/pkgs-k8s-io-introduction/).
 * 1.37.0 was released 2026-08-26 (https://kubernetes.io/releases/1.37/); 1.34 reached end of life 2026-10-27.
 */
export const KUBERNETES_MINOR = '1.37';
/** "Kubernetes 1.35 is the last release supporting containerd 1.x" (https://kubernetes.io/blog/2025/12/17/kubernetes-v1-35-release/). */
export const LAST_MINOR_WITH_CONTAINERD_1 = 35;
/** https://kubernetes.io/docs/setup/production-environment/tools/kubeadm/install-kubeadm/#installing-kubeadm-kubelet-and-kubectl */
export const k8sRepo = (minor: string): { keyUrl: string; source: string } => ({
  keyUrl: `https://pkgs.k8s.io/core:/stable:/v${minor}/deb/Release.key`,
  source: `https://pkgs.k8s.io/core:/stable:/v${minor}/deb/ /`,
});

/**
 * containerd 2.x from the official release tarball, with runc and the CNI plugins, as in
 * https://github.com/containerd/containerd/blob/main/docs/getting-started.md (Option 1). Debian's
 * own package is 1.4 on bullseye, 1.6 on bookworm, 1.7 on trixie, and Kubernetes after 1.35 needs
 * containerd 2, so the default is the release: 2.3, the LTS line ("Users prioritizing stability [...]
 * should stay on the 2.3 LTS release", https://github.com/containerd/containerd/pull/14169), at
 * v2.3.4 (https://github.com/containerd/containerd/pull/13942)
 */
export const CONTAINERD_VERSION = '2.3.4';
/**
 * runc 1.3.6 (2026-06-15), the 1.3 patch with the fix for CVE-2026-41579 and the v1.3.0 exec hang
 * regression: https://github.com/opencontainers/runc/releases/tag/v1.3.6 (as Docker took it,
 * https://github.com/moby/moby/pull/52883).
 */
export const RUNC_VERSION = '1.3.6';
/**
 * 1.9.1 (2026-03): https://github.com/containernetworking/plugins/releases/tag/v1.9.1; 1.9.0 fixed
 * GHSA-jv3w-x3r3-g6rm (https://github.com/containernetworking/plugins/security/advisories/GHSA-jv3w-x3r3-g6rm).
 */
export const CNI_PLUGINS_VERSION = '1.9.1';

/**
 * The dynamic containerd 2.2/2.3 build needs glibc >= 2.35 ("Which file should I download?" in the
 * release notes): Debian 11 has 2.31, so it gets the static build; 12 (2.36) and 13 the dynamic one.
 */
export const containerdRelease = (v: string, arch: string, staticBuild: boolean) => {
  const base = `https://github.com/containerd/containerd/releases/download/v${v}/containerd-${staticBuild ? 'static-' : ''}${v}-linux-${arch}.tar.gz`;
  return { url: base, sha256Url: `${base}.sha256sum` };
};
export const runcRelease = (v: string, arch: string) => ({
  url: `https://github.com/opencontainers/runc/releases/download/v${v}/runc.${arch}`,
  sha256Url: `https://github.com/opencontainers/runc/releases/download/v${v}/runc.sha256sum`,
});
export const cniRelease = (v: string, arch: string) => {
  const base = `https://github.com/containernetworking/plugins/releases/download/v${v}/cni-plugins-linux-${arch}-v${v}.tgz`;
  return { url: base, sha256Url: `${base}.sha256` };
};

/** https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html#with-apt-ubuntu-debian */
export const NVIDIA_CONTAINER_TOOLKIT_REPO = {
  keyUrl: 'https://nvidia.github.io/libnvidia-container/gpgkey',
  source: 'https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /',
};

/**
 * NVIDIA's CUDA repository for Debian: the cuda-keyring package installs the key and the source
 * (https://docs.nvidia.com/cuda/cuda-installation-guide-linux/#debian), one directory per Debian release.
 */
export const cudaRepo = (debianMajor: string) => {
  const base = `https://developer.download.nvidia.com/compute/cuda/repos/debian${debianMajor}/x86_64`;
  // No checksum file sits next to the .deb: its SHA256 comes from the repository's own index (the
  // flat repository's Packages, the listing apt itself checks packages against).
  return { base, keyringDeb: `${base}/cuda-keyring_1.1-1_all.deb`, packagesIndex: `${base}/Packages` };
};

/** https://docs.tigera.io/calico/latest/getting-started/kubernetes/self-managed-onprem/onpremises */
export const CALICO_VERSION = '3.30.3';
export const calicoManifests = (v: string) => ({
  operator: `https://raw.githubusercontent.com/projectcalico/calico/v${v}/manifests/tigera-operator.yaml`,
});

/** kubeadm config API for Kubernetes >= 1.31 (https://kubernetes.io/docs/reference/config-api/kubeadm-config.v1beta4/). */
export const KUBEADM_API = 'kubeadm.k8s.io/v1beta4';

/**
 * The oldest NVIDIA driver (Linux x86_64) that runs applications of each CUDA major release, from
 * NVIDIA's support matrix: CUDA 12.x runs on >= 525.60.13 through minor version compatibility
 * (https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html, table "CUDA
 * Toolkit 11.x, 12.x, and 13.x": 12.x >= 525; the exact version in the CUDA Toolkit release notes,
 * "CUDA Toolkit and Corresponding Driver Versions", minimum for minor version compatibility), with
 * the limits that page lists (no PTX JIT of newer PTX: onnxruntime's CUDA provider ships SASS for
 * the data-centre GPUs). Full CUDA 12.8 Update 1 needs >= 570.124.06 (same table). CUDA 13.x: >= 580.65.06.
 */
export const CUDA_MINIMUM_DRIVER: Readonly<Record<string, string>> = {
  '12': '525.60.13',
  '13': '580.65.06',
};

/** Compare NVIDIA driver versions (535.261.03 < 550.163.01), numerically per dotted part. */
export function compareDriverVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/** The minimum driver of an image built on CUDA `cuda` (e.g. "12.8.1"). */
export function cudaMinimumDriver(cuda: string): string {
  const major = cuda.split('.')[0]!;
  const min = CUDA_MINIMUM_DRIVER[major];
  if (!min)
    throw new Error(
      `no minimum NVIDIA driver known for CUDA ${cuda}; known: CUDA ${Object.keys(CUDA_MINIMUM_DRIVER).join(', ')}`,
    );
  return min;
}

/**
 * The server image's CUDA (server/Dockerfile's base, SERVER_IMAGE_CUDA) and the driver it needs on
 * every GPU node: the nvidia role checks the installed driver against it.
 */
export const IMAGE_CUDA = SERVER_IMAGE_CUDA;
export const IMAGE_MINIMUM_DRIVER = cudaMinimumDriver(IMAGE_CUDA);

/**
 * Debian's own non-free `nvidia-driver` per release (`apt-cache madison nvidia-driver` against
 * deb.debian.org, 2026-12; https://wiki.debian.org/NvidiaGraphicsDrivers): bullseye's 470 branch is
 * older than CUDA 12 allows (bullseye-security carries 535.309.01 for Debian LTS, but the role adds
 * only the release's own non-free component); bookworm's 535 and trixie's 550 run the CUDA 12.8
 * image through minor version compatibility (>= 525.60.13; below 570, the 12.8 driver).
 */
export const DEBIAN_NVIDIA_DRIVER: Readonly<Record<string, string>> = {
  '11': '470.256.02',
  '12': '535.261.03',
  '13': '550.163.01',
};

/**
 * `nvidiaDriver: auto`: Debian's driver where it fits the image, else NVIDIA's CUDA repository
 * (cuda-drivers, a current branch): so "cuda" on Debian 11, "debian" on 12 and 13.
 */
export function defaultDriverSource(debianVersionId: string): 'debian' | 'cuda' {
  const debian = DEBIAN_NVIDIA_DRIVER[debianVersionId];
  return debian && compareDriverVersions(debian, IMAGE_MINIMUM_DRIVER) >= 0 ? 'debian' : 'cuda';
}
