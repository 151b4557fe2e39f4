/**
 * Reused request-body buffers (server/body-pool.ts): what the pool keeps and gives back, and that
 * concurrent binary requests through a real socket, whose bodies are pooled, each get the answer
 * to their own tensors (a body reused while a queued batch still viewed it would mix them).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BodyPool } from '../../server/body-pool.ts';
import { decodeInferResponse, encodeInferRequest, encodeTensor } from '../../server/binary.ts';
import type { RunningServer } from '../../server/server.ts';
import { bundledModels, reference, startTestServer } from './helpers.ts';

describe('BodyPool', () => {
  it('gives aligned views of the length asked, and reuses a released buffer of the same size class', () => {
    const pool = new BodyPool(1 << 20);
    const a = pool.acquire(100_000, 13);
    expect(a.length).toBe(100_000);
    expect((a.byteOffset + 13) % 8).toBe(0);
    pool.release(a);
    expect(pool.pooledBytes).toBe(a.buffer.byteLength);
    const b = pool.acquire(99_000, 0);
    expect(b.buffer).toBe(a.buffer);
    expect(b.byteOffset % 8).toBe(0);
    expect(pool.pooledBytes).toBe(0);
    // Another size class gets a new buffer.
    const c = pool.acquire(300_000, 0);
    expect(c.buffer).not.toBe(a.buffer);
  });

  it('keeps at most maxBytes, and never a buffer it did not give', () => {
    const pool = new BodyPool(128 * 1024);
    const [a, b] = [pool.acquire(60_000, 0), pool.acquire(60_000, 0)];
    pool.release(a);
    pool.release(b);
    expect(pool.pooledBytes).toBe(128 * 1024);
    pool.release(pool.acquire(60_000, 0)); // back to two
    const c = pool.acquire(60_000, 0);
    const d = pool.acquire(60_000, 0);
    const e = pool.acquire(60_000, 0);
    expect(new Set([c.buffer, d.buffer, e.buffer]).size).toBe(3);
    expect([c.buffer, d.buffer]).toContain(a.buffer);
    pool.release(Buffer.alloc(1000)); // Node's shared slab: not a pool buffer
    pool.release(new Uint8Array(70_000));
    expect(pool.pooledBytes).toBe(0);
  });
});

describe('pooled bodies over a real socket', () => {
  let server: RunningServer;
  beforeAll(async () => {
    server = await startTestServer(bundledModels);
  });
  afterAll(async () => {
    await server?.shutdown();
  });

  it('answers each of many concurrent binary requests for its own tensors', async () => {
    const ref = reference('squeezenet1_1');
    const images = [0, 1, 2, 3].map((k) => ref.input.data.map((v) => v * (1 - k / 4) + k / 8));
    const send = async (image: Float32Array) => {
      const encoded = encodeInferRequest({
        inputs: [
          { name: ref.input.name, datatype: 'FP32', shape: ref.input.shape, binary: encodeTensor(image) },
        ],
        outputs: [{ name: 'output', parameters: { binary_data: true } }],
      });
      const res = await fetch(`${server.url}/v2/models/squeezenet1_1/infer`, {
        method: 'POST',
        body: encoded.body,
        headers: encoded.headers,
      });
      expect(res.status).toBe(200);
      const { binary } = decodeInferResponse(
        new Uint8Array(await res.arrayBuffer()),
        res.headers.get('inference-header-content-length'),
      );
      return Array.from(binary.get('output') as ArrayLike<number>);
    };
    // Each image alone first: its own answer.
    const alone: number[][] = [];
    for (const image of images) alone.push(await send(image));
    expect(alone[0]).not.toEqual(alone[1]);
    // Then 48 at once, the images interleaved: bodies queue, batch and are released while others
    // arrive and take the released buffers.
    const order = Array.from({ length: 48 }, (_, i) => i % images.length);
    const answers = await Promise.all(order.map((k) => send(images[k]!)));
    answers.forEach((out, i) => {
      const want = alone[order[i]!]!;
      const worst = Math.max(...out.map((v, j) => Math.abs(v - want[j]!)));
      expect(worst, `request ${i} (image ${order[i]})`).toBeLessThan(1e-4);
    });
  }, 120_000);
});
