import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { parseModelConfig, parseModelConfigText, DEFAULT_MODEL_CONFIG } from '../../server/config.ts';
import { sessionOptions } from '../../server/session-options.ts';
import { fromFloat16Bits, toFloat16Bits } from '../../server/datatypes.ts';
import { createLogger } from '../../server/logger.ts';
import { createMetrics } from '../../server/metrics.ts';
import { ModelRepository } from '../../server/repository.ts';
import { createScheduler } from '../../server/scheduler.ts';
import { removeDir, tempRepository, writeFile } from './helpers.ts';

const FILE = '/models/m/config.json';
/** The CPUs the validation is told this process may use (server/cpus.ts reads the real ones). */
const CPUS = 8;
const PER_CPU = ' (8: the CPUs this process may use)';
const KEYS =
  'name, max_batch_size, instances, execution_providers, intra_op_threads, inter_op_threads, input, output, dynamic_batching, cuda_provider_options';
const BATCH_KEYS =
  'max_queue_delay_microseconds, preferred_batch_size, max_queue_size, default_queue_timeout_microseconds';

describe('config.json validation', () => {
  it.each<[string, unknown, string]>([
    ['not an object', [], 'the document is []; allowed: a JSON object'],
    ['unknown key', { max_batch: 4 }, `key max_batch is 4; allowed: keys ${KEYS}`],
    [
      'name of another model',
      { name: 'other' },
      'name is "other"; allowed: the model\'s directory name "m" (or leave it out)',
    ],
    [
      'negative max_batch_size',
      { max_batch_size: -1 },
      'max_batch_size is -1; allowed: an integer from 0 to 65536',
    ],
    [
      'fractional max_batch_size',
      { max_batch_size: 1.5 },
      'max_batch_size is 1.5; allowed: an integer from 0 to 65536',
    ],
    [
      'string max_batch_size',
      { max_batch_size: '8' },
      'max_batch_size is "8"; allowed: an integer from 0 to 65536',
    ],
    ['no instances', { instances: 0 }, `instances is 0; allowed: an integer from 1 to 8${PER_CPU}`],
    ['too many instances', { instances: 65 }, `instances is 65; allowed: an integer from 1 to 8${PER_CPU}`],
    [
      'negative threads',
      { intra_op_threads: -1 },
      `intra_op_threads is -1; allowed: an integer from 0 to 8${PER_CPU}`,
    ],
    [
      'inter-op threads',
      { inter_op_threads: 'auto' },
      `inter_op_threads is "auto"; allowed: an integer from 0 to 8${PER_CPU}`,
    ],
    [
      'no provider',
      { execution_providers: [] },
      'execution_providers is []; allowed: a non-empty array of distinct values from ["cuda","cpu"]',
    ],
    [
      'provider string',
      { execution_providers: 'cuda' },
      'execution_providers is "cuda"; allowed: a non-empty array of distinct values from ["cuda","cpu"]',
    ],
    [
      'unknown provider',
      { execution_providers: ['cuda', 'gpu'] },
      'execution_providers[1] is "gpu"; allowed: a non-empty array of distinct values from ["cuda","cpu"]',
    ],
    [
      'repeated provider',
      { execution_providers: ['cpu', 'cpu'] },
      'execution_providers is ["cpu","cpu"]; allowed: a non-empty array of distinct values from ["cuda","cpu"]',
    ],
    [
      'input not a list',
      { input: { name: 'x' } },
      'input is {"name":"x"}; allowed: an array of {name, datatype?, shape?}',
    ],
    [
      'input entry not an object',
      { input: ['x'] },
      'input[0] is "x"; allowed: an object {name, datatype?, shape?}',
    ],
    ['input without name', { input: [{ shape: [1] }] }, 'input[0].name is undefined; allowed: a tensor name'],
    [
      'input named twice',
      { output: [{ name: 'a' }, { name: 'a' }] },
      'output[1].name is "a"; allowed: each name once',
    ],
    [
      'input datatype',
      { input: [{ name: 'a', datatype: 'TYPE_FP32' }] },
      'input[0].datatype is "TYPE_FP32"; allowed: BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, FP32, FP64, BYTES',
    ],
    [
      'input shape',
      { input: [{ name: 'a', shape: [1, -2] }] },
      'input[0].shape is [1,-2]; allowed: an array of integers >= -1 (-1: dynamic)',
    ],
    [
      'input unknown key',
      { input: [{ name: 'a', dims: [1] }] },
      'key input[0].dims is [1]; allowed: keys name, datatype, shape',
    ],
    [
      'batching without max_batch_size',
      { dynamic_batching: {} },
      'max_batch_size is 0; allowed: an integer >= 1 when dynamic_batching is set',
    ],
    [
      'batching not an object',
      { max_batch_size: 8, dynamic_batching: true },
      `dynamic_batching is true; allowed: an object with keys ${BATCH_KEYS}`,
    ],
    [
      'batching unknown key',
      { max_batch_size: 8, dynamic_batching: { max_queue_delay: 5 } },
      `key dynamic_batching.max_queue_delay is 5; allowed: keys ${BATCH_KEYS}`,
    ],
    [
      'preferred above max',
      { max_batch_size: 8, dynamic_batching: { preferred_batch_size: [4, 16] } },
      'dynamic_batching.preferred_batch_size[1] is 16; allowed: an array of distinct integers from 1 to max_batch_size (8)',
    ],
    [
      'preferred not a list',
      { max_batch_size: 8, dynamic_batching: { preferred_batch_size: 4 } },
      'dynamic_batching.preferred_batch_size is 4; allowed: an array of distinct integers from 1 to max_batch_size (8)',
    ],
    [
      'negative delay',
      { max_batch_size: 8, dynamic_batching: { max_queue_delay_microseconds: -5 } },
      'dynamic_batching.max_queue_delay_microseconds is -5; allowed: an integer from 0 to 10000000',
    ],
    [
      'queue size',
      { max_batch_size: 8, dynamic_batching: { max_queue_size: 1.5 } },
      'dynamic_batching.max_queue_size is 1.5; allowed: an integer from 0 to 1000000',
    ],
    [
      'queue timeout',
      { max_batch_size: 8, dynamic_batching: { default_queue_timeout_microseconds: -1 } },
      'dynamic_batching.default_queue_timeout_microseconds is -1; allowed: an integer from 0 to 3600000000',
    ],
  ])('rejects %s naming file, field, value and what is allowed', (_what, doc, message) => {
    expect(() => parseModelConfig(doc, FILE, 'm', CPUS)).toThrow(`${FILE}: ${message}`);
  });

  it('resolves defaults and keeps what is given', () => {
    expect(parseModelConfig({}, FILE, 'm')).toEqual(DEFAULT_MODEL_CONFIG);
    const config = parseModelConfig(
      {
        name: 'm',
        max_batch_size: 32,
        instances: 2,
        execution_providers: ['cuda', 'cpu'],
        intra_op_threads: 2,
        input: [{ name: 'x', datatype: 'FP32', shape: [-1, 3] }],
        dynamic_batching: { max_queue_delay_microseconds: 500, preferred_batch_size: [8, 16] },
      },
      FILE,
      'm',
      CPUS,
    );
    expect(config).toEqual({
      max_batch_size: 32,
      instances: 2,
      execution_providers: ['cuda', 'cpu'],
      intra_op_threads: 2,
      inter_op_threads: 0,
      input: [{ name: 'x', datatype: 'FP32', shape: [-1, 3] }],
      output: [],
      dynamic_batching: {
        max_queue_delay_microseconds: 500,
        preferred_batch_size: [8, 16],
        max_queue_size: 0,
        default_queue_timeout_microseconds: 0,
      },
    });
  });
});

