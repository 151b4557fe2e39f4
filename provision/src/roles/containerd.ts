import { systemdEnvironment } from '../config-quote.ts';
import { packagesTask } from '../ops/apt.ts';
import { commandTask } from '../ops/command.ts';
import { downloadTask } from '../ops/download.ts';
import { imageImportTask } from '../ops/images.ts';
import { fileTask, planFile } from '../ops/file.ts';
import { serviceTask, restartSteps } from '../ops/service.ts';
import { fileFact } from '../facts.ts';
import { changed, ok, type Handler, type Plan, type Task } from '../types.ts';
import { q } from '../shell.ts';
import { cniRelease, containerdRelease, runcRelease } from '../versions.ts';
import type { RoleContext } from './context.ts';
import type { FileFact } from '../facts.ts';

const R = 'containerd';
export const CONTAINERD_CONFIG = '/etc/containerd/config.toml';

/**
 * Where runc's cgroup driver lives: config version 2 (containerd 1.x) vs version 3 (2.x), per
 * https://github.com/containerd/containerd/blob/main/docs/cri/config.md and
 * https://kubernetes.io/docs/setup/production-environment/container-runtimes/#containerd-systemd
 */
export const runcOptionsSection = (major: number): string =>
  major >= 2
    ? `[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]`
    : `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]`;

/** Where the CRI plugin reads registry hosts (hosts.toml per registry) when cluster.registryMirrors is set. */
export const REGISTRY_CONFIG_PATH = '/etc/containerd/certs.d';

/** config_path's section: config version 2 (containerd 1.x) vs 3 (2.x), per docs/hosts.md. */
export const registrySection = (major: number): string =>
  major >= 2
    ? `[plugins.'io.containerd.cri.v1.images'.registry]`
    : `[plugins."io.containerd.grpc.v1.cri".registry]`;

/** Where config.toml names the pod sandbox (pause) image: config version 3 (2.x), version 2 (1.x). */
const sandboxKey = (major: number): { header: string; key: string } =>
  major >= 2
    ? { header: `[plugins.'io.containerd.cri.v1.images'.pinned_images]`, key: 'sandbox' }
    : { header: `[plugins."io.containerd.grpc.v1.cri"]`, key: 'sandbox_image' };

/**
 * With cluster.imageRepository, the sandbox image comes from that repository as kubeadm's images do
 * (kubeadm writes imageRepository only into the control plane's configuration; every node's
 * containerd starts the pause container): the tag stays the one containerd's configuration names,
 * which for the pinned containerd is kubeadm's own (a test ties the two).
 */
export function withSandboxRepository(toml: string, major: number, imageRepository: string): string {
  const { header, key } = sandboxKey(major);
  const lines = toml.split('\n');
  const at = lines.findIndex((l) => l.trim() === header);
  let current: string | undefined;
  for (let i = at + 1; at >= 0 && i < lines.length && !lines[i]!.trim().startsWith('['); i++) {
    const m = new RegExp(`^\\s*${key}\\s*=\\s*['"]([^'"]+)['"]`).exec(lines[i]!);
    if (m) current = m[1];
  }
  const tag = current && /:([^:/]+)$/.exec(current)?.[1];
  if (!tag) return toml;
  return withTomlKey(toml, header, key, `"${imageRepository}/pause:${tag}"`);
}

/** Sets `key = value` (a TOML literal) in `header`'s table, adding the key or the table if missing. */
export function withTomlKey(toml: string, header: string, key: string, value: string): string {
  const out = toml.replace(/\n$/, '').split('\n');
  const at = out.findIndex((l) => l.trim() === header);
  if (at < 0) return out.join('\n') + `\n\n${header}\n  ${key} = ${value}\n`;
  const indent = /^\s*/.exec(out[at]!)![0] + '  ';
  const keyLine = new RegExp(`^\\s*${key}\\s*=`);
  for (let i = at + 1; i < out.length && !out[i]!.trim().startsWith('['); i++)
    if (keyLine.test(out[i]!)) {
      out[i] = out[i]!.replace(/=.*$/, `= ${value}`);
      return out.join('\n') + '\n';
    }
  out.splice(at + 1, 0, `${indent}${key} = ${value}`);
  return out.join('\n') + '\n';
}

/** Docker Hub's registry API host: hosts.toml's `server` for docker.io (docs/hosts.md). */
const registryServer = (registry: string): string =>
  registry === 'docker.io' ? 'https://registry-1.docker.io' : `https://${registry}`;

/** The first line of every hosts.toml provisioning writes: how it later knows which ones are its own. */
const MIRRORS_MARKER = '# Written by cdk8s-provision (cluster.registryMirrors)';

/** /etc/containerd/certs.d/<registry>/hosts.toml: the mirrors in order, then the registry itself. */
export function hostsToml(registry: string, mirrors: string[]): string {
  const server = registry === '_default' ? '' : `server = "${registryServer(registry)}"\n`;
  return (
    `${MIRRORS_MARKER}: mirrors first, then the server.\n${server}` +
    mirrors.map((m) => `\n[host."${m}"]\n  capabilities = ["pull", "resolve"]\n`).join('')
  );
}

