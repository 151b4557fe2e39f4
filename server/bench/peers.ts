/**
 * The peer table of `npm run bench` (also alone: `npm run bench -- --peers`): our server beside the
 * servers a user would pick instead, on the same bundled ONNX models, the same request bodies and
 * the same load generator (hey, closed loop, c=200), one stack at a time, all in one run.
 *
 * Per stack and model: req/s, p50/p99, the server's CPU per request (its whole process tree: gunicorn
 * workers, tritonserver and its Python stubs) and its PSS after the run; ratios to our server's
 * figures of the same run and to the in-process onnxruntime ceiling (ceiling.ts, measured before
 * the first stack and after the last). Our server runs first and again last: the two rows show how
 * far the shared machine's load moved during the run. The stacks with Triton's configuration and
 * statistics extensions (ours, PyTriton) are also loaded by perf_analyzer, REST and gRPC.
 */
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { runCeiling, type CeilingConfig, type CeilingRow } from './ceiling-run.ts';
import { hey, type LoadResult, type Target } from './load.ts';
import { payloads } from './payloads.ts';
import {
  perfAnalyzer,
  perfAnalyzerMissing,
  type PerfAnalyzerResult,
  type Protocol,
} from './perf-analyzer-run.ts';
import { stop, treeCpuSeconds, treePssMiB } from './processes.ts';
import {
  bareHono,
  flask,
  inferPath,
  kserve,
  MLP,
  MODELS,
  ourServer,
  pytriton,
  SQUEEZENET,
  torchserve,
  type Stack,
} from './stacks.ts';

/** Every stack of the table, in the order they run (ourServer again at the end). */
export const PEERS: readonly Stack[] = [ourServer, bareHono, flask, kserve, pytriton, torchserve];

export interface PeerRow {
  readonly stack: Stack;
  /** Which pass: 1, or 2 for our server's second run at the end. */
  readonly pass: number;
  readonly model: string;
  /** A load result, or why the stack did not run. */
  readonly result: LoadResult | string;
  /** 2xx answers per second: hey's req/s counts errors too (TorchServe's 503s when its queue is full). */
  readonly okRps?: number;
  /** Server CPU milliseconds per 2xx answer, over the measured run. */
  readonly cpuMsPerRequest?: number;
  /** hey's own CPU milliseconds per 2xx answer: it shares the cores with the server. */
  readonly clientCpuMsPerRequest?: number;
  readonly pssMiB?: number;
  readonly coldStart?: number;
}

/** In-process onnxruntime (ceiling.ts) for one model: samples/s per batch size, before or after the stacks. */
export interface CeilingPass {
  readonly model: string;
  readonly when: 'before' | 'after';
  /** CEILING_CONFIGS' label. */
  readonly config: string;
  readonly rows: readonly CeilingRow[];
}

/** One perf_analyzer run (perf-analyzer-run.ts) against a stack. */
export interface PerfAnalyzerRow {
  readonly stack: Stack;
  readonly pass: number;
  readonly model: string;
  readonly protocol: Protocol;
  /** A result, or why it did not run. */
  readonly result: PerfAnalyzerResult | string;
}

export interface PeerResults {
  readonly rows: PeerRow[];
  readonly ceilings: CeilingPass[];
  readonly perfAnalyzer: PerfAnalyzerRow[];
}

/**
 * The batch sizes of the ceiling per model: 1, each request's own size, and for squeezenet 4, the
 * size its bundled batcher forms (preferred_batch_size) under this load.
 */
export const CEILING_BATCHES: Readonly<Record<string, readonly number[]>> = {
  [SQUEEZENET]: [1, 4],
  [MLP]: [1],
};

/**
 * onnxruntime's defaults (its own thread count, spinning threads): its best on an idle machine; and
 * the same without spinning, which holds up when other work shares the cores (spinning threads
 * then lose their time slices: BENCHMARKS.md's ceiling tables). The ceiling is the best of them.
 * One thread without spinning is never the fastest, but it is the cheapest CPU per sample (no
 * thread-pool synchronisation): the CPU budget (cpuBudget) takes onnxruntime's cost from it.
 */
