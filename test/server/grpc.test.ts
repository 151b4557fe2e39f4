/**
 * The KServe V2 gRPC front end (server/grpc/) with a @grpc/grpc-js client: health and metadata, raw
 * and typed tensors of every datatype, classification, the error paths and their status codes
 * (each message naming the field, the value and what is allowed, as REST's), the repository RPCs'
 * access rules, metrics by protocol, one batch shared with REST, and the drain.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:http2';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ELEMENT_BYTES, type V2Datatype } from '../../server/datatypes.ts';
import { encodeTensor } from '../../server/binary.ts';
import { GRPC_CONNECTION_WINDOW_BYTES, GRPC_STREAM_WINDOW_BYTES } from '../../server/grpc/flow-control.ts';
import type { RunningServer } from '../../server/server.ts';
import { GrpcStatus, grpcClient, sendRawBytes, type GrpcTestClient } from './grpc-client.ts';
import {
  bundledModels,
  fp32Request,
  post,
  removeDir,
  request,
  startTestServer,
  tempRepository,
  writeFile,
} from './helpers.ts';
import { ALL_DATATYPES, buildModel, identityModel, writeModel } from './onnx-builder.ts';

const TYPED = ALL_DATATYPES.filter((t) => t !== 'FP16');
const mlpInput = Float32Array.from({ length: 2 * 16 }, (_, i) => Math.sin(i) * 2);
const raw = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
const floats = (b: Uint8Array) => new Float32Array(new Uint8Array(b).buffer);

/** The bundled mlp and squeezenet, the all-datatype identity model and an mlp that batches pairs. */
function repository(pairDelayMicroseconds: number): string {
  const dir = tempRepository(['mlp', 'squeezenet1_1']);
  writeModel(join(dir, 'identity', '1', 'model.onnx'), identityModel());
  // FP16 has no typed contents field: a request of typed contents only needs a model without it.
  const io = (prefix: string) =>
    TYPED.map((t) => ({ name: `${prefix}_${t}`, datatype: t, shape: ['batch', 2] }));
  writeModel(
    join(dir, 'identity_typed', '1', 'model.onnx'),
    buildModel(
      io('in'),
      io('out'),
      TYPED.map((t) => ({ op: 'Identity', inputs: [`in_${t}`], outputs: [`out_${t}`] })),
    ),
  );
  writeFile(
    join(dir, 'pair', '1', 'model.onnx'),
    readFileSync(join(bundledModels, 'mlp', '1', 'model.onnx')),
  );
  writeFile(
    join(dir, 'pair', 'config.json'),
    JSON.stringify({
      max_batch_size: 8,
      // Waits for a second request and goes as soon as it is there: two requests, one batch.
      dynamic_batching: { max_queue_delay_microseconds: pairDelayMicroseconds, preferred_batch_size: [2] },
    }),
  );
  return dir;
}

/** Two values of each datatype for the identity model's [1, 2] inputs, raw and typed. */
const SAMPLES: Record<V2Datatype, { typed: Record<string, unknown[]>; raw: Buffer }> = (() => {
  const typed = (field: string, values: unknown[], bytes: ArrayBufferView) => ({
    typed: { [field]: values },
    raw: raw(bytes),
  });
  return {
    BOOL: typed('bool_contents', [true, false], new Uint8Array([1, 0])),
    UINT8: typed('uint_contents', [0, 255], new Uint8Array([0, 255])),
    UINT16: typed('uint_contents', [1, 65535], new Uint16Array([1, 65535])),
    UINT32: typed('uint_contents', [2, 4294967295], new Uint32Array([2, 4294967295])),
    UINT64: typed(
      'uint64_contents',
      ['3', '18446744073709551615'],
      new BigUint64Array([3n, 18446744073709551615n]),
    ),
    INT8: typed('int_contents', [-128, 127], new Int8Array([-128, 127])),
    INT16: typed('int_contents', [-32768, 32767], new Int16Array([-32768, 32767])),
    INT32: typed('int_contents', [-2147483648, 2147483647], new Int32Array([-2147483648, 2147483647])),
    INT64: typed(
      'int64_contents',
      ['-9223372036854775808', '9223372036854775807'],
      new BigInt64Array([-9223372036854775808n, 9223372036854775807n]),
    ),
    // FP16 has no typed contents field: raw only (1.0 and -2.0 as binary16 bits).
    FP16: { typed: {}, raw: raw(new Uint16Array([0x3c00, 0xc000])) },
    FP32: typed('fp32_contents', [1.5, -3.25], new Float32Array([1.5, -3.25])),
    FP64: typed('fp64_contents', [Math.PI, -1e300], new Float64Array([Math.PI, -1e300])),
    BYTES: {
      typed: { bytes_contents: [Buffer.from('héllo'), Buffer.from('')] },
      raw: Buffer.from(encodeTensor(['héllo', ''])),
    },
  };
})();

