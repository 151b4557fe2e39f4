/**
 * `npm run image`: the server's CPU image as an OCI archive, built without a Docker engine and
 * reproducibly (the same commit and the same cached Debian root give the same digest).
 *
 * server/Dockerfile stays the one description of the image: its runtime stage's COPY lines (the
 * file list), WORKDIR, ENV, USER, EXPOSE and CMD are read here, so the CPU image built and tested
 * on this machine and the CUDA image built with Docker elsewhere cannot drift apart. What differs
 * is the base: a debootstrapped Debian trixie minbase with Debian's own `nodejs` (Node 20), since
 * nvidia/cuda and node:20 cannot be pulled here. buildah commits the assembled root with one
 * timestamp for every file and for the config; the layer's tar is written in sorted order.
 *
 * Prints the manifest digest, then the archive's path on the last line.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  appendFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVER_IMAGE, SERVER_UID } from '../../constructs/contract.ts';
import { buildahStorage, IMAGE_CACHE_DIR } from './buildah.ts';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Git-ignored: the archive and the staged dependencies of each lockfile. */
export const BUILD_DIR = join(ROOT, '.image');
export const ARCHIVE = join(BUILD_DIR, 'server.oci.tar');
/** The name the archive carries (its index's ref.name), the one the constructs deploy by default. */
export const IMAGE_NAME = SERVER_IMAGE;
const MIRROR = process.env.CDK8S_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
// trixie: its nodejs is Node 20 (bookworm's is 18), and taking the whole root from one release keeps
// libnode's libssl, libicu and libuv the ones it was built against.
const SUITE = 'trixie';
const INCLUDE = 'nodejs';

const log = (s: string) => process.stderr.write(`image: ${s}\n`);
const run = (cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...opts });

export interface DockerfileImage {
  workdir: string;
  /** [sources relative to the repository root (globs expanded), destination] of each COPY from the context. */
  copies: [string[], string][];
  env: Record<string, string>;
  user: string;
  exposed: number[];
  cmd: string[];
}

/** The runtime stage of server/Dockerfile: what the image holds and how it starts. */
export function readDockerfile(
  text = readFileSync(join(ROOT, 'server', 'Dockerfile'), 'utf8'),
): DockerfileImage {
  const stage = text.slice(text.lastIndexOf('\nFROM '));
  const image: DockerfileImage = { workdir: '/', copies: [], env: {}, user: '', exposed: [], cmd: [] };
  for (const line of stage.split('\n')) {
    const [op, ...rest] = line.trim().split(/\s+/);
    if (op === 'WORKDIR') image.workdir = rest[0]!;
    // --from=build copies the build stage's node_modules and Node binary: made here by npm ci and
    // Debian's nodejs instead.
    if (op === 'COPY' && !rest[0]!.startsWith('--')) {
      const dest = rest.at(-1)!;
      image.copies.push([rest.slice(0, -1).flatMap(expand), dest]);
    }
    if (op === 'ENV')
      for (const kv of rest) image.env[kv.slice(0, kv.indexOf('='))] = kv.slice(kv.indexOf('=') + 1);
    if (op === 'USER') image.user = rest[0]!;
    if (op === 'EXPOSE') image.exposed.push(...rest.map(Number));
    if (op === 'CMD') image.cmd = JSON.parse(line.trim().slice(4)) as string[];
  }
  return image;
}

/** Dockerfile COPY sources: a path, or `dir/*.ext` (the only glob the Dockerfile uses). */
function expand(source: string): string[] {
  const star = /^(.*)\/\*(\.\w+)$/.exec(source);
  if (!star) return [source];
  return readdirSync(join(ROOT, star[1]!))
    .filter((f) => f.endsWith(star[2]!))
    .sort()
    .map((f) => `${star[1]}/${f}`);
}

function need(tool: string, pkg: string): void {
  try {
    run('sh', ['-c', `command -v ${tool}`]);
  } catch {
    throw new Error(`${tool} not found: apt-get install -y ${pkg}`);
  }
}

