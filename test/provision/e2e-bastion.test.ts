/**
 * Bastion (ProxyJump) against a real sshd: one Debian 11 host booted as in e2e-debian11 (see
 * debian-host.ts). Its sshd listens on its namespace address, port 22 (the bastion), and also on
 * 127.0.0.1:PORT inside its own namespace (the target): that address is the host's loopback, which
 * this machine cannot reach, so a run that succeeds went through the bastion's forwarded channel.
 * Needs root (namespaces, nspawn), like the other e2e.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { freePort } from '../free-port.ts';
import { runCli } from './cli-helpers.ts';
import { DebianHost, ensureRootfs, makeKey } from './debian-host.ts';

const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('SKIPPED bastion e2e: it needs root (network namespaces, systemd-nspawn).');

describe.skipIf(!isRoot)('bastion (ProxyJump) through a real sshd', () => {
  const work = mkdtempSync(join(tmpdir(), 'cdk8s-prov-bastion-'));
  const key = join(work, 'id_ed25519');
  let h: DebianHost;
  let port = 0; // the target's sshd port on the host's own loopback

  beforeAll(async () => {
    ensureRootfs((s) => console.log(s));
    makeKey(work);
    port = await freePort(); // free on this machine's loopback: a direct connection is refused
    h = await DebianHost.boot('deb11-jump', work, {
      prepare: (root) =>
        writeFileSync(
          join(root, 'etc/ssh/sshd_config.d/listen.conf'),
          `ListenAddress 0.0.0.0:22\nListenAddress 127.0.0.1:${port}\n`,
        ),
    });
  });
  afterAll(async () => {
    if (h) console.log(await h.stop());
    rmSync(work, { recursive: true, force: true });
  });

  const hostKey = () =>
    readFileSync(join(h.root, 'etc/ssh/ssh_host_ed25519_key.pub'), 'utf8').split(' ').slice(0, 2).join(' ');
  const inventory = (
    name: string,
    knownHosts: string,
    bastion: Record<string, unknown>,
    targetPort = port,
  ) => {
    const p = join(work, `${name}.yaml`);
    writeFileSync(
      p,
      stringify({
        cluster: {
          kubernetesVersion: '1.35',
          containerd: { source: 'debian' },
          knownHosts,
          bastion: { address: h.address, ...bastion },
        },
        hosts: {
          inside: { address: '127.0.0.1', role: 'control-plane', gpu: false, ssh: { key, port: targetPort } },
        },
      }),
    );
    return p;
  };
  const run = (inv: string, ...more: string[]) =>
    runCli(['--inventory', inv, '--check', '--tags', 'swap', '--json', ...more], 120_000);
  const only = (r: Awaited<ReturnType<typeof run>>) => {
    const x = r.json?.hosts[0];
    if (!x) throw new Error(`no result: ${r.stdout}${r.stderr}`);
    return x;
  };

  it('the target is not reachable directly from this machine', async () => {
    const refused = await new Promise<string>((resolve) => {
      const s = connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.once('error', (e) => resolve((e as NodeJS.ErrnoException).code ?? e.message));
    });
    expect(refused).toBe('ECONNREFUSED');
  });

  it('runs through the bastion, both host keys checked against known_hosts', async () => {
    const kh = join(work, 'both');
    writeFileSync(kh, `${h.address} ${hostKey()}\n[127.0.0.1]:${port} ${hostKey()}\n`);
    // No bastion key: the host's ssh.key is used for the bastion too.
    const r = await run(inventory('ok', kh, {}));
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const x = only(r);
    expect(x.tasks[0]).toMatchObject({ role: 'facts', task: 'gather', status: 'ok' });
    expect(x.tasks[0]!.reason).toMatch(/^debian 11 \(bullseye\), .* container=systemd-nspawn/);
    expect(x.tasks.map((t) => t.role)).toContain('common');
  });

  it('an unknown bastion key is refused naming the bastion, before the target is tried; --accept-new-host-keys records both keys', async () => {
    const kh = join(work, 'target-only');
    writeFileSync(kh, `[127.0.0.1]:${port} ${hostKey()}\n`);
    const inv = inventory('unknown', kh, { key });
    const r = await run(inv);
    expect(r.code).toBe(1);
    expect(only(r).counts).toMatchObject({ unreachable: 1, failed: 0 });
    expect(only(r).error).toMatch(
      new RegExp(
        `^cannot connect to root@127\\.0\\.0\\.1:${port} via root@${h.address.replace(/\./g, '\\.')}:22: bastion root@${h.address.replace(/\./g, '\\.')}:22: host key verification failed: ${h.address.replace(/\./g, '\\.')} is not in ${kh}`,
      ),
    );
    expect(readFileSync(kh, 'utf8')).toBe(`[127.0.0.1]:${port} ${hostKey()}\n`);

    const fresh = join(work, 'fresh');
    const accepted = await run(inventory('fresh', fresh, { key }), '--accept-new-host-keys');
    expect(accepted.code, accepted.stdout + accepted.stderr).toBe(0);
    expect(readFileSync(fresh, 'utf8')).toBe(`${h.address} ${hostKey()}\n[127.0.0.1]:${port} ${hostKey()}\n`);
  });

  it('a wrong bastion key is refused as CHANGED; a target the bastion cannot reach is named', async () => {
    const kh = join(work, 'wrong');
    const other = readFileSync(`${key}.pub`, 'utf8').split(' ').slice(0, 2).join(' ');
    writeFileSync(kh, `${h.address} ${other}\n[127.0.0.1]:${port} ${hostKey()}\n`);
    const r = await run(inventory('wrong', kh, { key }));
    expect(r.code).toBe(1);
    expect(only(r).error).toContain(
      `bastion root@${h.address}:22: host key verification failed: the host key of ${h.address} has CHANGED`,
    );

    const kh2 = join(work, 'closed');
    writeFileSync(kh2, `${h.address} ${hostKey()}\n`);
    const closed = await run(inventory('closed', kh2, { key }, 1));
    expect(closed.code).toBe(1);
    expect(only(closed).error).toMatch(
      /^cannot connect to root@127\.0\.0\.1:1 via .*: the bastion could not open a connection to 127\.0\.0\.1:1: .+/,
    );
  });
});
