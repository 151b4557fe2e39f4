/**
 * Air-gapped images, registry mirrors and imageRepository: the inventory's checks, image reference
 * normalization (the name kubelet asks containerd's CRI for), the import plan against `ctr images
 * ls` output, and where the settings land (config.toml, hosts.toml, kubeadm's ClusterConfiguration).
 * The import itself runs against a real containerd in e2e-containerd.test.ts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { binary } from '../../cluster/build.ts';
import { COMPONENTS } from '../../cluster/components.ts';
import { pauseVersion } from '../../cluster/pause-image.ts';
import { parseCli } from '../../provision/src/cli.ts';
import { normalizedName, parseImageRef } from '../../provision/src/image-ref.ts';
import { InventoryError, validateInventory } from '../../provision/src/inventory.ts';
import {
  parseImagesLs,
  parseOciIndex,
  planImageImport,
  PINNED_LABEL,
  verifiedArchiveSha256,
} from '../../provision/src/ops/images.ts';
import {
  containerdRole,
  hostsToml,
  planContainerdConfig,
  planStaleMirrors,
  withSandboxRepository,
} from '../../provision/src/roles/containerd.ts';
import type { RoleContext } from '../../provision/src/roles/context.ts';
import { kubeadmInitConfig } from '../../provision/src/roles/control-plane.ts';
import { sha256 } from '../../provision/src/shell.ts';

const dir = mkdtempSync(join(tmpdir(), 'cdk8s-images-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'app.oci.tar'), 'archive bytes');
writeFileSync(join(dir, 'app.oci.tar.sha256'), `${sha256('archive bytes')}  app.oci.tar\n`);
writeFileSync(join(dir, 'nosum.oci.tar'), 'x');

const host = { address: '10.0.0.10', role: 'control-plane', ssh: { user: 'root', key: '/k' } };
const problems = (cluster: Record<string, unknown>): string[] => {
  try {
    validateInventory({ cluster, hosts: { cp: host } }, dir);
  } catch (e) {
    if (e instanceof InventoryError) return e.problems;
    throw e;
  }
  return [];
};
const digest = `sha256:${'a'.repeat(64)}`;

describe('image references', () => {
  it('normalizes as distribution/reference does (kubelet looks images up by this name)', () => {
    const n = (r: string) => {
      const p = parseImageRef(r);
      return p ? normalizedName(p) : null;
    };
    expect(n('busybox:1.36')).toBe('docker.io/library/busybox:1.36');
    expect(n('cdk8s-gpu-inference/server:0.1.0')).toBe('docker.io/cdk8s-gpu-inference/server:0.1.0');
    expect(n('registry.k8s.io/pause:3.10.2')).toBe('registry.k8s.io/pause:3.10.2');
    expect(n('localhost/app:1')).toBe('localhost/app:1');
    expect(n('registry.site:5000/a/b:c')).toBe('registry.site:5000/a/b:c');
    expect(n('index.docker.io/x/y:1')).toBe('docker.io/x/y:1');
    expect(n(`app@${digest}`)).toBe(`docker.io/library/app@${digest}`);
    for (const bad of ['app/Case:1', 'a//b:1', 'app:', 'app:-x', 'app@sha256:123', ' app:1', 'a/b:c:d'])
      expect(n(bad), bad).toBeNull();
  });
});

describe('inventory: images, registryMirrors, imageRepository', () => {
  it('accepts them, resolves archives against the inventory file and normalizes names', () => {
    const inv = validateInventory(
      {
        cluster: {
          images: [{ name: 'cdk8s-gpu-inference/server:0.1.0', archive: 'app.oci.tar' }],
          registryMirrors: {
            'docker.io': ['https://mirror.site:5000'],
            _default: ['http://10.0.0.1:5000/v2-cache'],
          },
          imageRepository: 'registry.site:5000/k8s',
        },
        hosts: { cp: host },
      },
      dir,
    );
    expect(inv.cluster.images).toEqual([
      { name: 'docker.io/cdk8s-gpu-inference/server:0.1.0', archive: join(dir, 'app.oci.tar') },
    ]);
    expect(inv.cluster.registryMirrors).toEqual({
      'docker.io': ['https://mirror.site:5000'],
      _default: ['http://10.0.0.1:5000/v2-cache'],
    });
    expect(inv.cluster.imageRepository).toBe('registry.site:5000/k8s');
  });

  it('names the field, the value and what is allowed', () => {
    expect(
      problems({
        images: [
          { name: 'app', archive: 'app.oci.tar' },
          { name: 'app:1', archive: 'missing.tar' },
          { name: 'other:1', archive: 'nosum.oci.tar', sha: 'x' },
          { name: 'docker.io/library/app:1', archive: 'app.oci.tar' },
        ],
      }),
    ).toEqual([
      'cluster.images[0]: field "name" is "app"; allowed: an image reference with a tag and no digest, as the pods name it (registry/repository:tag; without a registry it is docker.io)',
      `cluster.images[1]: field "archive" is "missing.tar"; allowed: an existing OCI archive file (${join(dir, 'missing.tar')} is not one)`,
      'cluster.images[2]: field "sha" is "x"; allowed: name, archive',
      `cluster.images[2]: field "archive" is "nosum.oci.tar"; allowed: an archive with its checksum beside it: ${join(dir, 'nosum.oci.tar')}.sha256 is missing (sha256sum FILE > FILE.sha256)`,
      'cluster.images[3]: field "name" is "docker.io/library/app:1"; allowed: a name no other entry has (after adding docker.io/)',
    ]);
    expect(
      problems({
        registryMirrors: {
          'docker.io': ['https://user:pw@mirror.site'],
          'bad host!': ['https://m'],
          'quay.io': [],
          'ghcr.io': ['ftp://m', 'https://m/?x=1'],
        },
      }),
    ).toEqual([
      'cluster.registryMirrors: field "docker.io[0]" is "https://user:pw@mirror.site"; allowed: an http(s) URL of scheme, host, optional port and path, like https://mirror.site:5000 (no user:password@, query or fragment)',
      'cluster.registryMirrors: field "bad host!" is ["https://m"]; allowed: keys are registry hosts like docker.io, registry.k8s.io or registry.site:5000, or _default',
      'cluster.registryMirrors: field "quay.io" is []; allowed: a non-empty list of mirror URLs',
      'cluster.registryMirrors: field "ghcr.io[0]" is "ftp://m"; allowed: an http(s) URL of scheme, host, optional port and path, like https://mirror.site:5000 (no user:password@, query or fragment)',
      'cluster.registryMirrors: field "ghcr.io[1]" is "https://m/?x=1"; allowed: an http(s) URL of scheme, host, optional port and path, like https://mirror.site:5000 (no user:password@, query or fragment)',
    ]);
    for (const bad of ['k8s', 'registry.site/k8s:1.37', 'registry.site/K8s', 'https://registry.site', 7])
      expect(problems({ imageRepository: bad }), String(bad)).toEqual([
        `cluster: field "imageRepository" is ${JSON.stringify(bad)}; allowed: a registry host with an optional path and no tag, like registry.site:5000/k8s (kubeadm pulls <imageRepository>/kube-apiserver:<version> from it)`,
      ]);
    for (const good of ['registry.site', 'localhost:5000', 'registry.site:5000/mirror/k8s'])
      expect(problems({ imageRepository: good }), good).toEqual([]);
  });
});

describe('image import plan', () => {
  const spec = { name: 'docker.io/org/app:1', archive: '/art/app.oci.tar' };
  const image = { refName: 'org/app:1', digest };
  const ls = (rows: string[]) => ['REF TYPE DIGEST SIZE PLATFORMS LABELS', ...rows].join('\n');

  it('reads ctr images ls rows (SIZE has a space)', () => {
    const out = ls([
      `docker.io/org/app:1 application/vnd.oci.image.manifest.v1+json ${digest} 1.2 KiB linux/amd64 ${PINNED_LABEL}`,
      `docker.io/org/other:1 application/vnd.oci.image.manifest.v1+json ${digest} 3.0 MiB linux/amd64 -`,
    ]);
    expect(parseImagesLs(out, 'docker.io/org/app:1')).toEqual({ digest, labels: [PINNED_LABEL] });
    expect(parseImagesLs(out, 'docker.io/org/other:1')).toEqual({ digest, labels: [] });
    expect(parseImagesLs(out, 'docker.io/org/none:1')).toBeNull();
  });

  it('ok when present at the digest and pinned; only the label when unpinned; else push, verify, import, rename, pin', () => {
    expect(planImageImport(spec, 'f'.repeat(64), image, { digest, labels: [PINNED_LABEL] }, false)).toEqual({
      status: 'ok',
      reason: `docker.io/org/app:1 present at ${digest}, pinned`,
      steps: [],
    });
    expect(planImageImport(spec, 'f'.repeat(64), image, { digest, labels: [] }, false).steps).toEqual([
      { run: `ctr -n k8s.io images label docker.io/org/app:1 ${PINNED_LABEL}` },
    ]);
    const other = `sha256:${'b'.repeat(64)}`;
    const p = planImageImport(spec, 'f'.repeat(64), image, { digest: other, labels: [] }, false);
    expect(p.reason).toBe(`docker.io/org/app:1 is ${other}; the archive has ${digest}`);
    expect(p.steps).toEqual([
      { put: { local: '/art/app.oci.tar', name: 'app.oci.tar' } },
      {
        run:
          `{ printf '%s  %s\\n' ${'f'.repeat(64)} "$CDK8S_STAGE"/app.oci.tar | sha256sum -c --quiet || { echo "checksum mismatch for app.oci.tar" >&2; exit 1; }; } && ` +
          'ctr -n k8s.io images import "$CDK8S_STAGE"/app.oci.tar && ctr -n k8s.io images tag --force org/app:1 docker.io/org/app:1 && ctr -n k8s.io images rm org/app:1 && rm -f "$CDK8S_STAGE"/app.oci.tar',
      },
      { run: `ctr -n k8s.io images label docker.io/org/app:1 ${PINNED_LABEL}` },
    ]);
  });

  it('needs one named manifest in index.json', () => {
    const m = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: 1 };
    expect(
      parseOciIndex(
        JSON.stringify({
          manifests: [{ ...m, annotations: { 'org.opencontainers.image.ref.name': 'org/app:1' } }],
        }),
        'a.tar',
      ),
    ).toEqual(image);
    expect(() => parseOciIndex(JSON.stringify({ manifests: [m, m] }), 'a.tar')).toThrow(
      'a.tar: index.json lists 2 manifests; allowed: exactly one image per archive',
    );
    expect(() =>
      parseOciIndex(
        JSON.stringify({
          manifests: [{ ...m, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }],
        }),
        'a.tar',
      ),
    ).toThrow(
      /a\.tar: its manifest has no image name \(annotation org\.opencontainers\.image\.ref\.name is "latest"\)/,
    );
  });

  it('is tagged images: --tags images selects the imports alone', () => {
    expect(parseCli(['-i', 'h.yaml', '--tags', 'images']).tags).toEqual(['images']);
    const inv = validateInventory(
      { cluster: { images: [{ name: 'org/app:1', archive: 'app.oci.tar' }] }, hosts: { cp: host } },
      dir,
    );
    const ctx = {
      host: inv.hosts[0]!,
      cluster: inv.cluster,
      gpu: false,
      site: {},
      facts: { osVersionId: '12', arch: 'amd64' },
    } as RoleContext;
    expect(
      containerdRole(ctx)
        .filter((t) => t.tags.includes('images'))
        .map((t) => t.name),
    ).toEqual(['image docker.io/org/app:1']);
  });

  it('checks the archive against its .sha256 file on this machine', async () => {
    expect(await verifiedArchiveSha256(join(dir, 'app.oci.tar'))).toBe(sha256('archive bytes'));
    writeFileSync(join(dir, 'bad.tar'), 'other bytes');
    writeFileSync(join(dir, 'bad.tar.sha256'), `${sha256('archive bytes')}  bad.tar\n`);
    await expect(verifiedArchiveSha256(join(dir, 'bad.tar'))).rejects.toThrow(
      `image archive ${join(dir, 'bad.tar')} has sha256 ${sha256('other bytes')}; ${join(dir, 'bad.tar')}.sha256 says ${sha256('archive bytes')}. Nothing was sent`,
    );
  });
});

describe('where mirrors and imageRepository land', () => {
  it('imageRepository moves the sandbox (pause) image to that repository, keeping its tag, in 2.x and 1.x configs', () => {
    const v3 =
      "version = 3\n\n[plugins.'io.containerd.cri.v1.images'.pinned_images]\n  sandbox = 'registry.k8s.io/pause:3.10.2'\n";
    const moved = withSandboxRepository(v3, 2, 'registry.site:5000/k8s');
    expect(moved).toBe(
      'version = 3\n\n[plugins.\'io.containerd.cri.v1.images\'.pinned_images]\n  sandbox = "registry.site:5000/k8s/pause:3.10.2"\n',
    );
    expect(withSandboxRepository(moved, 2, 'registry.site:5000/k8s')).toBe(moved);
    const v2 =
      'version = 2\n\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "registry.k8s.io/pause:3.8"\n';
    expect(withSandboxRepository(v2, 1, 'mirror.site/k8s')).toContain(
      '  sandbox_image = "mirror.site/k8s/pause:3.8"\n',
    );
    const file = { exists: true, content: v3, mode: '0644', owner: 'root', group: 'root' };
    const ver = 'containerd github.com/containerd/containerd/v2 v2.3.4 ';
    const changedLines = (diff = '') => diff.split('\n').filter((l) => /^[+-] /.test(l));
    expect(changedLines(planContainerdConfig(file, ver, null, false).diff).join('\n')).not.toContain('pause');
    expect(
      changedLines(planContainerdConfig(file, ver, null, false, 'registry.site:5000/k8s').diff),
    ).toContain('+  sandbox = "registry.site:5000/k8s/pause:3.10.2"');
  });

  it("the pinned containerd's default sandbox tag is the pinned kubeadm's PauseVersion, so only the repository moves", () => {
    const def = execFileSync(binary(COMPONENTS.containerd, 'containerd'), ['config', 'default'], {
      encoding: 'utf8',
    });
    expect(def).toContain(`sandbox = 'registry.k8s.io/pause:${pauseVersion()}'`);
    expect(withSandboxRepository(def, 2, 'registry.site:5000/k8s')).toContain(
      `sandbox = "registry.site:5000/k8s/pause:${pauseVersion()}"`,
    );
  });

  it('a hosts.toml provisioning wrote for a registry no longer listed is removed, with its folder when empty', () => {
    const own = [
      '/etc/containerd/certs.d/docker.io/hosts.toml',
      '/etc/containerd/certs.d/quay.io/hosts.toml',
    ];
    expect(planStaleMirrors(own, ['docker.io', 'quay.io'])).toMatchObject({ status: 'ok', steps: [] });
    const p = planStaleMirrors(own, ['docker.io']);
    expect(p.status).toBe('changed');
    expect(p.reason).toBe(
      'registry mirrors no longer in cluster.registryMirrors: /etc/containerd/certs.d/quay.io/hosts.toml',
    );
    expect(p.steps).toEqual([
      {
        run: 'rm -f /etc/containerd/certs.d/quay.io/hosts.toml && rmdir --ignore-fail-on-non-empty /etc/containerd/certs.d/quay.io',
      },
    ]);
    expect(planStaleMirrors([], []).status).toBe('ok');
  });

  it('hosts.toml per registry: the mirrors in order, then the registry', () => {
    expect(hostsToml('docker.io', ['https://a:5000', 'http://b'])).toBe(
      '# Written by cdk8s-provision (cluster.registryMirrors): mirrors first, then the server.\n' +
        'server = "https://registry-1.docker.io"\n\n[host."https://a:5000"]\n  capabilities = ["pull", "resolve"]\n\n' +
        '[host."http://b"]\n  capabilities = ["pull", "resolve"]\n',
    );
    expect(hostsToml('_default', ['https://a'])).not.toContain('server =');
  });

  it('config_path in the CRI registry section of config version 3 (2.x) and 2 (1.x), only with mirrors', () => {
    const v2 = "version = 3\n\n[plugins.'io.containerd.cri.v1.images'.registry]\n  config_path = ''\n";
    const file = { exists: true, content: v2, mode: '0644', owner: 'root', group: 'root' };
    const out = (mirrors: boolean, ver = 'containerd github.com/containerd/containerd/v2 v2.3.4 ') =>
      planContainerdConfig(file, ver, null, mirrors)
        .steps.map((s) => ('run' in s ? s.run : ''))
        .join('');
    const decoded = (cmd: string) =>
      Buffer.from(/printf %s '?([A-Za-z0-9+/=]+)/.exec(cmd)![1]!, 'base64').toString();
    expect(decoded(out(true))).toContain(
      '[plugins.\'io.containerd.cri.v1.images\'.registry]\n  config_path = "/etc/containerd/certs.d"\n',
    );
    expect(decoded(out(false))).toContain("config_path = ''");
    expect(decoded(out(true, 'containerd containerd.io 1.7.28 abc'))).toContain(
      '[plugins."io.containerd.grpc.v1.cri".registry]\n  config_path = "/etc/containerd/certs.d"\n',
    );
  });

  it("kubeadm's ClusterConfiguration gets imageRepository when set", () => {
    const inv = validateInventory(
      { cluster: { imageRepository: 'registry.site:5000/k8s' }, hosts: { cp: host } },
      dir,
    );
    const docs = kubeadmInitConfig({ host: inv.hosts[0]!, cluster: inv.cluster, gpu: false })
      .split('---\n')
      .map((d) => parse(d) as Record<string, unknown>);
    expect(docs.find((d) => d.kind === 'ClusterConfiguration')!.imageRepository).toBe(
      'registry.site:5000/k8s',
    );
    const plain = validateInventory({ hosts: { cp: host } }, dir);
    expect(kubeadmInitConfig({ host: plain.hosts[0]!, cluster: plain.cluster, gpu: false })).not.toContain(
      'imageRepository',
    );
  });
});
