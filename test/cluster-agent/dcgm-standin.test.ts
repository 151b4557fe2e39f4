/**
 * The DCGM stand-in exporter (cluster/agent/dcgm-standin.ts) against an emulated GPU on a temp
 * socket, started as the node agent starts the dcgm-exporter pod: the runtime registered under the
 * DaemonSet's image, the DaemonSet's own environment and counters file, EMULATED_GPU_SOCKET. Then a
 * real Prometheus (Debian's /usr/bin/prometheus, prometheus.ts here) scrapes it as prometheus-operator does
 * (honorLabels false, the exporter pod's own pod/namespace/container as target labels) and the
 * dashboards', alerts' and adapter's GPU utilization queries are run against what it scraped.
 * Starts no cluster.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Testing } from 'cdk8s';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUNTIMES } from '../../cluster/agent/runtimes.ts';
import { EmulatedGpu, GPU_STATS_PATH, type GpuStats } from '../../cluster/agent/emulated-gpu.ts';
import { DCGM, DCGM_COUNTERS, DCGM_LABELS } from '../../constructs/dcgm-metrics.ts';
import { IMAGES } from '../../constructs/versions.ts';
import { adapterRuleFor } from '../../constructs/hpa/adapter-backend.ts';
import { createSystem, MONITORING_NAMESPACE } from '../../main.ts';
import { EMULATED_GPU_ENV } from '../../server/emulated-gpu.ts';
import { freePort } from '../free-port.ts';
import { Prometheus, sleep } from './prometheus.ts';

const NODE = 'gpu-standin-test';
/** Collection interval given to the stand-in (the DaemonSet's is 15 s). */
const INTERVAL_MS = 500;
const HELP_PREFIX = 'STAND-IN: emulated GPU, not DCGM';
/** The series dcgm-exporter labels with the exporter's pod (prometheus-operator's target labels). */
const EXPORTER_POD = { namespace: MONITORING_NAMESPACE, pod: 'dcgm-exporter-7xk2p', container: 'exporter' };

const system = createSystem(Testing.app(), {
  // HighGPULoad at once above 50 %, so that a few seconds of load make it fire.
  alertThresholds: { gpuUtilizationPercent: 50, gpuUtilizationFor: '0s' },
});
const svc = system.service;
const WORKLOAD = { namespace: svc.namespace, pod: 'inference-5d8f7c9b6-x7k2q', container: 'server' };
const SECOND = { namespace: svc.namespace, pod: 'inference-5d8f7c9b6-m4n8z', container: 'server' };

interface Exposition {
  readonly help: Map<string, string>;
  readonly type: Map<string, string>;
  readonly samples: { name: string; labels: Record<string, string>; value: number }[];
}

/** The text format, strictly enough for these series (promtool checks it independently). */
function parse(text: string): Exposition {
  const help = new Map<string, string>();
  const type = new Map<string, string>();
  const samples: Exposition['samples'] = [];
  for (const line of text.split('\n').filter((l) => l !== '')) {
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta) {
      (meta[1] === 'HELP' ? help : type).set(meta[2]!, meta[3]!);
      continue;
    }
    const m = /^([A-Za-z_:][A-Za-z0-9_:]*)\{(.*)\} (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsed line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of m[2]!.matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return { help, type, samples };
}

/** One job of `rows` rows on the device, as server/emulated-gpu.ts sends it. */
function runJob(socketPath: string, rows: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: `/run?rows=${rows}`, method: 'POST' }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Polls `probe` until it returns a value, or fails with the last state it saw. */
async function eventually<T>(
  what: string,
  ms: number,
  probe: () => Promise<T | { pending: string }>,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await probe();
    if (!(r && typeof r === 'object' && 'pending' in r)) return r as T;
    if (Date.now() > deadline) throw new Error(`${what}: not after ${ms} ms; last: ${r.pending}`);
    await sleep(200);
  }
}