describe('KServe V2 gRPC front end', () => {
  let server: RunningServer;
  let repo: string;
  let client: GrpcTestClient;
  let session: ort.InferenceSession;

  beforeAll(async () => {
    repo = repository(5_000_000);
    server = await startTestServer(repo, { grpcPort: 0 });
    client = grpcClient(server.grpcAddress!);
    session = await ort.InferenceSession.create(join(bundledModels, 'mlp', '1', 'model.onnx'));
  }, 120_000);
  afterAll(async () => {
    client?.close();
    await server?.shutdown();
    await session?.release();
    if (repo) removeDir(repo);
  });

  const mlpExpected = async () =>
    (await session.run({ input: new ort.Tensor('float32', mlpInput, [2, 16]) })).output!.data as Float32Array;

  it('health: live, ready, model ready, grpc.health.v1 SERVING', async () => {
    expect((await client.call('ServerLive', {})).body).toEqual({ live: true });
    expect((await client.call('ServerReady', {})).body).toEqual({ ready: true });
    expect((await client.call('ModelReady', { name: 'mlp' })).body).toEqual({ ready: true });
    expect((await client.call('ModelReady', { name: 'mlp', version: '1' })).body).toEqual({ ready: true });
    expect(await client.health()).toMatchObject({ code: 0, body: { status: 'SERVING' } });
    expect(await client.health('inference.GRPCInferenceService')).toMatchObject({
      body: { status: 'SERVING' },
    });
    expect(await client.health('other')).toMatchObject({ code: GrpcStatus.NOT_FOUND });
  });

  it('server and model metadata, model config and statistics as REST answers them', async () => {
    const meta = (await client.call('ServerMetadata', {})).body;
    expect(meta.name).toBe('cdk8s-gpu-inference');
    expect(meta.extensions).toEqual([
      'model_repository',
      'model_configuration',
      'statistics',
      'classification',
    ]);
    expect((await client.call('ModelMetadata', { name: 'mlp' })).body).toMatchObject({
      name: 'mlp',
      versions: ['1'],
      platform: 'onnx_onnxv1',
      inputs: [{ name: 'input', datatype: 'FP32', shape: ['-1', '16'] }],
      outputs: [{ name: 'output', datatype: 'FP32', shape: ['-1', '4'] }],
    });
    const rest = (await request(`${server.url}/v2/models/pair/config`)).body;
    const { config } = (await client.call('ModelConfig', { name: 'pair' })).body;
    expect(config).toMatchObject({
      name: 'pair',
      platform: rest.platform,
      max_batch_size: 8,
      input: [{ name: 'input', data_type: 'TYPE_FP32', dims: ['16'] }],
      dynamic_batching: { preferred_batch_size: [2], max_queue_delay_microseconds: '5000000' },
    });
    const stats = (await client.call('ModelStatistics', { name: 'mlp', version: '1' })).body;
    expect(stats.model_stats).toEqual([expect.objectContaining({ name: 'mlp', version: '1' })]);
  });

  it('mlp with raw_input_contents: raw_output_contents equal to onnxruntime run in process (1e-5)', async () => {
    const res = await client.call('ModelInfer', {
      model_name: 'mlp',
      id: 'g-1',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 16] }],
      raw_input_contents: [raw(mlpInput)],
    });
    expect(res.code).toBe(0);
    expect(res.body).toMatchObject({
      model_name: 'mlp',
      model_version: '1',
      id: 'g-1',
      outputs: [{ name: 'output', datatype: 'FP32', shape: ['2', '4'] }],
    });
    const got = floats(res.body.raw_output_contents[0]);
    const expected = await mlpExpected();
    expect(got).toHaveLength(8);
    got.forEach((v, i) => expect(Math.abs(v - expected[i]!)).toBeLessThan(1e-5));
  });

  it('mlp with typed contents (fp32_contents): the same outputs', async () => {
    const res = await client.call('ModelInfer', {
      model_name: 'mlp',
      model_version: '1',
      inputs: [
        { name: 'input', datatype: 'FP32', shape: [2, 16], contents: { fp32_contents: [...mlpInput] } },
      ],
    });
    expect(res.code).toBe(0);
    const got = floats(res.body.raw_output_contents[0]);
    const expected = await mlpExpected();
    got.forEach((v, i) => expect(Math.abs(v - expected[i]!)).toBeLessThan(1e-5));
  });

  for (const form of ['raw', 'typed'] as const) {
    it(`every datatype through the identity model, ${form} contents in, raw out, bytes unchanged`, async () => {
      const types = form === 'raw' ? ALL_DATATYPES : TYPED;
      const res = await client.call('ModelInfer', {
        model_name: form === 'raw' ? 'identity' : 'identity_typed',
        inputs: types.map((t) => ({
          name: `in_${t}`,
          datatype: t,
          shape: [1, 2],
          ...(form === 'typed' && { contents: SAMPLES[t].typed }),
        })),
        ...(form === 'raw' && { raw_input_contents: types.map((t) => SAMPLES[t].raw) }),
        outputs: types.map((t) => ({ name: `out_${t}` })),
      });
      expect(res.details).toBe('');
      expect(res.body.outputs.map((o: { datatype: string }) => o.datatype)).toEqual(types);
      types.forEach((t, i) => {
        expect(res.body.outputs[i].shape, t).toEqual(['1', '2']);
        expect(Buffer.from(res.body.raw_output_contents[i]).equals(SAMPLES[t].raw), t).toBe(true);
        if (t !== 'BYTES') expect(SAMPLES[t].raw.byteLength, t).toBe(2 * ELEMENT_BYTES[t]);
      });
    });
  }

  it('classification: the output parameter classification (int64) answers the top classes as BYTES', async () => {
    const res = await client.call('ModelInfer', {
      model_name: 'mlp',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [2, 16] }],
      raw_input_contents: [raw(mlpInput)],
      outputs: [{ name: 'output', parameters: { classification: { int64_param: 2 } } }],
    });
    expect(res.body.outputs).toMatchObject([{ name: 'output', datatype: 'BYTES', shape: ['2', '2'] }]);
    const bytes: Buffer = Buffer.from(res.body.raw_output_contents[0]);
    const strings: string[] = [];
    for (let o = 0; o < bytes.length;) {
      const n = bytes.readUInt32LE(o);
      strings.push(bytes.subarray(o + 4, o + 4 + n).toString());
      o += 4 + n;
    }
    const expected = await mlpExpected();
    const top = (row: number) =>
      [0, 1, 2, 3].sort((a, b) => expected[row * 4 + b]! - expected[row * 4 + a]!).slice(0, 2);
    expect(strings.map((s) => Number(s.split(':')[1]))).toEqual([...top(0), ...top(1)]);
    for (const s of strings) expect(s).toMatch(/^-?\d+\.\d{6}:\d$/);
  });

  const mlp = (over: object = {}) => ({
    model_name: 'mlp',
    inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16] }],
    raw_input_contents: [raw(new Float32Array(16))],
    ...over,
  });
  const identity = (t: V2Datatype, contents: object) => ({
    model_name: 'identity',
    inputs: ALL_DATATYPES.map((d) => ({
      name: `in_${d}`,
      datatype: d,
      shape: [1, 2],
      // FP16 has no typed field: it gets FP32's, which only the FP16 case reaches.
      contents: d === t ? contents : SAMPLES[d === 'FP16' ? 'FP32' : d].typed,
    })),
  });
  const CASES: [string, object, number, string][] = [
    ['unknown model', mlp({ model_name: 'nope' }), GrpcStatus.NOT_FOUND, "unknown model 'nope'"],
    [
      'unknown version',
      mlp({ model_version: '7' }),
      GrpcStatus.NOT_FOUND,
      "unknown version '7' of model 'mlp'; versions: 1",
    ],
    [
      'wrong datatype',
      mlp({ inputs: [{ name: 'input', datatype: 'FP64', shape: [1, 16] }] }),
      GrpcStatus.INVALID_ARGUMENT,
      "input 'input': datatype FP64 does not match the model's FP32",
    ],
    [
      'not a datatype',
      mlp({ inputs: [{ name: 'input', datatype: 'FLOAT', shape: [1, 16] }] }),
      GrpcStatus.INVALID_ARGUMENT,
      `input 'input': datatype "FLOAT" is not a protocol datatype; expected FP32`,
    ],
    [
      'wrong shape',
      mlp({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 15] }] }),
      GrpcStatus.INVALID_ARGUMENT,
      "input 'input': shape [1, 15] does not match the model's [-1, 16] (-1: any size)",
    ],
    [
      'raw contents of the wrong size',
      mlp({ raw_input_contents: [Buffer.alloc(60)] }),
      GrpcStatus.INVALID_ARGUMENT,
      "input 'input': raw_input_contents[0] has 60 bytes; shape [1, 16] of FP32 needs 64",
    ],
    [
      'more raw contents than inputs',
      mlp({ raw_input_contents: [Buffer.alloc(64), Buffer.alloc(64)] }),
      GrpcStatus.INVALID_ARGUMENT,
      "raw_input_contents has 2 entries; the request has 1 inputs (allowed: one entry per input, in the inputs' order, or none)",
    ],
    [
      'raw and typed contents together',
      mlp({
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], contents: { fp32_contents: [1] } }],
      }),
      GrpcStatus.INVALID_ARGUMENT,
      "input 'input': has contents as well as raw_input_contents (allowed: one of them for all inputs)",
    ],
    [
      'typed contents in the wrong field',
      mlp({
        raw_input_contents: [],
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], contents: { int_contents: [1] } }],
      }),
      GrpcStatus.INVALID_ARGUMENT,
      "input 'input': contents.int_contents is set, but the input is FP32; allowed: contents.fp32_contents (or raw_input_contents)",
    ],
    [
      'typed contents of the wrong count',
      mlp({
        raw_input_contents: [],
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], contents: { fp32_contents: [1, 2] } }],
      }),
      GrpcStatus.INVALID_ARGUMENT,
      "input 'input': contents.fp32_contents has 2 elements; shape [1, 16] needs 16",
    ],
    [
      'no contents at all',
      mlp({ raw_input_contents: [] }),
      GrpcStatus.INVALID_ARGUMENT,
      "input 'input': contents.fp32_contents has 0 elements; shape [1, 16] needs 16",
    ],
    [
      'INT8 beyond its range',
      identity('INT8', { int_contents: [300, 1] }),
      GrpcStatus.INVALID_ARGUMENT,
      "input 'in_INT8': contents.int_contents[0] is 300; allowed for INT8: -128 to 127",
    ],
    [
      'FP16 in typed contents',
      identity('INT8', { int_contents: [1, 1] }),
      GrpcStatus.INVALID_ARGUMENT,
      "input 'in_FP16': FP16 has no typed contents field; allowed: its bytes in raw_input_contents",
    ],
    [
      'unknown output',
      mlp({ outputs: [{ name: 'logits' }] }),
      GrpcStatus.INVALID_ARGUMENT,
      "output 'logits' is not an output of this model; outputs: output",
    ],
    [
      'classification 0',
      mlp({ outputs: [{ name: 'output', parameters: { classification: { int64_param: 0 } } }] }),
      GrpcStatus.INVALID_ARGUMENT,
      "output 'output': parameters.classification is 0; allowed: an integer from 1 to 4 (its classes)",
    ],
    [
      'timeout as a string',
      mlp({ parameters: { timeout: { string_param: 'soon' } } }),
      GrpcStatus.INVALID_ARGUMENT,
      'parameters.timeout is "soon"; allowed: microseconds, an integer from 0 to 3600000000 (1 hour)',
    ],
    [
      'batch beyond max_batch_size',
      {
        model_name: 'pair',
        inputs: [{ name: 'input', datatype: 'FP32', shape: [9, 16] }],
        raw_input_contents: [raw(new Float32Array(9 * 16))],
      },
      GrpcStatus.INVALID_ARGUMENT,
      "input 'input': batch size 9 exceeds the model's max_batch_size 8 (allowed: 1..8)",
    ],
  ];
  it.each(CASES)(
    '%s: status %i with the field, the value and what is allowed',
    async (_, req, code, details) => {
      const res = await client.call('ModelInfer', req);
      expect({ code: res.code, details: res.details }).toEqual({ code, details });
    },
  );

  it('a malformed protobuf message is INVALID_ARGUMENT naming the RPC, and the server keeps serving', async () => {
    // Field 6 (inputs), length-delimited, claims 5 bytes; 2 follow.
    const res = await sendRawBytes(server.grpcAddress!, 'ModelInfer', Buffer.from([0x32, 5, 0x0a, 0x01]));
    expect(res).toMatchObject({
      code: GrpcStatus.INVALID_ARGUMENT,
      details:
        '/inference.GRPCInferenceService/ModelInfer: the 4-byte request is not a valid ModelInferRequest protobuf message: index out of range',
    });
    expect((await client.call('ModelInfer', mlp())).code).toBe(0);
  });

  it('load and unload are refused with model control none: PERMISSION_DENIED, as REST 403', async () => {
    const res = await client.call('RepositoryModelLoad', { model_name: 'mlp' });
    expect(res.code).toBe(GrpcStatus.PERMISSION_DENIED);
    expect(res.details).toContain('model control is off (--model-control-mode none)');
    expect((await client.call('RepositoryModelUnload', { model_name: 'mlp' })).code).toBe(
      GrpcStatus.PERMISSION_DENIED,
    );
    const index = (await client.call('RepositoryIndex', { ready: true })).body.models;
    expect(index.map((m: { name: string }) => m.name)).toEqual([
      'identity',
      'identity_typed',
      'mlp',
      'pair',
      'squeezenet1_1',
    ]);
  });

  it('a gRPC and a REST request land in one batch of the same batcher', async () => {
    const before = (await client.call('ModelStatistics', { name: 'pair' })).body.model_stats[0];
    const row = (i: number) => Float32Array.from({ length: 16 }, (_, k) => Math.cos(i * 16 + k));
    const [viaGrpc, viaRest] = await Promise.all([
      client.call('ModelInfer', {
        model_name: 'pair',
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16] }],
        raw_input_contents: [raw(row(0))],
      }),
      post(`${server.url}/v2/models/pair/infer`, fp32Request('input', [1, 16], row(1))),
    ]);
    expect(viaGrpc.code).toBe(0);
    expect(viaRest.status).toBe(200);
    const after = (await client.call('ModelStatistics', { name: 'pair' })).body.model_stats[0];
    // One execution of two rows, where each alone would have waited the 5 s queue delay.
    expect(Number(after.execution_count) - Number(before.execution_count)).toBe(1);
    expect(Number(after.inference_count) - Number(before.inference_count)).toBe(2);
    expect(after.batch_stats).toEqual([expect.objectContaining({ batch_size: '2' })]);
    // Each answered with its own row: the batch split back as REST and gRPC each expect it.
    const expected = async (i: number) =>
      (await session.run({ input: new ort.Tensor('float32', row(i), [1, 16]) })).output!.data as Float32Array;
    const e0 = await expected(0);
    const grpcRow = floats(viaGrpc.body.raw_output_contents[0]);
    expect(grpcRow).toHaveLength(4);
    grpcRow.forEach((v, k) => expect(Math.abs(v - e0[k]!)).toBeLessThan(1e-5));
    const rest = viaRest.body.outputs[0].data as number[];
    const e1 = await expected(1);
    rest.forEach((v, k) => expect(Math.abs(v - e1[k]!)).toBeLessThan(1e-5));
  });

  it('HTTP/2 windows: the server grants 4 MiB a stream and 16 MiB the connection, a squeezenet image (602 KB) whole', async () => {
    const h2 = connect(`http://${server.grpcAddress!}`);
    try {
      await new Promise<void>((resolve, reject) => {
        h2.once('remoteSettings', () => resolve());
        h2.once('error', reject);
      });
      // The server's own settings and its WINDOW_UPDATE follow its first SETTINGS frame, before
      // it answers a ping: after the round trip this client knows them.
      await new Promise<void>((resolve, reject) => h2.ping((err) => (err ? reject(err) : resolve())));
      expect(h2.remoteSettings.initialWindowSize).toBe(GRPC_STREAM_WINDOW_BYTES);
      expect(h2.state.remoteWindowSize).toBe(GRPC_CONNECTION_WINDOW_BYTES);
    } finally {
      h2.close();
    }
    expect(GRPC_STREAM_WINDOW_BYTES).toBeGreaterThan(3 * 224 * 224 * 4 + 5);
  });

  it('metrics: per-request series by protocol, the core series shared', async () => {
    const text = (await request(`${server.metricsUrl}/metrics`)).body as string;
    const value = (series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.split(' ').at(-1));
    };
    const requests = (labels: string) => value(`inference_requests_total{${labels}}`);
    expect(requests('model="mlp",version="1",outcome="success",protocol="grpc"')).toBeGreaterThanOrEqual(4);
    expect(requests('model="mlp",version="1",outcome="client_error",protocol="grpc"')).toBeGreaterThanOrEqual(
      5,
    );
    // The unknown model and the unknown version of mlp, under no model's labels (as REST counts them).
    expect(requests('model="",version="",outcome="not_found",protocol="grpc"')).toBe(2);
    expect(requests('model="pair",version="1",outcome="success",protocol="grpc"')).toBe(1);
    expect(requests('model="pair",version="1",outcome="success",protocol="http"')).toBe(1);
    expect(value('inference_inflight_requests{model="mlp",version="1",protocol="grpc"}')).toBe(0);
    expect(
      value('inference_request_duration_seconds_count{model="mlp",version="1",protocol="grpc"}'),
    ).toBeGreaterThanOrEqual(4);
    // The batcher's series have no protocol: one batch of 2 from both.
    expect(value('inference_batch_size_count{model="pair",version="1"}')).toBe(1);
    expect(value('inference_batch_size_sum{model="pair",version="1"}')).toBe(2);
  });
});

