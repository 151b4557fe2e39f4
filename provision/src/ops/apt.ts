import { unifiedDiff } from '../diff.ts';
import { fileFact, packagesFact, type FileFact, type PackageFact } from '../facts.ts';
import { atomicWriteCommand, curl, q } from '../shell.ts';
import { changed, ok, STAGE, type Plan, type Step, type Task } from '../types.ts';
import { artifactName, type Site } from './site.ts';

/**
 * Seconds apt waits for another apt or dpkg (unattended-upgrades, apt-daily) to release its lock
 * before failing, as Ansible's apt module lock_timeout (also 60). Inventory: cluster.aptLockTimeout.
 */
export const DEFAULT_APT_LOCK_TIMEOUT = 60;

/** apt-get for installs and removals: DPkg::Lock::Timeout makes it wait for the dpkg lock. */
export const aptGet = (lockTimeout = DEFAULT_APT_LOCK_TIMEOUT): string =>
  `DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=${lockTimeout} -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold`;

export interface PackagesSpec {
  names: string[];
  /** @default "present" */
  state?: 'present' | 'absent';
  /** apt version or glob (e.g. "1.34.*") every package must match; installed as name=version. */
  version?: string;
  /** apt-mark hold so upgrades never move them. @default false */
  hold?: boolean;
}

function versionMatches(installed: string, wanted: string): boolean {
  const re = new RegExp(
    '^' +
      wanted
        .split('*')
        .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*') +
      '$',
  );
  return re.test(installed);
}

export function planPackages(
  spec: PackagesSpec,
  actual: Record<string, PackageFact>,
  lockTimeout = DEFAULT_APT_LOCK_TIMEOUT,
): Plan {
  const APT = aptGet(lockTimeout);
  const get = (n: string): PackageFact => actual[n] ?? { version: null, held: false };
  if ((spec.state ?? 'present') === 'absent') {
    const present = spec.names.filter((n) => get(n).version !== null);
    if (present.length === 0) return ok(`absent: ${spec.names.join(', ')}`);
    const steps: Step[] = [];
    const held = present.filter((n) => get(n).held);
    if (held.length) steps.push({ run: `apt-mark unhold ${held.join(' ')}` });
    steps.push({ run: `${APT} purge ${present.join(' ')}` });
    return changed(`installed, must be absent: ${present.join(', ')}`, steps);
  }
  const wrong = spec.names.filter((n) => {
    const v = get(n).version;
    return v === null || (spec.version !== undefined && !versionMatches(v, spec.version));
  });
  const steps: Step[] = [];
  const why: string[] = [];
  if (wrong.length) {
    const args = wrong.map((n) => (spec.version ? `${n}=${spec.version}` : n));
    // A held package can only move with --allow-change-held-packages (pinned version changes).
    const allowHeld = wrong.some((n) => get(n).held) ? ' --allow-change-held-packages' : '';
    steps.push({ run: `${APT} install --no-install-recommends${allowHeld} ${args.map(q).join(' ')}` });
    why.push(
      wrong
        .map(
          (n) => `${n} ${get(n).version ?? 'not installed'}${spec.version ? ` (want ${spec.version})` : ''}`,
        )
        .join(', '),
    );
  }
  if (spec.hold) {
    const unheld = spec.names.filter((n) => !get(n).held);
    if (unheld.length) {
      steps.push({ run: `apt-mark hold ${unheld.join(' ')}` });
      why.push(`not held: ${unheld.join(', ')}`);
    }
  }
  if (steps.length === 0)
    return ok(`${spec.names.map((n) => `${n} ${get(n).version}`).join(', ')}${spec.hold ? ' (held)' : ''}`);
  return changed(why.join('; '), steps);
}

export function packagesTask(role: string, name: string, spec: PackagesSpec, tags: string[] = []): Task {
  return {
    role,
    name,
    tags,
    plan: async (ctx) => planPackages(spec, await packagesFact(ctx.facts, spec.names), ctx.aptLockTimeout),
  };
}

export interface AptUpdateSpec {
  /** Lists newer than this are fresh enough (Ansible cache_valid_time). @default 86400 */
  validSeconds?: number;
}

/** Stamp written after every successful update: apt itself keeps none on Debian. */
export const APT_STAMP = '/var/lib/apt/cdk8s-provision-update-stamp';
/**
 * `apt-get update` then the stamp. apt-get update ignores DPkg::Lock::Timeout (apt 2.6 still fails
 * at once on /var/lib/apt/lists/lock), so while its error is a lock held by another process it is
 * retried every 3 s until the timeout; any other failure fails at once, with apt's stderr.
 */
