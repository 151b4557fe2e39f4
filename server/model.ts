import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Logger } from 'pino';
import { MODEL_FILE_NAME } from '../constructs/contract.ts';
import type { ExecutionProvider, ModelConfig, TensorOverride } from './config.ts';
import { allocate, v2FromOrt } from './datatypes.ts';
import { ModelConfigError, ProviderFallbackError } from './errors.ts';
import { planInstances, type InstancePlan, type ServedModelConfig } from './instances.ts';
import { ModelMetrics, type SchedulerHooks, type ServerMetricSet } from './metrics.ts';
import type { InferenceJob, JobTiming, Scheduler, SchedulerFactory } from './scheduling.ts';
import { sessionOptions } from './session-options.ts';
import type { ModelSignature, TensorSpec } from './signature.ts';
import { ModelStats } from './stats.ts';
import { makeTensor } from './ort-tensor.ts';

/** The ONNX platform name of the protocol's model metadata (Triton's and KServe's name for ONNX models). */
export const PLATFORM = 'onnx_onnxv1';

export interface LoadOptions {
  readonly repository: string;
  readonly model: string;
  readonly version: string;
  readonly config: ModelConfig;
  readonly metrics: ServerMetricSet;
  readonly logger: Logger;
  readonly schedulerFactory: SchedulerFactory;
  /**
   * 'fail': a model whose first execution provider fails does not load (--provider-fallback fail);
   * 'allow': the next one in execution_providers is tried.
   * @default 'allow'
   */
  readonly providerFallback?: ProviderFallback;
}

export type ProviderFallback = 'allow' | 'fail';
export const PROVIDER_FALLBACKS: readonly ProviderFallback[] = ['allow', 'fail'];

/** One loaded, warmed-up version of a model: its sessions, signature and scheduler. */
export class ModelVersion {
  private constructor(
    public readonly name: string,
    public readonly version: string,
    /** config.json with the instance count decided (server/instances.ts). */
    public readonly config: ServedModelConfig,
    public readonly provider: ExecutionProvider,
    public readonly signature: ModelSignature,
    private readonly sessions: readonly ort.InferenceSession[],
    public readonly scheduler: Scheduler,
    public readonly metrics: ModelMetrics,
    /** Seconds from the start of loading to the end of warm-up. */
    public readonly loadSeconds: number,
    private readonly metricSet: ServerMetricSet,
    /** Triton's statistics extension: counts and durations since this version loaded. */
    public readonly stats: ModelStats,
    /** Class labels per output, from the file its config.json `output[].label_filename` names. */
    public readonly labels: ReadonlyMap<string, readonly string[]>,
    /** Its sessions and their threads, and whether config.json or a default chose them. */
    public readonly instancePlan: InstancePlan,
  ) {}

