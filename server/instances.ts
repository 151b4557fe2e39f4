/**
 * How many onnxruntime sessions a model version runs, and with how many intra-op threads each,
 * when its config.json leaves `instances` out: Triton's instance-group defaults
 * (model_configuration.md, "Instance Groups"), decided once the provider in use is known. A
 * KIND_GPU group without `count` gets one instance per GPU; a KIND_CPU group without `count` gets
 * 2 for the onnxruntime backend. An explicit `instances` is always taken as written.
 */
import type { ExecutionProvider, ModelConfig } from './config.ts';
import { processCpus } from './cpus.ts';
import { intraOpThreads } from './session-options.ts';

/**
 * Sessions of a CPU model whose batches run in worker threads, when config.json names none
 * (capped by the CPUs). Triton's KIND_CPU default for onnxruntime, and the measured best on the
 * 2-CPU bench machine: 2 instances x 1 intra-op thread served squeezenet 1.17-1.30x faster than
 * 1 x 2 (BENCHMARKS.md, "Where the server's CPU goes"); two intra-op threads on one batch spend
 * more in synchronisation than two sessions on two batches.
 */
export const CPU_DEFAULT_INSTANCES = 2;

/** A config whose instance count is decided: what the schedulers run. */
export type ServedModelConfig = ModelConfig & { readonly instances: number };

export interface InstancePlan {
  readonly instances: number;
  /** onnxruntime intra-op threads each session gets (session-options.ts intraOpThreads). */
  readonly intraOpThreads: number;
  /** Where the count comes from: config.json, or which default rule chose it. */
  readonly from: 'config.json' | 'default: one per GPU' | 'default: JS thread' | 'default: CPU';
}

/**
 * True when the version's scheduler is the dynamic batcher, whose instances run concurrently in
 * worker threads (scheduler.ts createScheduler); otherwise its sessions run on the JS thread, one at
 * a time.
 */
export const batchesInWorkers = (config: Pick<ModelConfig, 'dynamic_batching'>, batchable: boolean) =>
  config.dynamic_batching !== undefined && batchable;

/**
 * The instances and threads of a version. Without `instances` in config.json: 1 on CUDA (one
 * session per GPU: the image's behaviour, unchanged); 1 when the sessions run on the JS thread (a
 * second one would only wait); else min(CPU_DEFAULT_INSTANCES, cpus). `intra_op_threads` 0 then
 * splits the CPUs among the concurrent instances (2 CPUs: 2 x 1; 8 CPUs: 2 x 4).
 */
export function planInstances(
  config: Pick<ModelConfig, 'instances' | 'intra_op_threads' | 'dynamic_batching'>,
  provider: ExecutionProvider,
  batchable: boolean,
  cpus: number = processCpus(),
): InstancePlan {
  const workers = batchesInWorkers(config, batchable);
  const [instances, from]: [number, InstancePlan['from']] =
    config.instances !== undefined
      ? [config.instances, 'config.json']
      : provider === 'cuda'
        ? [1, 'default: one per GPU']
        : !workers
          ? [1, 'default: JS thread']
          : [Math.max(1, Math.min(CPU_DEFAULT_INSTANCES, cpus)), 'default: CPU'];
  return { instances, from, intraOpThreads: intraOpThreads(config, workers ? instances : 1, cpus) };
}
