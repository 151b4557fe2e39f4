/**
 * Request-body buffers kept for reuse. Each binary squeezenet request brings a 602 KB body; as a
 * fresh Buffer each is external memory to V8, and under `hey -c 200` their churn drove a
 * mark-compact every 100-200 ms ("external memory pressure": garbage collection was ~17 % of the
 * JS thread, BENCHMARKS.md). A body whose request is over returns its buffer here, and the next
 * body of the same size class takes it instead of allocating.
 *
 * A buffer may be reused only once nothing views it: the request's tensors view the body (binary
 * inputs are not copied), so the app releases a body when both its handler has finished (the
 * scheduler has answered or rejected the job, so no queue or batch holds it) and its response
 * has been written or its connection closed.
 */
/**
 * Bytes of finished request bodies kept for reuse, per pool (REST's bodies, gRPC's aligned input
 * copies): under a closed loop a body is released as the next one arrives, so a few of each size
 * suffice; 32 MiB is ~50 squeezenet images.
 */
export const BODY_POOL_BYTES = 32 * 1024 * 1024;

export class BodyPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private held = 0;

  /** `maxBytes`: the most the free lists keep; beyond it a released buffer is left to the GC. */
  constructor(public readonly maxBytes: number) {}

  /** Bytes in the free lists. */
  get pooledBytes(): number {
    return this.held;
  }

  /**
   * `length` bytes whose byte `offset` lies on an 8-byte boundary (typed arrays view the tensors
   * there), from a pooled buffer when one of its size class is free. Not zeroed: the reader
   * returns only the bytes it wrote.
   */
  acquire(length: number, offset: number): Buffer {
    const capacity = sizeClass(length + 7);
    const raw = this.free.get(capacity)?.pop();
    if (raw) this.held -= raw.byteLength;
    const buffer = raw ? Buffer.from(raw) : Buffer.allocUnsafeSlow(capacity);
    const pad = (8 - ((buffer.byteOffset + offset) % 8)) % 8;
    return buffer.subarray(pad, pad + length);
  }

  /** Returns a buffer that acquire() gave; nothing may view it afterwards. */
  release(view: Uint8Array): void {
    const raw = view.buffer as ArrayBuffer;
    if (raw.byteLength !== sizeClass(raw.byteLength)) return; // not one of ours
    if (this.held + raw.byteLength > this.maxBytes) return;
    const list = this.free.get(raw.byteLength) ?? [];
    list.push(raw);
    this.free.set(raw.byteLength, list);
    this.held += raw.byteLength;
  }
}

/** Capacities in steps of 64 KiB: bodies of one model's requests share a class. */
const STEP = 64 * 1024;
const sizeClass = (bytes: number) => Math.ceil(bytes / STEP) * STEP;
