import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { V2Datatype } from '../../server/datatypes.ts';
import type { RunningServer } from '../../server/server.ts';
import { fp32Request, post, removeDir, request, startTestServer, tempRepository } from './helpers.ts';
import { ALL_DATATYPES, identityModel, writeModel } from './onnx-builder.ts';

/** One bad request and exactly what the server must answer. */
interface Case {
  what: string;
  path: string;
  body: unknown;
  status: number;
  error: string;
}

const MLP = '/v2/models/mlp/infer';
const ID = '/v2/models/identity/infer';
const row = Array.from({ length: 16 }, (_, i) => i - 8);
const mlpInput = (over: Record<string, unknown>) => ({
  name: 'input',
  shape: [1, 16],
  datatype: 'FP32',
  data: row,
  ...over,
});
const mlp = (over: Record<string, unknown>) => ({ inputs: [mlpInput(over)] });

const GOOD: Record<V2Datatype, unknown[]> = {
  BOOL: [true, false],
  UINT8: [1, 2],
  UINT16: [1, 2],
  UINT32: [1, 2],
  UINT64: [1, 2],
  INT8: [1, -2],
  INT16: [1, -2],
  INT32: [1, -2],
  INT64: [1, -2],
  FP16: [0.5, 1],
  FP32: [0.5, 1],
  FP64: [0.5, 1],
  BYTES: ['a', 'b'],
};
const identityInputs = (shapeOf: (t: V2Datatype) => number[] = () => [1, 2]) =>
  ALL_DATATYPES.map((t) => ({ name: `in_${t}`, datatype: t, shape: shapeOf(t), data: GOOD[t] }));
const withData = (type: V2Datatype, data: unknown) => ({
  inputs: identityInputs().map((i) => (i.datatype === type ? { ...i, data } : i)),
});

const RANGES: Partial<Record<V2Datatype, [number, number, string]>> = {
  UINT8: [-1, 256, 'integers from 0 to 255'],
  UINT16: [-1, 65536, 'integers from 0 to 65535'],
  UINT32: [-1, 4294967296, 'integers from 0 to 4294967295'],
  UINT64: [-1, 2 ** 64, 'integers from 0 to 2^64-1'],
  INT8: [-129, 128, 'integers from -128 to 127'],
  INT16: [-32769, 32768, 'integers from -32768 to 32767'],
  INT32: [-2147483649, 2147483648, 'integers from -2^31 to 2^31-1'],
  INT64: [-(2 ** 64), 2 ** 63, 'integers from -2^63 to 2^63-1'],
};
const EXPECTED: Record<string, string> = {
  BOOL: 'booleans',
  BYTES: 'strings',
  FP16: 'numbers',
  FP32: 'numbers',
  FP64: 'numbers',
};

