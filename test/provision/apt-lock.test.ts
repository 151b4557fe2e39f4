/**
 * apt's lock timeout against the real apt-get and dpkg of this Debian machine, inside a private
 * mount namespace (unshare -m): /var/lib/apt is a tmpfs there and the package sources are empty,
 * so the locks taken and the update run touch nothing outside the namespace and need no network.
 * A python3 fcntl lock stands in for unattended-upgrades holding the lock (apt and dpkg take the
 * same fcntl locks).
 */
import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { APT_STAMP, aptGet, aptUpdateCommand } from '../../provision/src/ops/apt.ts';

const root = process.getuid?.() === 0;

interface Outcome {
  code: number;
  seconds: number;
  stdout: string;
  stderr: string;
  stamped: boolean;
}

/** Hold `lock` for `holdSeconds`, meanwhile run `command` as the engine does (sh -c). */
function underLock(lock: string, holdSeconds: number, command: string): Promise<Outcome> {
  const script = `
set -e
mount -t tmpfs cdk8s-apt /var/lib/apt
mkdir -p /var/lib/apt/lists/partial
e=$(mktemp -d)
mount --bind "$e" /etc/apt/sources.list.d
[ ! -e /etc/apt/sources.list ] || mount --bind /dev/null /etc/apt/sources.list
python3 -c 'import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.lockf(fd, fcntl.LOCK_EX)
open(sys.argv[3], "w").close()
time.sleep(float(sys.argv[2]))' "${lock}" ${holdSeconds} "$e/held" &
holder=$!
while [ ! -e "$e/held" ]; do sleep 0.05; done
set +e
t0=$(date +%s%N)
sh -c "$CMD" 2>"$e/err"
rc=$?
t1=$(date +%s%N)
echo "@rc=$rc ms=$(( (t1 - t0) / 1000000 ))"
[ ! -f ${APT_STAMP} ] || echo "@stamped"
echo "@stderr"; cat "$e/err"
kill $holder 2>/dev/null
wait
`;
  return new Promise((resolve, reject) => {
    execFile(
      'unshare',
      ['-m', 'sh', '-c', script],
      { env: { ...process.env, CMD: command }, timeout: 60_000 },
      (err, stdout) => {
        const m = /@rc=(\d+) ms=(\d+)/.exec(stdout);
        if (!m) return reject(new Error(`no result: ${err?.message ?? ''}\n${stdout}`));
        const [before, stderr = ''] = stdout.split('@stderr\n');
        resolve({
          code: Number(m[1]),
          seconds: Number(m[2]) / 1000,
          stdout: before!,
          stderr,
          stamped: stdout.includes('@stamped'),
        });
      },
    );
  });
}

describe.skipIf(!root)('apt and dpkg lock timeouts (real apt-get, private mount namespace)', () => {
  it('apt-get update waits for the lists lock, then updates and stamps', async () => {
    const r = await underLock('/var/lib/apt/lists/lock', 4, aptUpdateCommand(30));
    expect(r.code, r.stderr).toBe(0);
    expect(r.seconds).toBeGreaterThanOrEqual(3);
    expect(r.stdout).toContain('apt lists locked by another process; waiting');
    expect(r.stamped).toBe(true);
  });

  it('apt-get update gives up after the timeout with apt’s own error, and does not stamp', async () => {
    const r = await underLock('/var/lib/apt/lists/lock', 20, aptUpdateCommand(2));
    expect(r.code).toBe(100);
    expect(r.seconds).toBeGreaterThanOrEqual(2);
    expect(r.seconds).toBeLessThan(15);
    expect(r.stderr).toMatch(
      /Could not get lock \/var\/lib\/apt\/lists\/lock\. It is held by process \d+ \(python3\)/,
    );
    expect(r.stamped).toBe(false);
  });

  it('timeout 0: fails at once, as apt does without the setting', async () => {
    const r = await underLock('/var/lib/apt/lists/lock', 10, aptUpdateCommand(0));
    expect(r.code).toBe(100);
    expect(r.seconds).toBeLessThan(3);
  });

  it('apt-get (install, purge) waits for the dpkg frontend lock through DPkg::Lock::Timeout', async () => {
    const waited = await underLock('/var/lib/dpkg/lock-frontend', 3, `${aptGet(30)} check`);
    expect(waited.code, waited.stderr).toBe(0);
    expect(waited.seconds).toBeGreaterThanOrEqual(2);
    const gaveUp = await underLock('/var/lib/dpkg/lock-frontend', 20, `${aptGet(2)} check`);
    expect(gaveUp.code).toBe(100);
    expect(gaveUp.stderr).toContain('Unable to acquire the dpkg frontend lock');
  });
});