/** The Debian root, debootstrapped once (flock: parallel builds wait for one) and kept as a tarball. */
function ensureBase(): string {
  const key = createHash('sha256').update(`${SUITE} ${INCLUDE} ${MIRROR}`).digest('hex').slice(0, 8);
  const tarball = join(IMAGE_CACHE_DIR, `image-${SUITE}-minbase-${key}.tar`);
  if (existsSync(tarball)) return tarball;
  mkdirSync(IMAGE_CACHE_DIR, { recursive: true });
  log(`debootstrapping ${SUITE} into ${tarball} (first build on this machine)`);
  const work = join(IMAGE_CACHE_DIR, `image-build-${process.pid}`);
  try {
    const script = [
      `[ -f ${tarball} ] && exit 0`,
      `debootstrap --variant=minbase --include=${INCLUDE} ${SUITE} ${work}/root ${MIRROR} > ${work}.log 2>&1 || { tail -20 ${work}.log >&2; exit 1; }`,
      // Nothing in the image installs packages: the apt lists and the downloaded .debs are not part of it.
      `rm -rf ${work}/root/var/cache/apt/* ${work}/root/var/lib/apt/lists/*`,
      `tar --sort=name --numeric-owner -C ${work}/root -cf ${tarball}.tmp . && mv ${tarball}.tmp ${tarball}`,
    ].join('\n');
    run('flock', [join(IMAGE_CACHE_DIR, '.build.lock'), 'sh', '-c', script]);
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(`${work}.log`, { force: true });
  }
  return tarball;
}

/**
 * The server's production dependencies, `npm ci --omit=dev --workspace server` as the Dockerfile's
 * build stage runs it, staged once per lockfile. ONNXRUNTIME_NODE_INSTALL=skip: the CPU image needs
 * no CUDA provider download.
 */
function ensureDependencies(): string {
  const inputs = ['package.json', 'package-lock.json', 'server/package.json', 'provision/package.json'];
  const hash = createHash('sha256');
  for (const f of inputs) hash.update(f).update(readFileSync(join(ROOT, f)));
  // Outside the work tree, keyed by the lockfiles: a fresh clone (CI) reuses it.
  const dir = join(IMAGE_CACHE_DIR, `image-deps-${hash.digest('hex').slice(0, 12)}`);
  if (existsSync(join(dir, '.done'))) return join(dir, 'node_modules');
  rmSync(dir, { recursive: true, force: true });
  for (const f of inputs) cpSync(join(ROOT, f), join(dir, f));
  log('npm ci --omit=dev --workspace server');
  run('npm', ['ci', '--omit=dev', '--workspace', 'server', '--no-audit', '--no-fund', '--prefer-offline'], {
    cwd: dir,
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
  });
  // onnxruntime-node ships its binding for every platform; the image is linux/amd64.
  const napi = join(dir, 'node_modules/onnxruntime-node/bin/napi-v6');
  for (const os of readdirSync(napi))
    for (const arch of readdirSync(join(napi, os)))
      if (`${os}/${arch}` !== 'linux/x64') rmSync(join(napi, os, arch), { recursive: true });
  writeFileSync(join(dir, '.done'), '');
  return join(dir, 'node_modules');
}

/** The time every file and the image config carry: SOURCE_DATE_EPOCH, else the commit's. */
function epoch(): number {
  if (process.env.SOURCE_DATE_EPOCH) return Number(process.env.SOURCE_DATE_EPOCH);
  try {
    return Number(run('git', ['log', '-1', '--format=%ct'], { cwd: ROOT }).trim());
  } catch {
    // A source tarball without git: still one fixed time, so still reproducible.
    log('no git commit to date the files by: SOURCE_DATE_EPOCH unset, using 0');
    return 0;
  }
}

/** The digest a registry and containerd name the image by: the manifest's, from the archive's index. */
export function manifestDigest(archive: string): string {
  const index = JSON.parse(run('tar', ['-xOf', archive, 'index.json'])) as {
    manifests: { digest: string }[];
  };
  return index.manifests[0]!.digest;
}

