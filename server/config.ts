import { readFile } from 'node:fs/promises';
import { processCpus } from './cpus.ts';
import { V2_DATATYPES, isV2Datatype, type V2Datatype } from './datatypes.ts';
import { ModelConfigError } from './errors.ts';
import { isRecord, preview, SHOWN_CHARS } from './preview.ts';
import { JsonSyntaxError, parseJsonSource, type JsonPath, type JsonSource } from './json-source.ts';

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
  /**
   * Outputs only (Triton's key): a file in the model's directory with one class label per line,
   * for the classification extension's `<score>:<index>:<label>`.
   */
  readonly label_filename?: string;
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
  /**
   * onnxruntime sessions per model version, as config.json gives it. @default undefined: chosen
   * when the version loads, from the provider in use and the CPUs (server/instances.ts
   * defaultInstances: Triton's instance-group defaults)
   */
  readonly instances?: number;
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
const OUTPUT_KEYS = [...OVERRIDE_KEYS, 'label_filename'];
/** A file name in the model's directory: no path, not hidden. */
const LABEL_FILE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

type Json = Record<string, unknown>;

/** One bad field; `key`: the key itself is wrong (an unknown key), not its value. */
interface Problem {
  readonly path: JsonPath;
  readonly value: unknown;
  readonly allowed: string;
  readonly key?: boolean;
  /** Where to point when the field is not in the file (a missing field another one requires). */
  readonly near?: JsonPath;
}