  static async load(opts: LoadOptions): Promise<ModelVersion> {
    const start = performance.now();
    const { model, version, config, logger } = opts;
    const file = join(opts.repository, model, version, MODEL_FILE_NAME);
    const log = logger.child({ model, version });
    const { provider, first } = await createFirstSession(file, config, log, opts.providerFallback ?? 'allow');
    const cuda = config.cuda_provider_options;
    if (
      provider === 'cuda' &&
      (cuda?.gpu_mem_limit !== undefined || cuda?.arena_extend_strategy !== undefined)
    )
      log.warn(
        { gpu_mem_limit: cuda.gpu_mem_limit, arena_extend_strategy: cuda.arena_extend_strategy },
        'onnxruntime-node passes only device_id to the CUDA provider: gpu_mem_limit and arena_extend_strategy are not applied',
      );
    const sessions = [first];
    let opened: Promise<readonly ort.InferenceSession[]> | undefined;
    try {
      const signature = readSignature(first, config, file);
      const plan = planInstances(config, provider, signature.batchable);
      const served: ServedModelConfig = { ...config, instances: plan.instances };
      const warmup = { feeds: warmupFeeds(signature), outputNames: first.outputNames };
      // The first session, which gave the signature, is one of them; the others are created here.
      const openSessions = async () => {
        for (let i = 1; i < served.instances; i++) sessions.push(await createSession(file, config, provider));
        for (const session of sessions) await session.run(warmup.feeds, warmup.outputNames);
        return sessions;
      };
      const labels = await readLabels(join(opts.repository, model), config, signature);
      const metrics = new ModelMetrics(opts.metrics, model, version, provider);
      const stats = new ModelStats();
      // Method by method: ModelMetrics is a class instance, whose methods an object spread would drop.
      const hooks: SchedulerHooks = {
        observeQueue: (s) => metrics.observeQueue(s),
        observeCompute: (s) => metrics.observeCompute(s),
        observeBatch: (n) => metrics.observeBatch(n),
        setQueueDepth: (d) => metrics.setQueueDepth(d),
        observeExecution: (n, s) => stats.executed(n, s),
      };
      const scheduler = await opts.schedulerFactory({
        model,
        version,
        sessions: () => (opened ??= openSessions()),
        config: served,
        batchable: signature.batchable,
        hooks,
        logger: log,
        file,
        provider,
        warmup,
      });
      if (!opened) {
        // The scheduler runs sessions of its own: the signature's session would only hold memory.
        await first.release();
        sessions.length = 0;
      }
      const seconds = (performance.now() - start) / 1000;
      log.info(
        {
          provider,
          instances: plan.instances,
          instancesFrom: plan.from,
          intraOpThreads: plan.intraOpThreads,
          jsThreadSessions: sessions.length,
          seconds,
        },
        'model version loaded and warmed up',
      );
      const mv = new ModelVersion(
        model,
        version,
        served,
        provider,
        signature,
        sessions,
        scheduler,
        metrics,
        seconds,
        opts.metrics,
        stats,
        labels,
        plan,
      );
      mv.markLoaded();
      return mv;
    } catch (err) {
      await Promise.allSettled(sessions.map((s) => s.release()));
      throw err;
    }
  }

  /**
   * Sets this version's series: ready, load time, and whether it runs on a fallback provider. A
   * reload calls it again once the version it replaced has unloaded (their series are the same).
   */
  markLoaded(): void {
    this.metrics.loaded(this.loadSeconds);
    const labels = fallbackLabels(this.name, this.version, this.config, this.provider);
    this.metricSet.providerFallback.set(labels, this.provider === labels.requested_provider ? 0 : 1);
  }

  private active = 0;
  private idle?: () => void;

  /** Schedules one job and counts it in `stats` (success or failure, its stages and rows). */
  async infer(job: InferenceJob): Promise<Record<string, ort.Tensor>> {
    const start = performance.now();
    const timing: JobTiming = { queue: 0, input: 0, infer: 0, output: 0 };
    try {
      const outputs = await this.scheduler.infer({ ...job, timing });
      const first = this.signature.batchable ? Object.values(job.inputs)[0] : undefined;
      const rows = first ? Number(first.dims[0] ?? 1) : 1;
      this.stats.succeeded((performance.now() - start) / 1000, rows, timing);
      return outputs;
    } catch (err) {
      this.stats.failed((performance.now() - start) / 1000);
      throw err;
    }
  }

  /**
   * Runs one request's whole handling (body decoding included) against this version: an unload
   * that starts meanwhile waits for it, so a request that resolved this version is answered.
   */
  async serve<T>(handle: () => Promise<T>): Promise<T> {
    this.active++;
    try {
      return await handle();
    } finally {
      if (--this.active === 0) this.idle?.();
    }
  }

