/**
 * The pieces of `npm run bench`'s peer table (server/bench/stacks.ts, processes.ts), so that they
 * cannot rot between benchmark runs: each stack starts for real, answers one request per model it
 * serves with the bodies the benchmark sends, is loaded by perf_analyzer over REST and gRPC where the
 * table does so, and stops with every process it started; the ceiling runner and the table's
 * arithmetic (ratios, targets) on given figures. No timings are checked.
 *
 * KServe and PyTriton run from the virtual environment of server/bench/requirements.txt (.ci/run
 * creates it with server/bench/venv.sh). The Flask and TorchServe stacks are not here: both need
 * Debian's python3-torch and its ~200 dependencies, which .ci/run does not install.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeInferResponse, encodeInferRequest, encodeTensor } from '../../server/binary.ts';
import { runCeiling } from '../../server/bench/ceiling-run.ts';
import { hey, type Target } from '../../server/bench/load.ts';
import {
  bestCeiling,
  cpuBudget,
  peerTable,
  peerTargets,
  type PeerResults,
  type PeerRow,
} from '../../server/bench/peers.ts';
import { perfAnalyzer } from '../../server/bench/perf-analyzer-run.ts';
import { payloads } from '../../server/bench/payloads.ts';
import { processTree, stop, treeCpuSeconds, treePssMiB, type Started } from '../../server/bench/processes.ts';
import {
  bareHono,
  kserve,
  MLP,
  MODELS,
  ourServer,
  pytriton,
  SQUEEZENET,
  type Stack,
} from '../../server/bench/stacks.ts';
import { reference } from '../server/helpers.ts';

const work = mkdtempSync(join(tmpdir(), 'bench-peers-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The reference input, encoded as the benchmark encodes that model's body (payloads.ts). */
function referenceBody(model: string) {
  const { input } = reference(model);
  if (model === SQUEEZENET) {
    return encodeInferRequest({
      inputs: [{ name: input.name, datatype: 'FP32', shape: input.shape, binary: encodeTensor(input.data) }],
      outputs: [{ name: 'output', parameters: { binary_data: true } }],
    });
  }
  return {
    body: JSON.stringify({
      inputs: [{ name: input.name, datatype: 'FP32', shape: input.shape, data: Array.from(input.data) }],
    }),
    headers: { 'Content-Type': 'application/json' },
  };
}

/** The first output of a V2 response, binary or JSON. */
async function firstOutput(res: Response): Promise<{ shape: readonly number[]; data: number[] }> {
  const body = new Uint8Array(await res.arrayBuffer());
  const { json, binary } = decodeInferResponse(body, res.headers.get('inference-header-content-length'));
  const out = json.outputs[0] as { name: string; shape: readonly number[]; data?: number[] };
  const data = binary.get(out.name) ?? out.data;
  return { shape: out.shape, data: Array.from(data as ArrayLike<number>) };
}

async function infer(s: Started, model: string): Promise<Response> {
  const { body, headers } = referenceBody(model);
  return fetch(`http://127.0.0.1:${s.port}/v2/models/${model}/infer`, { method: 'POST', body, headers });
}

/** Runs `check` against a started stack, then stops it and checks that its whole process tree is gone. */
async function withStack(stack: Stack, check: (s: Started) => Promise<void>): Promise<void> {
  expect(stack.unavailable()).toBeUndefined();
  const s = await stack.start(stack.label.split(' ')[0].toLowerCase(), work);
  const tree = processTree(s.child.pid!);
  try {
    await check(s);
  } finally {
    await stop(s);
  }
  // A stopped stack leaves no process behind (tritonserver outliving PyTriton, a uvicorn worker).
  await expect.poll(() => tree.filter((pid) => existsSync(`/proc/${pid}`)), { timeout: 10_000 }).toEqual([]);
}

