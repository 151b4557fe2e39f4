import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { HTTPException } from 'hono/http-exception';
import type { BodyPool } from './body-pool.ts';
import { UnavailableError } from './errors.ts';

/**
 * What the body reader needs of a request: Node's IncomingMessage (a request on a socket), or
 * `webBodySource`'s stand-in over a web Request (`app.request()` in memory, no socket).
 */
export type BodySource = Readable & { readonly headers: IncomingHttpHeaders; readonly complete: boolean };

/**
 * A web Request's body as a BodySource: the same limits, budget and alignment apply to it as to
 * a socket's, so the app's error paths run in memory exactly as they do behind @hono/node-server.
 */
export function webBodySource(request: Request): BodySource {
  const stream = request.body
    ? Readable.fromWeb(request.body as WebReadableStream<Uint8Array>)
    : Readable.from([] as Buffer[]);
  let complete = false;
  stream.once('end', () => {
    complete = true;
  });
  // Header names of a web Headers object are already lower case, as Node's are.
  return Object.defineProperties(stream, {
    headers: { value: Object.fromEntries(request.headers) as IncomingHttpHeaders },
    complete: { get: () => complete },
  }) as BodySource;
}

/** 413 naming the limit; the same message whether Content-Length or the bytes read exceeded it. */
export function bodyTooLarge(maxBytes: number): HTTPException {
  return new HTTPException(413, { message: `request body larger than the limit of ${maxBytes} bytes` });
}

/** The request's Content-Length, or undefined for a chunked body (Node's parser rejects malformed ones). */
export function declaredLength(incoming: BodySource): number | undefined {
  const header = incoming.headers['content-length'];
  return header === undefined || incoming.headers['transfer-encoding'] !== undefined
    ? undefined
    : Number(header);
}

/**
 * The bytes of request bodies being received, over all connections, held to a total: each body is
 * within the per-request limit, but forty slow 30 MiB uploads held 1.4 GB at once. A body that
 * would pass the total gets 503 with Retry-After, as a full queue does: the pod is busy, another
 * may not be.
 */
export class BodyBudget {
  private used = 0;
  constructor(public readonly maxBytes: number) {}

  get pending(): number {
    return this.used;
  }

  /** Takes `bytes` from the budget, or throws the 503 when they do not fit. */
  take(bytes: number): void {
    if (this.used + bytes > this.maxBytes)
      throw new UnavailableError(
        `the server is receiving ${this.used} bytes of request bodies and accepts at most ${this.maxBytes} at once (--max-pending-body-bytes); retry`,
        { 'retry-after': '1' },
      );
    this.used += bytes;
  }

  give(bytes: number): void {
    this.used -= bytes;
  }
}

/**
 * Reads a request body straight from Node's IncomingMessage (@hono/node-server passes it as
 * `c.env.incoming`; in memory, `webBodySource`'s stand-in) into one Buffer, pre-sized by Content-Length. Hono's `c.req.arrayBuffer()` on
 * Node builds an undici Request, an AbortController and a web ReadableStream over the same socket
 * per request: on the small MLP that conversion was about a sixth of the server's CPU (a
 * `node --cpu-prof` profile under hey, BENCHMARKS.md). A chunked body is held to `maxBytes` as
 * it arrives (413); a declared length is checked before the handler runs.
 *
 * `alignedOffset`: a body offset (where a binary request's raw tensors start) placed on an 8-byte
 * boundary of the buffer, so that typed arrays can view the tensors there: an unaligned view is a
 * RangeError, and copying instead costs a second image-sized buffer per request.
 *
 * `pool`: where a body of declared length takes its buffer (body-pool.ts); the caller releases it.
 */
export function readBody(
  incoming: BodySource,
  maxBytes: number,
  budget: BodyBudget,
  alignedOffset = 0,
  pool?: BodyPool,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const declared = declaredLength(incoming);
    // A declared length is taken from the budget whole, before anything is allocated.
    let held = 0;
    if (declared !== undefined && declared <= maxBytes && !incoming.readableEnded) {
      budget.take(declared);
      held = declared;
    }
    let buffer =
      declared !== undefined && declared <= maxBytes
        ? (pool?.acquire(declared, alignedOffset) ?? alignedBuffer(declared, alignedOffset))
        : undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (err?: Error) => {
      budget.give(held);
      held = 0;
      incoming.off('data', onData);
      incoming.off('end', onEnd);
      incoming.off('error', onError);
      incoming.off('close', onClose);
      if (err) reject(err);
      else resolve(buffer ? buffer.subarray(0, size) : Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      if (buffer && size + chunk.length <= buffer.length) {
        chunk.copy(buffer, size);
        size += chunk.length;
        return;
      }
      if (buffer) {
        // More bytes than declared cannot pass Node's parser; keep them rather than trust that.
        chunks.push(buffer.subarray(0, size));
        buffer = undefined;
      }
      size += chunk.length;
      if (size > maxBytes) return done(bodyTooLarge(maxBytes));
      if (size > held) {
        try {
          budget.take(size - held);
        } catch (err) {
          return done(err as Error);
        }
        held = size;
      }
      chunks.push(chunk);
    };
    const onEnd = () => done();
    const onError = (err: Error) => done(err);
    const onClose = () => {
      if (!incoming.complete) done(new Error('request body aborted by the client'));
    };
    if (incoming.readableEnded) return done();
    incoming.on('data', onData);
    incoming.on('end', onEnd);
    incoming.on('error', onError);
    incoming.on('close', onClose);
  });
}

/**
 * Reads what a client is still sending and drops it, so that it gets the error response rather
 * than a reset halfway through its upload. Nothing is kept (no budget needed); the server's
 * request timeout bounds how long a client may keep sending.
 */
export function discardBody(incoming: BodySource): Promise<void> {
  if (incoming.complete || incoming.readableEnded || incoming.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    incoming.once('end', resolve);
    incoming.once('close', resolve);
    incoming.once('error', resolve);
    incoming.resume();
  });
}

/** `length` uninitialized bytes whose byte `offset` lies on an 8-byte boundary of their ArrayBuffer. */
function alignedBuffer(length: number, offset: number): Buffer {
  const raw = Buffer.allocUnsafe(length + 7);
  const pad = (8 - ((raw.byteOffset + offset) % 8)) % 8;
  return raw.subarray(pad, pad + length);
}