describe('threads and instances bounded by the CPUs this process may use', () => {
  // 1024 intra + 1024 inter-op threads x 64 instances were accepted on any machine.
  it.each<[string, Record<string, number>, number, string]>([
    [
      'intra-op threads',
      { intra_op_threads: 1024 },
      2,
      'intra_op_threads is 1024; allowed: an integer from 0 to 2',
    ],
    [
      'intra-op threads',
      { intra_op_threads: 3 },
      2,
      'intra_op_threads is 3; allowed: an integer from 0 to 2',
    ],
    [
      'inter-op threads',
      { inter_op_threads: 1024 },
      4,
      'inter_op_threads is 1024; allowed: an integer from 0 to 4',
    ],
    [
      'inter-op threads',
      { inter_op_threads: 5 },
      4,
      'inter_op_threads is 5; allowed: an integer from 0 to 4',
    ],
    ['instances', { instances: 64 }, 2, 'instances is 64; allowed: an integer from 1 to 2'],
    ['instances', { instances: 3 }, 2, 'instances is 3; allowed: an integer from 1 to 2'],
  ])('refuses %s %j with %i CPUs, naming file, field, value and range', (_what, doc, cpus, message) => {
    expect(() => parseModelConfig(doc, FILE, 'm', cpus)).toThrow(
      `${FILE}: ${message} (${cpus}: the CPUs this process may use)`,
    );
  });

  it('accepts up to the CPUs (instances at most 64 on any machine)', () => {
    const config = parseModelConfig({ intra_op_threads: 2, inter_op_threads: 2, instances: 2 }, FILE, 'm', 2);
    expect(config).toMatchObject({ intra_op_threads: 2, inter_op_threads: 2, instances: 2 });
    expect(() => parseModelConfig({ instances: 65 }, FILE, 'm', 128)).toThrow(
      `${FILE}: instances is 65; allowed: an integer from 1 to 64`,
    );
    expect(parseModelConfig({ instances: 64, intra_op_threads: 128 }, FILE, 'm', 128)).toMatchObject({
      instances: 64,
      intra_op_threads: 128,
    });
  });
});

