/**
 * The pieces of `npm run bench`'s peer table (server/bench/stacks.ts, processes.ts), so that they
 * cannot rot between benchmark runs: each stack starts for real, answers one request per model it
 * serves with the bodies the benchmark sends, and stops with every process it started. No timings.
 *
 * KServe and PyTriton run from the virtual environment of server/bench/requirements.txt (.ci/run
 * creates it with server/bench/venv.sh). The Flask and TorchServe stacks are not here: both need
 * Debian's python3-torch and its ~200 dependencies, which .ci/run does not install.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeInferResponse, encodeInferRequest, encodeTensor } from '../../server/binary.ts';
import { hey, type Target } from '../../server/bench/load.ts';
import { payloads } from '../../server/bench/payloads.ts';
import { processTree, stop, treeCpuSeconds, treePssMiB, type Started } from '../../server/bench/processes.ts';
import {
  bareHono,
  kserve,
  MLP,
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
    });
  }, 240_000);
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
