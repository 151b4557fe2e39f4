import { packagesTask, repoTask } from '../ops/apt.ts';
import { downloadTask } from '../ops/download.ts';
import { artifactName } from '../ops/site.ts';
import { commandTask } from '../ops/command.ts';
import { fileTask } from '../ops/file.ts';
import type { Handler, Task } from '../types.ts';
import { cudaRepo, NVIDIA_CONTAINER_TOOLKIT_REPO } from '../versions.ts';
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

export function nvidiaRole(ctx: RoleContext): Task[] {
  const { facts, cluster, site } = ctx;
  const tasks: Task[] = [];
  const headers = `linux-headers-${facts.arch === 'arm64' ? 'arm64' : 'amd64'}`;
  if (cluster.nvidiaDriver !== 'none') {
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
    if (cluster.nvidiaDriver === 'debian') {
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
          run: `dpkg -i ${deb} && apt-get update -q --error-on=any`,
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
  );
  return tasks;
}

export const nvidiaHandlers: Handler[] = [
  { name: 'update initramfs', steps: [{ run: 'update-initramfs -u' }] },
  { name: 'reboot', steps: [{ run: 'systemctl reboot' }], reboot: true },
];
