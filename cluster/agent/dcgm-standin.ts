/**
 * STAND-IN for NVIDIA dcgm-exporter, NOT DCGM: there is no GPU on this machine, so no DCGM field can
 * be read. The node agent runs this program as the dcgm-exporter pod (runtimes.ts,
 * IMAGES.dcgmExporter) and it publishes, in dcgm-exporter's names and labels, what the node's
 * EMULATED GPU (emulated-gpu.ts) can honestly say. Every HELP line starts with "STAND-IN: emulated
 * GPU, not DCGM" and every series has modelName="STAND-IN emulated GPU".
 *
 *   node --import tsx cluster/agent/dcgm-standin.ts [--address=:9400] [--collect-interval=MS]
 *        [--collectors=FILE] [--kubernetes]
 *
 * Configured as dcgm-exporter is (flags over environment over defaults): DCGM_EXPORTER_LISTEN
 * (default `:` + DCGM_EXPORTER_PORT), DCGM_EXPORTER_INTERVAL (ms, default 30000),
 * DCGM_EXPORTER_COLLECTORS (the counters CSV; default DCGM_COUNTERS), DCGM_EXPORTER_KUBERNETES,
 * KUBERNETES_VIRTUAL_GPUS, NODE_NAME; plus EMULATED_GPU_SOCKET, the device's socket, which the agent
 * sets (pod-runner.ts). Serves `GET /metrics` and `GET /health` on the listen address.
 *
 * Counters: only those the counters CSV lists, and of those only the ones below.
 * - DCGM_FI_DEV_GPU_UTIL, DERIVED: the device's busy seconds (GET /stats) over the last collection
 *   interval, x 100, clamped to 0..100 and rounded to an integer as DCGM's field is. Sampled every
 *   DCGM_EXPORTER_INTERVAL as dcgm-exporter collects, not per scrape, so that a second scraper does
 *   not shorten the window. Absent until the first interval has passed.
 * - DCGM_FI_DEV_XID_ERRORS, CONSTANT 0 ("no XID error"): true by construction, the emulated device
 *   has no fault path.
 * - OMITTED: DCGM_FI_DEV_FB_USED, DCGM_FI_DEV_FB_FREE, DCGM_FI_DEV_GPU_TEMP, DCGM_FI_DEV_POWER_USAGE,
 *   DCGM_FI_DEV_MEM_COPY_UTIL. The emulation has no memory, temperature, power or copy engine; any
 *   value would be invented. The dashboards' memory and temperature panels show no data and the
 *   GpuMemoryPressure and GpuTemperatureHigh alerts have nothing to fire on.
 *
 * Labels, as dcgm-exporter 4.x writes them: gpu="0", UUID="GPU-standin-<node>", pci_bus_id,
 * device="nvidia0", modelName="STAND-IN emulated GPU", Hostname (NODE_NAME, else the node the
 * device belongs to), and with Kubernetes mapping the `container`, `namespace` and `pod` the device
 * is allocated to (the agent attaches GPU pods to the device; a prometheus-operator scrape renames
 * them exported_*, DCGM_LABELS). With KUBERNETES_VIRTUAL_GPUS=true (time-slicing), one series per
 * pod sharing the GPU, each with the whole GPU's value, and none while no pod holds the GPU, as
 * dcgm-exporter does; without it, one series labelled with the last pod attached. The `vgpu`
 * label (the device plugin's replica index) is not written: the agent assigns no replicas.
 */
import { readFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { DCGM, DCGM_COUNTERS, DCGM_LABELS } from '../../constructs/dcgm-metrics.ts';
import { DCGM_EXPORTER_PORT } from '../../constructs/dcgm-monitoring.ts';
import { EMULATED_GPU_ENV } from '../../server/emulated-gpu.ts';
import { GPU_STATS_PATH, type GpuStats } from './emulated-gpu.ts';

/** Prefix of every HELP text. */
const STANDIN_HELP = 'STAND-IN: emulated GPU, not DCGM.';
const STANDIN_MODEL_NAME = 'STAND-IN emulated GPU';
/** dcgm-exporter's default collection interval, ms. */
const DEFAULT_INTERVAL_MS = 30_000;

/** What the stand-in can say about each field, from one collection. */
const PRODUCERS: Readonly<Record<string, (c: Collected) => number>> = {
  [DCGM.gpuUtil]: (c) => c.utilPercent,
  [DCGM.xidErrors]: () => 0,
};

interface Collected {
  readonly stats: GpuStats;
  readonly utilPercent: number;
}

interface Counter {
  readonly field: string;
  readonly type: string;
  readonly help: string;
}

/** A flag's value (`--name=v`, `--name v`, `-s v`), or true for a bare boolean flag. */
function flag(argv: readonly string[], long: string, short: string): string | true | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith(`--${long}=`)) return a.slice(long.length + 3);
    if (a === `--${long}` || a === `-${short}`) {
      const next = argv[i + 1];
      return next === undefined || next.startsWith('-') ? true : next;
    }
  }
  return undefined;
}

const truthy = (v: string | true | undefined) => v === true || v === 'true' || v === '1';

/** The counters CSV (dcgm-exporter format: `field, type, help`, `#` comments). */
function parseCounters(text: string): Counter[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const [field = '', type = '', ...help] = l.split(',').map((s) => s.trim());
      return { field, type, help: help.join(', ') };
    });
}

