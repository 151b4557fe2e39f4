/**
 * Container image references as the kubelet and containerd parse them (the grammar of
 * github.com/distribution/reference, reference.go): checked at synth so a mistyped image or
 * registry fails `npm run synth` with the value, instead of a pod stuck in InvalidImageName.
 */
import { SERVER_IMAGE_PATH } from './contract.ts';
import { ValidationError, validator, type Validator } from './validate.ts';

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
/** host[:port]: a DNS name or IPv4 address, or a bracketed IPv6 address. */
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]+)?`;
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const PATH = `${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const REFERENCE = new RegExp(`^((?:${DOMAIN}/)?${PATH})(?::${TAG})?(?:@${DIGEST})?$`);
const REGISTRY = new RegExp(`^${DOMAIN}(?:/${PATH})?$`);
/** distribution/reference's NameTotalLengthMax. */
const NAME_MAX = 255;

const ALLOWED_IMAGE =
  '[registry[:port]/]path[:tag][@sha256:digest], lower-case path components (e.g. registry.example.com:5000/team/server:0.1.0)';

/** A valid image reference, else a ValidationError naming `field`, the value and the grammar. */
export function imageReference(field: string, value: string, v: Validator = validator()): string {
  const m = REFERENCE.exec(value);
  if (!m || m[1]!.length > NAME_MAX)
    throw v.error(
      `${field} must be a container image reference ${ALLOWED_IMAGE}, got ${JSON.stringify(value)}`,
    );
  return value;
}

/**
 * The server image in a registry of yours: `<registry>/cdk8s-gpu-inference/server:<version>`, where
 * `skopeo copy oci-archive:.image/server.oci.tar docker://<that>` puts `npm run image`'s build.
 * `registry` is host[:port] with an optional path (`registry.example.com:5000/team`).
 */
export function serverImageIn(field: string, registry: string): string {
  const r = registry.replace(/\/+$/, '');
  // The kubelet reads a first component as a registry only with a '.' or ':' in it, or `localhost`:
  // anything else (`myregistry/team`) would silently mean docker.io/myregistry/team.
  const host = r.split('/')[0]!;
  if (!REGISTRY.test(r) || !(/[.:]/.test(host) || host === 'localhost'))
    throw new ValidationError(
      `${field} must be a registry host[:port][/path] (e.g. registry.example.com:5000 or registry.example.com/team), got ${JSON.stringify(registry)}`,
    );
  return imageReference(field, `${r}/${SERVER_IMAGE_PATH}`);
}
