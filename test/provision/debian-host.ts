/**
 * A real Debian host (11, 12 or 13) for the end-to-end tests: a debootstrapped minbase root (built
 * once per release and cached as a tarball), booted with systemd-nspawn in a network namespace this test creates. The
 * only way out of that namespace is a veth pair to this machine, where tinyproxy listens: apt
 * reaches the Debian archive through that proxy, set through the inventory's `proxy`.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
  chmodSync,
  openSync,
  closeSync,
  readdirSync,
  symlinkSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { cgroupProcs, removeCgroupTree } from '../../cluster/host-state.ts';
import { freePort } from '../free-port.ts';
import { join } from 'node:path';
import { promisify } from 'node:util';

export const CACHE_DIR = process.env.CDK8S_PROVISION_CACHE ?? '/var/cache/cdk8s-gpu-inference';
const MIRROR = process.env.CDK8S_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';

/** The Debian releases provisioning supports, as the e2e boots them. */
export interface DebianRelease {
  versionId: '11' | '12' | '13';
  codename: 'bullseye' | 'bookworm' | 'trixie';
  /** debootstrap --include: sshd, a booting systemd, and what the tests use (ip, sudo). */
  include: string;
  /**
   * The apt sources format the release's installer writes: trixie's uses deb822
   * (/etc/apt/sources.list.d/debian.sources) and no sources.list, while debootstrap still writes
   * the one-line sources.list; the host gets what an installed system has.
   */
  sources: 'one-line' | 'deb822';
}

const INCLUDE = 'openssh-server,systemd-sysv,dbus,iproute2,sudo';
export const DEBIAN_RELEASES: Record<DebianRelease['codename'], DebianRelease> = {
  bullseye: { versionId: '11', codename: 'bullseye', include: INCLUDE, sources: 'one-line' },
  bookworm: { versionId: '12', codename: 'bookworm', include: INCLUDE, sources: 'one-line' },
  trixie: {
    versionId: '13',
    codename: 'trixie',
    include: INCLUDE,
    // trixie's systemd 257 boots here on cgroup v1 without SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1
    // (it logs "System is tainted: unmerged-bin:cgroupsv1"): systemd-nspawn mounts the hierarchy
    // before init starts, in hybrid mode and also with SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=0 (legacy).
    sources: 'deb822',
  },
};

/** The cached root of a release, keyed by what goes into it (same key scheme as the first, Debian 11 one). */
export const rootfsTarball = (r: DebianRelease = DEBIAN_RELEASES.bullseye): string =>
  join(
    CACHE_DIR,
    `debian${r.versionId}-minbase-${createHash('sha256')
      .update(r.include + MIRROR)
      .digest('hex')
      .slice(0, 8)}.tar`,
  );