/** `input[0].shape`, as the messages and Triton's docs name fields. */
function fieldName(path: JsonPath): string {
  if (path.length === 0) return 'the document';
  return path.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

/**
 * One message for all the problems of a file, each `file:line:column: field is value; allowed: ...`
 * (without the position when only the parsed value is known). Several are listed in file order, like
 * the inventory's, so that one edit and reload fixes them all; one stays a single line, the form
 * the other load errors (model.ts) have, so that the log reads the same for the common case.
 */
function configError(problems: readonly Problem[], file: string, source?: JsonSource): ModelConfigError {
  const located = problems.map((p) => {
    let at = source?.position(p.path, p.key ? 'key' : 'value');
    if (source && !at && p.near) at = source.position(p.near, 'key') ?? source.position(p.near);
    for (let up = p.path.length - 1; source && !at && up >= 0; up--)
      at = source.position(p.path.slice(0, up));
    const where = at ? `${file}:${at.line}:${at.column}` : file;
    const text = `${where}: ${p.key ? 'key ' : ''}${fieldName(p.path)} is ${preview(p.value, SHOWN_CHARS)}; allowed: ${p.allowed}`;
    return { at, text };
  });
  // Stable: problems at one place keep the order they were found in.
  located.sort((a, b) => (a.at && b.at ? a.at.line - b.at.line || a.at.column - b.at.column : 0));
  const lines = located.map((l) => l.text);
  return new ModelConfigError(
    lines.length === 1 ? lines[0]! : `${file}: ${lines.length} problems:\n  - ${lines.join('\n  - ')}`,
    lines,
  );
}

/**
 * Validates one config.json and reports every bad field at once; `file` only labels the messages,
 * `source` (the parsed text) adds each field's line and column. Thread counts and instances are
 * bounded by `cpus`, the CPUs this process may use (server/cpus.ts: affinity, cgroup quota and
 * cpuset): onnxruntime creates every thread asked for, and more than the pod's CPUs only adds
 * contention and CFS throttling.
 */
export function parseModelConfig(
  raw: unknown,
  file: string,
  modelName: string,
  cpus: number = processCpus(),
  source?: JsonSource,
): ModelConfig {
  const problems: Problem[] = [];
  // Returns undefined so that a bad field's result reads as "unknown" to the checks that need it.
  const bad = (path: JsonPath, value: unknown, allowed: string, more: Partial<Problem> = {}): undefined => {
    problems.push({ path, value, allowed, ...more });
    return undefined;
  };
  const checkKeys = (obj: Json, allowed: readonly string[], prefix: JsonPath): void => {
    for (const key of Object.keys(obj)) {
      if (!allowed.includes(key))
        bad([...prefix, key], obj[key], `keys ${allowed.join(', ')}`, { key: true });
    }
  };
  if (!isRecord(raw)) {
    bad([], raw, 'a JSON object');
    throw configError(problems, file, source);
  }
  const doc = raw;
  checkKeys(doc, TOP_LEVEL_KEYS, []);

  const int = (
    obj: Json,
    path: JsonPath,
    min: number,
    max: number,
    dflt: number,
    why = '',
  ): number | undefined => {
    const value = obj[path[path.length - 1]!];
    if (value === undefined) return dflt;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      return bad(path, value, `an integer from ${min} to ${max}${why}`);
    }
    return value;
  };
  const perCpu = ` (${cpus}: the CPUs this process may use)`;

  if (doc.name !== undefined && doc.name !== modelName) {
    bad(['name'], doc.name, `the model's directory name ${JSON.stringify(modelName)} (or leave it out)`);
  }
  const max_batch_size = int(doc, ['max_batch_size'], 0, 1 << 16, DEFAULT_MODEL_CONFIG.max_batch_size);
  const maxInstances = Math.min(MAX_INSTANCES, cpus);
  // Absent: chosen at load (server/instances.ts), once the provider in use is known.
  const instances =
    doc.instances === undefined
      ? undefined
      : int(doc, ['instances'], 1, maxInstances, 1, maxInstances < MAX_INSTANCES ? perCpu : '');
  const intra_op_threads = int(
    doc,
    ['intra_op_threads'],
    0,
    cpus,
    DEFAULT_MODEL_CONFIG.intra_op_threads,
    perCpu,
  );
  const inter_op_threads = int(
    doc,
    ['inter_op_threads'],
    0,
    cpus,
    DEFAULT_MODEL_CONFIG.inter_op_threads,
    perCpu,
  );

  let execution_providers: readonly ExecutionProvider[] | undefined =
    DEFAULT_MODEL_CONFIG.execution_providers;
  if (doc.execution_providers !== undefined) {
    const eps = doc.execution_providers;
    const allowed = `a non-empty array of distinct values from ${JSON.stringify(EXECUTION_PROVIDERS)}`;
    if (!Array.isArray(eps) || eps.length === 0 || new Set(eps).size !== eps.length) {
      execution_providers = bad(['execution_providers'], eps, allowed);
    } else {
      const unknown = eps.flatMap((ep: unknown, i) =>
        (EXECUTION_PROVIDERS as readonly unknown[]).includes(ep)
          ? []
          : [bad(['execution_providers', i], ep, allowed)],
      );
      execution_providers = unknown.length === 0 ? (eps as ExecutionProvider[]) : undefined;
    }
  }

  const overrides = (key: 'input' | 'output'): TensorOverride[] => {
    const list = doc[key];
    if (list === undefined) return [];
    if (!Array.isArray(list)) return bad([key], list, 'an array of {name, datatype?, shape?}') ?? [];
    const seen = new Set<unknown>();
    return list.flatMap((item: unknown, i) => {
      const at = [key, i];
      if (!isRecord(item)) return bad(at, item, 'an object {name, datatype?, shape?}') ?? [];
      checkKeys(item, key === 'output' ? OUTPUT_KEYS : OVERRIDE_KEYS, at);
      if (typeof item.name !== 'string' || item.name === '') bad([...at, 'name'], item.name, 'a tensor name');
      else if (seen.has(item.name)) bad([...at, 'name'], item.name, 'each name once');
      seen.add(item.name);
      if (item.datatype !== undefined && !isV2Datatype(item.datatype)) {
        bad([...at, 'datatype'], item.datatype, V2_DATATYPES.join(', '));
      }
      const shape = item.shape;
      if (
        shape !== undefined &&
        (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && (d as number) >= -1))
      ) {
        bad([...at, 'shape'], shape, 'an array of integers >= -1 (-1: dynamic)');
      }
      const labels = item.label_filename;
      if (labels !== undefined && (typeof labels !== 'string' || !LABEL_FILE.test(labels))) {
        bad([...at, 'label_filename'], labels, `a file name in the model's directory (${LABEL_FILE.source})`);
      }
      return [
        {
          name: item.name as string,
          ...(item.datatype !== undefined && { datatype: item.datatype as V2Datatype }),
          ...(shape !== undefined && { shape: shape as number[] }),
          ...(typeof labels === 'string' && { label_filename: labels }),
        },
      ];
    });
  };
  const input = overrides('input');
  const output = overrides('output');

  let dynamic_batching: DynamicBatchingConfig | undefined;
  if (doc.dynamic_batching !== undefined) {
    const db = doc.dynamic_batching;
    const p = 'dynamic_batching';
    if (!isRecord(db)) bad([p], db, `an object with keys ${BATCHING_KEYS.join(', ')}`);
    else {
      checkKeys(db, BATCHING_KEYS, [p]);
      if (max_batch_size !== undefined && max_batch_size < 1) {
        bad(['max_batch_size'], max_batch_size, 'an integer >= 1 when dynamic_batching is set', {
          near: [p],
        });
      }
      const d = DEFAULT_DYNAMIC_BATCHING;
      const preferred = db.preferred_batch_size ?? d.preferred_batch_size;
      const allowedPreferred = `an array of distinct integers from 1 to max_batch_size${max_batch_size === undefined ? '' : ` (${max_batch_size})`}`;
      if (!Array.isArray(preferred) || new Set(preferred).size !== preferred.length) {
        bad([p, 'preferred_batch_size'], preferred, allowedPreferred);
      } else if (max_batch_size !== undefined) {
        // Against a bad max_batch_size every size would be reported as well.
        preferred.forEach((n: unknown, i) => {
          if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > max_batch_size) {
            bad([p, 'preferred_batch_size', i], n, allowedPreferred);
          }
        });
      }
      dynamic_batching = {
        max_queue_delay_microseconds: int(
          db,
          [p, 'max_queue_delay_microseconds'],
          0,
          10_000_000,
          d.max_queue_delay_microseconds,
        )!,
        preferred_batch_size: preferred as number[],
        max_queue_size: int(db, [p, 'max_queue_size'], 0, 1_000_000, d.max_queue_size)!,
        default_queue_timeout_microseconds: int(
          db,
          [p, 'default_queue_timeout_microseconds'],
          0,
          MAX_QUEUE_TIMEOUT_MICROSECONDS,
          d.default_queue_timeout_microseconds,
        )!,
      };
    }
  }

  let cuda_provider_options: CudaProviderOptions | undefined;
  if (doc.cuda_provider_options !== undefined) {
    const co = doc.cuda_provider_options;
    const p = 'cuda_provider_options';
    if (!isRecord(co)) bad([p], co, `an object with keys ${CUDA_KEYS.join(', ')}`);
    else {
      if (execution_providers && !execution_providers.includes('cuda')) {
        bad([p], co, 'only with "cuda" in execution_providers');
      }
      checkKeys(co, CUDA_KEYS, [p]);
      const strategy = co.arena_extend_strategy;
      if (strategy !== undefined && !(ARENA_EXTEND_STRATEGIES as readonly unknown[]).includes(strategy)) {
        bad([p, 'arena_extend_strategy'], strategy, ARENA_EXTEND_STRATEGIES.join(', '));
      }
      cuda_provider_options = {
        ...(co.device_id !== undefined && { device_id: int(co, [p, 'device_id'], 0, 63, 0)! }),
        ...(co.gpu_mem_limit !== undefined && {
          gpu_mem_limit: int(co, [p, 'gpu_mem_limit'], 1 << 20, Number.MAX_SAFE_INTEGER, 0, ' (bytes)')!,
        }),
        ...(strategy !== undefined && {
          arena_extend_strategy: strategy as CudaProviderOptions['arena_extend_strategy'],
        }),
      };
    }
  }

  if (problems.length > 0) throw configError(problems, file, source);
  // Every undefined above is a problem, so none is left here.
  return {
    max_batch_size: max_batch_size!,
    ...(instances !== undefined && { instances }),
    execution_providers: execution_providers!,
    intra_op_threads: intra_op_threads!,
    inter_op_threads: inter_op_threads!,
    input,
    output,
    ...(dynamic_batching && { dynamic_batching }),
    ...(cuda_provider_options && { cuda_provider_options }),
  };
}

/** Validates the text of a config.json: a syntax error at its line and column, else every bad field. */
export function parseModelConfigText(
  text: string,
  file: string,
  modelName: string,
  cpus: number = processCpus(),
): ModelConfig {
  let source: JsonSource;
  try {
    source = parseJsonSource(text);
  } catch (err) {
    if (!(err instanceof JsonSyntaxError)) throw err;
    const { line, column } = err.position;
    throw new ModelConfigError(`${file}:${line}:${column}: not valid JSON: ${err.detail}`);
  }
  return parseModelConfig(source.value, file, modelName, cpus, source);
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
  return parseModelConfigText(text, file, modelName, cpus);
}