/** Lists the hosts.toml files under certs.d that provisioning wrote (their first line is its marker). */
export const ownMirrorFilesCommand = `for f in ${REGISTRY_CONFIG_PATH}/*/hosts.toml; do [ -f "$f" ] && head -n1 "$f" | grep -qF '${MIRRORS_MARKER}' && echo "$f"; done; true`;

/**
 * Mirrors removed from the inventory: provisioning's own hosts.toml for a registry no longer listed
 * is deleted (with its folder when empty), so containerd stops using the mirror. Files it did not
 * write are left alone.
 */
export function planStaleMirrors(ownFiles: string[], registries: string[]): Plan {
  const stale = ownFiles.filter(
    (f) => !registries.some((r) => f === `${REGISTRY_CONFIG_PATH}/${r}/hosts.toml`),
  );
  if (stale.length === 0) return ok('no hosts.toml left from a removed registry mirror');
  return changed(
    `registry mirrors no longer in cluster.registryMirrors: ${stale.join(', ')}`,
    stale.map((f) => ({
      run: `rm -f ${q(f)} && rmdir --ignore-fail-on-non-empty ${q(f.replace(/\/hosts\.toml$/, ''))}`,
    })),
    { diff: stale.map((f) => `--- ${f}\n+++ /dev/null\n`).join('') },
  );
}

/** "containerd github.com/containerd/containerd v2.1.4 <sha>" or Debian's "... 1.4.13~ds1 1.4.13~ds1-1~deb11u4" -> [major, minor]. */
export function containerdVersion(versionOutput: string): [number, number] | null {
  const m = /containerd\S*\s+\S+\s+v?(\d+)\.(\d+)/.exec(versionOutput.trim());
  return m ? [Number(m[1]), Number(m[2])] : null;
}

export const containerdMajor = (versionOutput: string): number | null =>
  containerdVersion(versionOutput)?.[0] ?? null;

/**
 * kubelet and containerd must agree on the systemd cgroup driver: set SystemdCgroup = true in the
 * runc options of this containerd's config version, and re-enable the CRI plugin if a packaged
 * config disabled it (containerd.io ships disabled_plugins = ["cri"]). Everything else is kept,
 * so edits by nvidia-ctk survive.
 */
export function withSystemdCgroup(toml: string, major: number): string {
  const header = runcOptionsSection(major);
  const lines = toml.replace(/\n$/, '').split('\n');
  const out = lines.map((l) =>
    /^\s*disabled_plugins\s*=/.test(l)
      ? l.replace(/"(io\.containerd\.grpc\.v1\.)?cri"\s*,?\s*/g, '').replace(/,\s*\]/, ']')
      : l,
  );
  const at = out.findIndex((l) => l.trim() === header);
  if (at < 0) return out.join('\n') + `\n\n${header}\n  SystemdCgroup = true\n`;
  const indent = /^\s*/.exec(out[at]!)![0] + '  ';
  for (let i = at + 1; i < out.length && !out[i]!.trim().startsWith('['); i++) {
    if (/^\s*SystemdCgroup\s*=/.test(out[i]!)) {
      out[i] = out[i]!.replace(/=.*$/, '= true');
      return out.join('\n') + '\n';
    }
  }
  out.splice(at + 1, 0, `${indent}SystemdCgroup = true`);
  return out.join('\n') + '\n';
}

/** The config task: edit the file in place, or start from `containerd config default` when there is none. */
export function planContainerdConfig(
  actual: FileFact,
  versionOutput: string | null,
  defaultConfig: string | null,
  registryMirrors = false,
  imageRepository?: string,
): Plan {
  const major = versionOutput ? containerdMajor(versionOutput) : null;
  if (major === null || (!actual.exists && defaultConfig === null))
    return changed(
      'containerd not installed yet: config.toml comes from `containerd config default` with SystemdCgroup = true',
      [
        {
          run: `mkdir -p /etc/containerd && containerd config default > ${CONTAINERD_CONFIG} # then SystemdCgroup = true`,
        },
      ],
      { notify: ['restart containerd'] },
    );
  const base = actual.exists ? actual.content : defaultConfig!;
  const cgroup = withSystemdCgroup(base, major);
  const mirrored = registryMirrors
    ? withTomlKey(cgroup, registrySection(major), 'config_path', `"${REGISTRY_CONFIG_PATH}"`)
    : cgroup;
  const content = imageRepository ? withSandboxRepository(mirrored, major, imageRepository) : mirrored;
  return planFile({ path: CONTAINERD_CONFIG, content, notify: ['restart containerd'] }, actual);
}

/** systemd unit of the release tarball install, as upstream's containerd.service (https://github.com/containerd/containerd/blob/main/containerd.service). */
export const CONTAINERD_UNIT = `[Unit]
Description=containerd container runtime
Documentation=https://containerd.io
After=network.target dbus.service

[Service]
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/local/bin/containerd
Type=notify
Delegate=yes
KillMode=process
Restart=always
RestartSec=5
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
OOMScoreAdjust=-999

[Install]
WantedBy=multi-user.target
`;