describe('CUDA provider options', () => {
  const CUDA = { execution_providers: ['cuda', 'cpu'] };
  it.each<[string, unknown, string]>([
    [
      'without cuda',
      { cuda_provider_options: { device_id: 0 } },
      'cuda_provider_options is {"device_id":0}; allowed: only with "cuda" in execution_providers',
    ],
    [
      'not an object',
      { ...CUDA, cuda_provider_options: 0 },
      'cuda_provider_options is 0; allowed: an object with keys device_id, gpu_mem_limit, arena_extend_strategy',
    ],
    [
      'an unknown key',
      { ...CUDA, cuda_provider_options: { deviceId: 1 } },
      'key cuda_provider_options.deviceId is 1; allowed: keys device_id, gpu_mem_limit, arena_extend_strategy',
    ],
    [
      'a negative device',
      { ...CUDA, cuda_provider_options: { device_id: -1 } },
      'cuda_provider_options.device_id is -1; allowed: an integer from 0 to 63',
    ],
    [
      'a device as text',
      { ...CUDA, cuda_provider_options: { device_id: '1' } },
      'cuda_provider_options.device_id is "1"; allowed: an integer from 0 to 63',
    ],
    [
      'a memory limit in GiB',
      { ...CUDA, cuda_provider_options: { gpu_mem_limit: 2.5 } },
      'cuda_provider_options.gpu_mem_limit is 2.5; allowed: an integer from 1048576 to 9007199254740991 (bytes)',
    ],
    [
      'a memory limit as text',
      { ...CUDA, cuda_provider_options: { gpu_mem_limit: '2G' } },
      'cuda_provider_options.gpu_mem_limit is "2G"; allowed: an integer from 1048576 to 9007199254740991 (bytes)',
    ],
    [
      'an unknown arena strategy',
      { ...CUDA, cuda_provider_options: { arena_extend_strategy: 'grow' } },
      'cuda_provider_options.arena_extend_strategy is "grow"; allowed: kNextPowerOfTwo, kSameAsRequested',
    ],
    [
      'an arena strategy by number',
      { ...CUDA, cuda_provider_options: { arena_extend_strategy: 1 } },
      'cuda_provider_options.arena_extend_strategy is 1; allowed: kNextPowerOfTwo, kSameAsRequested',
    ],
  ])('refuses %s, naming file, field, value and what is allowed', (_what, doc, message) => {
    expect(() => parseModelConfig(doc, FILE, 'm', CPUS)).toThrow(`${FILE}: ${message}`);
  });

  it("are kept and passed to the CUDA provider in onnxruntime-node's shape; the CPU provider gets none", () => {
    const cuda_provider_options = {
      device_id: 1,
      gpu_mem_limit: 2 * 1024 ** 3,
      arena_extend_strategy: 'kSameAsRequested',
    } as const;
    const config = parseModelConfig({ ...CUDA, cuda_provider_options }, FILE, 'm', CPUS);
    expect(config.cuda_provider_options).toEqual(cuda_provider_options);
    // Not runnable on a GPU here (no CUDA provider in the CPU package): the options are checked
    // as onnxruntime-node receives them.
    expect(sessionOptions(config, 'cuda').executionProviders).toEqual([
      { name: 'cuda', deviceId: 1, gpu_mem_limit: 2147483648, arena_extend_strategy: 'kSameAsRequested' },
    ]);
    expect(sessionOptions(config, 'cpu').executionProviders).toEqual(['cpu']);
    const deviceOnly = parseModelConfig(
      { ...CUDA, cuda_provider_options: { device_id: 0 } },
      FILE,
      'm',
      CPUS,
    );
    expect(sessionOptions(deviceOnly, 'cuda').executionProviders).toEqual([{ name: 'cuda', deviceId: 0 }]);
    expect(sessionOptions(parseModelConfig(CUDA, FILE, 'm', CPUS), 'cuda').executionProviders).toEqual([
      'cuda',
    ]);
  });

  it('load through onnxruntime-node, which has no CUDA provider here: the model falls back to CPU', async () => {
    const repo = tempRepository(['mlp']);
    writeFile(
      join(repo, 'mlp', 'config.json'),
      JSON.stringify({ ...CUDA, cuda_provider_options: { device_id: 0, gpu_mem_limit: 1 << 30 } }),
    );
    const { metrics } = createMetrics();
    const repository = new ModelRepository({
      root: repo,
      metrics,
      logger: createLogger('silent'),
      schedulerFactory: createScheduler,
    });
    await repository.load('mlp');
    expect(repository.resolve('mlp').provider).toBe('cpu');
    await repository.close();
    removeDir(repo);
  });
});

