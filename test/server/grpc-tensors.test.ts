/**
 * decodeGrpcRequest's raw inputs (server/grpc/tensors.ts): an aligned entry is viewed in place, an
 * unaligned one (protobufjs hands views of grpc-js's message buffer, at any offset) is copied into
 * a pooled buffer that the caller releases and the next call reuses.
 */
import { describe, expect, it } from 'vitest';
import { BodyPool } from '../../server/body-pool.ts';
import {
  decodeGrpcRequest,
  type AlignedCopies,
  type ModelInferRequestMessage,
} from '../../server/grpc/tensors.ts';
import type { ModelSignature } from '../../server/signature.ts';

const signature: ModelSignature = {
  inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }],
  outputs: [{ name: 'output', datatype: 'FP32', shape: [-1, 4] }],
  batchable: true,
  maxBatchSize: 8,
};
const values = Float32Array.from([1.5, -2, 3.25, 1e-3]);

/** The values' bytes at byte `offset` of a larger buffer, as a message would carry them. */
function rawAt(offset: number): Uint8Array {
  const message = new Uint8Array(64);
  const bytes = new Uint8Array(values.buffer);
  message.set(bytes, offset);
  return message.subarray(offset, offset + bytes.byteLength);
}

const message = (raw: Uint8Array): ModelInferRequestMessage => ({
  id: '',
  model_name: 'm',
  model_version: '',
  parameters: {},
  inputs: [{ name: 'input', datatype: 'FP32', shape: ['1', '4'], parameters: {} }],
  outputs: [],
  raw_input_contents: [raw],
});

const inputData = (copies: AlignedCopies | undefined, raw: Uint8Array) =>
  decodeGrpcRequest(message(raw), signature, copies).inputs.input!.data as Float32Array;

describe('gRPC raw inputs', () => {
  it('an aligned entry is a view of the message: nothing copied, nothing taken from the pool', () => {
    const raw = rawAt(8);
    const copies: AlignedCopies = { pool: new BodyPool(1 << 20), taken: [] };
    const data = inputData(copies, raw);
    expect(data.buffer).toBe(raw.buffer);
    expect([...data]).toEqual([...values]);
    expect(copies.taken).toHaveLength(0);
  });

  it('an unaligned entry is copied into a pooled buffer, which the next call reuses once released', () => {
    const pool = new BodyPool(1 << 20);
    const first: AlignedCopies = { pool, taken: [] };
    const raw = rawAt(3);
    const data = inputData(first, raw);
    expect(data.buffer).not.toBe(raw.buffer);
    expect(first.taken).toHaveLength(1);
    expect(data.buffer).toBe(first.taken[0]!.buffer);
    expect([...data]).toEqual([...values]);

    for (const copy of first.taken) pool.release(copy);
    expect(pool.pooledBytes).toBeGreaterThan(0);
    const second: AlignedCopies = { pool, taken: [] };
    const again = inputData(second, rawAt(5));
    expect(again.buffer).toBe(data.buffer);
    expect([...again]).toEqual([...values]);
    expect(pool.pooledBytes).toBe(0);
  });

  it('without a pool an unaligned entry is still decoded (a fresh copy)', () => {
    const raw = rawAt(1);
    const data = inputData(undefined, raw);
    expect(data.buffer).not.toBe(raw.buffer);
    expect([...data]).toEqual([...values]);
  });
});