export const CEILING_CONFIGS: readonly CeilingConfig[] = [
  { label: 'onnxruntime defaults (spinning)', intra: 0, spinning: true },
  { label: 'no spinning', intra: 0, spinning: false },
  { label: 'one thread, no spinning', intra: 1, spinning: false },
];

/** The model perf_analyzer loads: the one the targets are set on (the MLP's rate is the client's). */
export const PERF_ANALYZER_MODELS = [SQUEEZENET];

export interface PeerOptions {
  /** Scratch directory: bodies and logs. */
  readonly work: string;
  readonly concurrency: number;
  /** hey -z per model (e.g. '20s'). */
  readonly duration: Readonly<Record<string, string>>;
  /** Requests sent at c=50 before each measured run, per model. */
  readonly warmup: Readonly<Record<string, number>>;
  readonly log: (msg: string) => void;
  readonly stacks?: readonly Stack[];
  /** Seconds per batch size of each ceiling measurement. */
  readonly ceilingSeconds: number;
  /** perf_analyzer's concurrency and window; undefined: not run. */
  readonly perfAnalyzer?: { readonly concurrency: number; readonly windowMs: number };
}

export async function runPeers(opts: PeerOptions): Promise<PeerResults> {
  const { files, binary } = payloads(opts.work);
  const targets = (stack: Stack, port: number): Record<string, Target> => ({
    [SQUEEZENET]: {
      url: `http://127.0.0.1:${port}${inferPath(stack, SQUEEZENET)}`,
      bodyFile: files.binary,
      headers: binary.headers,
    },
    [MLP]: {
      url: `http://127.0.0.1:${port}${inferPath(stack, MLP)}`,
      bodyFile: files.mlp,
      headers: { 'Content-Type': 'application/json' },
    },
  });
  const stacks = opts.stacks ?? PEERS;
  const order = [...stacks.map((s) => ({ stack: s, pass: 1 })), { stack: ourServer, pass: 2 }];
  const rows: PeerRow[] = [];
  const ceilings: CeilingPass[] = [];
  const perfRows: PerfAnalyzerRow[] = [];
  const paMissing = perfAnalyzerMissing();
  const ceilingPass = async (when: CeilingPass['when']) => {
    for (const model of [SQUEEZENET, MLP]) {
      for (const config of CEILING_CONFIGS) {
        opts.log(`peers: in-process onnxruntime ceiling, ${model}, ${config.label}, ${when}`);
        const file = join(MODELS, model, '1', 'model.onnx');
        const rows = await runCeiling(file, config, opts.ceilingSeconds, CEILING_BATCHES[model]!);
        ceilings.push({ model, when, config: config.label, rows });
      }
    }
  };
  await ceilingPass('before');
  for (const [i, { stack, pass }] of order.entries()) {
    const why = stack.unavailable();
    if (why) {
      opts.log(`peers: ${stack.label}: not run: ${why}`);
      for (const model of stack.models) rows.push({ stack, pass, model, result: why });
      continue;
    }
    opts.log(`peers ${i + 1}/${order.length}: ${stack.label}`);
    let server;
    try {
      server = await stack.start(`peer-${i}`, opts.work);
    } catch (err) {
      const msg = `did not start: ${(err as Error).message.split('\n')[0]}`;
      opts.log(`peers: ${stack.label}: ${(err as Error).message}`);
      for (const model of stack.models) rows.push({ stack, pass, model, result: msg });
      continue;
    }
    try {
      for (const model of stack.models) {
        const target = targets(stack, server.port)[model];
        // Warm-up: JIT, arenas, connections, Triton's first batches.
        await hey(target, { concurrency: 50, requests: opts.warmup[model] });
        const cpu0 = treeCpuSeconds(server.child.pid!);
        const result = await hey(target, { concurrency: opts.concurrency, duration: opts.duration[model] });
        const cpu = treeCpuSeconds(server.child.pid!) - cpu0;
        const answered = result.requests - result.failed - result.non2xx;
        rows.push({
          stack,
          pass,
          model,
          result,
          okRps: answered / result.seconds,
          cpuMsPerRequest: (cpu * 1000) / Math.max(1, answered),
          clientCpuMsPerRequest: ((result.clientCpuSeconds ?? NaN) * 1000) / Math.max(1, answered),
          pssMiB: treePssMiB(server.child.pid!),
          coldStart: server.coldStart,
        });
        if (opts.perfAnalyzer && server.grpcPort !== undefined && PERF_ANALYZER_MODELS.includes(model)) {
          for (const protocol of ['http', 'grpc'] as const) {
            const address = `127.0.0.1:${protocol === 'http' ? server.port : server.grpcPort}`;
            opts.log(`peers: perf_analyzer ${protocol} ${model} c=${opts.perfAnalyzer.concurrency}`);
            let result: PerfAnalyzerResult | string;
            if (paMissing) result = paMissing;
            else {
              try {
                result = await perfAnalyzer(model, protocol, address, {
                  ...opts.perfAnalyzer,
                  dir: opts.work,
                });
              } catch (err) {
                result = `failed: ${(err as Error).message.split('\n')[0]}`;
                opts.log(`peers: perf_analyzer: ${(err as Error).message}`);
              }
            }
            perfRows.push({ stack, pass, model, protocol, result });
          }
        }
      }
    } finally {
      await stop(server);
    }
  }
  await ceilingPass('after');
  return { rows, ceilings, perfAnalyzer: perfRows };
}