describe('input/output overrides against the real model', () => {
  it.each<[string, unknown, string]>([
    [
      'an unknown input',
      { input: [{ name: 'pixels' }] },
      'input[0].name is "pixels"; the model\'s inputs are ["input"]',
    ],
    [
      'another datatype',
      { input: [{ name: 'input', datatype: 'FP16' }] },
      'input[0].datatype is "FP16"; the model declares FP32',
    ],
    [
      'a fixed dim changed',
      { output: [{ name: 'output', shape: [-1, 5] }] },
      "output[0].shape is [-1, 5]; allowed: rank 2, matching the model's fixed dims: [-1, 4]",
    ],
    [
      'another rank',
      { input: [{ name: 'input', shape: [16] }] },
      "input[0].shape is [16]; allowed: rank 2, matching the model's fixed dims: [-1, 16]",
    ],
  ])('fails the load of a model whose config.json names %s', async (_what, config, message) => {
    const repo = tempRepository(['mlp']);
    const file = join(repo, 'mlp', 'config.json');
    writeFile(file, JSON.stringify(config));
    const { metrics } = createMetrics();
    const logged: { err?: string }[] = [];
    const repository = new ModelRepository({
      root: repo,
      metrics,
      logger: pino({ level: 'error' }, { write: (line: string) => void logged.push(JSON.parse(line)) }),
      schedulerFactory: createScheduler,
    });
    // The API and the index say what kind of failure it was; the file and the value are logged only.
    const reason = 'its configuration or directory is invalid; the server log has the details';
    await expect(repository.load('mlp')).rejects.toThrow(`failed to load model 'mlp': ${reason}`);
    expect(await repository.index()).toEqual([{ name: 'mlp', state: 'UNAVAILABLE', reason }]);
    expect(logged.map((l) => l.err)).toEqual([`${file}: ${message}`]);
    removeDir(repo);
  });

  it('pins a dynamic dim and shows it in the signature', async () => {
    const repo = tempRepository(['mlp']);
    writeFile(
      join(repo, 'mlp', 'config.json'),
      JSON.stringify({ input: [{ name: 'input', shape: [2, 16] }] }),
    );
    const { metrics } = createMetrics();
    const repository = new ModelRepository({
      root: repo,
      metrics,
      logger: createLogger('silent'),
      schedulerFactory: createScheduler,
    });
    await repository.load('mlp');
    const mv = repository.resolve('mlp');
    expect(mv.signature.inputs).toEqual([{ name: 'input', datatype: 'FP32', shape: [2, 16] }]);
    expect(mv.signature.batchable).toBe(false);
    await repository.close();
    removeDir(repo);
  });
});

