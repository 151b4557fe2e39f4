/**
 * Inference server processes standing in for the pods of the synthesized Deployment: each is the
 * real server (server/main.ts through tsx) on its own loopback port, named like a Deployment's pod
 * (`<deployment>-<replicaset hash>-<suffix>`) so pod-name regexes in queries match as in a cluster.
 * The namespace/pod labels come from the scrape job (see scrape-config.ts), exactly as a
 * prometheus-operator scrape adds them; the server itself knows nothing of Kubernetes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { freePort } from '../free-port.ts';
import { sleep } from './prometheus.ts';
import type { LoopbackPod } from './scrape-config.ts';

export const ROOT = join(import.meta.dirname, '..', '..');

const ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** The random suffixes Kubernetes gives ReplicaSet and pod names (same alphabet, same lengths). */
function randomSuffix(length: number): string {
  return [...randomBytes(length)].map((b) => ALPHABET[b % ALPHABET.length]).join('');
}

export interface ServerPodOptions {
  readonly namespace: string;
  readonly deployment: string;
  readonly modelRepository: string;
  /** Extra environment (e.g. DRAIN_SECONDS). */
  readonly env?: Record<string, string>;
  /** @default 120000 */
  readonly readyTimeoutMs?: number;
}

export class ServerPod implements LoopbackPod {
  /** Start `count` pods of one ReplicaSet and wait until every one is ready. */
  static async startReplicaSet(count: number, options: ServerPodOptions): Promise<ServerPod[]> {
    const hash = randomSuffix(10);
    const pods: ServerPod[] = [];
    try {
      for (let i = 0; i < count; i++) {
        pods.push(
          new ServerPod(`${options.deployment}-${hash}-${randomSuffix(5)}`, await freePort(), options),
        );
      }
      await Promise.all(pods.map((p) => p.waitReady(options.readyTimeoutMs ?? 120_000)));
      return pods;
    } catch (error) {
      await Promise.all(pods.map((p) => p.stop()));
      throw error;
    }
  }

  readonly address: string;
  readonly url: string;
  readonly namespace: string;
  /** Epoch seconds the process started (the pod's status.startTime). */
  readonly startedAt = Date.now() / 1000;
  /** Epoch seconds readiness first passed (the Ready condition's lastTransitionTime). */
  readyAt = Number.NaN;
  private readonly child: ChildProcess;
  private readonly output: string[] = [];
  private exitCode: number | null | undefined;

  private constructor(
    readonly name: string,
    readonly port: number,
    options: ServerPodOptions,
  ) {
    this.namespace = options.namespace;
    this.address = `127.0.0.1:${port}`;
    this.url = `http://${this.address}`;
    this.child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(ROOT, 'server', 'main.ts'),
        '--model-repository',
        options.modelRepository,
        '--port',
        String(port),
        '--host',
        '127.0.0.1',
      ],
      {
        cwd: ROOT,
        env: { ...process.env, LOG_LEVEL: 'warn', ...options.env },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    for (const stream of [this.child.stdout, this.child.stderr]) {
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        this.output.push(chunk);
        if (this.output.length > 100) this.output.shift();
      });
    }
    this.child.once('exit', (code) => (this.exitCode = code));
  }

  get pid(): number {
    return this.child.pid!;
  }

  get logTail(): string {
    return this.output.join('').split('\n').slice(-15).join('\n');
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exitCode !== undefined) {
        throw new Error(`server pod ${this.name} exited (${this.exitCode}) before ready:\n${this.logTail}`);
      }
      try {
        if ((await fetch(`${this.url}/v2/health/ready`)).ok) {
          this.readyAt = Date.now() / 1000;
          return;
        }
      } catch {
        // not listening yet
      }
      await sleep(250);
    }
    throw new Error(`server pod ${this.name} not ready after ${timeoutMs} ms:\n${this.logTail}`);
  }

  /** SIGTERM (the server drains), SIGKILL after 15 s. */
  async stop(): Promise<void> {
    if (this.exitCode !== undefined) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
}