  /** Lets accepted requests finish, then frees the sessions. */
  async unload(): Promise<void> {
    if (this.active > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    await this.scheduler.close();
    this.metrics.unloaded();
    // 0, like inference_model_ready: the series stays, and an unloaded version fires no alert.
    this.metricSet.providerFallback.set(
      fallbackLabels(this.name, this.version, this.config, this.provider),
      0,
    );
    await Promise.allSettled(this.sessions.map((s) => s.release()));
  }
}

function createSession(file: string, config: ModelConfig, provider: ExecutionProvider) {
  return ort.InferenceSession.create(file, sessionOptions(config, provider));
}

/** Labels of inference_model_provider_fallback: the provider config.json asks for first, and the one in use. */
function fallbackLabels(model: string, version: string, config: ModelConfig, provider: ExecutionProvider) {
  return { model, version, requested_provider: config.execution_providers[0]!, provider };
}

/**
 * The CUDA provider libraries onnxruntime loads from beside its binding (onnxruntime-node's
 * script/install-metadata.js puts them there; the npm package ships without them, the GPU image
 * installs them). Only Linux and Windows x64 builds of onnxruntime-node have a CUDA provider.
 */
const CUDA_PROVIDER_LIBRARIES: Partial<Record<NodeJS.Platform, readonly string[]>> = {
  linux: ['libonnxruntime_providers_shared.so', 'libonnxruntime_providers_cuda.so'],
  win32: ['onnxruntime_providers_shared.dll', 'onnxruntime_providers_cuda.dll'],
};

/** The directory of onnxruntime-node's native binding (its dist/binding.js loads it from there). */
export function ortBindingDir(): string {
  const main = createRequire(import.meta.url).resolve('onnxruntime-node');
  return join(dirname(main), '..', 'bin', 'napi-v6', process.platform, process.arch);
}

/**
 * Why the CUDA provider cannot be installed here, or undefined when its libraries are present.
 * Checked before asking onnxruntime for it: onnxruntime prints its own error for a missing library
 * straight to stderr (red, with a source path), on every start of a CPU machine.
 */
export function cudaProviderMissing(dir = ortBindingDir()): string | undefined {
  const libraries = CUDA_PROVIDER_LIBRARIES[process.platform];
  if (!libraries) return `onnxruntime-node has no CUDA provider on ${process.platform}`;
  const missing = libraries.filter((l) => !existsSync(join(dir, l)));
  if (missing.length === 0) return undefined;
  return `${missing.join(', ')} not in ${dir} (onnxruntime-node's install script puts them there; the GPU image runs it)`;
}

/** A provider whose libraries are absent: not tried, and logged once per process (not per model). */
class ProviderNotInstalled extends Error {}
let notInstalledLogged = false;

/**
 * Tries the configured providers in order; a provider that fails falls through to the next, with a
 * log line, unless `fallback` is 'fail': then the first provider's failure fails the load. CUDA is
 * not tried where its provider libraries are absent (a CPU machine): that is one log line,
 * `execution provider cuda not installed, falling back to cpu`, for the whole process.
 */
async function createFirstSession(
  file: string,
  config: ModelConfig,
  log: Logger,
  fallback: ProviderFallback,
): Promise<{ provider: ExecutionProvider; first: ort.InferenceSession }> {
  const errors: string[] = [];
  for (const provider of config.execution_providers) {
    try {
      const missing = provider === 'cuda' ? cudaProviderMissing() : undefined;
      if (missing) throw new ProviderNotInstalled(`execution provider cuda not installed: ${missing}`);
      return { provider, first: await createSession(file, config, provider) };
    } catch (err) {
      const message = (err as Error).message;
      errors.push(`${provider}: ${message}`);
      const next = config.execution_providers[config.execution_providers.indexOf(provider) + 1];
      if (next && fallback === 'fail') {
        throw new ProviderFallbackError(
          `cannot create an onnxruntime session for ${file} on ${provider}, and --provider-fallback fail forbids falling back to ${next}: ${message}`,
          provider,
          next,
          { cause: err },
        );
      }
      if (!next) continue;
      if (err instanceof ProviderNotInstalled) {
        const level = notInstalledLogged ? 'debug' : 'warn';
        notInstalledLogged = true;
        log[level](
          { provider, next, err: message },
          `execution provider ${provider} not installed, falling back to ${next}`,
        );
      } else {
        log.warn(
          { provider, next, err: message },
          `execution provider ${provider} failed, falling back to ${next}`,
        );
      }
    }
  }
  throw new Error(`cannot create an onnxruntime session for ${file}: ${errors.join('; ')}`);
}

function toSpec(meta: ort.InferenceSession.ValueMetadata, file: string): TensorSpec {
  if (!meta.isTensor)
    throw new ModelConfigError(`${file}: '${meta.name}' is not a tensor; only tensors are served`);
  const datatype = v2FromOrt(meta.type);
  if (!datatype)
    throw new ModelConfigError(
      `${file}: '${meta.name}' has type ${meta.type}, which the protocol cannot carry`,
    );
  return {
    name: meta.name,
    datatype,
    shape: meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)),
  };
}

