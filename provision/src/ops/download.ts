import { existsSync, readFileSync } from 'node:fs';
import { sha256Fact } from '../facts.ts';
import { curl, q } from '../shell.ts';
import { changed, ok, STAGE, type Plan, type Task, type FactReader } from '../types.ts';
import { artifactName, type Site } from './site.ts';

export interface DownloadSpec {
  url: string;
  dest: string;
  /** Expected SHA-256 (hex). Either this or sha256Url. */
  sha256?: string;
  /** Upstream checksum file ("HASH  name" lines, as sha256sum prints); the line for the URL's file is used. */
  sha256Url?: string;
  /** @default "0644" */
  mode?: string;
  notify?: string[];
}

/**
 * Pick the checksum for `file` out of a sha256sum-style listing, a bare hash, or an apt
 * `Packages` index (the stanza whose Filename ends in the file, its SHA256 field).
 */
export function parseChecksum(listing: string, file: string): string | null {
  for (const stanza of listing.split(/\n\s*\n/)) {
    const name = /^Filename:\s*(\S+)$/m.exec(stanza)?.[1];
    const hash = /^SHA256:\s*([0-9a-f]{64})$/im.exec(stanza)?.[1];
    if (name && hash && name.split('/').pop() === file) return hash.toLowerCase();
  }
  for (const line of listing.split('\n')) {
    const [hash, name] = line.trim().split(/\s+\*?/);
    if (hash && /^[0-9a-f]{64}$/i.test(hash) && (name === undefined || name.replace(/^\*/, '') === file))
      return hash.toLowerCase();
  }
  return null;
}

export function planDownload(spec: DownloadSpec, site: Site, expected: string, actual: string | null): Plan {
  const mode = spec.mode ?? '0644';
  if (actual === expected) return ok(`${spec.dest} has sha256 ${expected.slice(0, 12)}…`);
  const reason =
    actual === null
      ? `${spec.dest} missing`
      : `${spec.dest} sha256 ${actual.slice(0, 12)}… != ${expected.slice(0, 12)}…`;
  const verifyInstall = (src: string) =>
    `{ printf '%s  %s\\n' ${expected} ${src} | sha256sum -c --quiet || { rm -f ${src}; echo "checksum mismatch for ${spec.url}" >&2; exit 1; }; } && ` +
    // install copies in place; copy next to the destination, then rename (atomic on one filesystem).
    `install -D -m ${mode} ${src} ${q(`${spec.dest}.cdk8s-new`)} && mv -f ${q(`${spec.dest}.cdk8s-new`)} ${q(spec.dest)} && rm -f ${src}`;
  if (site.artifactsDir) {
    const name = artifactName(spec.url);
    return changed(
      reason,
      [
        { put: { local: `${site.artifactsDir}/${name}`, name } },
        { run: verifyInstall(`${STAGE}/${q(name)}`) },
      ],
      { notify: spec.notify },
    );
  }
  return changed(
    reason,
    [{ run: `tmp=$(mktemp) && ${curl(spec.url, site.proxy, '"$tmp"')} && ${verifyInstall('"$tmp"')}` }],
    {
      notify: spec.notify,
    },
  );
}

/** The expected checksum: pinned, from the artifacts directory, or from upstream's checksum file (read-only fetch). */
export async function expectedChecksum(spec: DownloadSpec, site: Site, r: FactReader): Promise<string> {
  if (spec.sha256) return spec.sha256.toLowerCase();
  const file = artifactName(spec.url);
  if (!spec.sha256Url) throw new Error(`download ${spec.url}: neither sha256 nor sha256Url given`);
  let listing: string;
  if (site.artifactsDir) {
    const local = `${site.artifactsDir}/${artifactName(spec.sha256Url)}`;
    if (!existsSync(local))
      throw new Error(`air-gapped: checksum file ${local} is missing from the artifacts directory`);
    listing = readFileSync(local, 'utf8');
  } else {
    const res = await r.read(curl(spec.sha256Url, site.proxy, '-'));
    if (res.code !== 0) throw new Error(`cannot fetch checksum ${spec.sha256Url}: ${res.stderr.trim()}`);
    listing = res.stdout;
  }
  const hash = parseChecksum(listing, file);
  if (!hash) throw new Error(`no sha256 for ${file} in ${spec.sha256Url}`);
  return hash;
}

export function downloadTask(
  role: string,
  name: string,
  spec: DownloadSpec,
  site: Site,
  tags: string[] = [],
): Task {
  return {
    role,
    name,
    tags,
    plan: async (ctx) =>
      planDownload(
        spec,
        site,
        await expectedChecksum(spec, site, ctx.facts),
        await sha256Fact(ctx.facts, spec.dest),
      ),
  };
}
