/**
 * Batch limits are checked in one place (server/batch-limits.ts) with one message: REST (JSON and
 * the binary extension), gRPC and the dynamic batcher itself refuse a batch over max_batch_size,
 * and inputs whose batch dimensions differ, with the same text.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchShapeError, BatchTooLargeError, checkSameBatch } from '../../server/batch-limits.ts';
import { encodeInferRequest, encodeTensor } from '../../server/binary.ts';
import type { RunningServer } from '../../server/server.ts';
import { GrpcStatus, grpcClient, type GrpcTestClient } from './grpc-client.ts';
import {
  bundledModels,
  fp32Request,
  post,
  removeDir,
  startTestServer,
  tempRepository,
  writeFile,
} from './helpers.ts';

const OVER_LIMIT = "input 'input': batch size 9 exceeds the model's max_batch_size 8 (allowed: 1..8)";
const ROWS = 9;
const data = new Float32Array(ROWS * 16);

let repo: string;
let server: RunningServer;
let client: GrpcTestClient;

beforeAll(async () => {
  repo = tempRepository();
  for (const [name, config] of [
    // The batcher's model and one with max_batch_size but no dynamic batching (DirectScheduler).
    ['batched', { max_batch_size: 8, dynamic_batching: {} }],
    ['direct', { max_batch_size: 8 }],
  ] as const) {
    writeFile(
      join(repo, name, '1', 'model.onnx'),
      readFileSync(join(bundledModels, 'mlp', '1', 'model.onnx')),
    );
    writeFile(join(repo, name, 'config.json'), JSON.stringify(config));
  }
  server = await startTestServer(repo, { grpcPort: 0 });
  client = grpcClient(server.grpcAddress!);
}, 60_000);

afterAll(async () => {
  client?.close();
  await server?.shutdown();
  removeDir(repo);
});

describe.each(['batched', 'direct'])('a batch over max_batch_size on model %s', (model) => {
  it('REST JSON: 400 with the message', async () => {
    const res = await post(`${server.url}/v2/models/${model}/infer`, fp32Request('input', [ROWS, 16], data));
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: OVER_LIMIT });
  });

  it('REST binary tensor data: 400 with the same message', async () => {
    const encoded = encodeInferRequest({
      inputs: [{ name: 'input', datatype: 'FP32', shape: [ROWS, 16], binary: encodeTensor(data) }],
    });
    const res = await fetch(`${server.url}/v2/models/${model}/infer`, {
      method: 'POST',
      body: encoded.body,
      headers: encoded.headers,
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: OVER_LIMIT });
  });

  it('gRPC raw contents: INVALID_ARGUMENT with the same message', async () => {
    const res = await client.call('ModelInfer', {
      model_name: model,
      inputs: [{ name: 'input', datatype: 'FP32', shape: [ROWS, 16] }],
      raw_input_contents: [Buffer.from(data.buffer)],
    });
    expect(res.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(res.details).toBe(OVER_LIMIT);
  });

  it('gRPC typed contents: INVALID_ARGUMENT with the same message', async () => {
    const res = await client.call('ModelInfer', {
      model_name: model,
      inputs: [
        { name: 'input', datatype: 'FP32', shape: [ROWS, 16], contents: { fp32_contents: Array.from(data) } },
      ],
    });
    expect(res.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(res.details).toBe(OVER_LIMIT);
  });
});

describe('the owner of the batch limit messages', () => {
  it('is the batcher’s error as well: the same text for a scheduler called directly', () => {
    expect(new BatchTooLargeError('input', ROWS, 8).message).toBe(OVER_LIMIT);
  });

  it('names both inputs and both sizes when batch dimensions differ', () => {
    expect(() => checkSameBatch('b', 3, { name: 'a', rows: 1 })).toThrow(BatchShapeError);
    expect(() => checkSameBatch('b', 3, { name: 'a', rows: 1 })).toThrow(
      "input 'b': batch dimension 3 differs from input 'a' (1); all inputs must have the same first dimension",
    );
    expect(() => checkSameBatch('b', 1, { name: 'a', rows: 1 })).not.toThrow();
  });
});
