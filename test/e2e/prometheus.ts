/**
 * A real Prometheus (the Debian package's /usr/bin/prometheus) on loopback, for the signal-chain test
 * and the demo: a temp storage dir, an ephemeral port, the given config and rule files, and the few
 * HTTP API calls the chain needs (instant query, series, alerts, targets).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { freePort } from '../free-port.ts';

export const PROMETHEUS_BINARY = process.env.PROMETHEUS_BINARY ?? '/usr/bin/prometheus';

export interface PrometheusOptions {
  /** The `scrape_configs` entries. */
  readonly scrapeConfigs: readonly Record<string, unknown>[];
  /** Rule files as parsed YAML documents (`{ groups: [...] }`). */
  readonly ruleFiles?: readonly Record<string, unknown>[];
  /** Global scrape and rule evaluation interval. @default '1s' */
  readonly interval?: string;
  /** Milliseconds to wait for /-/ready. @default 30000 */
  readonly readyTimeoutMs?: number;
}

export interface Sample {
  readonly metric: Record<string, string>;
  readonly value: number;
}

export interface PrometheusAlert {
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly state: 'pending' | 'firing';
  readonly activeAt: string;
  readonly value: string;
}

export interface ScrapeTarget {
  readonly scrapePool: string;
  readonly labels: Record<string, string>;
  readonly discoveredLabels: Record<string, string>;
  readonly scrapeUrl: string;
  readonly health: 'up' | 'down' | 'unknown';
  readonly lastError: string;
}

interface ApiResponse<T> {
  status: 'success' | 'error';
  data: T;
  errorType?: string;
  error?: string;
}

export class Prometheus {
  /** Start Prometheus and wait until it is ready. */
  static async start(options: PrometheusOptions): Promise<Prometheus> {
    const dir = mkdtempSync(join(tmpdir(), 'e2e-prometheus-'));
    const interval = options.interval ?? '1s';
    const ruleFiles = (options.ruleFiles ?? []).map((doc, i) => {
      const file = join(dir, `rules-${i}.yaml`);
      writeFileSync(file, stringify(doc));
      return file;
    });
    const config = {
      global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
      rule_files: ruleFiles,
      scrape_configs: options.scrapeConfigs,
    };
    const configFile = join(dir, 'prometheus.yaml');
    writeFileSync(configFile, stringify(config));

    // A port picked here may be taken before Prometheus binds it: try a few.
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const prometheus = new Prometheus(dir, configFile, port);
      try {
        await prometheus.waitReady(options.readyTimeoutMs ?? 30_000);
        return prometheus;
      } catch (error) {
        lastError = error;
        await prometheus.stop({ keepDir: true });
      }
    }
    rmSync(dir, { recursive: true, force: true });
    throw lastError;
  }

  readonly url: string;
  readonly configFile: string;
  private readonly process: ChildProcess;
  private readonly log: string[] = [];
  private exited = false;

  private constructor(
    private readonly dir: string,
    configFile: string,
    readonly port: number,
  ) {
    this.configFile = configFile;
    this.url = `http://127.0.0.1:${port}`;
    this.process = spawn(
      PROMETHEUS_BINARY,
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(dir, `data-${port}`)}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
        // Debian's default would serve console templates from /etc; not needed here.
        '--web.console.templates=/dev/null',
        '--web.console.libraries=/dev/null',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.process.stderr?.setEncoding('utf8');
    this.process.stderr?.on('data', (chunk: string) => {
      this.log.push(chunk);
      if (this.log.length > 200) this.log.shift();
    });
    this.process.once('exit', () => (this.exited = true));
  }

  /** The last lines Prometheus logged (warnings and errors), for failure messages. */
  get logTail(): string {
    return this.log.join('').split('\n').slice(-20).join('\n');
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exited) throw new Error(`prometheus exited before it was ready:\n${this.logTail}`);
      try {
        const response = await fetch(`${this.url}/-/ready`);
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      await sleep(200);
    }
    throw new Error(`prometheus not ready after ${timeoutMs} ms:\n${this.logTail}`);
  }

  private async api<T>(path: string, params: Record<string, string> = {}): Promise<T> {
    const url = new URL(`${this.url}/api/v1/${path}`);
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
    const response = await fetch(url);
    const body = (await response.json()) as ApiResponse<T>;
    if (body.status !== 'success') {
      throw new Error(`prometheus ${path} ${JSON.stringify(params)}: ${body.errorType}: ${body.error}`);
    }
    return body.data;
  }

  /** Instant query; an instant vector or scalar result as samples (a scalar has no labels). */
  async query(promql: string): Promise<Sample[]> {
    const data = await this.api<{ resultType: string; result: unknown }>('query', { query: promql });
    if (data.resultType === 'scalar') {
      const [, value] = data.result as [number, string];
      return [{ metric: {}, value: Number(value) }];
    }
    if (data.resultType !== 'vector') {
      throw new Error(`query ${promql} returned a ${data.resultType}, expected an instant vector`);
    }
    return (data.result as { metric: Record<string, string>; value: [number, string] }[]).map((r) => ({
      metric: r.metric,
      value: Number(r.value[1]),
    }));
  }

  /** The raw JSON of an instant query, as a client such as KEDA parses it. */
  async queryRaw(promql: string): Promise<unknown> {
    return this.api<unknown>('query', { query: promql });
  }

  /** `/api/v1/series` (what prometheus-adapter's discovery calls), over the last `lookbackSeconds`. */
  async series(match: string, lookbackSeconds = 600): Promise<Record<string, string>[]> {
    const now = Date.now() / 1000;
    return this.api<Record<string, string>[]>('series', {
      'match[]': match,
      start: String(now - lookbackSeconds),
      end: String(now),
    });
  }

  async alerts(): Promise<PrometheusAlert[]> {
    return (await this.api<{ alerts: PrometheusAlert[] }>('alerts')).alerts;
  }

  async targets(): Promise<ScrapeTarget[]> {
    return (await this.api<{ activeTargets: ScrapeTarget[] }>('targets')).activeTargets;
  }

  /** Names of the rule groups loaded, with any rule that failed to evaluate. */
  async ruleHealth(): Promise<{ group: string; rule: string; health: string; lastError?: string }[]> {
    const data = await this.api<{
      groups: { name: string; rules: { name: string; health: string; lastError?: string }[] }[];
    }>('rules');
    return data.groups.flatMap((g) =>
      g.rules.map((r) => ({ group: g.name, rule: r.name, health: r.health, lastError: r.lastError })),
    );
  }

  /** SIGTERM, wait for exit (SIGKILL after 10 s), remove the temp dir. */
  async stop(options: { keepDir?: boolean } = {}): Promise<void> {
    if (!this.exited) {
      const exited = new Promise<void>((resolve) => this.process.once('exit', () => resolve()));
      this.process.kill('SIGTERM');
      const timer = setTimeout(() => this.process.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    if (!options.keepDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