/** The strictest ceiling of a model: the best samples/s of any batch size in either pass. */
export function bestCeiling(ceilings: readonly CeilingPass[], model: string): number {
  return Math.max(
    ...ceilings.filter((c) => c.model === model).flatMap((c) => c.rows.map((r) => r.samplesPerSecond)),
  );
}

const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(v < 10 ? 1 : 0) : 'n/a');
const x = (a: number, b: number) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : 'n/a');

/** The table in Markdown, ratios against our server's first pass on the same model. */
export function peerTable(
  results: PeerResults,
  opts: Pick<PeerOptions, 'concurrency' | 'duration' | 'perfAnalyzer'>,
): string {
  const { rows, ceilings } = results;
  const ours = (model: string) =>
    rows.find((r) => r.stack === ourServer && r.pass === 1 && r.model === model);
  const ceiling = (model: string) => bestCeiling(ceilings, model);
  const lines = [
    `| stack | model | requests | 2xx/s | 2xx/s vs ours | 2xx/s vs ceiling | p50 ms | p99 ms | p99 vs ours | failed | non-2xx | server CPU ms/2xx | hey CPU ms/2xx | PSS MiB | ready after s |`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const label = r.pass === 2 ? `${r.stack.label}, again at the end` : r.stack.label;
    if (typeof r.result === 'string') {
      lines.push(`| ${label} | ${r.model} | not run: ${r.result} |||||||||||||`);
      continue;
    }
    const o = ours(r.model);
    const oRes = o && typeof o.result !== 'string' ? o.result : undefined;
    const res = r.result;
    lines.push(
      `| ${label} | ${r.model} | ${res.requests} | ${r.okRps!.toFixed(1)} | ${oRes ? x(r.okRps!, o!.okRps!) : 'n/a'} | ${x(r.okRps!, ceiling(r.model))} | ${ms(res.p50)} | ${ms(res.p99)} | ${oRes ? x(res.p99, oRes.p99) : 'n/a'} | ${res.failed} | ${res.non2xx} | ${r.cpuMsPerRequest!.toFixed(2)} | ${(r.clientCpuMsPerRequest ?? NaN).toFixed(2)} | ${r.pssMiB!.toFixed(0)} | ${r.coldStart!.toFixed(1)} |`,
    );
  }
  const batchCols = (model: string) => CEILING_BATCHES[model]!.map((b) => `batch ${b}`);
  const ceilingLines = [SQUEEZENET, MLP].flatMap((model) => [
    `| model | session | pass | ${batchCols(model).join(' | ')} |`,
    `|---|---|---|${batchCols(model)
      .map(() => '---')
      .join('|')}|`,
    ...ceilings
      .filter((c) => c.model === model)
      .map(
        (c) =>
          `| ${model} | ${c.config} | ${c.when} | ${c.rows.map((r) => `${r.samplesPerSecond.toFixed(1)} (${r.cpuMsPerSample.toFixed(2)})`).join(' | ')} |`,
      ),
    '',
  ]);
  const pa = results.perfAnalyzer;
  const paOurs = (model: string, protocol: Protocol) =>
    pa.find((p) => p.stack === ourServer && p.pass === 1 && p.model === model && p.protocol === protocol);
  const paLines = pa.map((p) => {
    const label = p.pass === 2 ? `${p.stack.label}, again at the end` : p.stack.label;
    if (typeof p.result === 'string')
      return `| ${label} | ${p.model} | ${p.protocol} | not run: ${p.result} ||||||`;
    const o = paOurs(p.model, p.protocol)?.result;
    const oRes = o && typeof o !== 'string' ? o : undefined;
    const r = p.result;
    return `| ${label} | ${p.model} | ${p.protocol} | ${r.inferPerSecond.toFixed(1)} | ${oRes ? x(r.inferPerSecond, oRes.inferPerSecond) : 'n/a'} | ${x(r.inferPerSecond, ceiling(p.model))} | ${ms(r.p50Ms)} | ${ms(r.p99Ms)} | ${oRes ? x(r.p99Ms, oRes.p99Ms) : 'n/a'} |`;
  });
  return [
    `Closed loop, hey -c ${opts.concurrency}; squeezenet1_1: binary tensors (Triton's extension, 602 KB), -z ${opts.duration[SQUEEZENET]}; mlp: JSON tensors, -z ${opts.duration[MLP]}; each after a warm-up. 2xx/s: successful answers per second (hey's req/s also counts error answers). vs ceiling: over the best in-process onnxruntime figure of the same model in this run (below). p50/p99: hey's, over all answers. CPU per 2xx: user + system seconds of the server's process tree (server) and of hey (GNU time) during the run, over the successful answers. PSS: proportional set size of the tree after the run (shared pages counted once). Machine: ${cpus().length} CPUs, load average at the end ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}.`,
    '',
    ...lines,
    '',
    `In-process onnxruntime (server/bench/ceiling.ts: one session, onnxruntime's default thread count with and without spinning, and one thread, random inputs, no HTTP), samples/s (in brackets the process's CPU ms per sample), before the first stack and after the last; the ceiling is the best samples/s of a model:`,
    '',
    ...ceilingLines,
    ...(opts.perfAnalyzer
      ? [
          `perf_analyzer (tritonclient 2.51.0) on the stacks with Triton's configuration and statistics extensions, ${PERF_ANALYZER_MODELS.join(', ')}, --concurrency-range ${opts.perfAnalyzer.concurrency}, time windows of ${opts.perfAnalyzer.windowMs} ms (-p), any spread accepted, the average of its last 3 windows; random inputs of the model's shape, binary over REST; right after the stack's hey runs:`,
          '',
          '| stack | model | protocol | infer/s | vs ours (same protocol) | vs ceiling | p50 ms | p99 ms | p99 vs ours |',
          '|---|---|---|---|---|---|---|---|---|',
          ...paLines,
        ]
      : []),
  ].join('\n');
}