describe('config.json errors: file, line and column, every problem at once', () => {
  // Loaded through the repository as the server does: the log has the whole message, the API only
  // the kind of failure.
  const loadFailure = async (text: string): Promise<{ file: string; logged: (string | undefined)[] }> => {
    const repo = tempRepository(['mlp']);
    const file = join(repo, 'mlp', 'config.json');
    writeFile(file, text);
    const { metrics } = createMetrics();
    const logged: { err?: string }[] = [];
    const repository = new ModelRepository({
      root: repo,
      metrics,
      logger: pino({ level: 'error' }, { write: (line: string) => void logged.push(JSON.parse(line)) }),
      schedulerFactory: createScheduler,
    });
    const reason = 'its configuration or directory is invalid; the server log has the details';
    await expect(repository.load('mlp')).rejects.toThrow(`failed to load model 'mlp': ${reason}`);
    removeDir(repo);
    return { file, logged: logged.map((l) => l.err) };
  };

  it('lists every bad field of a file, each at its line and column', async () => {
    const { file, logged } = await loadFailure(
      [
        '{',
        '  "max_batch_size": 8,',
        '  "execution_providers": ["cuda", "gpu"],',
        '  "dynamic_batching": {',
        '    "max_queue_delay_microseconds": -5',
        '  }',
        '}',
      ].join('\n'),
    );
    expect(logged).toEqual([
      `${file}: 2 problems:\n` +
        `  - ${file}:3:35: execution_providers[1] is "gpu"; allowed: a non-empty array of distinct values from ["cuda","cpu"]\n` +
        `  - ${file}:5:37: dynamic_batching.max_queue_delay_microseconds is -5; allowed: an integer from 0 to 10000000`,
    ]);
  });

  it('gives the line and column of a syntax error, the same on every Node version', async () => {
    const { file, logged } = await loadFailure(
      ['{', '  "max_batch_size": 8,', '  "instances": 1', '  "execution_providers": ["cpu"]', '}'].join('\n'),
    );
    expect(logged).toEqual([`${file}:4:3: not valid JSON: expected ',' or '}', found '"'`]);
  });
});

