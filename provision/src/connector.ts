import { copyFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeSSH } from 'node-ssh';
import { $ } from 'zx';
import {
  appendKnownHost,
  fingerprint,
  keyType,
  knownHostsName,
  knownKeyTypes,
  readKnownHosts,
  verifyHostKey,
} from './known-hosts.ts';
import { q } from './shell.ts';
import type { Connector, ExecResult, OutputSink } from './types.ts';

/** Run as root: through `sudo -n` (never prompts; fails clearly if sudo wants a password). */
function elevate(command: string, become: boolean, isRoot: boolean): string {
  return become && !isRoot ? `sudo -n -H -- sh -c ${q(command)}` : `sh -c ${q(command)}`;
}

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  /** Private key file; when absent the SSH agent ($SSH_AUTH_SOCK) is used. */
  keyPath?: string;
  become: boolean;
  /** @default 10000 */
  connectTimeoutMs?: number;
  /** The host's key must be in this known_hosts file (OpenSSH's StrictHostKeyChecking=yes)... */
  knownHosts: string;
  /** ...or, when the file has no key for the host at all, is recorded there (StrictHostKeyChecking=accept-new). */
  acceptNewHostKeys: boolean;
  /**
   * Reach the host through this jump host (OpenSSH ProxyJump): an SSH session to the bastion, then
   * a direct-tcpip channel from it to host:port, over which the host's own SSH session runs. The
   * bastion's key is checked against the same known_hosts file under its own name.
   */
  jump?: SshJump;
}

export interface SshJump {
  host: string;
  port: number;
  user: string;
  /** Private key file; when absent the SSH agent ($SSH_AUTH_SOCK) is used. */
  keyPath?: string;
}