export function buildImage(): { digest: string; archive: string; seconds: number } {
  const t0 = Date.now();
  if (process.getuid?.() !== 0)
    throw new Error('npm run image needs root (buildah, debootstrap, file owners)');
  need('buildah', 'buildah');
  need('debootstrap', 'debootstrap');
  const image = readDockerfile();
  const base = ensureBase();
  const nodeModules = ensureDependencies();
  const time = epoch();

  const work = join(BUILD_DIR, `work-${process.pid}`);
  const rootfs = join(work, 'rootfs');
  const storage = buildahStorage(join(work, 'runroot'));
  let container = '';
  try {
    mkdirSync(rootfs, { recursive: true });
    run('tar', ['-C', rootfs, '--numeric-owner', '-xf', base]);
    // The only files in which two debootstraps of the same packages differ: install logs with their
    // clock and ldconfig's cache of file times. Without them a fresh cache gives the same digest.
    run('find', [join(rootfs, 'var/log'), '-type', 'f', '-delete']);
    rmSync(join(rootfs, 'var/cache/ldconfig/aux-cache'), { force: true });
    const app = join(rootfs, image.workdir);
    for (const [sources, dest] of image.copies) {
      const target = posix.isAbsolute(dest) ? join(rootfs, dest) : join(app, dest);
      for (const source of sources) {
        const to = dest.endsWith('/') ? join(target, basename(source)) : target;
        cpSync(join(ROOT, source), to, { recursive: true });
      }
    }
    cpSync(nodeModules, join(app, 'node_modules'), { recursive: true, verbatimSymlinks: true });
    // The Dockerfile's groupadd/useradd (no shell or useradd can run in the image here).
    const [uid, gid] = image.user.split(':');
    if (uid !== String(SERVER_UID))
      throw new Error(`Dockerfile USER ${image.user} is not SERVER_UID ${SERVER_UID}`);
    appendFileSync(join(rootfs, 'etc/passwd'), `inference:x:${uid}:${gid}::/nonexistent:/usr/sbin/nologin\n`);
    appendFileSync(join(rootfs, 'etc/group'), `inference:x:${gid}:\n`);
    appendFileSync(join(rootfs, 'etc/shadow'), `inference:!:${Math.floor(time / 86400)}::::::\n`);
    // One sorted tar with fixed owners and times: buildah add unpacks it as the image's only layer.
    const layer = join(work, 'rootfs.tar');
    run('tar', [
      '--sort=name',
      '--numeric-owner',
      `--mtime=@${time}`,
      '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
      '-C',
      rootfs,
      '-cf',
      layer,
      '.',
    ]);
    rmSync(rootfs, { recursive: true });

    log('buildah: from scratch, add, config, commit');
    container = run('buildah', [...storage, 'from', '--name', `cgi-image-${process.pid}`, 'scratch']).trim();
    run('buildah', [...storage, 'add', container, layer, '/']);
    const config = ['--os', 'linux', '--arch', 'amd64', '--workingdir', image.workdir, '--user', image.user];
    for (const [k, v] of Object.entries(image.env)) config.push('--env', `${k}=${v}`);
    for (const port of image.exposed) config.push('--port', String(port));
    config.push('--cmd', JSON.stringify(image.cmd), '--created-by', 'npm run image (server/image/build.ts)');
    run('buildah', [...storage, 'config', ...config, container]);
    const layout = join(work, 'layout');
    run('buildah', [
      ...storage,
      'commit',
      '--quiet',
      '--timestamp',
      String(time),
      '--format',
      'oci',
      container,
      `oci:${layout}:${IMAGE_NAME}`,
    ]);
    // buildah's oci-archive carries the build's clock in its tar headers: the layout is archived
    // here in a fixed order and time so that the file, not only the digest, is the same every build.
    // Written beside and renamed: a test or a user reading the previous archive never sees half a file.
    const partial = `${ARCHIVE}.${process.pid}`;
    run('tar', [
      '--sort=name',
      '--numeric-owner',
      '--owner=0',
      '--group=0',
      `--mtime=@${time}`,
      '--format=posix',
      '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
      '-C',
      layout,
      '-cf',
      partial,
      'oci-layout',
      'index.json',
      'blobs',
    ]);
    renameSync(partial, ARCHIVE);
    return {
      digest: manifestDigest(ARCHIVE),
      archive: ARCHIVE,
      seconds: (Date.now() - t0) / 1000,
    };
  } finally {
    if (container) run('buildah', [...storage, 'rm', container]);
    rmSync(work, { recursive: true, force: true });
    rmSync(`${ARCHIVE}.${process.pid}`, { force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const { digest, archive, seconds } = buildImage();
    log(`built in ${seconds.toFixed(1)} s`);
    console.log(digest);
    console.log(archive);
  } catch (e) {
    log((e as Error).message);
    process.exit(1);
  }
}
