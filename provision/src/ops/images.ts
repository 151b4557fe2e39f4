/**
 * Air-gapped images: an OCI archive (an OCI image layout in a tar, as `npm run image` or
 * `buildah push ... oci-archive:` write it) imported into containerd's `k8s.io` namespace, the one
 * the CRI plugin and so kubelet read, under the normalized name kubelet asks for, and pinned
 * (`io.cri-containerd.pinned=pinned`: kubelet's image garbage collection never removes it, which
 * an air-gapped node could not pull back).
 *
 * Idempotent: nothing is pushed or imported when `ctr -n k8s.io images ls` already shows the name
 * at the archive's manifest digest. The archive's SHA-256 is checked against its `.sha256` file on
 * this machine before anything is sent, and again on the host before the import.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { q } from '../shell.ts';
import { changed, ok, STAGE, type Plan, type Step, type Task } from '../types.ts';
import { parseChecksum } from './download.ts';

export const CTR = 'ctr -n k8s.io';
export const PINNED_LABEL = 'io.cri-containerd.pinned=pinned';

export interface ImageArchiveSpec {
  /** The normalized name kubelet asks the CRI for (image-ref.ts), e.g. docker.io/org/app:1.0. */
  name: string;
  /** Absolute path of the OCI archive on this machine; its checksum is in `${archive}.sha256`. */
  archive: string;
  /** The snapshotter the import unpacks into (the CRI plugin's). @default containerd's default */
  snapshotter?: string;
}

/** What the archive holds: the name ctr gives its image and the manifest digest that image points at. */
export interface ArchiveImage {
  /** The index.json annotation: io.containerd.image.name, else org.opencontainers.image.ref.name. */
  refName: string;
  digest: string;
}

/** index.json of an OCI image layout with exactly one named manifest. */
export function parseOciIndex(indexJson: string, archive: string): ArchiveImage {
  const index = JSON.parse(indexJson) as {
    manifests?: { digest?: string; annotations?: Record<string, string> }[];
  };
  const ms = index.manifests ?? [];
  if (ms.length !== 1)
    throw new Error(
      `${archive}: index.json lists ${ms.length} manifests; allowed: exactly one image per archive`,
    );
  const m = ms[0]!;
  const refName =
    m.annotations?.['io.containerd.image.name'] ?? m.annotations?.['org.opencontainers.image.ref.name'];
  // ctr names a tag-only reference "import-<date>:<tag>"; only a full name is predictable.
  if (!refName || !/[/:@]/.test(refName))
    throw new Error(
      `${archive}: its manifest has no image name (annotation org.opencontainers.image.ref.name is ${JSON.stringify(refName ?? null)}); allowed: a full name like registry/repo:tag (buildah push IMAGE oci-archive:FILE:NAME)`,
    );
  if (!m.digest || !/^sha256:[a-f0-9]{64}$/.test(m.digest))
    throw new Error(`${archive}: manifest digest ${JSON.stringify(m.digest)} is not a sha256 digest`);
  return { refName, digest: m.digest };
}

export interface ImageRow {
  digest: string;
  labels: string[];
}

/**
 * `ctr images ls` output (REF TYPE DIGEST SIZE PLATFORMS LABELS; SIZE holds a space, so REF, TYPE
 * and DIGEST are the first three fields and LABELS the last): the row of `name`, or null.
 */
export function parseImagesLs(stdout: string, name: string): ImageRow | null {
  for (const line of stdout.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f[0] !== name || f.length < 4) continue;
    const labels = f.at(-1)!;
    return { digest: f[2]!, labels: labels === '-' ? [] : labels.split(',') };
  }
  return null;
}

export function planImageImport(
  spec: ImageArchiveSpec,
  sha256: string,
  image: ArchiveImage,
  row: ImageRow | null,
  containerdMissing: boolean,
): Plan {
  const label: Step = { run: `${CTR} images label ${q(spec.name)} ${PINNED_LABEL}` };
  if (row?.digest === image.digest) {
    if (row.labels.includes(PINNED_LABEL)) return ok(`${spec.name} present at ${image.digest}, pinned`);
    return changed(`${spec.name} present at ${image.digest}, not pinned`, [label]);
  }
  const file = `${STAGE}/${q(basename(spec.archive))}`;
  const snapshotter = spec.snapshotter ? ` --snapshotter ${q(spec.snapshotter)}` : '';
  const rename =
    image.refName === spec.name
      ? ''
      : ` && ${CTR} images tag --force ${q(image.refName)} ${q(spec.name)} && ${CTR} images rm ${q(image.refName)}`;
  const reason = containerdMissing
    ? `containerd not installed yet: ${spec.name} would be imported from ${spec.archive}`
    : row
      ? `${spec.name} is ${row.digest}; the archive has ${image.digest}`
      : `${spec.name} not in containerd's k8s.io namespace`;
  return changed(reason, [
    { put: { local: spec.archive, name: basename(spec.archive) } },
    {
      run:
        `{ printf '%s  %s\\n' ${sha256} ${file} | sha256sum -c --quiet || { echo "checksum mismatch for ${basename(spec.archive)}" >&2; exit 1; }; } && ` +
        `${CTR} images import${snapshotter} ${file}${rename} && rm -f ${file}`,
    },
    label,
  ]);
}

async function fileSha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** The archive's checksum from its `.sha256` file, verified against the archive here. */
export async function verifiedArchiveSha256(archive: string): Promise<string> {
  const sumFile = `${archive}.sha256`;
  let listing: string;
  try {
    listing = readFileSync(sumFile, 'utf8');
  } catch (e) {
    throw new Error(
      `image archive ${archive}: cannot read its checksum file ${sumFile}: ${(e as Error).message}`,
      { cause: e },
    );
  }
  const want = parseChecksum(listing, basename(archive));
  if (!want) throw new Error(`${sumFile}: no sha256 for ${basename(archive)}`);
  const actual = await fileSha256(archive);
  if (actual !== want)
    throw new Error(
      `image archive ${archive} has sha256 ${actual}; ${sumFile} says ${want}. Nothing was sent`,
    );
  return want;
}

export function imageImportTask(role: string, spec: ImageArchiveSpec, tags: string[] = []): Task {
  return {
    role,
    name: `image ${spec.name}`,
    tags,
    plan: async (ctx) => {
      const sha256 = await verifiedArchiveSha256(spec.archive);
      const image = parseOciIndex(
        execFileSync('tar', ['-xOf', spec.archive, 'index.json'], { encoding: 'utf8' }),
        spec.archive,
      );
      const ls = await ctx.facts.read(`${CTR} images ls name==${q(spec.name)}`);
      // Before the containerd role's first real run there is no ctr (check mode on a fresh host).
      const missing = ls.code === 127 || (ls.code !== 0 && ctx.check);
      if (ls.code !== 0 && !missing)
        throw new Error(`${CTR} images ls failed (exit ${ls.code}): ${(ls.stderr || ls.stdout).trim()}`);
      return planImageImport(
        spec,
        sha256,
        image,
        missing ? null : parseImagesLs(ls.stdout, spec.name),
        missing,
      );
    },
  };
}