/** ssh2's default host key algorithms (lib/protocol/constants.js), known_hosts' key types moved to the front. */
const HOST_KEY_ALGORITHMS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];
function hostKeyAlgorithms(knownTypes: string[]): string[] {
  // A known ssh-rsa key is presented under the SHA-2 signature algorithms too.
  const first = knownTypes.flatMap((t) => (t === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', t] : [t]));
  return [...new Set([...first.filter((a) => HOST_KEY_ALGORITHMS.includes(a)), ...HOST_KEY_ALGORITHMS])];
}

export class SshConnector implements Connector {
  public readonly name: string;
  private readonly ssh = new NodeSSH();
  private jumpSsh?: NodeSSH;

  private constructor(private readonly target: SshTarget) {
    const j = target.jump;
    this.name = `${target.user}@${target.host}:${target.port}${j ? ` via ${j.user}@${j.host}:${j.port}` : ''}`;
  }

  static async connect(target: SshTarget): Promise<SshConnector> {
    const c = new SshConnector(target);
    const file = target.knownHosts;
    const timeout = target.connectTimeoutMs ?? 10_000;
    let sock: Awaited<ReturnType<NodeSSH['forwardOut']>> | undefined;
    if (target.jump) {
      const j = target.jump;
      const check = hostKeyCheck(knownHostsName(j.host, j.port), file, target.acceptNewHostKeys);
      c.jumpSsh = new NodeSSH();
      try {
        await c.jumpSsh.connect({
          host: j.host,
          port: j.port,
          username: j.user,
          ...(j.keyPath ? { privateKeyPath: j.keyPath } : { agent: process.env.SSH_AUTH_SOCK }),
          readyTimeout: timeout,
          hostVerifier: check.verify,
          algorithms: { serverHostKey: check.algorithms },
        });
      } catch (e) {
        await c.close();
        throw new Error(
          `cannot connect to ${c.name}: bastion ${j.user}@${j.host}:${j.port}: ${check.refused() ?? (e as Error).message}`,
          { cause: e },
        );
      }
      try {
        sock = await c.jumpSsh.forwardOut('127.0.0.1', 0, target.host, target.port);
      } catch (e) {
        await c.close();
        throw new Error(
          `cannot connect to ${c.name}: the bastion could not open a connection to ${target.host}:${target.port}: ${(e as Error).message}`,
          { cause: e },
        );
      }
    }
    const check = hostKeyCheck(knownHostsName(target.host, target.port), file, target.acceptNewHostKeys);
    try {
      await c.ssh.connect({
        ...(sock ? { sock } : { host: target.host, port: target.port }),
        username: target.user,
        ...(target.keyPath ? { privateKeyPath: target.keyPath } : { agent: process.env.SSH_AUTH_SOCK }),
        readyTimeout: timeout,
        hostVerifier: check.verify,
        algorithms: { serverHostKey: check.algorithms },
      });
    } catch (e) {
      await c.close();
      throw new Error(`cannot connect to ${c.name}: ${check.refused() ?? (e as Error).message}`, {
        cause: e,
      });
    }
    return c;
  }

  async exec(command: string, onOutput?: OutputSink, stdin?: string): Promise<ExecResult> {
    const r = await this.ssh.execCommand(elevate(command, this.target.become, this.target.user === 'root'), {
      ...(stdin !== undefined ? { stdin } : {}),
      onStdout: (b) => onOutput?.(b.toString('utf8'), 'stdout'),
      onStderr: (b) => onOutput?.(b.toString('utf8'), 'stderr'),
    });
    // node-ssh reports null when the channel closed without an exit status (connection lost).
    return { code: r.code ?? 255, stdout: r.stdout, stderr: r.stderr };
  }

  async put(localPath: string, remotePath: string): Promise<void> {
    await this.ssh.putFile(localPath, remotePath);
  }

  /** As the login user, not through sudo: SFTP writes as that user, so the directory must be theirs. */
  async stagingDir(): Promise<string> {
    const r = await this.ssh.execCommand('mktemp -d /tmp/cdk8s-provision.XXXXXXXXXX');
    if (r.code !== 0 || !r.stdout.trim().startsWith('/tmp/'))
      throw new Error(`cannot create a staging directory on ${this.name}: ${r.stderr.trim()}`);
    return r.stdout.trim();
  }

  async close(): Promise<void> {
    this.ssh.dispose();
    this.jumpSsh?.dispose();
  }
}

/**
 * OpenSSH's StrictHostKeyChecking against known_hosts for one host name (yes, or accept-new when
 * asked): the verifier for ssh2, and why it refused (ssh2 itself only says "Host denied").
 */
function hostKeyCheck(
  name: string,
  file: string,
  acceptNew: boolean,
): { verify(key: Buffer): boolean; refused(): string | undefined; algorithms: string[] } {
  let refused: string | undefined;
  return {
    algorithms: hostKeyAlgorithms(knownKeyTypes(readKnownHosts(file), name)),
    refused: () => refused,
    verify(key: Buffer): boolean {
      const v = verifyHostKey(readKnownHosts(file), name, key);
      const presented = `${keyType(key)} ${fingerprint(key)}`;
      if (v.status === 'known') return true;
      if (v.status === 'unknown' && acceptNew) {
        appendKnownHost(file, name, key);
        return true;
      }
      refused =
        v.status === 'unknown'
          ? `host key verification failed: ${name} is not in ${file} (it presented ${presented}). Compare with \`ssh-keygen -lf /etc/ssh/ssh_host_${keyType(key).replace(/^ssh-|-sha2-nistp\d+$/g, '')}_key.pub\` on the host, then run again with --accept-new-host-keys to record it (or add it to ${file} yourself)`
          : v.status === 'revoked'
            ? `host key verification failed: ${name} presented ${presented}, which ${file} marks @revoked`
            : `host key verification failed: the host key of ${name} has CHANGED: it presented ${presented}, ${file} has ${v.known.join(', ')}. Someone may be impersonating the host; if it was really reinstalled, remove the old key (ssh-keygen -R '${name}' -f ${file}) and run again`;
      return false;
    },
  };
}

/** This machine, through zx's $ (and sudo when become and not root). */
export class LocalConnector implements Connector {
  public readonly name = 'local';
  constructor(private readonly become = false) {}

  async exec(command: string, onOutput?: OutputSink, stdin?: string): Promise<ExecResult> {
    const p = $({
      nothrow: true,
      quiet: true,
      input: stdin ?? '',
    })`sh -c ${elevate(command, this.become, process.getuid?.() === 0)}`;
    if (onOutput) {
      p.stdout.on('data', (b: Buffer) => onOutput(b.toString('utf8'), 'stdout'));
      p.stderr.on('data', (b: Buffer) => onOutput(b.toString('utf8'), 'stderr'));
    }
    const r = await p;
    return { code: r.exitCode ?? 255, stdout: r.stdout, stderr: r.stderr };
  }

  async put(localPath: string, remotePath: string): Promise<void> {
    await copyFile(localPath, remotePath);
  }

  async stagingDir(): Promise<string> {
    return mkdtemp(join(tmpdir(), 'cdk8s-provision.'));
  }

  async close(): Promise<void> {}
}