describe('gRPC with model control explicit, a restricted repository API and a small message limit', () => {
  let server: RunningServer;
  let repo: string;
  let client: GrpcTestClient;
  const key = { 'triton-grpc-protocol-x-repo-key': 's3cret' };

  beforeAll(async () => {
    repo = repository(1_500_000);
    server = await startTestServer(repo, {
      grpcPort: 0,
      modelControl: 'explicit',
      loadModels: ['mlp', 'pair'],
      // Set for REST only: gRPC's repository RPCs inherit it (--grpc-restricted-protocol unset).
      repositoryRestriction: { header: 'x-repo-key', value: 's3cret' },
      maxBodyBytes: 4096,
      drainSeconds: 10,
    });
    client = grpcClient(server.grpcAddress!);
  }, 120_000);
  afterAll(async () => {
    client?.close();
    await server?.shutdown();
    if (repo) removeDir(repo);
  });

  it('the repository RPCs need the metadata triton-grpc-protocol-KEY with the value (the value never echoed)', async () => {
    const attempts: Record<string, string>[] = [
      {},
      { 'triton-grpc-protocol-x-repo-key': 'wrong' },
      { 'x-repo-key': 's3cret' },
    ];
    for (const metadata of attempts) {
      const res = await client.call('RepositoryIndex', {}, metadata);
      expect(res.code).toBe(GrpcStatus.PERMISSION_DENIED);
      expect(res.details).toBe(
        "the model repository API is restricted: it needs the metadata 'triton-grpc-protocol-x-repo-key' with the value the server was started with (--grpc-restricted-protocol)",
      );
      expect(res.details).not.toContain('s3cret');
    }
    const index = await client.call('RepositoryIndex', {}, key);
    expect(index.body.models).toEqual([
      { name: 'identity', version: '', state: 'UNAVAILABLE', reason: 'not loaded' },
      { name: 'identity_typed', version: '', state: 'UNAVAILABLE', reason: 'not loaded' },
      { name: 'mlp', version: '1', state: 'READY', reason: '' },
      { name: 'pair', version: '1', state: 'READY', reason: '' },
      { name: 'squeezenet1_1', version: '', state: 'UNAVAILABLE', reason: 'not loaded' },
    ]);
    expect((await client.call('RepositoryModelLoad', { model_name: 'identity' })).code).toBe(
      GrpcStatus.PERMISSION_DENIED,
    );
  });

  it('explicit load and unload; an unloaded model is not ready, its requests UNAVAILABLE', async () => {
    expect((await client.call('ModelReady', { name: 'identity' })).code).toBe(GrpcStatus.NOT_FOUND);
    expect(await client.call('RepositoryModelLoad', { model_name: 'identity' }, key)).toMatchObject({
      code: 0,
    });
    expect((await client.call('ModelReady', { name: 'identity' })).body).toEqual({ ready: true });
    expect(await client.call('RepositoryModelUnload', { model_name: 'identity' }, key)).toMatchObject({
      code: 0,
    });
    expect((await client.call('ModelReady', { name: 'identity' })).body).toEqual({ ready: false });
    const res = await client.call('ModelInfer', {
      model_name: 'identity',
      inputs: [{ name: 'in_FP32', datatype: 'FP32', shape: [1, 2] }],
    });
    expect(res).toMatchObject({
      code: GrpcStatus.UNAVAILABLE,
      details: "model 'identity' is not ready: UNAVAILABLE (unloaded)",
    });
    const bad = await client.call('RepositoryModelLoad', { model_name: '../mlp' }, key);
    expect(bad.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    const params = await client.call(
      'RepositoryModelLoad',
      { model_name: 'mlp', parameters: { config: { string_param: '{}' } } },
      key,
    );
    expect(params).toMatchObject({
      code: GrpcStatus.INVALID_ARGUMENT,
      details:
        'parameters config are not supported: a model loads from its directory in the model repository (allowed: no parameters)',
    });
  });

  it('a message over --max-body-bytes is RESOURCE_EXHAUSTED, and the server keeps serving', async () => {
    const res = await client.call('ModelInfer', {
      model_name: 'mlp',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [80, 16] }],
      raw_input_contents: [Buffer.alloc(80 * 16 * 4)],
    });
    expect(res.code).toBe(GrpcStatus.RESOURCE_EXHAUSTED);
    expect(res.details).toMatch(/^Received message larger than max \(\d+ vs 4096\)$/);
    const ok = await client.call('ModelInfer', {
      model_name: 'mlp',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16] }],
      raw_input_contents: [Buffer.alloc(64)],
    });
    expect(ok.code).toBe(0);
  });

  it('drain: not ready at once, the call in flight answered, new calls refused, shutdown within the grace', async () => {
    // Waits up to 1.5 s in the batcher for a partner that never comes.
    const inFlight = client.call('ModelInfer', {
      model_name: 'pair',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16] }],
      raw_input_contents: [Buffer.alloc(64)],
    });
    await new Promise((r) => setTimeout(r, 300));
    const started = performance.now();
    const stopping = server.shutdown();
    expect(server.lifecycle.notReadyReason()).toBe('server is shutting down');
    const late = grpcClient(server.grpcAddress!);
    const refused = await late.call('ServerLive', {});
    late.close();
    expect(refused.code).toBe(GrpcStatus.UNAVAILABLE);
    expect((await inFlight).code).toBe(0);
    expect(await stopping).toBe(true);
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});
