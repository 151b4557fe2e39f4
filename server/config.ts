import { readFile } from 'node:fs/promises';
import { processCpus } from './cpus.ts';
import { V2_DATATYPES, isV2Datatype, type V2Datatype } from './datatypes.ts';
import { ModelConfigError } from './errors.ts';
import { isRecord } from './json.ts';

/** Execution providers a model may ask for, in preference order (onnxruntime's names). */
export const EXECUTION_PROVIDERS = ['cuda', 'cpu'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];

/** An input or output override: narrows what the ONNX file declares (pins dynamic dims, documents the type). */
export interface TensorOverride {
  readonly name: string;
  /** Must equal the ONNX type when given. */
  readonly datatype?: V2Datatype;
  /** Same rank as the ONNX shape; fixed ONNX dims must match, -1 keeps a dim dynamic. */
  readonly shape?: readonly number[];
}

/**
 * Triton's dynamic batcher options (model_config.proto `ModelDynamicBatching`, same snake_case
 * names). Parsed and validated here; the batcher that uses them is server/batcher.ts.
 */
export interface DynamicBatchingConfig {
  /** @default 0 */
  readonly max_queue_delay_microseconds: number;
  /** Batch sizes the batcher prefers to form; each 1..max_batch_size. @default [] */
  readonly preferred_batch_size: readonly number[];
  /** Requests allowed to wait; 0 means unbounded (Triton's meaning). @default 0 */
  readonly max_queue_size: number;
  /** Queue timeout of requests that set none; 0 means none. @default 0 */
  readonly default_queue_timeout_microseconds: number;
}

/** Strategies of onnxruntime's CUDA memory arena (OrtArenaCfg / CUDA provider option names). */
export const ARENA_EXTEND_STRATEGIES = ['kNextPowerOfTwo', 'kSameAsRequested'] as const;

/**
 * Options of onnxruntime's CUDA execution provider, in its own option names
 * (OrtCUDAProviderOptionsV2). Only with "cuda" in execution_providers.
 */
export interface CudaProviderOptions {
  /** The GPU of the container to run on (a pod given one GPU, or one slice of one, sees device 0). @default 0 */
  readonly device_id?: number;
  /** Bytes the CUDA provider's arena may hold. @default onnxruntime's: no limit */
  readonly gpu_mem_limit?: number;
  /** How the arena grows. @default onnxruntime's: 'kNextPowerOfTwo' */
  readonly arena_extend_strategy?: (typeof ARENA_EXTEND_STRATEGIES)[number];
}

/** A model's resolved config.json (Triton-like snake_case keys). */
export interface ModelConfig {
  /** Largest dim 0 (batch) a request or batch may have; 0 means no limit and no batching. @default 0 */
  readonly max_batch_size: number;
  /** onnxruntime sessions per model version. @default 1 */
  readonly instances: number;
  /** Providers to try in order; the first that creates a session is used. @default ['cpu'] */
  readonly execution_providers: readonly ExecutionProvider[];
  /** onnxruntime intra-op threads per session; 0: the CPUs available to the process (model.ts intraOpThreads). @default 0 */
  readonly intra_op_threads: number;
  /** onnxruntime inter-op threads per session; 0 lets onnxruntime choose. @default 0 */
  readonly inter_op_threads: number;
  /** @default [] */
  readonly input: readonly TensorOverride[];
  /** @default [] */
  readonly output: readonly TensorOverride[];
  /** CUDA execution provider options. @default undefined: onnxruntime's defaults */
  readonly cuda_provider_options?: CudaProviderOptions;
  /** Present only when the model enables dynamic batching. @default undefined */
  readonly dynamic_batching?: DynamicBatchingConfig;
}

export const DEFAULT_MODEL_CONFIG: ModelConfig = {
  max_batch_size: 0,
  instances: 1,
  execution_providers: ['cpu'],
  intra_op_threads: 0,
  inter_op_threads: 0,
  input: [],
  output: [],
};

/**
 * Longest queue timeout, of a request (`parameters.timeout`) or a model's default: one hour.
 * Triton's fields are uint64 microseconds without a bound, but Node's timers hold at most 2^31-1 ms
 * (about 24.8 days) and fire after 1 ms beyond that, so a longer timeout would time out at once.
 */
export const MAX_QUEUE_TIMEOUT_MICROSECONDS = 3_600_000_000;

export const DEFAULT_DYNAMIC_BATCHING: DynamicBatchingConfig = {
  max_queue_delay_microseconds: 0,
  preferred_batch_size: [],
  max_queue_size: 0,
  default_queue_timeout_microseconds: 0,
};

/** Most sessions per model version, whatever the CPUs. */
export const MAX_INSTANCES = 64;