function cases(): Case[] {
  const c: Case[] = [];
  const add = (what: string, path: string, body: unknown, status: number, error: string) =>
    c.push({ what, path, body, status, error });

  for (const body of ['{', '{"inputs":', 'nul', '', '{"a":1,}', '[1,2', '{"inputs": [}']) {
    add(`malformed JSON ${body}`, MLP, body, 400, 'malformed JSON in request body: ');
  }
  for (const body of [[], 1, 'x', null, true]) {
    add(
      `body ${JSON.stringify(body)}`,
      MLP,
      JSON.stringify(body),
      400,
      'the request body must be a JSON object {inputs: [...]}',
    );
  }
  for (const inputs of [undefined, [], {}, 'input', 7]) {
    add(
      `inputs ${JSON.stringify(inputs)}`,
      MLP,
      { inputs },
      400,
      `inputs is ${JSON.stringify(inputs) ?? 'missing'}; expected a non-empty array of tensors`,
    );
  }
  for (const id of [42, {}, [], true, null]) {
    add(
      `id ${JSON.stringify(id)}`,
      MLP,
      { id, ...mlp({}) },
      400,
      `id is ${JSON.stringify(id)}; expected a string`,
    );
  }
  for (const parameters of [[], 'p', 3, null]) {
    add(
      `parameters ${JSON.stringify(parameters)}`,
      MLP,
      { parameters, ...mlp({}) },
      400,
      `parameters is ${JSON.stringify(parameters)}; expected an object`,
    );
  }
  // 2^31 ms and beyond overflowed Node's timers (they fire after 1 ms): bounded at one hour.
  for (const timeout of [-1, 1.5, 'soon', true, 3_600_000_001, 2 ** 31 * 1000, 2 ** 53]) {
    add(
      `timeout ${JSON.stringify(timeout)}`,
      MLP,
      { parameters: { timeout }, ...mlp({}) },
      400,
      `parameters.timeout is ${JSON.stringify(timeout)}; allowed: microseconds, an integer from 0 to 3600000000 (1 hour)`,
    );
  }
  for (const input of [1, 'input', null, [1]]) {
    add(
      `input ${JSON.stringify(input)}`,
      MLP,
      { inputs: [input] },
      400,
      `inputs[0] is ${JSON.stringify(input)}; expected an object {name, shape, datatype, data}`,
    );
  }
  for (const name of [undefined, 3, null, ['input']]) {
    add(
      `input name ${JSON.stringify(name)}`,
      MLP,
      mlp({ name }),
      400,
      `inputs[0].name is ${JSON.stringify(name) ?? 'undefined'}; expected a string`,
    );
  }
  for (const name of ['inputs', 'INPUT', '', 'x'.repeat(40)]) {
    add(
      `unknown input ${name}`,
      MLP,
      mlp({ name }),
      400,
      `input '${name}' is not an input of this model; inputs: input`,
    );
  }
  for (const t of ALL_DATATYPES.filter((t) => t !== 'FP32')) {
    add(
      `datatype ${t}`,
      MLP,
      mlp({ datatype: t }),
      400,
      `input 'input': datatype ${t} does not match the model's FP32`,
    );
  }
  for (const datatype of ['FLOAT32', 'fp32', 'TYPE_FP32', 5, null, undefined]) {
    add(
      `datatype ${JSON.stringify(datatype)}`,
      MLP,
      mlp({ datatype }),
      400,
      `input 'input': datatype ${JSON.stringify(datatype) ?? 'undefined'} is not a protocol datatype; expected FP32`,
    );
  }
  for (const shape of [undefined, '1,16', [1, -16], [1.5, 16], ['1', 16], [1, null], {}]) {
    add(
      `shape ${JSON.stringify(shape)}`,
      MLP,
      mlp({ shape }),
      400,
      `input 'input': shape ${JSON.stringify(shape) ?? 'undefined'} is not an array of non-negative integers; expected [-1, 16] (-1: any size)`,
    );
  }
  for (const shape of [[16], [1, 15], [1, 17], [1, 16, 1], [], [16, 1], [2, 8]]) {
    add(
      `shape ${JSON.stringify(shape)}`,
      MLP,
      mlp({ shape }),
      400,
      `input 'input': shape [${shape.join(', ')}] does not match the model's [-1, 16] (-1: any size)`,
    );
  }
  for (const n of [1025, 2000, 100000]) {
    add(
      `batch ${n}`,
      MLP,
      mlp({ shape: [n, 16] }),
      400,
      `input 'input': batch size ${n} exceeds the model's max_batch_size 1024 (allowed: 1..1024)`,
    );
  }
  for (const [rows, count] of [
    [1, 15],
    [1, 17],
    [2, 16],
    [2, 31],
    [2, 33],
    [3, 0],
    [0, 1],
  ]) {
    const data = Array.from({ length: count }, () => 0.5);
    add(
      `rows ${rows} with ${count} values`,
      MLP,
      mlp({ shape: [rows, 16], data }),
      400,
      `input 'input': shape [${rows}, 16] needs ${rows * 16} elements, data has ${count}`,
    );
  }
  for (const data of [undefined, 'abc', 3, {}, null]) {
    add(
      `data ${JSON.stringify(data)}`,
      MLP,
      mlp({ data }),
      400,
      `input 'input': data is ${JSON.stringify(data) ?? 'undefined'}; expected an array of numbers`,
    );
  }
  for (const bad of ['0.5', null, true, {}, 'NaN']) {
    add(
      `FP32 element ${JSON.stringify(bad)}`,
      MLP,
      mlp({ data: [...row.slice(0, 5), bad, ...row.slice(6)] }),
      400,
      `input 'input': data element 5 is ${JSON.stringify(bad)}; expected FP32 numbers`,
    );
  }
  add(
    'data nested too deep',
    MLP,
    mlp({ data: [[row.map((x) => [x])]] }),
    400,
    "input 'input': data is nested deeper than its shape [1, 16]",
  );
  add('input twice', MLP, { inputs: [mlpInput({}), mlpInput({})] }, 400, "input 'input' is given twice");
  add(
    'input parameters',
    MLP,
    mlp({ parameters: [1] }),
    400,
    "input 'input': parameters is [1]; expected an object",
  );
  add(
    'binary_data_size without the extension',
    MLP,
    mlp({ parameters: { binary_data_size: 64 }, data: undefined }),
    400,
    "input 'input': binary_data_size needs the binary tensor data extension (Inference-Header-Content-Length header)",
  );
  for (const outputs of [{}, 'output', 1]) {
    add(
      `outputs ${JSON.stringify(outputs)}`,
      MLP,
      { ...mlp({}), outputs },
      400,
      `outputs is ${JSON.stringify(outputs)}; expected an array of {name}`,
    );
  }
  for (const o of [1, 'output', {}, { name: 7 }, null]) {
    add(
      `outputs[0] ${JSON.stringify(o)}`,
      MLP,
      { ...mlp({}), outputs: [o] },
      400,
      `outputs[0] is ${JSON.stringify(o)}; expected an object {name}`,
    );
  }
  for (const name of ['logits', 'Output', '']) {
    add(
      `unknown output ${name}`,
      MLP,
      { ...mlp({}), outputs: [{ name }] },
      400,
      `output '${name}' is not an output of this model; outputs: output`,
    );
  }
  add(
    'output twice',
    MLP,
    { ...mlp({}), outputs: [{ name: 'output' }, { name: 'output' }] },
    400,
    'outputs names an output more than once',
  );
  add(
    'output parameters',
    MLP,
    { ...mlp({}), outputs: [{ name: 'output', parameters: 'x' }] },
    400,
    `output 'output': parameters is "x"; expected an object`,
  );

  // Nesting 100,000 deep: JSON.parse takes it, JSON.stringify of it in the message overflowed the
  // stack (500). Messages show the start of the value.
  const deepArray = (n: number) => '['.repeat(n) + ']'.repeat(n);
  const deepObject = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);
  const cut = (text: string, max: number) => `${text.slice(0, max - 3)}...`;
  const mlpJson = JSON.stringify(mlpInput({}));
  add(
    'inputs[0] nested 100000 deep',
    MLP,
    `{"inputs":[${deepArray(1e5)}]}`,
    400,
    `inputs[0] is ${cut('['.repeat(100), 60)}; expected an object {name, shape, datatype, data}`,
  );
  add(
    'id nested 100000 deep',
    MLP,
    `{"id":${deepArray(1e5)},"inputs":[${mlpJson}]}`,
    400,
    `id is ${cut('['.repeat(300), 200)}; expected a string`,
  );
  add(
    'parameters nested 100000 deep',
    MLP,
    `{"parameters":${deepArray(1e5)},"inputs":[${mlpJson}]}`,
    400,
    `parameters is ${cut('['.repeat(300), 200)}; expected an object`,
  );
  add(
    'parameters.timeout nested 100000 deep',
    MLP,
    `{"parameters":{"timeout":${deepObject(1e5)}},"inputs":[${mlpJson}]}`,
    400,
    `parameters.timeout is ${cut('{"a":'.repeat(60), 200)}; allowed: microseconds, an integer from 0 to 3600000000 (1 hour)`,
  );
  add(
    'input parameters nested 100000 deep',
    MLP,
    `{"inputs":[${mlpJson.slice(0, -1)},"parameters":${deepArray(1e5)}}]}`,
    400,
    `input 'input': parameters is ${cut('['.repeat(300), 200)}; expected an object`,
  );
  add(
    'outputs nested 100000 deep',
    MLP,
    `{"inputs":[${mlpJson}],"outputs":${deepObject(1e5)}}`,
    400,
    `outputs is ${cut('{"a":'.repeat(60), 200)}; expected an array of {name}`,
  );

  // Float values beyond the type's largest finite value became Infinity (answered as null).
  const FLOAT_MAX = { FP16: '65504', FP32: '3.4028234663852886e+38', FP64: '1.7976931348623157e+308' };
  for (const [t, values] of [
    ['FP16', ['65520', '-1e5', '1e39']],
    ['FP32', ['1e39', '-3.5e38', '1e400']],
    ['FP64', ['1e400', '-1e309']],
  ] as const) {
    for (const text of values) {
      const max = FLOAT_MAX[t];
      // As text: JSON.stringify would write 1e400 (Infinity) as null.
      const body = JSON.stringify(withData(t, [GOOD[t][0], 12345.25])).replace('12345.25', text);
      add(
        `${t} element ${text}`,
        ID,
        body,
        400,
        `input 'in_${t}': data element 1 is ${String(Number(text))}, beyond ${t}'s largest finite value ${max} (allowed: ${t} numbers from -${max} to ${max})`,
      );
    }
  }

  // A shape of 2^41 elements with 2 values: the buffer was allocated before the count was checked
  // (500 "Invalid typed array length" / "Invalid array length").
  for (const t of ALL_DATATYPES) {
    const inputs = identityInputs(() => [2 ** 40, 2]);
    add(
      `in_${t} shape [2^40, 2] with 2 values`,
      ID,
      { inputs: [...inputs.filter((i) => i.datatype === t), ...inputs.filter((i) => i.datatype !== t)] },
      400,
      `input 'in_${t}': shape [1099511627776, 2] needs 2199023255552 elements, data has 2`,
    );
  }
  // Every datatype: values out of its range or of the wrong JSON type.
  for (const t of ALL_DATATYPES) {
    const range = RANGES[t];
    const expected = range ? range[2] : EXPECTED[t]!;
    const wrong: unknown[] = range
      ? [range[0], range[1], 0.5, '3', true, null]
      : t === 'BOOL'
        ? [1, 0, 'true', null]
        : t === 'BYTES'
          ? [1, true, null, {}]
          : ['1.0', true, null, []];
    for (const bad of wrong) {
      const data = [GOOD[t][0], bad];
      const what = Array.isArray(bad)
        ? `input 'in_${t}': data is nested deeper than its shape [1, 2]`
        : `input 'in_${t}': data element 1 is ${JSON.stringify(bad)}; expected ${t} ${expected}`;
      add(
        `${t} element ${JSON.stringify(bad)}`,
        ID,
        withData(t, Array.isArray(bad) ? [[GOOD[t][0], bad]] : data),
        400,
        what,
      );
    }
    add(
      `missing in_${t}`,
      ID,
      { inputs: identityInputs().filter((i) => i.datatype !== t) },
      400,
      `missing input 'in_${t}'`,
    );
    const other = t === 'BOOL' ? 'UINT8' : 'BOOL';
    if (t !== 'BOOL') {
      add(
        `batch size of in_${t} differs`,
        ID,
        {
          inputs: identityInputs((x) => (x === t ? [3, 2] : [1, 2])).map((i) =>
            i.datatype === t ? { ...i, data: new Array(6).fill(GOOD[t][0]) } : i,
          ),
        },
        400,
        `input 'in_${t}': batch dimension 3 differs from input 'in_${other}' (1); all inputs must have the same first dimension`,
      );
    }
    for (const shape of [[1, 3], [2], [1, 2, 1]]) {
      add(
        `in_${t} shape ${JSON.stringify(shape)}`,
        ID,
        { inputs: identityInputs((x) => (x === t ? shape : [1, 2])) },
        400,
        `input 'in_${t}': shape [${shape.join(', ')}] does not match the model's [-1, 2] (-1: any size)`,
      );
    }
    add(
      `input name as output in_${t}`,
      ID,
      { inputs: identityInputs(), outputs: [{ name: `in_${t}` }] },
      400,
      `output 'in_${t}' is not an output of this model; outputs: ${ALL_DATATYPES.map((x) => `out_${x}`).join(', ')}`,
    );
    add(
      `in_${t} declared as another type`,
      ID,
      {
        inputs: identityInputs().map((i) =>
          i.datatype === t ? { ...i, datatype: t === 'FP64' ? 'FP32' : 'FP64' } : i,
        ),
      },
      400,
      `input 'in_${t}': datatype ${t === 'FP64' ? 'FP32' : 'FP64'} does not match the model's ${t}`,
    );
  }

  for (const name of ['nope', 'MLP', 'mlp2', 'a.b', 'x%20y', 'squeezenet']) {
    add(
      `unknown model ${name}`,
      `/v2/models/${name}/infer`,
      mlp({}),
      404,
      `unknown model '${decodeURIComponent(name)}'`,
    );
  }
  for (const v of ['0', '2', '01', 'latest', '-1']) {
    add(
      `unknown version ${v}`,
      `/v2/models/mlp/versions/${v}/infer`,
      mlp({}),
      404,
      `unknown version '${v}' of model 'mlp'; versions: 1`,
    );
  }
  return c;
}

