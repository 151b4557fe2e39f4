/**
 * `npm run bench`: the issue's seven scenarios on this machine, then the peer table (peers.ts), side
 * by side in one run, appended to BENCHMARKS.md. Loopback only; everything it starts it stops. About
 * 10 minutes. `npm run bench -- --peers`: the peer table alone.
 *
 * The load generators (hey, the open-loop client) run on the same cores as the servers they
 * measure: every figure includes that competition, the same for every row.
 */
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { payloads } from './payloads.ts';
import { hey, openLoop, type LoadResult, type Target } from './load.ts';
import { cpuSeconds, killChildren, peakRssMiB, stop } from './processes.ts';
import { runCeiling, type CeilingConfig, type CeilingRow } from './ceiling-run.ts';
import { cpuBudget, peerTable, peerTargets, runPeers } from './peers.ts';
import {
  bareHono,
  flask as flaskStack,
  MLP,
  MODELS,
  SERVER_DIR,
  SQUEEZENET,
  startServer as startOurServer,
} from './stacks.ts';

const ROOT = resolve(SERVER_DIR, '..');
/** `npm run bench -- --peers`: only the peer table (about 4 minutes). */
const PEERS_ONLY = process.argv.slice(2).includes('--peers');
for (const arg of process.argv.slice(2)) {
  if (arg !== '--peers')
    throw new Error(`npm run bench: unknown argument ${JSON.stringify(arg)}; allowed: --peers`);
}
/** BENCH_QUICK=1: a smoke run of every scenario with tiny counts, written to stdout only. */
const QUICK = process.env.BENCH_QUICK === '1';
const q = <T>(full: T, quick: T): T => (QUICK ? quick : full);
const CONCURRENCY = 200;
/** The recipe's `ab -n 10000 -c 200`. */
const RECIPE_REQUESTS = q(10_000, 400);
/** JSON tensors are parsed and checked number by number (150,528 per image): fewer requests keep the run bounded. */
const JSON_REQUESTS = q(1_000, 200);
/** PyTorch 1.13 on this CPU answers ~10-20 req/s: 600 requests (3 per client) take about a minute. */
const FLASK_REQUESTS = q(600, 200);
const OPEN_LOOP_SECONDS = q(20, 3);
/** Per variant and round; the variants alternate over two rounds so that a change in the load of the shared machine does not favour one of them. */
const BATCHING_REQUESTS = q(1_600, 200);
const BATCHING_ROUNDS = 2;
const MLP_DURATION = q('10s', '2s');
const PEER_SQUEEZENET_DURATION = q('20s', '2s');

const work = mkdtempSync(join(tmpdir(), 'cdk8s-gpu-inference-bench-'));
const log = (msg: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);

const startServer = (name: string, repository: string, env: Record<string, string> = {}) =>
  startOurServer(name, repository, work, env);

/** A copy of the bundled repository whose squeezenet config.json is changed by `edit`. */
function repositoryVariant(name: string, edit: (config: Record<string, unknown>) => void): string {
  const dir = join(work, name);
  cpSync(MODELS, dir, { recursive: true });
  const file = join(dir, SQUEEZENET, 'config.json');
  const config = JSON.parse(readFileSync(file, 'utf8'));
  edit(config);
  writeFileSync(file, JSON.stringify(config, null, 2));
  return dir;
}

/** In-process onnxruntime throughput of squeezenet, one fresh process per configuration. */
const runSqueezenetCeiling = (config: CeilingConfig) =>
  runCeiling(join(MODELS, SQUEEZENET, '1', 'model.onnx'), config, q(2, 0.2), [1, 4, 8, 16]);

const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(v < 10 ? 1 : 0) : 'n/a');
const row = (label: string, r: LoadResult, extra = '') =>
  `| ${label} | ${r.requests} | ${r.rps.toFixed(1)} | ${ms(r.p50)} | ${ms(r.p90)} | ${ms(r.p99)} | ${r.failed} | ${r.non2xx} |${extra}`;

