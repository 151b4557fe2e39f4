/**
 * Container image references and registry names as containerd's CRI plugin reads them, after
 * github.com/distribution/reference (reference.go, normalize.go): a name without a registry is
 * Docker Hub's (`docker.io/`), a one-component Docker Hub name is an official image (`library/`).
 * kubelet asks the CRI for the normalized name, so an image imported under any other name is not
 * found and is pulled instead.
 */

const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
/** A registry host: DNS name or IPv4 address, optional port (no IPv6 literal). */
export const REGISTRY_HOST = new RegExp(`^${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})*(?::[0-9]{1,5})?$`);
const PATH = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

export interface ImageRef {
  /** registry host, e.g. docker.io, registry.k8s.io, localhost:5000 */
  domain: string;
  /** repository path inside the registry, e.g. library/busybox */
  path: string;
  tag?: string;
  digest?: string;
}

/** distribution/reference's splitDockerDomain: the first component is a registry when it looks like one. */
function splitDomain(name: string): [string, string] {
  const i = name.indexOf('/');
  const first = name.slice(0, i);
  if (i < 0 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first))
    return ['docker.io', name];
  return [first, name.slice(i + 1)];
}

/** Parses `name[:tag][@digest]`; null when it is not a valid reference. */
export function parseImageRef(ref: string): ImageRef | null {
  if (ref.length > 255 + 128 + 72) return null;
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) return null;
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) return null;
  }
  let [domain, path] = splitDomain(rest);
  if (!REGISTRY_HOST.test(domain) || !PATH.test(path) || path.length > 255) return null;
  if (domain === 'index.docker.io') domain = 'docker.io';
  if (domain === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  return { domain, path, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** The full name containerd's CRI plugin stores and kubelet looks up: docker.io/library/busybox:1.36. */
export function normalizedName(r: ImageRef): string {
  return `${r.domain}/${r.path}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}