const run = (cmd: string, args: string[]): string =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** Build a release's root once (flock: parallel runs wait for one build) and reuse the tarball. */
export function ensureRootfs(
  log: (s: string) => void,
  release: DebianRelease = DEBIAN_RELEASES.bullseye,
): { built: boolean; seconds: number } {
  mkdirSync(CACHE_DIR, { recursive: true });
  const t0 = Date.now();
  const tarball = rootfsTarball(release);
  if (existsSync(tarball)) return { built: false, seconds: 0 };
  const work = mkdtempSync(join(CACHE_DIR, 'build-'));
  try {
    log(`building ${tarball} with debootstrap (first run on this machine)`);
    const script = [
      `[ -f ${tarball} ] && exit 0`,
      `debootstrap --variant=minbase --include=${release.include} ${release.codename} ${work}/root ${MIRROR} > ${work}/debootstrap.log 2>&1 || { tail -20 ${work}/debootstrap.log >&2; exit 1; }`,
      // The .debs debootstrap leaves behind are not part of the host.
      `rm -f ${work}/root/var/cache/apt/archives/*.deb`,
      `tar -C ${work}/root -cf ${tarball}.tmp . && mv ${tarball}.tmp ${tarball}`,
    ].join('\n');
    run('flock', [join(CACHE_DIR, `.build-${release.codename}.lock`), 'sh', '-c', script]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { built: true, seconds: (Date.now() - t0) / 1000 };
}

async function waitForPort(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const okNow = await new Promise<boolean>((resolve) => {
      const sock = connect({ host, port });
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
      sock.setTimeout(1000, () => {
        sock.destroy();
        resolve(false);
      });
    });
    if (okNow) return;
    if (Date.now() > deadline) throw new Error(`${host}:${port} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

let counter = 0;

function processAlive(pid: number): boolean {
  try {
    return pid > 0 && process.kill(pid, 0);
  } catch {
    return false;
  }
}

/** Subnets (10.213.<n>.0/30) this process has given to hosts. */
const SUBNETS_GIVEN = new Set<number>();

export interface BootOptions {
  /** @default DEBIAN_RELEASES.bullseye */
  release?: DebianRelease;
  /** Edit the root before boot (e.g. change os-release). */
  prepare?: (root: string) => void;
  /**
   * Boot with /proc/sys, /sys and the cgroup v1 controllers writable (systemd-nspawn's
   * SYSTEMD_NSPAWN_API_VFS_WRITABLE=1, and a unit that remounts the controllers read-write early in
   * boot), with CAP_NET_ADMIN in its own network namespace, inside a cgroup of its own in every hierarchy (see `cgroup`): what kubelet's
   * ContainerManager and runc need. Only for a throwaway test host: /proc/sys is NOT namespaced
   * for kernel.* and vm.*, so what the host writes there changes this machine's kernel, and the
   * test must record and put those back itself; the cgroups it makes stay under its own subtree
   * (cgroup namespaces), which stop() removes.
   * @default false
   */
  writableApiVfs?: boolean;
}

/** The cgroup hierarchies of this machine (v1 controllers, name=systemd, the v2 `unified` one). */
export const CGROUP_ROOT = '/sys/fs/cgroup';
export const cgroupHierarchies = (): string[] =>
  readdirSync(CGROUP_ROOT)
    .map((h) => join(CGROUP_ROOT, h))
    .filter((d) => existsSync(join(d, 'cgroup.procs')));

/** Early in boot, before anything makes a cgroup: nspawn mounts the v1 controllers read-only. */
const CGROUP_RW_UNIT = `[Unit]
Description=cgroup v1 controllers read-write (test host, see debian-host.ts)
DefaultDependencies=no
Before=sysinit.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'for c in /sys/fs/cgroup/*/; do mount -o remount,bind,rw "$c"; done'

[Install]
WantedBy=sysinit.target
`;

export class DebianHost {
  readonly root: string;
  readonly address: string;
  readonly gateway: string;
  proxyUrl = '';
  private nspawn?: ChildProcess;
  private proxy?: ChildProcess;
  private readonly netns: string;
  private readonly vethHost: string;
  private stopped = false;
  private aptLock?: string;
  /** The host's own cgroup (relative to each hierarchy's root), when booted with writableApiVfs. */
  cgroup?: string;

  private constructor(
    readonly name: string,
    readonly dir: string,
    readonly keyPath: string,
    subnet: number,
  ) {
    this.root = join(dir, 'root');
    const id = `${process.pid % 100000}${++counter}`;
    this.netns = `cdk8s-prov-${id}`;
    this.vethHost = `cp${id}h`.slice(0, 15);
    this.gateway = `10.213.${subnet}.1`;
    this.address = `10.213.${subnet}.2`;
  }

  /** Unpack the cached root, create the namespace + veth + proxy, boot, wait for sshd. */
  static async boot(name: string, keyDir: string, opts: BootOptions = {}): Promise<DebianHost> {
    const dir = mkdtempSync('/var/tmp/cdk8s-prov-host-');
    // Hosts booted together (Promise.all) read the addresses before either has added its own, so
    // this process also remembers the subnets it handed out: two of them once drew the same one.
    const used = run('ip', ['-o', '-4', 'addr', 'show']);
    let subnet = 0;
    for (let i = 0; i < 250; i++) {
      subnet = 1 + Math.floor(Math.random() * 250);
      if (!used.includes(`10.213.${subnet}.`) && !SUBNETS_GIVEN.has(subnet)) break;
    }
    SUBNETS_GIVEN.add(subnet);
    const h = new DebianHost(name, dir, join(keyDir, 'id_ed25519'), subnet);
    try {
      await h.start(keyDir, opts);
    } catch (e) {
      await h.stop();
      throw e;
    }
    return h;
  }

  private async start(keyDir: string, opts: BootOptions): Promise<void> {
    mkdirSync(this.root);
    await promisify(execFile)('tar', ['-C', this.root, '-xf', rootfsTarball(opts.release)]);
    writeFileSync(join(this.root, 'etc/hostname'), `${this.name}\n`);
    // As on an installed system: sudo resolves its own host name, and there is no DNS in here.
    writeFileSync(
      join(this.root, 'etc/hosts'),
      `127.0.0.1\tlocalhost\n127.0.1.1\t${this.name}\n::1\tlocalhost ip6-localhost ip6-loopback\n`,
    );
    if (opts.release?.sources === 'deb822') {
      rmSync(join(this.root, 'etc/apt/sources.list'), { force: true });
      writeFileSync(
        join(this.root, 'etc/apt/sources.list.d/debian.sources'),
        `Types: deb\nURIs: ${MIRROR}\nSuites: ${opts.release.codename}\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`,
      );
    }
    mkdirSync(join(this.root, 'root/.ssh'), { recursive: true, mode: 0o700 });
    writeFileSync(join(this.root, 'root/.ssh/authorized_keys'), readFileSync(join(keyDir, 'id_ed25519.pub')));
    chmodSync(join(this.root, 'root/.ssh/authorized_keys'), 0o600);
    opts.prepare?.(this.root);
    if (opts.writableApiVfs) {
      writeFileSync(join(this.root, 'etc/systemd/system/cgroup-rw.service'), CGROUP_RW_UNIT);
      mkdirSync(join(this.root, 'etc/systemd/system/sysinit.target.wants'), { recursive: true });
      symlinkSync(
        '../cgroup-rw.service',
        join(this.root, 'etc/systemd/system/sysinit.target.wants/cgroup-rw.service'),
      );
    }

    // Namespace first, so cleanup can always delete it by name.
    run('ip', ['netns', 'add', this.netns]);
    const peer = this.vethHost.replace(/h$/, 'c');
    run('ip', ['link', 'add', this.vethHost, 'type', 'veth', 'peer', 'name', peer]);
    run('ip', ['link', 'set', peer, 'netns', this.netns]);
    run('ip', ['addr', 'add', `${this.gateway}/30`, 'dev', this.vethHost]);
    run('ip', ['link', 'set', this.vethHost, 'up']);
    run('ip', ['-n', this.netns, 'addr', 'add', `${this.address}/30`, 'dev', peer]);
    run('ip', ['-n', this.netns, 'link', 'set', peer, 'up']);
    run('ip', ['-n', this.netns, 'link', 'set', 'lo', 'up']);
    run('ip', ['-n', this.netns, 'route', 'add', 'default', 'via', this.gateway]);

    const port = await freePort(this.gateway);
    writeFileSync(
      join(this.dir, 'tinyproxy.conf'),
      `Port ${port}\nListen ${this.gateway}\nTimeout 300\nAllow ${this.address}\nLogFile "${join(this.dir, 'tinyproxy.log')}"\nLogLevel Connect\nMaxClients 20\n`,
    );
    this.proxy = spawn('tinyproxy', ['-d', '-c', join(this.dir, 'tinyproxy.conf')], { stdio: 'ignore' });
    this.proxyUrl = `http://${this.gateway}:${port}`;

    const out = openSync(join(this.dir, 'nspawn.log'), 'w');
    const aptCache = this.claimAptCache();
    mkdirSync(join(aptCache, 'partial'), { recursive: true });
    const nspawnArgs = [
      '--register=no',
      '--keep-unit',
      '-q',
      '-b',
      '-D',
      this.root,
      `--network-namespace-path=/run/netns/${this.netns}`,
      `--machine=${this.netns}`,
      // Downloaded .debs survive between runs (warm cache); the host itself starts fresh every time.
      `--bind=${aptCache}:/var/cache/apt/archives`,
    ];
    if (opts.writableApiVfs) {
      // nspawn enters a cgroup namespace rooted at the cgroup it starts in: one of its own per
      // hierarchy keeps all the host makes (system.slice, kubepods.slice) under it.
      this.cgroup = this.netns;
      // sysctl net.* of its own network namespace (ip_forward), as on a real host; nspawn drops it otherwise.
      nspawnArgs.push('--capability=CAP_NET_ADMIN');
      const procs = cgroupHierarchies().map((h) => {
        mkdirSync(join(h, this.cgroup!));
        for (const f of ['cpuset.cpus', 'cpuset.mems'])
          if (existsSync(join(h, f))) writeFileSync(join(h, this.cgroup!, f), readFileSync(join(h, f)));
        return join(h, this.cgroup!, 'cgroup.procs');
      });
      this.nspawn = spawn(
        'sh',
        [
          '-c',
          `for f in ${procs.join(' ')}; do echo $$ > $f; done; exec "$@"`,
          'sh',
          'systemd-nspawn',
          ...nspawnArgs,
        ],
        { stdio: ['ignore', out, out], env: { ...process.env, SYSTEMD_NSPAWN_API_VFS_WRITABLE: '1' } },
      );
    } else {
      this.nspawn = spawn('systemd-nspawn', nspawnArgs, { stdio: ['ignore', out, out] });
    }
    closeSync(out);
    await waitForPort(this.proxyUrl.split('//')[1]!.split(':')[0]!, port, 10_000);
    await waitForPort(this.address, 22, 90_000);
  }

  /**
   * The shared .deb cache for this host name, unless another live test run holds it (two apts on
   * one archive directory would fail on its lock): then a private, cold one inside this host's dir.
   */
  private claimAptCache(): string {
    const shared = join(CACHE_DIR, 'apt-archives', this.name);
    const lock = `${shared}.lock`;
    mkdirSync(join(CACHE_DIR, 'apt-archives'), { recursive: true });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        mkdirSync(lock);
        writeFileSync(join(lock, 'pid'), String(process.pid));
        this.aptLock = lock;
        return shared;
      } catch {
        const text = existsSync(join(lock, 'pid')) ? readFileSync(join(lock, 'pid'), 'utf8') : '';
        // No pid yet: its owner is between mkdir and write, so it is alive.
        const alive = text === '' || processAlive(Number(text));
        if (alive) break;
        rmSync(lock, { recursive: true, force: true }); // left behind by a run that died
      }
    }
    return join(this.dir, 'apt-archives');
  }

  /** SHA-256 of files inside the host (null when absent), read from its root on this machine. */
  hashes(paths: string[]): Record<string, string | null> {
    const out: Record<string, string | null> = {};
    for (const p of paths) {
      const f = join(this.root, p);
      out[p] = existsSync(f) ? createHash('sha256').update(readFileSync(f)).digest('hex') : null;
    }
    return out;
  }

  proxyLog(): string {
    const f = join(this.dir, 'tinyproxy.log');
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  /** Power off, kill what is left, delete the namespace (and with it the veth pair) and the root. */
  async stop(): Promise<string> {
    if (this.stopped) return `${this.name}: already stopped`;
    this.stopped = true;
    const t0 = Date.now();
    const phases: string[] = [];
    const mark = (what: string) => phases.push(`${what} ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    const ended = (p?: ChildProcess) =>
      !p || p.exitCode !== null || p.signalCode !== null
        ? Promise.resolve()
        : new Promise<void>((r) => p.once('exit', () => r()));
    if (this.nspawn?.pid) {
      this.nspawn.kill('SIGTERM'); // nspawn asks the container's systemd for an orderly poweroff
      const t = setTimeout(() => this.nspawn?.kill('SIGKILL'), 15_000);
      await ended(this.nspawn);
      clearTimeout(t);
      mark('poweroff');
    }
    if (this.proxy?.pid) {
      this.proxy.kill('SIGTERM');
      await ended(this.proxy);
    }
    try {
      run('ip', ['netns', 'del', this.netns]);
    } catch {
      /* never created */
    }
    try {
      run('ip', ['link', 'del', this.vethHost]);
    } catch {
      /* gone with the namespace */
    }
    mark('network');
    if (this.cgroup) {
      // The container's processes end with its PID 1; any left (nspawn killed before its
      // poweroff finished leaves the container's init behind) are killed by id, then the
      // emptied cgroups removed.
      const dirs = cgroupHierarchies()
        .map((hh) => join(hh, this.cgroup!))
        .filter((d) => existsSync(d));
      for (let i = 0; i < 50; i++) {
        const left = [...new Set(dirs.flatMap((d) => (existsSync(d) ? cgroupProcs(d) : [])))];
        if (left.length === 0) break;
        for (const pid of left)
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            /* gone already */
          }
        await new Promise((r) => setTimeout(r, 100));
      }
      for (const d of dirs) {
        try {
          removeCgroupTree(d);
        } catch (e) {
          phases.push(`cgroup ${d} not removed: ${(e as Error).message}`);
        }
      }
      mark('cgroups');
    }
    if (this.aptLock) await rm(this.aptLock, { recursive: true, force: true });
    // Asynchronously: a synchronous rm of a whole root would stall the other hosts' shutdown.
    await rm(this.dir, { recursive: true, force: true });
    mark('removed');
    return `${this.name}: ${phases.join(', ')}`;
  }
}

/** An ed25519 key pair for the test's SSH logins. */
export function makeKey(dir: string): string {
  run('ssh-keygen', [
    '-q',
    '-t',
    'ed25519',
    '-N',
    '',
    '-C',
    'cdk8s-provision-e2e',
    '-f',
    join(dir, 'id_ed25519'),
  ]);
  return join(dir, 'id_ed25519');
}