function getStats(socketPath: string): Promise<GpuStats> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: GPU_STATS_PATH, method: 'GET', timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`emulated GPU stats: ${res.statusCode}`));
        try {
          resolve(JSON.parse(body) as GpuStats);
        } catch (e) {
          reject(e as Error);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('emulated GPU stats: timeout')));
    req.on('error', reject);
    req.end();
  });
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function main(): void {
  const argv = process.argv.slice(2);
  const env = process.env;
  const address = String(flag(argv, 'address', 'a') ?? env.DCGM_EXPORTER_LISTEN ?? `:${DCGM_EXPORTER_PORT}`);
  const intervalMs = Number(
    flag(argv, 'collect-interval', 'c') ?? env.DCGM_EXPORTER_INTERVAL ?? DEFAULT_INTERVAL_MS,
  );
  const collectorsFile = flag(argv, 'collectors', 'f') ?? env.DCGM_EXPORTER_COLLECTORS;
  // dcgm-exporter's --kubernetes defaults to false; the DaemonSet sets DCGM_EXPORTER_KUBERNETES.
  const kubernetes = truthy(flag(argv, 'kubernetes', 'k') ?? env.DCGM_EXPORTER_KUBERNETES);
  const virtualGpus = truthy(env.KUBERNETES_VIRTUAL_GPUS);
  const socketPath = env[EMULATED_GPU_ENV];
  const sep = address.lastIndexOf(':');
  const host = address.slice(0, sep) || '0.0.0.0';
  const port = Number(address.slice(sep + 1));
  const fail = (msg: string): never => {
    console.error(`dcgm-standin: ${msg}`);
    process.exit(1);
  };
  if (!socketPath) fail(`${EMULATED_GPU_ENV} is not set: the node agent gives it to the dcgm-exporter pod`);
  if (sep < 0 || !Number.isInteger(port) || port < 1 || port > 65535) fail(`bad listen address ${address}`);
  if (!Number.isFinite(intervalMs) || intervalMs < 100) fail(`bad collect interval ${intervalMs} ms`);
  if (collectorsFile === true) fail('--collectors needs a file');

  // As dcgm-exporter: a counters file that cannot be read is fatal (the kubelet restarts the pod).
  const listed =
    typeof collectorsFile === 'string'
      ? parseCounters(readFileSync(collectorsFile, 'utf8'))
      : DCGM_COUNTERS.map(([field, type, help]) => ({ field, type, help }));
  const counters = listed.filter((c) => PRODUCERS[c.field] !== undefined);
  const skipped = listed.filter((c) => PRODUCERS[c.field] === undefined).map((c) => c.field);
  if (skipped.length) console.log(`dcgm-standin: not published (no emulated source): ${skipped.join(', ')}`);

  let previous: { at: number; busy: number } | undefined;
  let collected: Collected | undefined;
  let healthy = false;
  const collect = async (): Promise<void> => {
    try {
      const stats = await getStats(socketPath!);
      const at = performance.now();
      if (previous) {
        const rate = (stats.busySeconds - previous.busy) / ((at - previous.at) / 1000);
        const utilPercent = Math.round(Math.min(100, Math.max(0, rate * 100)));
        collected = { stats, utilPercent };
      }
      previous = { at, busy: stats.busySeconds };
      healthy = true;
    } catch (e) {
      console.error(`dcgm-standin: ${(e as Error).message}`);
      healthy = false;
      previous = undefined;
      collected = undefined;
    }
  };
  const loop = (delay: number) =>
    setTimeout(() => void collect().then(() => loop(intervalMs)), delay).unref();
  // A baseline now, the first value after at most a second, then one per interval.
  void collect().then(() => loop(Math.min(intervalMs, 1000)));

  const render = (c: Collected): string => {
    const base: Record<string, string> = {
      [DCGM_LABELS.gpu]: '0',
      [DCGM_LABELS.uuid]: `GPU-standin-${c.stats.node}`,
      pci_bus_id: '00000000:00:00.0',
      device: 'nvidia0',
      [DCGM_LABELS.modelName]: STANDIN_MODEL_NAME,
      [DCGM_LABELS.hostname]: env.NODE_NAME || c.stats.node,
    };
    const pods = c.stats.pods.map((p) => ({ container: p.container, namespace: p.namespace, pod: p.pod }));
    const labelSets = !kubernetes
      ? [base]
      : virtualGpus
        ? pods.map((p) => ({ ...base, ...p }))
        : [{ ...base, ...pods.at(-1) }];
    const lines: string[] = [];
    for (const counter of counters) {
      if (labelSets.length === 0) continue;
      const value = PRODUCERS[counter.field]!(c);
      lines.push(`# HELP ${counter.field} ${STANDIN_HELP} ${counter.help}`);
      lines.push(`# TYPE ${counter.field} ${counter.type}`);
      for (const labels of labelSets) {
        const text = Object.entries(labels)
          .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
          .join(',');
        lines.push(`${counter.field}{${text}} ${value}`);
      }
    }
    return lines.length ? lines.join('\n') + '\n' : '';
  };

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') res.writeHead(405).end();
    else if (path === '/health') res.writeHead(healthy ? 200 : 503).end(healthy ? 'OK' : 'KO');
    else if (path !== '/metrics') res.writeHead(404).end();
    else
      res
        .writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
        .end(collected ? render(collected) : '');
  });
  server.once('error', (e) => fail(e.message));
  server.listen(port, host, () =>
    console.log(
      `dcgm-standin: STAND-IN dcgm-exporter (emulated GPU, not DCGM) on ${host}:${port}, ` +
        `device ${socketPath}, interval ${intervalMs} ms, kubernetes ${kubernetes}, virtual GPUs ${virtualGpus}`,
    ),
  );
  // Nothing to flush: exit at once (Prometheus holds keep-alive connections that close() waits for).
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
}

main();