describe('DCGM stand-in exporter (emulated GPU, not DCGM)', () => {
  let dir: string;
  let gpu: EmulatedGpu;
  let child: ChildProcess | undefined;
  let prometheus: Prometheus | undefined;
  let url: string;
  let output = '';
  const attached = { [WORKLOAD.pod]: true, [SECOND.pod]: false };

  const metrics = async (): Promise<Exposition> => {
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    return parse(await res.text());
  };
  const util = (e: Exposition) => e.samples.filter((s) => s.name === DCGM.gpuUtil);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dcgm-standin-'));
    gpu = new EmulatedGpu(NODE, join(dir, 'gpu.sock'));
    gpu.attach(WORKLOAD, () => attached[WORKLOAD.pod]!);
    gpu.attach(SECOND, () => attached[SECOND.pod]!);

    // The DaemonSet's container, as the agent launches it: its runtime, its env with the in-image
    // counters path mapped to the ConfigMap's file, the emulated GPU's socket.
    type Container = {
      image: string;
      args?: string[];
      env: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
      volumeMounts: { name: string; mountPath: string }[];
    };
    const ds = system.dcgm.daemonSet.toJson() as {
      spec: { template: { spec: { containers: Container[] } } };
    };
    const container = ds.spec.template.spec.containers[0]!;
    expect(container.image).toBe(IMAGES.dcgmExporter);
    const runtime = RUNTIMES[container.image];
    if (!runtime) throw new Error(`no agent runtime for ${container.image}`);
    const countersMount = container.volumeMounts.find((m) => m.name === 'counters')!.mountPath;
    mkdirSync(join(dir, 'counters'));
    writeFileSync(join(dir, 'counters', 'counters.csv'), system.dcgm.countersCsv);
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir };
    // As the agent resolves them: values with in-image paths mapped, spec.nodeName to the node.
    for (const e of container.env)
      env[e.name] =
        e.valueFrom?.fieldRef?.fieldPath === 'spec.nodeName'
          ? NODE
          : (e.value ?? '').replace(countersMount, join(dir, 'counters'));
    expect(env.NODE_NAME).toBe(NODE);
    expect(env.DCGM_EXPORTER_COLLECTORS).toBe(join(dir, 'counters', 'counters.csv'));
    expect(env.KUBERNETES_VIRTUAL_GPUS).toBe('true');
    env.DCGM_EXPORTER_LISTEN = `:${port}`;
    env.DCGM_EXPORTER_INTERVAL = String(INTERVAL_MS);
    env[EMULATED_GPU_ENV] = gpu.socketPath;
    const [bin, ...argv] = [...runtime.entrypoint(), ...(container.args ?? [])];
    child = spawn(bin!, argv, { cwd: runtime.workdir ?? dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    await eventually('the stand-in answers /health', 30_000, async () => {
      if (child?.exitCode !== null) throw new Error(`stand-in exited ${child?.exitCode}:\n${output}`);
      const res = await fetch(`${url}/health`).catch(() => undefined);
      return res?.status === 200 ? true : { pending: String(res?.status) };
    });

    prometheus = await Prometheus.start({
      scrapeConfigs: [
        {
          job_name: 'dcgm-exporter',
          honor_labels: false,
          static_configs: [{ targets: [`127.0.0.1:${port}`], labels: EXPORTER_POD }],
        },
      ],
      ruleGroups: system.alerts.groups,
      interval: '1s',
    });
  }, 60_000);

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    }
    await prometheus?.stop();
    gpu?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('GET /stats on the device socket answers its node, busy seconds and attached pods; jobs still run', async () => {
    const stats = await new Promise<GpuStats>((resolve, reject) => {
      const req = request({ socketPath: gpu.socketPath, path: GPU_STATS_PATH }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve(JSON.parse(body) as GpuStats));
      });
      req.on('error', reject);
      req.end();
    });
    expect(stats).toEqual({ node: NODE, busySeconds: gpu.busy, pods: [WORKLOAD] });
    const before = gpu.busy;
    expect(await runJob(gpu.socketPath, 1)).toBe(200);
    expect(gpu.busy - before).toBeCloseTo(0.012, 6); // DEFAULT_CAPACITY: 8 ms + 4 ms per row
    expect(await runJob(gpu.socketPath, 0)).toBe(400);
  });

  it('publishes DCGM_FI_DEV_GPU_UTIL near 0 while idle, labelled as dcgm-exporter labels it, HELP saying STAND-IN', async () => {
    const e = await eventually('a utilization series', 5_000, async () => {
      const e = await metrics();
      return util(e).length ? e : { pending: 'none yet' };
    });
    const names = [...new Set(e.samples.map((s) => s.name))].sort();
    // Derived: GPU_UTIL; constant 0: XID_ERRORS; the rest of the counters file is omitted.
    expect(names).toEqual([DCGM.gpuUtil, DCGM.xidErrors].sort());
    for (const n of names) expect(DCGM_COUNTERS.map(([f]) => f)).toContain(n);
    for (const n of names) {
      expect(e.help.get(n)).toMatch(new RegExp(`^${HELP_PREFIX}\\. `));
      expect(e.type.get(n)).toBe('gauge');
    }
    const [sample, ...more] = util(e);
    expect(more).toEqual([]);
    expect(sample!.labels).toEqual({
      [DCGM_LABELS.gpu]: '0',
      [DCGM_LABELS.uuid]: `GPU-standin-${NODE}`,
      pci_bus_id: '00000000:00:00.0',
      device: 'nvidia0',
      [DCGM_LABELS.modelName]: 'STAND-IN emulated GPU',
      [DCGM_LABELS.hostname]: NODE,
      ...WORKLOAD,
    });
    expect(sample!.value).toBeLessThanOrEqual(5);
    expect(e.samples.find((s) => s.name === DCGM.xidErrors)!.value).toBe(0);
  });

  it("passes promtool check metrics (only lint: dcgm-exporter's own camelCase label modelName)", async (ctx) => {
    if (spawnSync('which', ['promtool']).status !== 0) ctx.skip();
    const text = await (await fetch(`${url}/metrics`)).text();
    const check = (input: string) => spawnSync('promtool', ['check', 'metrics'], { input, encoding: 'utf8' });
    const r = check(text);
    const problems = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l !== '');
    expect(
      problems.filter((p) => !/label names should be written in 'snake_case' not 'camelCase'$/.test(p)),
    ).toEqual([]);
    expect([0, 3]).toContain(r.status);
    // The check is live: a broken value is a parse error.
    const broken = check(text.replace(/ 0\n/, ' zero\n'));
    expect(`${broken.stdout}${broken.stderr}`).toMatch(/error while linting: text format parsing error/);
  });

  it('after a prometheus-operator-style scrape the series carry every DCGM_LABELS name the queries use', async () => {
    const series = await eventually('scraped utilization series', 10_000, async () => {
      const s = await prometheus!.series(DCGM.gpuUtil, 60);
      return s.length ? s : { pending: (await prometheus!.targets()).map((t) => t.lastError).join('; ') };
    });
    for (const s of series) {
      for (const label of Object.values(DCGM_LABELS)) expect(s, label).toHaveProperty(label);
      expect(s[DCGM_LABELS.workloadPod]).toBe(WORKLOAD.pod);
      expect(s[DCGM_LABELS.workloadNamespace]).toBe(WORKLOAD.namespace);
      expect(s.pod).toBe(EXPORTER_POD.pod);
    }
    // The adapter's discovery query for the `gpu` HPA metric finds it.
    expect(await prometheus!.series(adapterRuleFor('gpu').seriesQuery, 60)).not.toEqual([]);
  });

  it('reports the device busy while jobs hold it (dashboards and HighGPULoad see it), and idle again after', async () => {
    let stop = false;
    const load = async () => {
      while (!stop) expect(await runJob(gpu.socketPath, 50)).toBe(200);
    };
    const loops = [load(), load()];
    try {
      const busy = await eventually('utilization above 80 %', 10_000, async () => {
        const v = util(await metrics())[0]?.value ?? -1;
        return v > 80 ? v : { pending: String(v) };
      });
      expect(busy).toBeLessThanOrEqual(100);

      // Every dashboard target reading DCGM_FI_DEV_GPU_UTIL (per GPU, per pod) has a value above 50.
      const targets = system.dashboards.panels
        .flatMap((p) => p.targets)
        .filter((t) => t.expr.includes(DCGM.gpuUtil));
      expect(targets.length).toBeGreaterThanOrEqual(2);
      expect(new RegExp(`^${svc.podNameRegex}$`).test(WORKLOAD.pod)).toBe(true);
      for (const t of targets) {
        const result = await eventually(`dashboard query ${t.expr} above 50`, 10_000, async () => {
          const r = await prometheus!.query(t.expr);
          return r.length && r.every((s) => s.value > 50) ? r : { pending: JSON.stringify(r) };
        });
        if (t.expr === svc.gpuUtilizationQuery())
          expect(result.map((s) => s.metric.pod)).toEqual([WORKLOAD.pod]);
        else expect(result.map((s) => s.metric[DCGM_LABELS.hostname])).toEqual([NODE]);
      }
      const alert = await eventually('HighGPULoad firing', 15_000, async () => {
        const a = (await prometheus!.alerts()).find((x) => x.labels.alertname === 'HighGPULoad');
        return a?.state === 'firing' ? a : { pending: JSON.stringify(a) };
      });
      expect(alert.labels).toMatchObject({ [DCGM_LABELS.hostname]: NODE, [DCGM_LABELS.gpu]: '0' });
      const gpuRules = (await prometheus!.ruleHealth()).filter((r) => r.group === 'gpu');
      expect(gpuRules.length).toBeGreaterThan(0);
      expect(gpuRules.filter((r) => r.health !== 'ok')).toEqual([]);
      expect((await prometheus!.alerts()).map((a) => a.labels.alertname)).not.toContain('GpuXidErrors');
    } finally {
      stop = true;
      await Promise.all(loops);
    }
    await eventually('utilization back under 5 %', 5_000, async () => {
      const v = util(await metrics())[0]?.value ?? -1;
      return v >= 0 && v <= 5 ? v : { pending: String(v) };
    });
  }, 60_000);

  it('one series per pod sharing the GPU (KUBERNETES_VIRTUAL_GPUS), none once no pod holds it', async () => {
    const podsNow = async (want: string[]) =>
      eventually(`series for ${want.join(', ') || 'no pod'}`, 5_000, async () => {
        const pods = util(await metrics())
          .map((s) => s.labels.pod!)
          .sort();
        return JSON.stringify(pods) === JSON.stringify(want) ? pods : { pending: JSON.stringify(pods) };
      });
    attached[SECOND.pod] = true;
    gpu.attach(SECOND, () => attached[SECOND.pod]!);
    expect(await podsNow([WORKLOAD.pod, SECOND.pod].sort())).toHaveLength(2);
    attached[WORKLOAD.pod] = false;
    expect(await podsNow([SECOND.pod])).toHaveLength(1);
    attached[SECOND.pod] = false;
    expect(await podsNow([])).toHaveLength(0);
    expect((await metrics()).samples).toEqual([]);
  });
});
