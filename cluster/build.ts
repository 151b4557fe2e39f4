/**
 * Builds the pinned components (cluster/components.ts) from the Go module proxy into a cache outside
 * the work tree, keyed by module, version and Go version, with a SHA256SUMS file per build.
 * A build whose binaries are present and match their checksums is not rebuilt. The Go module and
 * build caches are Go's own (`go env GOMODCACHE GOCACHE`), outside the work tree too.
 *
 *   npm run cluster:build [-- name...]
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { COMPONENTS, type ComponentName, type GoComponent } from './components.ts';

/** Where built components live: `$CDK8S_GPU_INFERENCE_CACHE`, else `~/.cache/cdk8s-gpu-inference`. */
export const CACHE_DIR =
  process.env.CDK8S_GPU_INFERENCE_CACHE ??
  join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'cdk8s-gpu-inference');

let goVersion: string | undefined;
function go(): string {
  goVersion ??= execFileSync('go', ['env', 'GOVERSION'], { encoding: 'utf8' }).trim();
  return goVersion;
}

/** The folder holding one component's binaries and SHA256SUMS (keyed by its linker settings, tags and cgo too). */
export function binDir(c: GoComponent): string {
  // Only what a component sets enters the key, so the folders of those without tags or cgo keep their names.
  const key =
    (c.ldflags ?? []).join(' ') +
    (c.tags?.length ? ` tags=${c.tags.join(',')}` : '') +
    (c.cgo === undefined ? '' : ` cgo=${c.cgo}`);
  const flags = key ? `-${createHash('sha256').update(key.trimStart()).digest('hex').slice(0, 8)}` : '';
  return join(CACHE_DIR, 'bin', `${c.name}@${c.version}-${go()}${flags}`);
}

export function binaryNames(c: GoComponent): string[] {
  return c.binaries ? [...c.binaries] : c.packages.map((p) => basename(p));
}

/** Everything SHA256SUMS covers: the binaries and the module files kept beside them (module paths). */
function artifactNames(c: GoComponent): string[] {
  return [...binaryNames(c), ...(c.files ?? [])];
}

/** A file of the module kept with the binaries (GoComponent.files), by its path in the module. */
export function moduleFile(c: GoComponent, path: string): string {
  if (!(c.files ?? []).includes(path))
    throw new Error(`${c.name} keeps no file ${path} (components.ts files)`);
  const problem = verify(c);
  if (problem) throw new Error(problem);
  return join(binDir(c), path);
}

function sha256(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/**
 * Checks one component's binaries against the SHA256SUMS written when they were built; returns the
 * problem in words, or undefined when they match.
 */
export function verify(c: GoComponent): string | undefined {
  const dir = binDir(c);
  const sums = join(dir, 'SHA256SUMS');
  if (!existsSync(sums)) return `${c.name} ${c.version} is not built (no ${sums}); run npm run cluster:build`;
  const want = new Map(
    readFileSync(sums, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/).reverse() as [string, string]),
  );
  for (const name of artifactNames(c)) {
    const file = join(dir, name);
    if (!existsSync(file)) return `${c.name}: ${file} is missing; run npm run cluster:build`;
    if (want.get(name) !== sha256(file))
      return `${c.name}: ${file} does not match its checksum in ${sums}; delete ${dir} and run npm run cluster:build`;
  }
  return undefined;
}

/** Path of a built binary, after checking it against its checksum. */
export function binary(c: GoComponent, name: string): string {
  const problem = verify(c);
  if (problem) throw new Error(problem);
  return join(binDir(c), name);
}

/**
 * The replace directives a module needs when it is built as a dependency: its own go.mod's
 * replacements, with each local path (`=> ./staging/...`, `=> ../api`) pointed at a release.
 */