export const aptUpdateCommand = (lockTimeout = DEFAULT_APT_LOCK_TIMEOUT): string =>
  `until apt-get update -q --error-on=any 2>"\${apt_err:=$(mktemp)}"; do rc=$?; ` +
  `grep -q 'Could not get lock' "$apt_err" && [ $(date +%s) -lt \${apt_end:=$(($(date +%s)+${lockTimeout}))} ] || { cat "$apt_err" >&2; rm -f "$apt_err"; exit $rc; }; ` +
  `echo 'apt lists locked by another process; waiting'; sleep 3; done; rm -f "$apt_err"; touch ${APT_STAMP}`;

export function planAptUpdate(
  spec: AptUpdateSpec,
  ageSeconds: number | null,
  lockTimeout = DEFAULT_APT_LOCK_TIMEOUT,
): Plan {
  const valid = spec.validSeconds ?? 86400;
  if (ageSeconds !== null && ageSeconds < valid)
    return ok(`package lists updated ${ageSeconds}s ago (valid ${valid}s)`);
  return changed(
    ageSeconds === null ? 'package lists never updated by provision' : `package lists ${ageSeconds}s old`,
    [{ run: aptUpdateCommand(lockTimeout) }],
  );
}

export function aptUpdateTask(role: string, spec: AptUpdateSpec = {}, tags: string[] = []): Task {
  return {
    role,
    name: 'apt update',
    tags,
    plan: async (ctx) => {
      const r = await ctx.facts.read(
        `[ -f ${APT_STAMP} ] && echo $(( $(date +%s) - $(stat -c %Y ${APT_STAMP}) ))`,
      );
      return planAptUpdate(spec, r.code === 0 ? Number(r.stdout.trim()) : null, ctx.aptLockTimeout);
    },
  };
}

export interface RepoSpec {
  /** Basename for /etc/apt/keyrings/NAME.gpg and /etc/apt/sources.list.d/NAME.list. */
  name: string;
  /** ASCII-armored or binary OpenPGP key; null for repositories signed by Debian's own keyring. */
  keyUrl: string | null;
  /** One-line source without options, e.g. "https://pkgs.k8s.io/core:/stable:/v1.34/deb/ /". */
  source: string;
}

export const keyringPath = (name: string): string => `/etc/apt/keyrings/${name}.gpg`;
export const repoListPath = (name: string): string => `/etc/apt/sources.list.d/${name}.list`;

/** The .list line: `signed-by` ties the repository to its own key (apt-key is deprecated). */
export function repoLine(spec: RepoSpec): string {
  return spec.keyUrl ? `deb [signed-by=${keyringPath(spec.name)}] ${spec.source}\n` : `deb ${spec.source}\n`;
}

export function planRepo(
  spec: RepoSpec,
  site: Site,
  keyringPresent: boolean,
  list: FileFact,
  lockTimeout = DEFAULT_APT_LOCK_TIMEOUT,
): Plan {
  const steps: Step[] = [];
  const why: string[] = [];
  if (spec.keyUrl && !keyringPresent) {
    const kr = keyringPath(spec.name);
    const fetch = site.artifactsDir
      ? [
          {
            put: {
              local: `${site.artifactsDir}/${artifactName(spec.keyUrl)}`,
              name: `${spec.name}.key`,
            },
          },
        ]
      : [];
    const from = site.artifactsDir ? `${STAGE}/${spec.name}.key` : '"$tmp"';
    steps.push(...fetch, {
      run:
        `install -d -m 0755 /etc/apt/keyrings && ` +
        (site.artifactsDir ? '' : `tmp=$(mktemp) && ${curl(spec.keyUrl, site.proxy, '"$tmp"')} && `) +
        // Dearmored next to the keyring, then renamed: an interrupted run never leaves a truncated
        // keyring that the presence check would take for a good one.
        `gpg --dearmor --yes -o ${kr}.new < ${from} && chmod 0644 ${kr}.new && mv -f ${kr}.new ${kr} && rm -f ${from}`,
    });
    why.push(`keyring ${kr} missing`);
  }
  const wanted = repoLine(spec);
  let diff: string | undefined;
  if (!list.exists || list.content !== wanted) {
    const path = repoListPath(spec.name);
    steps.push({
      run: atomicWriteCommand({ path, content: wanted, mode: '0644', owner: 'root', group: 'root' }),
    });
    diff = unifiedDiff(path, list.exists ? list.content : null, wanted);
    why.push(`${path} ${list.exists ? 'differs' : 'missing'}`);
  }
  if (steps.length === 0) return ok(`repository ${spec.name} configured`);
  steps.push({ run: aptUpdateCommand(lockTimeout) });
  return changed(why.join('; '), steps, { diff });
}

export function repoTask(role: string, spec: RepoSpec, site: Site, tags: string[] = []): Task {
  return {
    role,
    name: `apt repository ${spec.name}`,
    tags,
    plan: async (ctx) => {
      const kr = await ctx.facts.read(`test -s ${keyringPath(spec.name)}`);
      return planRepo(
        spec,
        site,
        kr.code === 0,
        await fileFact(ctx.facts, repoListPath(spec.name)),
        ctx.aptLockTimeout,
      );
    },
  };
}
