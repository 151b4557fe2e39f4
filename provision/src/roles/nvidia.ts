import { aptGet, aptUpdateCommand, packagesTask, repoTask } from '../ops/apt.ts';
import { downloadTask } from '../ops/download.ts';
import { artifactName } from '../ops/site.ts';
import { commandTask } from '../ops/command.ts';
import { fileTask } from '../ops/file.ts';
import { driverOfPackageVersion, nvidiaModuleFact, packagesFact } from '../facts.ts';
import type { ClusterSpec } from '../inventory.ts';
import { changed, ok, skipped, type Handler, type HostFacts, type Plan, type Task } from '../types.ts';
import {
  compareDriverVersions,
  cudaRepo,
  DEBIAN_NVIDIA_DRIVER,
  defaultDriverSource,
  IMAGE_CUDA,
  IMAGE_MINIMUM_DRIVER,
  NVIDIA_CONTAINER_TOOLKIT_REPO,
} from '../versions.ts';
import type { RoleContext } from './context.ts';

const R = 'nvidia';

/**
 * Debian's driver needs contrib + non-free (and non-free-firmware from bookworm on):
 * https://wiki.debian.org/NvidiaGraphicsDrivers (bullseye: 470 series, bookworm: 535, trixie: 550).
 */
export function nonFreeSource(mirror: string, codename: string, versionId: string): string {
  return `${mirror} ${codename} contrib non-free${Number(versionId) >= 12 ? ' non-free-firmware' : ''}`;
}

/** nouveau claims the GPU before nvidia can: https://wiki.debian.org/NvidiaGraphicsDrivers#Configuration */
export const NOUVEAU_BLACKLIST = 'blacklist nouveau\noptions nouveau modeset=0\n';

export type DriverSource = 'debian' | 'cuda' | 'none';

/** The driver source for this host: `auto` picks per Debian release (defaultDriverSource). */
export function driverSource(setting: ClusterSpec['nvidiaDriver'], f: HostFacts): DriverSource {
  return setting === 'auto' ? defaultDriverSource(f.osVersionId) : setting;
}

/** The package whose version is the driver the role installed. */
const DRIVER_PACKAGE: Record<Exclude<DriverSource, 'none'>, string> = {
  debian: 'nvidia-driver',
  cuda: 'cuda-drivers',
};

const IMAGE = `the minimum of the server image (CUDA ${IMAGE_CUDA})`;

/**
 * Refuse, before any driver change, a Debian driver older than the image needs: on Debian 11
 * nvidia-driver would install 470, and the pods would hold GPU slices and compute on CPU.
 */
export function planDriverSource(setting: ClusterSpec['nvidiaDriver'], f: HostFacts): Plan {
  const source = driverSource(setting, f);
  const release = `Debian ${f.osVersionId} (${f.osCodename})`;
  if (source === 'none')
    return ok(`nvidiaDriver none: the installed driver must be >= ${IMAGE_MINIMUM_DRIVER}`);
  if (source === 'cuda')
    return ok(
      `NVIDIA's CUDA repository (cuda-drivers) for ${release}${setting === 'auto' ? ", the default: Debian's nvidia-driver " + (DEBIAN_NVIDIA_DRIVER[f.osVersionId] ?? '(none)') + ` is older than ${IMAGE_MINIMUM_DRIVER}, ${IMAGE}` : ''}`,
    );
  const debian = DEBIAN_NVIDIA_DRIVER[f.osVersionId];
  if (!debian || compareDriverVersions(debian, IMAGE_MINIMUM_DRIVER) < 0)
    throw new Error(
      `cluster.nvidiaDriver is "debian": ${release}'s nvidia-driver is ${debian ?? 'unknown'}, older than ${IMAGE_MINIMUM_DRIVER}, ${IMAGE}; allowed on this host: "auto" or "cuda" (NVIDIA's CUDA repository), or "none" with a driver >= ${IMAGE_MINIMUM_DRIVER} installed`,
    );
  return ok(`Debian's nvidia-driver ${debian} for ${release}, >= ${IMAGE_MINIMUM_DRIVER} (${IMAGE})`);
}

/**
 * The installed driver against the image's minimum. `loaded` is the kernel module containers get
 * (/proc/driver/nvidia/version); `installed` the version of the package the role installs (null:
 * not installed, or nvidiaDriver none). A driver installed but not loaded yet needs the reboot.
 */