/**
 * Issue #12's targets on squeezenet at c=200, from this run: ahead of every peer in throughput with a
 * lower p99, per load generator and protocol (hey: REST binary; perf_analyzer: REST and gRPC), and
 * >= 0.9x the in-process ceiling. Our server's first pass is the one compared.
 */
export function peerTargets(results: PeerResults): string {
  const model = SQUEEZENET;
  const lines = ['| target (squeezenet1_1, c=200) | ours | peers | met |', '|---|---|---|---|'];
  const fmt = (rate: number, p99: number) => `${rate.toFixed(1)}/s, p99 ${ms(p99)} ms`;
  const ours = results.rows.find((r) => r.stack === ourServer && r.pass === 1 && r.model === model);
  const ceiling = bestCeiling(results.ceilings, model);
  if (ours && typeof ours.result !== 'string') {
    const peers = results.rows.filter(
      (r) =>
        r.stack !== ourServer && r.stack !== bareHono && r.model === model && typeof r.result !== 'string',
    );
    const beaten = peers.every(
      (p) => ours.okRps! > p.okRps! && (ours.result as LoadResult).p99 < (p.result as LoadResult).p99,
    );
    lines.push(
      `| hey, REST binary: more 2xx/s than every peer, lower p99 | ${fmt(ours.okRps!, ours.result.p99)} | ${peers
        .map((p) => `${p.stack.label.split(' (')[0]}: ${fmt(p.okRps!, (p.result as LoadResult).p99)}`)
        .join('; ')} | ${peers.length > 0 && beaten ? 'yes' : '**no**'} |`,
      `| hey: >= 0.9x the in-process ceiling | ${x(ours.okRps!, ceiling)} (${ours.okRps!.toFixed(1)} / ${ceiling.toFixed(1)}) | | ${ours.okRps! >= 0.9 * ceiling ? 'yes' : '**no**'} |`,
    );
  }
  for (const protocol of ['http', 'grpc'] as const) {
    const pa = results.perfAnalyzer.filter(
      (p) => p.model === model && p.protocol === protocol && p.pass === 1,
    );
    const o = pa.find((p) => p.stack === ourServer)?.result;
    if (!o || typeof o === 'string') continue;
    const peers = pa.filter((p) => p.stack !== ourServer && typeof p.result !== 'string');
    const beaten = peers.every((p) => {
      const r = p.result as PerfAnalyzerResult;
      return o.inferPerSecond > r.inferPerSecond && o.p99Ms < r.p99Ms;
    });
    lines.push(
      `| perf_analyzer ${protocol}: more infer/s than every peer, lower p99 | ${fmt(o.inferPerSecond, o.p99Ms)} | ${peers
        .map(
          (p) =>
            `${p.stack.label.split(' (')[0]}: ${fmt((p.result as PerfAnalyzerResult).inferPerSecond, (p.result as PerfAnalyzerResult).p99Ms)}`,
        )
        .join('; ')} | ${peers.length > 0 && beaten ? 'yes' : '**no**'} |`,
      `| perf_analyzer ${protocol}: >= 0.9x the in-process ceiling | ${x(o.inferPerSecond, ceiling)} | | ${o.inferPerSecond >= 0.9 * ceiling ? 'yes' : '**no**'} |`,
    );
  }
  return lines.join('\n');
}

