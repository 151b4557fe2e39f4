/**
 * The inventory's image fields: OCI archives imported into every node's containerd (air-gapped
 * images), registry mirrors (containerd's hosts.toml) and kubeadm's imageRepository. Checked
 * here, before any host is contacted, with every problem naming the field, the value and what is
 * allowed.
 */
import { existsSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { normalizedName, parseImageRef, REGISTRY_HOST } from './image-ref.ts';

export interface ImagesSpec {
  /** OCI archives for containerd's k8s.io namespace; `name` normalized, `archive` absolute. */
  images: { name: string; archive: string }[];
  /** Registry host (or `_default`) -> mirror endpoints, tried in order before the registry itself. */
  registryMirrors: Record<string, string[]>;
  /** kubeadm ClusterConfiguration imageRepository (control-plane images, pause, CoreDNS). */
  imageRepository?: string;
}

export const IMAGE_KEYS = ['images', 'registryMirrors', 'imageRepository'] as const;

type Bad = (where: string, field: string, value: unknown, allowed: string) => void;
const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** http(s)://host[:port][/path]: no credentials (hosts.toml is world-readable), query or fragment. */
export function mirrorUrlOk(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return false;
  }
  return (
    (u.protocol === 'http:' || u.protocol === 'https:') &&
    !u.username &&
    !u.password &&
    !u.search &&
    !u.hash &&
    REGISTRY_HOST.test(u.host) &&
    /^[A-Za-z0-9._~%+/-]*$/.test(u.pathname) &&
    v === `${u.protocol}//${u.host}${u.pathname === '/' && !v.endsWith('/') ? '' : u.pathname}`
  );
}

export function validateImageFields(c: Record<string, unknown>, baseDir: string, bad: Bad): ImagesSpec {
  const out: ImagesSpec = { images: [], registryMirrors: {} };
  const images = c.images ?? [];
  if (!Array.isArray(images))
    bad('cluster', 'images', images, 'a list of { name, archive } (OCI archives to import into containerd)');
  else
    images.forEach((img, i) => {
      const where = `cluster.images[${i}]`;
      if (!isObj(img)) return bad('cluster', `images[${i}]`, img, 'a mapping with name and archive');
      for (const k of Object.keys(img))
        if (k !== 'name' && k !== 'archive') bad(where, k, img[k], 'name, archive');
      const ref = typeof img.name === 'string' ? parseImageRef(img.name) : null;
      if (!ref || !ref.tag || ref.digest)
        bad(
          where,
          'name',
          img.name,
          'an image reference with a tag and no digest, as the pods name it (registry/repository:tag; without a registry it is docker.io)',
        );
      let archive = '';
      if (typeof img.archive !== 'string' || img.archive === '')
        bad(where, 'archive', img.archive, 'the path of an OCI archive on this machine');
      else {
        archive = isAbsolute(img.archive) ? img.archive : resolve(baseDir, img.archive);
        if (!existsSync(archive) || !statSync(archive).isFile())
          bad(where, 'archive', img.archive, `an existing OCI archive file (${archive} is not one)`);
        else if (!existsSync(`${archive}.sha256`))
          bad(
            where,
            'archive',
            img.archive,
            `an archive with its checksum beside it: ${archive}.sha256 is missing (sha256sum FILE > FILE.sha256)`,
          );
      }
      if (ref) out.images.push({ name: normalizedName(ref), archive });
    });
  const seen = new Set<string>();
  for (const [i, img] of out.images.entries()) {
    if (seen.has(img.name))
      bad(`cluster.images[${i}]`, 'name', img.name, 'a name no other entry has (after adding docker.io/)');
    seen.add(img.name);
  }

  const mirrors = c.registryMirrors ?? {};
  if (!isObj(mirrors))
    bad(
      'cluster',
      'registryMirrors',
      mirrors,
      'a mapping of registry host (or _default) -> list of mirror URLs',
    );
  else
    for (const [registry, urls] of Object.entries(mirrors)) {
      if (registry !== '_default' && !REGISTRY_HOST.test(registry))
        bad(
          'cluster.registryMirrors',
          registry,
          urls,
          'keys are registry hosts like docker.io, registry.k8s.io or registry.site:5000, or _default',
        );
      if (!Array.isArray(urls) || urls.length === 0)
        bad('cluster.registryMirrors', registry, urls, 'a non-empty list of mirror URLs');
      else {
        urls.forEach((u, i) => {
          if (!mirrorUrlOk(u))
            bad(
              'cluster.registryMirrors',
              `${registry}[${i}]`,
              u,
              'an http(s) URL of scheme, host, optional port and path, like https://mirror.site:5000 (no user:password@, query or fragment)',
            );
        });
        out.registryMirrors[registry] = urls as string[];
      }
    }

  if (c.imageRepository !== undefined) {
    const r = c.imageRepository;
    const [host = '', ...path] = typeof r === 'string' ? r.split('/') : [];
    const ok =
      REGISTRY_HOST.test(host) &&
      (/[.:]/.test(host) || host === 'localhost') &&
      path.every((p) => /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/.test(p));
    if (!ok)
      bad(
        'cluster',
        'imageRepository',
        r,
        'a registry host with an optional path and no tag, like registry.site:5000/k8s (kubeadm pulls <imageRepository>/kube-apiserver:<version> from it)',
      );
    else out.imageRepository = r as string;
  }
  return out;
}