function replaces(goModText: string, localVersion: string): string[] {
  const block = /^replace\s*\(([\s\S]*?)^\)/m.exec(goModText)?.[1] ?? '';
  const single = [...goModText.matchAll(/^replace\s+([^(\s].*)$/gm)].map((m) => m[1]!);
  const lines = [...block.split('\n'), ...single].map((l) => l.replace(/\/\/.*$/, '').trim()).filter(Boolean);
  return lines.map((l) => {
    const [from, to] = l.split('=>').map((s) => s.trim()) as [string, string];
    const fromModule = from.split(/\s+/)[0]!;
    return to.startsWith('.') ? `${fromModule} => ${fromModule} ${localVersion}` : `${from} => ${to}`;
  });
}

function run(cmd: string, args: string[], cwd: string, env?: Record<string, string>): string {
  return execFileSync(cmd, args, {
    cwd,
    ...(env ? { env: { ...process.env, ...env } } : {}),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 1 << 26,
  });
}

/** Builds one component unless its verified binaries are cached; returns what it did. */
export function build(c: GoComponent): string {
  if (!verify(c)) return `${c.name} ${c.version}: cached in ${binDir(c)}`;
  const started = Date.now();
  const work = join(CACHE_DIR, 'modules', `${c.name}@${c.version}`);
  mkdirSync(work, { recursive: true });
  const info = JSON.parse(run('go', ['mod', 'download', '-json', `${c.module}@${c.version}`], work)) as {
    GoMod: string;
    Dir: string;
  };
  const upstream = readFileSync(info.GoMod, 'utf8');
  const goLine = /^go\s+(\S+)/m.exec(upstream)?.[1] ?? go().replace(/^go/, '');
  const replace = replaces(upstream, c.localReplaceVersion ?? c.version);
  writeFileSync(
    join(work, 'go.mod'),
    `module cdk8s-gpu-inference.local/${c.name}\n\ngo ${goLine}\n` +
      (replace.length ? `\nreplace (\n${replace.map((r) => `\t${r}\n`).join('')})\n` : ''),
  );
  rmSync(join(work, 'go.sum'), { force: true });
  run('go', ['get', ...c.packages.map((p) => `${p}@${c.version}`), ...(c.extraRequires ?? [])], work);
  const out = `${binDir(c)}.tmp`;
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  for (const [i, pkg] of c.packages.entries())
    run(
      'go',
      [
        'build',
        '-trimpath',
        ...(c.ldflags?.length ? ['-ldflags', c.ldflags.join(' ')] : []),
        ...(c.tags?.length ? ['-tags', c.tags.join(',')] : []),
        '-o',
        join(out, binaryNames(c)[i]!),
        pkg,
      ],
      work,
      c.cgo === undefined ? undefined : { CGO_ENABLED: c.cgo ? '1' : '0' },
    );
  for (const f of c.files ?? []) {
    mkdirSync(dirname(join(out, f)), { recursive: true });
    copyFileSync(join(info.Dir, f), join(out, f));
  }
  writeFileSync(
    join(out, 'SHA256SUMS'),
    artifactNames(c)
      .map((n) => `${sha256(join(out, n))}  ${n}\n`)
      .join(''),
  );
  rmSync(binDir(c), { recursive: true, force: true });
  renameSync(out, binDir(c));
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  const line = `${new Date().toISOString()} built ${c.module}@${c.version} with ${go()} in ${seconds} s -> ${binDir(c)}`;
  appendFileSync(join(CACHE_DIR, 'build.log'), line + '\n');
  return line;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const names = process.argv.slice(2) as ComponentName[];
  for (const n of names)
    if (!(n in COMPONENTS))
      throw new Error(`unknown component ${n}; one of ${Object.keys(COMPONENTS).join(', ')}`);
  for (const c of names.length ? names.map((n) => COMPONENTS[n]) : Object.values(COMPONENTS)) {
    try {
      console.log(build(c));
    } catch (e) {
      const err = e as { stderr?: string; message: string };
      console.error(`building ${c.module}@${c.version} failed:\n${err.stderr ?? err.message}`);
      process.exit(1);
    }
  }
}