describe('config.json text: where each problem is', () => {
  const problems = (text: string): readonly string[] => {
    try {
      parseModelConfigText(text, FILE, 'm', CPUS);
    } catch (err) {
      return (err as { problems: readonly string[] }).problems;
    }
    throw new Error('accepted');
  };

  it('points at an unknown key, at a value, and at the object that lacks a field', () => {
    const text = ['{"max_batch": 4,', ' "input": [{"shape": [1, -2]}],', ' "dynamic_batching": {}}'].join(
      '\n',
    );
    expect(problems(text)).toEqual([
      `${FILE}:1:2: key max_batch is 4; allowed: keys ${KEYS}`,
      `${FILE}:2:12: input[0].name is undefined; allowed: a tensor name`,
      `${FILE}:2:22: input[0].shape is [1,-2]; allowed: an array of integers >= -1 (-1: dynamic)`,
      // max_batch_size is not in the file: the field that requires it is pointed at.
      `${FILE}:3:2: max_batch_size is 0; allowed: an integer >= 1 when dynamic_batching is set`,
    ]);
  });

  it('reports a bad max_batch_size once, not again for every preferred size measured against it', () => {
    expect(problems('{"max_batch_size": -1, "dynamic_batching": {"preferred_batch_size": [4, 8]}}')).toEqual([
      `${FILE}:1:20: max_batch_size is -1; allowed: an integer from 0 to 65536`,
    ]);
  });

  it.each([
    ['', '1:1: expected a value, found the end of the file'],
    ['{"instances": }', "1:15: expected a value, found '}'"],
    ['{"instances": 1,}', "1:17: expected a property name in double quotes, found '}'"],
    ["{'instances': 1}", "1:2: expected a property name in double quotes or '}', found '''"],
    ['{"instances": 01}', "1:16: expected ',' or '}', found '1'"],
    [
      '{"name": "m\tx"}',
      '1:12: expected a character of a string (control characters only as escapes, e.g. \\n), found U+0009',
    ],
    ['\ufeff{}', '1:1: expected a value, found U+FEFF'],
    ['{}\r\n{}', "2:1: expected the end of the file after the document, found '{'"],
    ['{"input": [1, 2}', "1:16: expected ',' or ']', found '}'"],
  ])('refuses %j at its line and column, as JSON.parse refuses it', (text, message) => {
    const [at, detail] = [message.slice(0, message.indexOf(' ')), message.slice(message.indexOf(' ') + 1)];
    expect(() => parseModelConfigText(text, FILE, 'm', CPUS)).toThrow(
      `${FILE}:${at} not valid JSON: ${detail}`,
    );
    expect(() => JSON.parse(text)).toThrow();
  });

  it('accepts what JSON.parse accepts, with its values', () => {
    const text = '\r\n{ "name" : "m", "input" : [ { "name" : "\\u0078\\n" , "shape" : [ -1 , 1E0 ] } ] }\n';
    expect(parseModelConfigText(text, FILE, 'm', CPUS).input).toEqual([{ name: 'x\n', shape: [-1, 1] }]);
  });
});

describe('FP16', () => {
  it('round-trips every non-NaN half-precision value', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      const value = fromFloat16Bits(bits);
      if (Number.isNaN(value)) continue;
      if (toFloat16Bits(value) !== bits)
        throw new Error(`0x${bits.toString(16)} -> ${value} -> 0x${toFloat16Bits(value).toString(16)}`);
    }
  });

  it.each([
    [1, 0x3c00],
    [-2, 0xc000],
    [0.1, 0x2e66],
    [65504, 0x7bff],
    [65520, 0x7c00],
    [-1e9, 0xfc00],
    [2 ** -24, 0x0001],
    [2 ** -26, 0x0000],
    [1 + 2 ** -11, 0x3c00], // halfway: ties to even
    [1 + 3 * 2 ** -11, 0x3c02],
  ])('rounds %d to the bits %i', (value, bits) => {
    expect(toFloat16Bits(value)).toBe(bits);
  });

  it('keeps NaN a NaN', () => {
    expect(Number.isNaN(fromFloat16Bits(toFloat16Bits(NaN)))).toBe(true);
  });
});