/**
 * Where the cores went at our server's squeezenet rate (hey, first pass), and the most any server
 * could answer on this machine: onnxruntime's cheapest in-process CPU per sample plus hey's own CPU
 * per request, over the cores. When that bound is below 0.9x the ceiling, no server meets the
 * target here with the load generator on the same cores; what our server spends beyond
 * onnxruntime is its own cost.
 */
export function cpuBudget(results: PeerResults, cores: number = cpus().length): string {
  const ours = results.rows.find((r) => r.stack === ourServer && r.pass === 1 && r.model === SQUEEZENET);
  if (!ours || typeof ours.result === 'string') return '';
  const ort = Math.min(
    ...results.ceilings
      .filter((c) => c.model === SQUEEZENET)
      .flatMap((c) => c.rows.map((r) => r.cpuMsPerSample)),
  );
  const server = ours.cpuMsPerRequest!;
  const client = ours.clientCpuMsPerRequest!;
  const rate = ours.okRps!;
  const ceiling = bestCeiling(results.ceilings, SQUEEZENET);
  const bound = (cores * 1000) / (ort + client);
  const busy = ((server + client) * rate) / (cores * 10);
  return (
    `CPU budget (squeezenet1_1, hey, our server's first pass; ${cores} cores are ${cores * 1000} CPU ms per second): ` +
    `per answer our server used ${server.toFixed(2)} ms and hey ${client.toFixed(2)} ms, ${busy.toFixed(0)}% of the cores at ${rate.toFixed(1)}/s. ` +
    `onnxruntime alone needs ${ort.toFixed(2)} ms per sample (the cheapest in-process figure above), so our server's own work ` +
    `(HTTP, decoding, batching, garbage collection, the kernel's copies) is ${(server - ort).toFixed(2)} ms per answer. ` +
    `A server that spent nothing beyond onnxruntime, with hey on the same cores, answers at most ${cores * 1000} / ` +
    `(${ort.toFixed(2)} + ${client.toFixed(2)}) = ${bound.toFixed(1)}/s, ${x(bound, ceiling)} the ceiling` +
    (bound < 0.9 * ceiling
      ? ': below 0.9x, so no server meets that target on this machine while the load generator shares its cores.'
      : '.')
  );
}