const TOP_LEVEL_KEYS = [
  'name',
  'max_batch_size',
  'instances',
  'execution_providers',
  'intra_op_threads',
  'inter_op_threads',
  'input',
  'output',
  'dynamic_batching',
  'cuda_provider_options',
] as const;
const CUDA_KEYS = ['device_id', 'gpu_mem_limit', 'arena_extend_strategy'];
const BATCHING_KEYS = Object.keys(DEFAULT_DYNAMIC_BATCHING);
const OVERRIDE_KEYS = ['name', 'datatype', 'shape'];

type Json = Record<string, unknown>;

/**
 * Validates one config.json; `file` only labels the messages. Thread counts and instances are
 * bounded by `cpus`, the CPUs this process may use (server/cpus.ts: affinity, cgroup quota and
 * cpuset): onnxruntime creates every thread asked for, and more than the pod's CPUs only adds
 * contention and CFS throttling.
 */
export function parseModelConfig(
  raw: unknown,
  file: string,
  modelName: string,
  cpus: number = processCpus(),
): ModelConfig {
  const fail = (field: string, value: unknown, allowed: string): never => {
    throw new ModelConfigError(`${file}: ${field} is ${JSON.stringify(value)}; allowed: ${allowed}`);
  };
  if (!isRecord(raw)) fail('the document', raw, 'a JSON object');
  const doc = raw as Json;
  checkKeys(doc, TOP_LEVEL_KEYS, '', fail);

  const int = (
    obj: Json,
    key: string,
    prefix: string,
    min: number,
    max: number,
    dflt: number,
    why = '',
  ): number => {
    const value = obj[key];
    if (value === undefined) return dflt;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      fail(prefix + key, value, `an integer from ${min} to ${max}${why}`);
    }
    return value as number;
  };
  const perCpu = ` (${cpus}: the CPUs this process may use)`;

  if (doc.name !== undefined && doc.name !== modelName) {
    fail('name', doc.name, `the model's directory name ${JSON.stringify(modelName)} (or leave it out)`);
  }
  const max_batch_size = int(doc, 'max_batch_size', '', 0, 1 << 16, DEFAULT_MODEL_CONFIG.max_batch_size);
  const maxInstances = Math.min(MAX_INSTANCES, cpus);
  const instances = int(
    doc,
    'instances',
    '',
    1,
    maxInstances,
    DEFAULT_MODEL_CONFIG.instances,
    maxInstances < MAX_INSTANCES ? perCpu : '',
  );
  const intra_op_threads = int(
    doc,
    'intra_op_threads',
    '',
    0,
    cpus,
    DEFAULT_MODEL_CONFIG.intra_op_threads,
    perCpu,
  );
  const inter_op_threads = int(
    doc,
    'inter_op_threads',
    '',
    0,
    cpus,
    DEFAULT_MODEL_CONFIG.inter_op_threads,
    perCpu,
  );

  let execution_providers = DEFAULT_MODEL_CONFIG.execution_providers;
  if (doc.execution_providers !== undefined) {
    const eps = doc.execution_providers;
    const allowed = `a non-empty array of distinct values from ${JSON.stringify(EXECUTION_PROVIDERS)}`;
    if (!Array.isArray(eps) || eps.length === 0 || new Set(eps).size !== eps.length) {
      fail('execution_providers', eps, allowed);
    }
    (eps as unknown[]).forEach((ep, i) => {
      if (!(EXECUTION_PROVIDERS as readonly unknown[]).includes(ep))
        fail(`execution_providers[${i}]`, ep, allowed);
    });
    execution_providers = eps as ExecutionProvider[];
  }

  const overrides = (key: 'input' | 'output'): TensorOverride[] => {
    const list = doc[key];
    if (list === undefined) return [];
    if (!Array.isArray(list)) return fail(key, list, 'an array of {name, datatype?, shape?}');
    const seen = new Set<string>();
    return list.map((item: unknown, i) => {
      const at = `${key}[${i}]`;
      if (!isRecord(item)) return fail(at, item, 'an object {name, datatype?, shape?}');
      checkKeys(item, OVERRIDE_KEYS, `${at}.`, fail);
      if (typeof item.name !== 'string' || item.name === '') fail(`${at}.name`, item.name, 'a tensor name');
      if (seen.has(item.name as string)) fail(`${at}.name`, item.name, 'each name once');
      seen.add(item.name as string);
      if (item.datatype !== undefined && !isV2Datatype(item.datatype)) {
        fail(`${at}.datatype`, item.datatype, V2_DATATYPES.join(', '));
      }
      const shape = item.shape;
      if (
        shape !== undefined &&
        (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && (d as number) >= -1))
      ) {
        fail(`${at}.shape`, shape, 'an array of integers >= -1 (-1: dynamic)');
      }
      return {
        name: item.name as string,
        ...(item.datatype !== undefined && { datatype: item.datatype as V2Datatype }),
        ...(shape !== undefined && { shape: shape as number[] }),
      };
    });
  };

  let dynamic_batching: DynamicBatchingConfig | undefined;
  if (doc.dynamic_batching !== undefined) {
    const db = doc.dynamic_batching;
    if (!isRecord(db)) fail('dynamic_batching', db, `an object with keys ${BATCHING_KEYS.join(', ')}`);
    const b = db as Json;
    checkKeys(b, BATCHING_KEYS, 'dynamic_batching.', fail);
    if (max_batch_size < 1) {
      fail('max_batch_size', max_batch_size, 'an integer >= 1 when dynamic_batching is set');
    }
    const d = DEFAULT_DYNAMIC_BATCHING;
    const p = 'dynamic_batching.';
    const preferred = b.preferred_batch_size ?? d.preferred_batch_size;
    const allowedPreferred = `an array of distinct integers from 1 to max_batch_size (${max_batch_size})`;
    if (!Array.isArray(preferred) || new Set(preferred).size !== preferred.length) {
      fail(`${p}preferred_batch_size`, preferred, allowedPreferred);
    }
    (preferred as unknown[]).forEach((n, i) => {
      if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > max_batch_size) {
        fail(`${p}preferred_batch_size[${i}]`, n, allowedPreferred);
      }
    });
    dynamic_batching = {
      max_queue_delay_microseconds: int(
        b,
        'max_queue_delay_microseconds',
        p,
        0,
        10_000_000,
        d.max_queue_delay_microseconds,
      ),
      preferred_batch_size: preferred as number[],
      max_queue_size: int(b, 'max_queue_size', p, 0, 1_000_000, d.max_queue_size),
      default_queue_timeout_microseconds: int(
        b,
        'default_queue_timeout_microseconds',
        p,
        0,
        MAX_QUEUE_TIMEOUT_MICROSECONDS,
        d.default_queue_timeout_microseconds,
      ),
    };
  }

  let cuda_provider_options: CudaProviderOptions | undefined;
  if (doc.cuda_provider_options !== undefined) {
    const co = doc.cuda_provider_options;
    const p = 'cuda_provider_options';
    if (!isRecord(co)) fail(p, co, `an object with keys ${CUDA_KEYS.join(', ')}`);
    if (!execution_providers.includes('cuda')) {
      fail(p, co, 'only with "cuda" in execution_providers');
    }
    const c = co as Json;
    checkKeys(c, CUDA_KEYS, `${p}.`, fail);
    const strategy = c.arena_extend_strategy;
    if (strategy !== undefined && !(ARENA_EXTEND_STRATEGIES as readonly unknown[]).includes(strategy)) {
      fail(`${p}.arena_extend_strategy`, strategy, ARENA_EXTEND_STRATEGIES.join(', '));
    }
    cuda_provider_options = {
      ...(c.device_id !== undefined && { device_id: int(c, 'device_id', `${p}.`, 0, 63, 0) }),
      ...(c.gpu_mem_limit !== undefined && {
        gpu_mem_limit: int(c, 'gpu_mem_limit', `${p}.`, 1 << 20, Number.MAX_SAFE_INTEGER, 0, ' (bytes)'),
      }),
      ...(strategy !== undefined && {
        arena_extend_strategy: strategy as CudaProviderOptions['arena_extend_strategy'],
      }),
    };
  }

  return {
    max_batch_size,
    instances,
    execution_providers,
    intra_op_threads,
    inter_op_threads,
    input: overrides('input'),
    output: overrides('output'),
    ...(dynamic_batching && { dynamic_batching }),
    ...(cuda_provider_options && { cuda_provider_options }),
  };
}

function checkKeys(
  obj: Json,
  allowed: readonly string[],
  prefix: string,
  fail: (field: string, value: unknown, allowed: string) => never,
): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) fail(`key ${prefix}${key}`, obj[key], `keys ${allowed.join(', ')}`);
  }
}

/** Reads `<model>/config.json` if it exists; defaults otherwise. */
export async function readModelConfig(
  file: string,
  modelName: string,
  cpus: number = processCpus(),
): Promise<ModelConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return DEFAULT_MODEL_CONFIG;
    throw new ModelConfigError(`${file}: cannot read: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ModelConfigError(`${file}: not valid JSON: ${(err as Error).message}`);
  }
  return parseModelConfig(raw, file, modelName, cpus);
}
