import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BodyBudget, readBody } from '../../server/body.ts';
import { postInChunks } from './helpers.ts';

// A real Node HTTP server hands each request to readBody; the test compares what it read.
let url: string;
let read: (incoming: IncomingMessage) => Promise<Uint8Array>;
const server = createServer((incoming, res) => {
  read(incoming).then(
    (body) => res.end(JSON.stringify({ offset: body.byteOffset, hex: Buffer.from(body).toString('hex') })),
    (err: Error & { status?: number }) =>
      res.writeHead(err.status ?? 413).end(JSON.stringify({ error: err.message })),
  );
});

beforeAll(async () => {
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

// Writes of 1,000 bytes: the server sees several chunks.
const send = (body: Buffer, chunked: boolean) => postInChunks(url, body, { chunk: 1000, chunked });

describe('readBody', () => {
  const payload = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) % 256));

  for (const chunked of [false, true]) {
    it(`reads a ${chunked ? 'chunked' : 'Content-Length'} body byte for byte, the aligned offset on 8 bytes`, async () => {
      for (const aligned of [0, 1, 174, 4099]) {
        read = (incoming) => readBody(incoming, 1 << 20, new BodyBudget(1 << 20), aligned);
        const res = await send(payload, chunked);
        expect(res.status).toBe(200);
        expect((res.body as Record<string, unknown>).hex).toBe(payload.toString('hex'));
        // Only a pre-sized (Content-Length) buffer is aligned; a chunked body is concatenated.
        if (!chunked)
          expect((((res.body as Record<string, unknown>).offset as number) + aligned) % 8).toBe(0);
      }
    });
  }

  it('rejects a chunked body beyond the limit, naming it', async () => {
    read = (incoming) => readBody(incoming, 4096, new BodyBudget(1 << 20));
    expect(await send(payload, true)).toEqual({
      status: 413,
      body: { error: 'request body larger than the limit of 4096 bytes' },
    });
  });

  for (const chunked of [false, true]) {
    it(`holds ${chunked ? 'chunked' : 'Content-Length'} bodies to the budget over all requests: 503 beyond it, the budget given back`, async () => {
      const budget = new BodyBudget(8000);
      read = (incoming) => readBody(incoming, 1 << 20, budget);
      expect((await send(payload, chunked)).status).toBe(200);
      expect(budget.pending).toBe(0);
      budget.take(4000); // another body being received
      expect(await send(payload, chunked)).toEqual({
        status: 503,
        body: {
          error: expect.stringMatching(
            /^the server is receiving \d+ bytes of request bodies and accepts at most 8000 at once \(--max-pending-body-bytes\); retry$/,
          ),
        },
      });
      expect(budget.pending).toBe(4000);
      budget.give(4000);
      expect((await send(payload, chunked)).status).toBe(200);
    });
  }
});