describe.each([
  { stack: ourServer, multiProcess: false },
  { stack: kserve, multiProcess: false },
  { stack: pytriton, multiProcess: true },
])('$stack.label', ({ stack, multiProcess }) => {
  it('answers both bundled models as onnxruntime computes them, then stops with all its processes', async () => {
    await withStack(stack, async (s) => {
      for (const model of [SQUEEZENET, MLP]) {
        const res = await infer(s, model);
        expect(res.status, `${model}: ${res.status}`).toBe(200);
        const { shape, data } = await firstOutput(res);
        const want = reference(model).output;
        expect(shape).toEqual(want.shape);
        // PyTorch's output for the reference input (server/reference): every stack runs the same ONNX file.
        const worst = Math.max(...data.map((v, i) => Math.abs(v - want.data[i])));
        expect(worst, model).toBeLessThan(1e-4);
      }
      // What the table reports about the server: its process tree's CPU and memory.
      const tree = processTree(s.child.pid!);
      // PyTriton runs tritonserver and a Python stub per model as children of the script.
      if (multiProcess) expect(tree.length).toBeGreaterThan(1);
      expect(treeCpuSeconds(s.child.pid!)).toBeGreaterThan(0);
      expect(treePssMiB(s.child.pid!)).toBeGreaterThan(10);
      // The table's second load generator: perf_analyzer over REST and gRPC, on the stacks with
      // Triton's configuration and statistics extensions (not KServe's ModelServer).
      expect(s.grpcPort !== undefined, 'gRPC port').toBe(stack !== kserve);
      if (s.grpcPort === undefined) return;
      for (const protocol of ['http', 'grpc'] as const) {
        const address = `127.0.0.1:${protocol === 'http' ? s.port : s.grpcPort}`;
        const r = await perfAnalyzer(SQUEEZENET, protocol, address, {
          concurrency: 2,
          windowMs: 1000,
          dir: work,
        });
        expect(r.inferPerSecond, protocol).toBeGreaterThan(0);
        expect(r.p50Ms, protocol).toBeGreaterThan(0);
        expect(r.p99Ms, protocol).toBeGreaterThanOrEqual(r.p50Ms);
        expect(r.requests, protocol).toBeGreaterThan(0);
      }
    });
  }, 240_000);
});

it('the ceiling runner measures onnxruntime in-process at each batch size asked', async () => {
  const rows = await runCeiling(
    join(MODELS, MLP, '1', 'model.onnx'),
    { label: 'defaults', intra: 0, spinning: true },
    0.2,
    [1, 4],
  );
  expect(rows.map((r) => r.batch)).toEqual([1, 4]);
  for (const r of rows) {
    expect(r.samplesPerSecond).toBeGreaterThan(100);
    // A whole process's CPU over the loop: above zero, and at most the cores' worth of each sample's time.
    expect(r.cpuMsPerSample).toBeGreaterThan(0);
    expect(r.cpuMsPerSample).toBeLessThanOrEqual((cpus().length * 1000) / r.samplesPerSecond + 1);
  }
}, 60_000);