const cpuModel = () => /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
const machine = () => `${cpus().length} CPUs (nproc), ${cpuModel()}`;
const loadAverage = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

async function peersSection(heading: string): Promise<string> {
  const opts = {
    concurrency: CONCURRENCY,
    duration: { [SQUEEZENET]: PEER_SQUEEZENET_DURATION, [MLP]: MLP_DURATION },
    perfAnalyzer: { concurrency: CONCURRENCY, windowMs: q(5000, 1000) },
  };
  const warmup = { [SQUEEZENET]: q(300, 50), [MLP]: q(2000, 200) };
  const results = await runPeers({ ...opts, warmup, work, log, ceilingSeconds: q(3, 0.3) });
  return [heading, '', peerTable(results, opts), '', peerTargets(results), '', cpuBudget(results), ''].join(
    '\n',
  );
}

/** `--peers`: the peer table alone, as its own section of BENCHMARKS.md. */
async function mainPeers(): Promise<void> {
  const startedAt = new Date();
  const loadBefore = loadAverage();
  const table = await peersSection('### Peers side by side');
  const section = [
    '',
    `## Peers, run of ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `- Command: \`npm run bench -- --peers\` (server/bench/peers.ts), ${((Date.now() - startedAt.getTime()) / 60000).toFixed(1)} min`,
    `- Machine: ${machine()}; Node ${process.version}; load average before ${loadBefore}, after ${loadAverage()}; shared with other work, so compare ratios within this run`,
    '',
    table,
  ].join('\n');
  if (!QUICK) appendFileSync(join(ROOT, 'BENCHMARKS.md'), section);
  console.log(section);
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const { files, binary, jsonBytes } = payloads(work);
  const binaryHeaders = binary.headers;
  const inferUrl = (port: number, model = SQUEEZENET) => `http://127.0.0.1:${port}/v2/models/${model}/infer`;
  const n = cpus().length;

  log('1/7 ceiling: in-process onnxruntime, thread settings x batch sizes');
  const ceilingConfigs: CeilingConfig[] = [
    { label: 'intra_op 0 (onnxruntime chooses), spinning', intra: 0, spinning: true },
    { label: 'intra_op 1, spinning', intra: 1, spinning: true },
    { label: `intra_op ${n}, spinning`, intra: n, spinning: true },
    { label: `intra_op ${n}, no spinning (the server's default)`, intra: n, spinning: false },
  ];
  const ceilingPass = async () => {
    const out: { config: CeilingConfig; rows: CeilingRow[] }[] = [];
    for (const config of ceilingConfigs) out.push({ config, rows: await runSqueezenetCeiling(config) });
    return out;
  };
  const ceilingsBefore = await ceilingPass();

  log('6/7 cold start (3 starts of the bundled repository)');
  const colds: number[] = [];
  for (let i = 0; i < 3; i++) {
    const s = await startServer(`cold-${i}`, MODELS);
    colds.push(s.coldStart);
    await stop(s);
  }
  colds.sort((a, b) => a - b);

  log('2/7 server, default settings: binary and JSON tensors at c=200');
  const server = await startServer('server', MODELS);
  const bin: Target = { url: inferUrl(server.port), bodyFile: files.binary, headers: binaryHeaders };
  const jsonT: Target = {
    url: inferUrl(server.port),
    bodyFile: files.json,
    headers: { 'Content-Type': 'application/json' },
  };
  await hey(bin, { concurrency: 50, requests: 300 }); // warm-up: JIT, arenas, connections
  const serverCpuBefore = cpuSeconds(server.child.pid!);
  const binaryRun = await hey(bin, { concurrency: CONCURRENCY, requests: RECIPE_REQUESTS });
  const serverCpu = cpuSeconds(server.child.pid!) - serverCpuBefore;
  const rssAfterBinary = peakRssMiB(server.child.pid!);
  log('1/7 ceiling again, right after the binary run (the server idles)');
  const ceilingsAfter = await ceilingPass();
  // The strictest ceiling: the best in-process figure of either pass.
  const best = [...ceilingsBefore, ...ceilingsAfter]
    .flatMap((c) => c.rows.map((r) => ({ ...r, label: c.config.label })))
    .reduce((a, b) => (b.samplesPerSecond > a.samplesPerSecond ? b : a));
  const jsonRun = await hey(jsonT, { concurrency: CONCURRENCY, requests: JSON_REQUESTS });

  log('3/7 open-loop at 70% of the measured binary capacity');
  const rate = Math.max(1, Math.round(binaryRun.rps * 0.7));
  const open = await openLoop(
    { url: bin.url, body: readFileSync(files.binary), headers: binaryHeaders },
    { rate, seconds: OPEN_LOOP_SECONDS },
  );

  log('5/7 MLP through the server');
  const mlpT = (port: number): Target => ({
    url: inferUrl(port, 'mlp'),
    bodyFile: files.mlp,
    headers: { 'Content-Type': 'application/json' },
  });
  await hey(mlpT(server.port), { concurrency: 50, requests: 2000 });
  const mlpServer = await hey(mlpT(server.port), { concurrency: CONCURRENCY, duration: MLP_DURATION });
  const peakRss = peakRssMiB(server.child.pid!);
  await stop(server);

  log('5/7 MLP through the server without the per-request access log (LOG_LEVEL=warn)');
  const quiet = await startServer('server-warn', MODELS, { LOG_LEVEL: 'warn' });
  await hey(mlpT(quiet.port), { concurrency: 50, requests: 2000 });
  const mlpQuiet = await hey(mlpT(quiet.port), { concurrency: CONCURRENCY, duration: MLP_DURATION });
  await stop(quiet);

  log('5/7 MLP: bare Hono endpoint returning a constant');
  const constant = await bareHono.start('constant', work);
  await hey(mlpT(constant.port), { concurrency: 50, requests: 2000 });
  const mlpConstant = await hey(mlpT(constant.port), { concurrency: CONCURRENCY, duration: MLP_DURATION });
  await stop(constant);

  log('4/7 batching on vs off, binary tensors at c=200');
  const batchingRuns: { label: string; result: LoadResult }[] = [];
  // Each variant is the bundled config.json with these keys replaced (undefined: removed).
  const bundledBatching = JSON.parse(readFileSync(join(MODELS, SQUEEZENET, 'config.json'), 'utf8'))
    .dynamic_batching as Record<string, unknown>;
  const batchingVariants: Record<string, Record<string, unknown>> = {
    'off (DirectScheduler, JS thread)': { dynamic_batching: undefined },
    [`on, bundled default ${JSON.stringify(bundledBatching)}`]: {},
    'on, default + max_queue_delay 2 ms': {
      dynamic_batching: { ...bundledBatching, max_queue_delay_microseconds: 2000 },
    },
    'on, default without preferred sizes (batches up to max_batch_size 64)': {
      dynamic_batching: { ...bundledBatching, preferred_batch_size: [] },
    },
    // The bundled config names no count: on CPU that is min(2, CPUs) instances (server/instances.ts).
    'on, default pinned to 1 instance x all CPUs (the bundled config before the CPU default)': {
      instances: 1,
    },
  };
  const variants = Object.fromEntries(
    Object.entries(batchingVariants).map(([label, changes], i) => [
      label,
      repositoryVariant(`batching-${i}`, (c) => {
        for (const [key, value] of Object.entries(changes)) {
          if (value === undefined) delete c[key];
          else c[key] = value;
        }
      }),
    ]),
  );
  for (let round = 1; round <= BATCHING_ROUNDS; round++) {
    for (const [i, [label, repo]] of Object.entries(variants).entries()) {
      const s = await startServer(`batching-${i}-${round}`, repo);
      const t = { ...bin, url: inferUrl(s.port) };
      await hey(t, { concurrency: 50, requests: 300 });
      batchingRuns.push({
        label: `${label}, round ${round}`,
        result: await hey(t, { concurrency: CONCURRENCY, requests: BATCHING_REQUESTS }),
      });
      await stop(s);
    }
  }

  log('7/7 the recipe stack: Flask + PyTorch under gunicorn (2 workers x 1 torch thread)');
  const flask = await flaskStack.start('flask', work);
  const flaskT = { ...bin, url: inferUrl(flask.port) };
  await hey(flaskT, { concurrency: 4, requests: 20 });
  const flaskRun = await hey(flaskT, { concurrency: CONCURRENCY, requests: FLASK_REQUESTS });
  await stop(flask);

  log('8. peers side by side (server/bench/peers.ts)');
  const peers = await peersSection('### 8. Peers side by side');

  // ---- report ----
  const ratio = (a: number, b: number) => (a / b).toFixed(2);
  const head =
    '| scenario | requests | req/s | p50 ms | p90 ms | p99 ms | failed | non-2xx |\n|---|---|---|---|---|---|---|---|';
  const targets = [
    [
      'squeezenet c=200 binary req/s >= 0.9x in-process ceiling',
      `${binaryRun.rps.toFixed(1)} / ${best.samplesPerSecond.toFixed(1)} = ${ratio(binaryRun.rps, best.samplesPerSecond)}x`,
      binaryRun.rps >= 0.9 * best.samplesPerSecond,
    ],
    [
      '>= 10x Flask + PyTorch req/s at c=200, lower p99',
      `${ratio(binaryRun.rps, flaskRun.rps)}x; p99 ${ms(binaryRun.p99)} vs ${ms(flaskRun.p99)} ms`,
      binaryRun.rps >= 10 * flaskRun.rps && binaryRun.p99 < flaskRun.p99,
    ],
    [
      '0 failed, 0 non-2xx in -n 10000 -c 200, default settings',
      `${binaryRun.failed} failed, ${binaryRun.non2xx} non-2xx of ${binaryRun.requests}`,
      binaryRun.failed === 0 && binaryRun.non2xx === 0 && binaryRun.requests === RECIPE_REQUESTS,
    ],
    [
      'MLP: server req/s >= 0.5x bare Hono',
      `${mlpServer.rps.toFixed(0)} / ${mlpConstant.rps.toFixed(0)} = ${ratio(mlpServer.rps, mlpConstant.rps)}x`,
      mlpServer.rps >= 0.5 * mlpConstant.rps,
    ],
    [
      'cold start to ready <= 2 s',
      `median ${colds[1].toFixed(2)} s (of ${colds.map((c) => c.toFixed(2)).join(', ')})`,
      colds[1] <= 2,
    ],
  ] as const;
  const section = [
    '',
    `## Run of ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `- Command: \`npm run bench\` (server/bench/bench.ts), ${((Date.now() - startedAt.getTime()) / 60000).toFixed(1)} min`,
    `- Machine: ${machine()}; Node ${process.version}; onnxruntime-node CPU; load average at the end ${loadAverage()}; shared with other work, so compare ratios within this run`,
    `- Load generator: hey ${CONCURRENCY} workers (closed loop) and the open-loop client in server/bench/load.ts, on the same cores as the server`,
    `- Payload: one 1x3x224x224 FP32 image: binary ${binary.body.length} bytes, JSON ${jsonBytes} bytes`,
    '',
    '### 1. Ceiling: in-process onnxruntime, squeezenet1_1, samples/s',
    '',
    'Measured twice: before the server runs and right after the binary run of scenario 2.',
    '',
    `| session options | pass | ${ceilingsBefore[0].rows.map((r) => `batch ${r.batch}`).join(' | ')} |`,
    `|---|---|${ceilingsBefore[0].rows.map(() => '---').join('|')}|`,
    ...ceilingsBefore.flatMap((c, i) =>
      [c, ceilingsAfter[i]].map(
        (p, k) =>
          `| ${p.config.label} | ${k === 0 ? 'before' : 'after'} | ${p.rows.map((r) => r.samplesPerSecond.toFixed(1)).join(' | ')} |`,
      ),
    ),
    '',
    `Ceiling (best of both passes): ${best.samplesPerSecond.toFixed(1)} samples/s (${best.label}, batch ${best.batch}).`,
    '',
    '### 2-7. Over HTTP',
    '',
    head,
    row(`2. server, binary tensors, default settings (-n ${RECIPE_REQUESTS} -c ${CONCURRENCY})`, binaryRun),
    row(`2. server, JSON tensors, default settings (-n ${JSON_REQUESTS} -c ${CONCURRENCY})`, jsonRun),
    row(
      `3. open loop at ${rate} req/s (70% of binary capacity), ${OPEN_LOOP_SECONDS} s; latency from the due time`,
      open,
    ),
    ...batchingRuns.map((r) =>
      row(`4. batching ${r.label}, binary -c ${CONCURRENCY} -n ${BATCHING_REQUESTS}`, r.result),
    ),
    row(`5. MLP through the server, JSON, -c ${CONCURRENCY} -z ${MLP_DURATION}`, mlpServer),
    row(
      `5. MLP through the server, LOG_LEVEL=warn (no access log), -c ${CONCURRENCY} -z ${MLP_DURATION}`,
      mlpQuiet,
    ),
    row(`5. bare Hono constant endpoint, same client, -c ${CONCURRENCY} -z ${MLP_DURATION}`, mlpConstant),
    row(`7. Flask + PyTorch baseline (gunicorn 2 workers), binary -c ${CONCURRENCY}`, flaskRun),
    '',
    `6. Cold start (process start to ready, both bundled models): ${colds.map((c) => c.toFixed(2)).join(' s, ')} s. Peak RSS of the server (VmHWM): ${rssAfterBinary.toFixed(0)} MiB after the binary run, ${peakRss.toFixed(0)} MiB after the JSON, open-loop and MLP runs (200 concurrent 1.4 MB JSON bodies, parsed).`,
    '',
    `CPU during the binary run of scenario 2 (${binaryRun.seconds.toFixed(1)} s wall, ${(n * binaryRun.seconds).toFixed(0)} CPU-seconds on ${n} cores): the server used ${serverCpu.toFixed(1)} CPU-s (${(serverCpu / binaryRun.seconds).toFixed(2)} cores), hey ${binaryRun.clientCpuSeconds?.toFixed(1) ?? 'n/a'} CPU-s (${((binaryRun.clientCpuSeconds ?? NaN) / binaryRun.seconds).toFixed(2)} cores).`,
    '',
    `The open-loop client (Node, in the bench process) used ${open.clientCpuSeconds?.toFixed(1) ?? 'n/a'} CPU-s in its ${open.seconds.toFixed(1)} s (${((open.clientCpuSeconds ?? NaN) / open.seconds).toFixed(2)} cores).`,
    '',
    '### Targets',
    '',
    '| target | measured | met |',
    '|---|---|---|',
    ...targets.map(([t, m, ok]) => `| ${t} | ${m} | ${ok ? 'yes' : '**no**'} |`),
    '',
    peers,
  ].join('\n');
  if (!QUICK) appendFileSync(join(ROOT, 'BENCHMARKS.md'), section);
  console.log(section);
}

process.on('SIGINT', () => {
  killChildren();
  process.exit(130);
});
try {
  await (PEERS_ONLY ? mainPeers() : main());
  rmSync(work, { recursive: true, force: true });
} catch (err) {
  log(`failed; logs kept in ${work}`);
  throw err;
} finally {
  killChildren();
}