export function planDriverFits(
  source: DriverSource,
  loaded: string | null,
  installed: string | null,
  check: boolean,
): Plan {
  const min = IMAGE_MINIMUM_DRIVER;
  const fits = (v: string) => compareDriverVersions(v, min) >= 0;
  const pkg = source === 'none' ? null : DRIVER_PACKAGE[source];
  if (installed !== null && !fits(installed))
    throw new Error(
      `installed NVIDIA driver ${installed} (${pkg}) is older than ${min}, ${IMAGE}: upgrade it, or set cluster.nvidiaDriver to "cuda" (NVIDIA's CUDA repository)`,
    );
  if (loaded !== null && fits(loaded)) return ok(`NVIDIA driver ${loaded} loaded, >= ${min} (${IMAGE})`);
  if (installed !== null)
    return changed(
      `NVIDIA driver ${installed} installed, >= ${min}; ${loaded === null ? 'no module loaded' : `${loaded} still loaded`} until the reboot`,
      [],
      { notify: ['reboot'] },
    );
  if (loaded !== null)
    throw new Error(`loaded NVIDIA driver ${loaded} is older than ${min}, ${IMAGE}: install a newer driver`);
  if (check)
    return skipped(
      `check mode: no NVIDIA driver installed yet${pkg ? ` (the driver task installs ${pkg})` : ''}; it must be >= ${min}`,
    );
  throw new Error(
    `no NVIDIA driver installed or loaded; ${IMAGE} needs >= ${min}${source === 'none' ? ' (cluster.nvidiaDriver is "none": install one)' : ''}`,
  );
}

export function nvidiaRole(ctx: RoleContext): Task[] {
  const { facts, cluster, site } = ctx;
  const tasks: Task[] = [];
  const headers = `linux-headers-${facts.arch === 'arm64' ? 'arm64' : 'amd64'}`;
  const source = driverSource(cluster.nvidiaDriver, facts);
  tasks.push({
    role: R,
    name: 'driver source fits the server image',
    tags: [],
    plan: async (c) => planDriverSource(cluster.nvidiaDriver, c.host),
  });
  if (source !== 'none') {
    tasks.push(
      repoTask(
        R,
        {
          name: 'debian-non-free',
          keyUrl: null,
          source: nonFreeSource(cluster.aptMirror, facts.osCodename, facts.osVersionId),
        },
        site,
      ),
      fileTask(R, 'blacklist nouveau', {
        path: '/etc/modprobe.d/blacklist-nouveau.conf',
        content: NOUVEAU_BLACKLIST,
        notify: ['update initramfs', 'reboot'],
      }),
    );
    if (source === 'debian') {
      tasks.push(
        packagesTask(R, 'driver (Debian nvidia-driver)', {
          names: [headers, 'nvidia-driver', 'firmware-misc-nonfree'],
        }),
      );
    } else {
      // The cuda-keyring package installs NVIDIA's key and source list: https://docs.nvidia.com/cuda/cuda-installation-guide-linux/#network-repo-installation-for-debian
      const repo = cudaRepo(facts.osVersionId);
      const deb = `/usr/local/src/cdk8s-provision/${artifactName(repo.keyringDeb)}`;
      tasks.push(
        downloadTask(
          R,
          'download cuda-keyring',
          { url: repo.keyringDeb, dest: deb, sha256Url: repo.packagesIndex },
          site,
        ),
        commandTask(R, 'CUDA repository (cuda-keyring)', {
          // apt-get, not dpkg -i, installs the local .deb: it waits for a held dpkg lock as every other
          // package task does (cluster.aptLockTimeout); the update waits for the lists' lock likewise.
          run: `${aptGet(cluster.aptLockTimeout)} install ${deb} && ${aptUpdateCommand(cluster.aptLockTimeout)}`,
          creates: '/usr/share/keyrings/cuda-archive-keyring.gpg',
        }),
        packagesTask(R, 'driver (CUDA cuda-drivers)', { names: [headers, 'cuda-drivers'] }),
      );
    }
    // Any driver install or upgrade needs the new kernel module loaded: reboot (if allowed).
    const driverTask = tasks[tasks.length - 1]!;
    tasks[tasks.length - 1] = {
      ...driverTask,
      plan: async (c) => {
        const p = await driverTask.plan(c);
        return { ...p, notify: [...(p.notify ?? []), 'reboot'] };
      },
    };
  }
  tasks.push(
    repoTask(R, { name: 'nvidia-container-toolkit', ...NVIDIA_CONTAINER_TOOLKIT_REPO }, site),
    packagesTask(R, 'nvidia-container-toolkit', { names: ['nvidia-container-toolkit'] }),
    // Adds the "nvidia" runtime (RuntimeClass nvidia in the constructs) to containerd's config:
    // https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html#configuring-containerd-for-kubernetes
    commandTask(R, 'nvidia-ctk runtime configure', {
      run: 'nvidia-ctk runtime configure --runtime=containerd',
      unless: 'grep -rqs "nvidia-container-runtime" /etc/containerd/',
      notify: ['restart containerd'],
    }),
    {
      role: R,
      name: 'driver fits the server image',
      tags: [],
      plan: async (c) => {
        const pkg = source === 'none' ? null : DRIVER_PACKAGE[source];
        const version = pkg ? (await packagesFact(c.facts, [pkg]))[pkg]!.version : null;
        return planDriverFits(
          source,
          await nvidiaModuleFact(c.facts),
          version === null ? null : driverOfPackageVersion(version),
          c.check,
        );
      },
    },
  );
  return tasks;
}

export const nvidiaHandlers: Handler[] = [
  { name: 'update initramfs', steps: [{ run: 'update-initramfs -u' }] },
  { name: 'reboot', steps: [{ run: 'systemctl reboot' }], reboot: true },
];