describe('the table and its targets', () => {
  const load = (rps: number, p99: number) => ({
    requests: rps * 10,
    rps,
    p50: p99 / 2,
    p90: p99,
    p99,
    failed: 0,
    non2xx: 0,
    seconds: 10,
  });
  const row = (stack: Stack, pass: number, rps: number, p99: number): PeerRow => ({
    stack,
    pass,
    model: SQUEEZENET,
    result: load(rps, p99),
    okRps: rps,
    cpuMsPerRequest: 10,
    clientCpuMsPerRequest: 1,
    pssMiB: 300,
    coldStart: 1,
  });
  const pa = (stack: Stack, protocol: 'http' | 'grpc', rate: number, p99: number) => ({
    stack,
    pass: 1,
    model: SQUEEZENET,
    protocol,
    result: { inferPerSecond: rate, p50Ms: p99 / 2, p99Ms: p99, requests: 100 },
  });
  const results = (ours: number, oursP99: number): PeerResults => ({
    rows: [row(ourServer, 1, ours, oursP99), row(pytriton, 1, 150, 1400), row(ourServer, 2, ours, oursP99)],
    ceilings: [
      {
        model: SQUEEZENET,
        when: 'before',
        config: 'spinning',
        rows: [
          { batch: 1, samplesPerSecond: 300, cpuMsPerSample: 7 },
          { batch: 4, samplesPerSecond: 400, cpuMsPerSample: 5 },
        ],
      },
      {
        model: SQUEEZENET,
        when: 'after',
        config: 'no spinning',
        rows: [
          { batch: 1, samplesPerSecond: 320, cpuMsPerSample: 6 },
          { batch: 4, samplesPerSecond: 380, cpuMsPerSample: 4 },
        ],
      },
      {
        model: MLP,
        when: 'before',
        config: 'spinning',
        rows: [{ batch: 1, samplesPerSecond: 50_000, cpuMsPerSample: 0.01 }],
      },
    ],
    perfAnalyzer: [
      pa(ourServer, 'http', ours, oursP99),
      pa(pytriton, 'http', 150, 1400),
      pa(ourServer, 'grpc', ours, oursP99),
      pa(pytriton, 'grpc', 160, 900),
    ],
  });

  it('puts each stack over the best in-process figure of this run', () => {
    expect(bestCeiling(results(200, 1000).ceilings, SQUEEZENET)).toBe(400);
    const table = peerTable(results(200, 1000), {
      concurrency: 200,
      duration: { [SQUEEZENET]: '20s', [MLP]: '10s' },
      perfAnalyzer: { concurrency: 200, windowMs: 5000 },
    });
    // ours 200 / 400 and PyTriton 150 / 400, in hey's table and perf_analyzer's.
    expect(table).toMatch(/\| our server [^\n]*\| 200\.0 \| 1\.00x \| 0\.50x \|/);
    expect(table).toMatch(/\| PyTriton [^\n]*\| 150\.0 \| 0\.75x \| 0\.38x \|/);
    expect(table).toContain('| squeezenet1_1 | spinning | before | 300.0 (7.00) | 400.0 (5.00) |');
    expect(table).toMatch(/\| PyTriton [^\n]*\| grpc \| 160\.0 \| 0\.80x \| 0\.40x \|/);
  });

  it('meets a target only when ours is faster with a lower p99, and >= 0.9x the ceiling', () => {
    const lines = (t: string) => t.split('\n').filter((l) => l.startsWith('| '));
    const met = (ours: number, p99: number) =>
      lines(peerTargets(results(ours, p99)))
        .slice(1)
        .map((l) => l.trim().endsWith('| yes |'));
    // hey peers, hey ceiling, http peers, http ceiling, grpc peers, grpc ceiling
    expect(met(200, 1000)).toEqual([true, false, true, false, false, false]);
    expect(met(380, 800)).toEqual([true, true, true, true, true, true]);
    expect(met(380, 1450)).toEqual([false, true, false, true, false, true]);
    expect(met(140, 800)).toEqual([false, false, false, false, false, false]);
  });

  it("bounds any server by onnxruntime's cheapest CPU per sample plus hey's, over the cores", () => {
    // ours: 10 ms server + 1 ms hey per answer; onnxruntime's cheapest: 4 ms (the MLP's 0.01 is another model).
    const text = cpuBudget(results(200, 1000), 2);
    expect(text).toContain('our server used 10.00 ms and hey 1.00 ms, 110% of the cores at 200.0/s');
    expect(text).toContain(
      "own work (HTTP, decoding, batching, garbage collection, the kernel's copies) is 6.00 ms",
    );
    // 2000 / (4 + 1) = 400/s: exactly the best ceiling (400), so 0.9x is not ruled out.
    expect(text).toContain('= 400.0/s, 1.00x the ceiling.');
    // On one core the bound halves: 200/s = 0.50x, under the target for every server.
    expect(cpuBudget(results(200, 1000), 1)).toMatch(/= 200\.0\/s, 0\.50x the ceiling: below 0\.9x/);
  });
});

it('the bare Hono ceiling answers the benchmark bodies, sent by hey as the table sends them', async () => {
  await withStack(bareHono, async (s) => {
    const { files, binary } = payloads(work);
    const targets: Target[] = [
      {
        url: `http://127.0.0.1:${s.port}/v2/models/${SQUEEZENET}/infer`,
        bodyFile: files.binary,
        headers: binary.headers,
      },
      {
        url: `http://127.0.0.1:${s.port}/v2/models/${MLP}/infer`,
        bodyFile: files.mlp,
        headers: { 'Content-Type': 'application/json' },
      },
    ];
    for (const target of targets) {
      const r = await hey(target, { concurrency: 2, requests: 4 });
      expect(r).toMatchObject({ requests: 4, failed: 0, non2xx: 0 });
    }
  });
}, 120_000);
