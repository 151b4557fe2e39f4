/**
 * Packs containerd, runc and the CNI plugins built from the Go module proxy (cluster/components.ts,
 * `npm run cluster:build -- containerd runc cniPlugins`) as the air-gapped artifacts provisioning's
 * containerd role reads (`cluster.artifactsDir`): the file names are the last segments of the
 * upstream release URLs (provision/src/versions.ts), each with the checksum file the role checks it
 * against, in the release tarballs' layouts (containerd: bin/<binary>; CNI plugins: the plugins at
 * the top). Tarballs are reproducible (sorted, mtime 0, owner 0, gzip without a name or time).
 *
 *   npm run provision:containerd-artifacts -- DIR
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { arch as nodeArch } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { artifactName } from '../provision/src/ops/site.ts';
import {
  CNI_PLUGINS_VERSION,
  CONTAINERD_VERSION,
  RUNC_VERSION,
  cniRelease,
  containerdRelease,
  runcRelease,
} from '../provision/src/versions.ts';
import { binary, binaryNames } from './build.ts';
import { COMPONENTS } from './components.ts';

/** Go's name for this machine's architecture, the only one the components are built for. */
export const HOST_ARCH = nodeArch() === 'x64' ? 'amd64' : nodeArch();

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

/** A .tar.gz of `files` (names relative to `root`), byte for byte the same for the same inputs. */
function reproducibleTarGz(root: string, files: string[], out: string): void {
  // gzip's default level, as upstream's release tarballs; -n: no name or time in the header.
  execFileSync(
    'bash',
    [
      '-c',
      'set -o pipefail; out=$1; shift; tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - "$@" | gzip -n > "$out"',
      'bash',
      out,
      ...files,
    ],
    { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] },
  );
}

export interface PackedArtifact {
  /** File name in the artifacts directory. */
  name: string;
  sha256: string;
  /** Its checksum file, in the format of upstream's (sha256sum's `HASH  NAME`). */
  checksumFile: string;
}

/**
 * Writes the artifacts into `dir` (created if needed) for `arch` and returns what it wrote. The
 * containerd build is static (components.ts), so the same tarball is written under both names the
 * role asks for: the static one (Debian 11) and the dynamic one (Debian 12, 13).
 */
export function packContainerdArtifacts(dir: string, arch = HOST_ARCH): PackedArtifact[] {
  if (arch !== HOST_ARCH)
    throw new Error(
      `air-gapped containerd artifacts for ${arch}: the components are built for this machine only (${HOST_ARCH})`,
    );
  mkdirSync(dir, { recursive: true });
  const stage = mkdtempSync(join(dir, '.stage-'));
  const out: PackedArtifact[] = [];
  const add = (url: string, sha256Url: string, file: string) => {
    const name = artifactName(url);
    const dest = join(dir, name);
    copyFileSync(file, dest);
    const hash = sha256(dest);
    const checksumFile = artifactName(sha256Url);
    // runc.sha256sum lists every architecture upstream; one line per artifact written here.
    writeFileSync(join(dir, checksumFile), `${hash}  ${name}\n`);
    out.push({ name, sha256: hash, checksumFile });
  };
  try {
    const ctd = COMPONENTS.containerd;
    mkdirSync(join(stage, 'containerd/bin'), { recursive: true });
    for (const b of binaryNames(ctd)) copyFileSync(binary(ctd, b), join(stage, 'containerd/bin', b));
    reproducibleTarGz(join(stage, 'containerd'), ['bin'], join(stage, 'containerd.tar.gz'));
    for (const staticBuild of [true, false]) {
      const rel = containerdRelease(CONTAINERD_VERSION, arch, staticBuild);
      add(rel.url, rel.sha256Url, join(stage, 'containerd.tar.gz'));
    }

    const runc = runcRelease(RUNC_VERSION, arch);
    add(runc.url, runc.sha256Url, binary(COMPONENTS.runc, 'runc'));
    chmodSync(join(dir, artifactName(runc.url)), 0o755);

    const cni = COMPONENTS.cniPlugins;
    mkdirSync(join(stage, 'cni'));
    const plugins = binaryNames(cni);
    for (const b of plugins) copyFileSync(binary(cni, b), join(stage, 'cni', b));
    reproducibleTarGz(
      join(stage, 'cni'),
      plugins.map((p) => `./${p}`),
      join(stage, 'cni.tgz'),
    );
    const cniRel = cniRelease(CNI_PLUGINS_VERSION, arch);
    add(cniRel.url, cniRel.sha256Url, join(stage, 'cni.tgz'));
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [dir, ...rest] = process.argv.slice(2);
  if (!dir || rest.length) {
    console.error(
      `usage: npm run provision:containerd-artifacts -- DIR (got ${process.argv.slice(2).join(' ')})`,
    );
    process.exit(2);
  }
  for (const a of packContainerdArtifacts(resolve(dir)))
    console.log(`${a.sha256}  ${a.name} (checksum in ${a.checksumFile})`);
  console.log(`artifacts in ${resolve(dir)}; point cluster.artifactsDir at it (${basename(resolve(dir))})`);
}