function applyOverride(spec: TensorSpec, override: TensorOverride | undefined, where: string): TensorSpec {
  if (!override) return spec;
  if (override.datatype && override.datatype !== spec.datatype) {
    throw new ModelConfigError(
      `${where}.datatype is "${override.datatype}"; the model declares ${spec.datatype}`,
    );
  }
  if (!override.shape) return spec;
  const shape = override.shape;
  const allowed = `rank ${spec.shape.length}, matching the model's fixed dims: [${spec.shape.join(', ')}]`;
  if (
    shape.length !== spec.shape.length ||
    shape.some((d, i) => spec.shape[i] !== -1 && d !== spec.shape[i])
  ) {
    throw new ModelConfigError(`${where}.shape is [${shape.join(', ')}]; allowed: ${allowed}`);
  }
  return { ...spec, shape };
}

function readSignature(session: ort.InferenceSession, config: ModelConfig, file: string): ModelSignature {
  const cfgFile = join(file, '..', '..', 'config.json');
  const side = (
    metas: readonly ort.InferenceSession.ValueMetadata[],
    overrides: readonly TensorOverride[],
    key: string,
  ) => {
    const names = metas.map((m) => m.name);
    overrides.forEach((o, i) => {
      if (!names.includes(o.name)) {
        throw new ModelConfigError(
          `${cfgFile}: ${key}[${i}].name is "${o.name}"; the model's ${key}s are ${JSON.stringify(names)}`,
        );
      }
    });
    return metas.map((m) => {
      const index = overrides.findIndex((o) => o.name === m.name);
      return applyOverride(toSpec(m, file), overrides[index], `${cfgFile}: ${key}[${index}]`);
    });
  };
  const inputs = side(session.inputMetadata, config.input, 'input');
  const outputs = side(session.outputMetadata, config.output, 'output');
  // Batchable: dim 0 dynamic everywhere, and the inputs do not name different symbols for it
  // (inputs [n] and [m] of an elementwise op are not one batch dimension).
  const symbols = new Set(
    session.inputMetadata
      .map((m) => (m.isTensor ? m.shape[0] : undefined))
      .filter((d) => typeof d === 'string' && d !== ''),
  );
  const batchable =
    symbols.size <= 1 && [...inputs, ...outputs].every((t) => t.shape.length > 0 && t.shape[0] === -1);
  return { inputs, outputs, batchable, maxBatchSize: config.max_batch_size };
}

/**
 * The labels of each output whose config.json entry names a `label_filename` (Triton's key): a
 * UTF-8 file in the model's directory, one label per line, line i the label of class index i.
 */
async function readLabels(
  dir: string,
  config: ModelConfig,
  signature: ModelSignature,
): Promise<Map<string, readonly string[]>> {
  const labels = new Map<string, readonly string[]>();
  for (const [i, o] of config.output.entries()) {
    if (o.label_filename === undefined) continue;
    const file = join(dir, o.label_filename);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new ModelConfigError(
        `${join(dir, 'config.json')}: output[${i}].label_filename is "${o.label_filename}"; ${file} cannot be read: ${(err as Error).message}`,
      );
    }
    const spec = signature.outputs.find((s) => s.name === o.name)!;
    if (spec.datatype === 'BYTES' || spec.datatype === 'BOOL')
      throw new ModelConfigError(
        `${join(dir, 'config.json')}: output[${i}].label_filename is "${o.label_filename}"; allowed only on numeric outputs (output '${o.name}' is ${spec.datatype})`,
      );
    labels.set(o.name, text.replace(/\r?\n$/, '').split(/\r?\n/));
  }
  return labels;
}

/** Declared shapes with every dynamic dim = 1, zero-filled. */
function warmupFeeds(signature: ModelSignature): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const spec of signature.inputs) {
    const dims = spec.shape.map((d) => (d < 0 ? 1 : d));
    const length = dims.reduce((a, b) => a * b, 1);
    feeds[spec.name] = makeTensor(spec.datatype, allocate(spec.datatype, length), dims);
  }
  return feeds;
}