let server: RunningServer;
let repo: string;
const TABLE = cases();

beforeAll(async () => {
  repo = tempRepository(['mlp']);
  writeModel(join(repo, 'identity', '1', 'model.onnx'), identityModel());
  server = await startTestServer(repo);
});

afterAll(async () => {
  await server?.shutdown();
  removeDir(repo);
});

it(`answers each of ${TABLE.length} generated bad requests with its status and error, then still serves correctly`, async () => {
  expect(TABLE.length).toBeGreaterThan(250); // hundreds, generated
  const before = await post(server.url + MLP, fp32Request('input', [1, 16], row));
  expect(before.status).toBe(200);

  const failures: string[] = [];
  for (let i = 0; i < TABLE.length; i += 16) {
    await Promise.all(
      TABLE.slice(i, i + 16).map(async (t) => {
        const res = await post(
          server.url + t.path,
          typeof t.body === 'string' ? t.body : JSON.stringify(t.body),
        );
        const error = res.body?.error;
        const ok =
          res.status === t.status &&
          typeof error === 'string' &&
          (t.error.endsWith(': ') ? error.startsWith(t.error) : error === t.error);
        if (!ok)
          failures.push(
            `${t.what}: expected ${t.status} ${JSON.stringify(t.error)}, got ${res.status} ${JSON.stringify(res.body)}`,
          );
      }),
    );
  }
  expect(failures).toEqual([]);

  expect((await request(`${server.url}/v2/health/ready`)).status).toBe(200);
  const after = await post(server.url + MLP, fp32Request('input', [1, 16], row));
  expect(after.body.outputs).toEqual(before.body.outputs);
  const identity = await post(server.url + ID, { inputs: identityInputs() });
  expect(identity.status).toBe(200);

  // Each 400 was counted once as a client error of its model.
  const metrics = (await request(`${server.metricsUrl}/metrics`)).body as string;
  const counted = (model: string) =>
    Number(
      new RegExp(
        `inference_requests_total\\{model="${model}",version="1",outcome="client_error",protocol="http"\\} (\\d+)`,
      ).exec(metrics)?.[1],
    );
  expect(counted('mlp')).toBe(TABLE.filter((t) => t.path === MLP).length);
  expect(counted('identity')).toBe(TABLE.filter((t) => t.path === ID).length);
});

it('accepts the largest finite value of each float type (values that round to it, too)', async () => {
  // 3.4028235e38 and 65519 round to the largest finite FP32 and FP16 values; one more overflows.
  const body = JSON.stringify({
    inputs: identityInputs().map((i) =>
      i.datatype === 'FP16'
        ? { ...i, data: [65519, -65504] }
        : i.datatype === 'FP32'
          ? { ...i, data: [11111.25, -3.4028234663852886e38] }
          : i.datatype === 'FP64'
            ? { ...i, data: [Number.MAX_VALUE, -Number.MAX_VALUE] }
            : i,
    ),
  }).replace('11111.25', '3.4028235e38');
  const res = await post(server.url + ID, body);
  expect(res.status).toBe(200);
  const out = (t: string) => res.body.outputs.find((o: { name: string }) => o.name === `out_${t}`).data;
  expect(out('FP16')).toEqual([65504, -65504]);
  expect(out('FP32')).toEqual([3.4028234663852886e38, -3.4028234663852886e38]);
  expect(out('FP64')).toEqual([Number.MAX_VALUE, -Number.MAX_VALUE]);
});
