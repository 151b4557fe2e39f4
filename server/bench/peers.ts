/**
 * The peer table of `npm run bench` (also alone: `npm run bench -- --peers`): our server beside the
 * servers a user would pick instead, on the same bundled ONNX models, the same request bodies and
 * the same load generator (hey, closed loop, c=200), one stack at a time, all in one run.
 *
 * Per stack and model: req/s, p50/p99, the server's CPU per request (its whole process tree: gunicorn
 * workers, tritonserver and its Python stubs) and its PSS after the run; ratios to our server's
 * figures of the same run. Our server runs first and again last: the two rows show how far the
 * shared machine's load moved during the run.
 */
import { cpus, loadavg } from 'node:os';
import { hey, type LoadResult, type Target } from './load.ts';
import { payloads } from './payloads.ts';
import { stop, treeCpuSeconds, treePssMiB } from './processes.ts';
import {
  bareHono,
  flask,
  inferPath,
  kserve,
  MLP,
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
  readonly pssMiB?: number;
  readonly coldStart?: number;
}

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
}

export async function runPeers(opts: PeerOptions): Promise<PeerRow[]> {
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
          pssMiB: treePssMiB(server.child.pid!),
          coldStart: server.coldStart,
        });
      }
    } finally {
      await stop(server);
    }
  }
  return rows;
}

const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(v < 10 ? 1 : 0) : 'n/a');
const x = (a: number, b: number) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : 'n/a');

/** The table in Markdown, ratios against our server's first pass on the same model. */
export function peerTable(
  rows: readonly PeerRow[],
  opts: Pick<PeerOptions, 'concurrency' | 'duration'>,
): string {
  const ours = (model: string) =>
    rows.find((r) => r.stack === ourServer && r.pass === 1 && r.model === model);
  const lines = [
    `| stack | model | requests | 2xx/s | 2xx/s vs ours | p50 ms | p99 ms | p99 vs ours | failed | non-2xx | server CPU ms/2xx | PSS MiB | ready after s |`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const label = r.pass === 2 ? `${r.stack.label}, again at the end` : r.stack.label;
    if (typeof r.result === 'string') {
      lines.push(`| ${label} | ${r.model} | not run: ${r.result} |||||||||||`);
      continue;
    }
    const o = ours(r.model);
    const oRes = o && typeof o.result !== 'string' ? o.result : undefined;
    const res = r.result;
    lines.push(
      `| ${label} | ${r.model} | ${res.requests} | ${r.okRps!.toFixed(1)} | ${oRes ? x(r.okRps!, o!.okRps!) : 'n/a'} | ${ms(res.p50)} | ${ms(res.p99)} | ${oRes ? x(res.p99, oRes.p99) : 'n/a'} | ${res.failed} | ${res.non2xx} | ${r.cpuMsPerRequest!.toFixed(2)} | ${r.pssMiB!.toFixed(0)} | ${r.coldStart!.toFixed(1)} |`,
    );
  }
  return [
    `Closed loop, hey -c ${opts.concurrency}; squeezenet1_1: binary tensors (Triton's extension, 602 KB), -z ${opts.duration[SQUEEZENET]}; mlp: JSON tensors, -z ${opts.duration[MLP]}; each after a warm-up. 2xx/s: successful answers per second (hey's req/s also counts error answers). p50/p99: hey's, over all answers. CPU per 2xx: user + system seconds of the server's process tree during the run, over the successful answers. PSS: proportional set size of the tree after the run (shared pages counted once). Machine: ${cpus().length} CPUs, load average at the end ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}.`,
    '',
    ...lines,
  ].join('\n');
}
