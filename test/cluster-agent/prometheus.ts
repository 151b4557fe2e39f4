/**
 * A real Prometheus (the Debian package's /usr/bin/prometheus, or PROMETHEUS_BINARY) on loopback for
 * the agent's unit tests: a temp storage dir, a free port, the given scrape configs and rule groups,
 * and the few HTTP API calls the tests make. Not the cluster's Prometheus.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../free-port.ts';

export const PROMETHEUS_BINARY = process.env.PROMETHEUS_BINARY ?? '/usr/bin/prometheus';

export interface Sample {
  readonly metric: Record<string, string>;
  readonly value: number;
}

export interface Alert {
  readonly labels: Record<string, string>;
  readonly state: 'pending' | 'firing';
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Prometheus {
  /** Starts Prometheus (config as JSON, which is YAML) and waits until it is ready. */
  static async start(o: {
    scrapeConfigs: readonly Record<string, unknown>[];
    ruleGroups?: readonly unknown[];
    interval?: string;
  }): Promise<Prometheus> {
    const dir = mkdtempSync(join(tmpdir(), 'agent-test-prometheus-'));
    const interval = o.interval ?? '1s';
    const ruleFiles = o.ruleGroups ? [join(dir, 'rules.yaml')] : [];
    if (o.ruleGroups) writeFileSync(ruleFiles[0]!, JSON.stringify({ groups: o.ruleGroups }));
    const configFile = join(dir, 'prometheus.yaml');
    writeFileSync(
      configFile,
      JSON.stringify({
        global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: interval },
        rule_files: ruleFiles,
        scrape_configs: o.scrapeConfigs,
      }),
    );
    const p = new Prometheus(dir, configFile, await freePort());
    try {
      await p.waitReady(30_000);
      return p;
    } catch (e) {
      await p.stop();
      throw e;
    }
  }

  readonly url: string;
  private readonly process: ChildProcess;
  private log = '';
  private exited = false;

  private constructor(
    private readonly dir: string,
    configFile: string,
    port: number,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    this.process = spawn(
      PROMETHEUS_BINARY,
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
        '--web.console.templates=/dev/null',
        '--web.console.libraries=/dev/null',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.process.stderr!.on('data', (c: Buffer) => (this.log = (this.log + c.toString()).slice(-4000)));
    this.process.once('exit', () => (this.exited = true));
  }

  private async waitReady(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (this.exited) throw new Error(`prometheus exited:\n${this.log}`);
      if ((await fetch(`${this.url}/-/ready`).catch(() => undefined))?.ok) return;
      await sleep(200);
    }
    throw new Error(`prometheus not ready after ${ms} ms:\n${this.log}`);
  }

  private async api<T>(path: string, params: Record<string, string> = {}): Promise<T> {
    const u = new URL(`${this.url}/api/v1/${path}`);
    for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
    const body = (await (await fetch(u)).json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success')
      throw new Error(`prometheus ${path} ${JSON.stringify(params)}: ${body.error}`);
    return body.data;
  }

  /** Instant query returning an instant vector. */
  async query(promql: string): Promise<Sample[]> {
    const d = await this.api<{
      resultType: string;
      result: { metric: Record<string, string>; value: [number, string] }[];
    }>('query', { query: promql });
    if (d.resultType !== 'vector') throw new Error(`${promql}: a ${d.resultType}, not an instant vector`);
    return d.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  }

  /** `/api/v1/series` over the last `lookbackSeconds` (prometheus-adapter's discovery call). */
  series(match: string, lookbackSeconds = 600): Promise<Record<string, string>[]> {
    const now = Date.now() / 1000;
    return this.api('series', { 'match[]': match, start: String(now - lookbackSeconds), end: String(now) });
  }

  async alerts(): Promise<Alert[]> {
    return (await this.api<{ alerts: Alert[] }>('alerts')).alerts;
  }

  async targets(): Promise<{ health: string; lastError: string }[]> {
    return (await this.api<{ activeTargets: { health: string; lastError: string }[] }>('targets'))
      .activeTargets;
  }

  async ruleHealth(): Promise<{ group: string; rule: string; health: string; lastError?: string }[]> {
    const d = await this.api<{
      groups: { name: string; rules: { name: string; health: string; lastError?: string }[] }[];
    }>('rules');
    return d.groups.flatMap((g) => g.rules.map((r) => ({ group: g.name, rule: r.name, ...r })));
  }

  /** SIGTERM, SIGKILL after 10 s, then the temp dir goes. */
  async stop(): Promise<void> {
    if (!this.exited) {
      const exited = new Promise((r) => this.process.once('exit', r));
      this.process.kill('SIGTERM');
      const timer = setTimeout(() => this.process.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
