import { copyFile } from 'node:fs/promises';
import { NodeSSH } from 'node-ssh';
import { $ } from 'zx';
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
}

export class SshConnector implements Connector {
  public readonly name: string;
  private readonly ssh = new NodeSSH();

  private constructor(private readonly target: SshTarget) {
    this.name = `${target.user}@${target.host}:${target.port}`;
  }

  static async connect(target: SshTarget): Promise<SshConnector> {
    const c = new SshConnector(target);
    try {
      await c.ssh.connect({
        host: target.host,
        port: target.port,
        username: target.user,
        ...(target.keyPath ? { privateKeyPath: target.keyPath } : { agent: process.env.SSH_AUTH_SOCK }),
        readyTimeout: target.connectTimeoutMs ?? 10_000,
      });
    } catch (e) {
      c.ssh.dispose();
      throw new Error(`cannot connect to ${c.name}: ${(e as Error).message}`, { cause: e });
    }
    return c;
  }

  async exec(command: string, onOutput?: OutputSink): Promise<ExecResult> {
    const r = await this.ssh.execCommand(elevate(command, this.target.become, this.target.user === 'root'), {
      onStdout: (b) => onOutput?.(b.toString('utf8'), 'stdout'),
      onStderr: (b) => onOutput?.(b.toString('utf8'), 'stderr'),
    });
    // node-ssh reports null when the channel closed without an exit status (connection lost).
    return { code: r.code ?? 255, stdout: r.stdout, stderr: r.stderr };
  }

  async put(localPath: string, remotePath: string): Promise<void> {
    await this.ssh.putFile(localPath, remotePath);
  }

  async close(): Promise<void> {
    this.ssh.dispose();
  }
}

/** This machine, through zx's $ (and sudo when become and not root). */
export class LocalConnector implements Connector {
  public readonly name = 'local';
  constructor(private readonly become = false) {}

  async exec(command: string, onOutput?: OutputSink): Promise<ExecResult> {
    const p = $({
      nothrow: true,
      quiet: true,
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

  async close(): Promise<void> {}
}