/** Image pulls go through the site proxy; cluster-internal traffic must not. */
export function proxyDropIn(proxy: string, noProxy: string[]): string {
  const np = [...new Set(['localhost', '127.0.0.1', '.svc', '.cluster.local', ...noProxy])].join(',');
  const env: [string, string][] = [
    ['HTTP_PROXY', proxy],
    ['HTTPS_PROXY', proxy],
    ['NO_PROXY', np],
  ];
  return `[Service]\n${env.map(([k, v]) => systemdEnvironment(k, v) + '\n').join('')}`;
}

export function containerdRole(ctx: RoleContext): Task[] {
  const { containerd } = ctx.cluster;
  const arch = ctx.facts.arch === 'arm64' ? 'arm64' : 'amd64';
  const tasks: Task[] = [];
  if (containerd.source === 'debian') {
    tasks.push(packagesTask(R, 'containerd (Debian package)', { names: ['containerd', 'runc'] }));
  } else {
    const v = containerd.version;
    const staticBuild = ctx.facts.osVersionId === '11';
    const tarball = `/usr/local/src/cdk8s-provision/containerd-${staticBuild ? 'static-' : ''}${v}-linux-${arch}.tar.gz`;
    const cni = `/usr/local/src/cdk8s-provision/cni-plugins-linux-${arch}-v${containerd.cniPluginsVersion}.tgz`;
    tasks.push(
      downloadTask(
        R,
        `download containerd ${v}`,
        { dest: tarball, ...containerdRelease(v, arch, staticBuild) },
        ctx.site,
      ),
      commandTask(R, `unpack containerd ${v}`, {
        run: `tar -C /usr/local -xzf ${tarball}`,
        unless: `/usr/local/bin/containerd --version | grep -qF ' v${v} '`,
        notify: ['restart containerd'],
      }),
      downloadTask(
        R,
        `runc ${containerd.runcVersion}`,
        { dest: '/usr/local/sbin/runc', mode: '0755', ...runcRelease(containerd.runcVersion, arch) },
        ctx.site,
      ),
      downloadTask(
        R,
        `download CNI plugins ${containerd.cniPluginsVersion}`,
        { dest: cni, ...cniRelease(containerd.cniPluginsVersion, arch) },
        ctx.site,
      ),
      commandTask(R, `unpack CNI plugins ${containerd.cniPluginsVersion}`, {
        run: `mkdir -p /opt/cni/bin && tar -C /opt/cni/bin -xzf ${cni} && touch /opt/cni/bin/.cdk8s-provision-v${containerd.cniPluginsVersion}`,
        creates: `/opt/cni/bin/.cdk8s-provision-v${containerd.cniPluginsVersion}`,
      }),
      fileTask(R, 'containerd.service', {
        path: '/usr/local/lib/systemd/system/containerd.service',
        content: CONTAINERD_UNIT,
        notify: ['restart containerd'],
      }),
    );
  }
  if (ctx.host.proxy)
    tasks.push(
      fileTask(R, 'containerd proxy drop-in', {
        path: '/etc/systemd/system/containerd.service.d/http-proxy.conf',
        content: proxyDropIn(ctx.host.proxy, [
          ctx.cluster.podCidr,
          ctx.cluster.serviceCidr,
          ctx.host.address,
          ctx.controlPlane.address,
          ...ctx.cluster.noProxy,
        ]),
        notify: ['restart containerd'],
      }),
    );
  tasks.push(
    {
      role: R,
      name: 'config.toml SystemdCgroup',
      tags: [],
      plan: async (c) => {
        const actual = await fileFact(c.facts, CONTAINERD_CONFIG);
        const ver = await c.facts.read('containerd --version');
        const def =
          actual.exists || ver.code !== 0 ? null : (await c.facts.read('containerd config default')).stdout;
        return planContainerdConfig(
          actual,
          ver.code === 0 ? ver.stdout : null,
          def,
          Object.keys(ctx.cluster.registryMirrors).length > 0,
          ctx.cluster.imageRepository,
        );
      },
    },
    // Read at each pull, so no restart.
    ...Object.entries(ctx.cluster.registryMirrors).map(([registry, mirrors]) =>
      fileTask(R, `registry mirrors ${registry}`, {
        path: `${REGISTRY_CONFIG_PATH}/${registry}/hosts.toml`,
        content: hostsToml(registry, mirrors),
      }),
    ),
    {
      role: R,
      name: 'registry mirrors removed',
      tags: [],
      plan: async (c) => {
        const listed = (await c.facts.read(ownMirrorFilesCommand)).stdout;
        return planStaleMirrors(
          listed.split('\n').filter((l) => l !== ''),
          Object.keys(ctx.cluster.registryMirrors),
        );
      },
    },
    serviceTask(R, { name: 'containerd' }),
    ...ctx.cluster.images.map((img) => imageImportTask(R, img, ['images'])),
  );
  return tasks;
}

export const containerdHandlers: Handler[] = [
  { name: 'restart containerd', steps: restartSteps('containerd') },
];
