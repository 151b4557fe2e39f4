import type * as ort from 'onnxruntime-node';
import type { ExecutionProvider, ModelConfig } from './config.ts';
import { processCpus } from './cpus.ts';

/**
 * intra_op_threads 0: the CPUs this process may use (server/cpus.ts: its affinity bounded by the
 * cgroup's CPU quota and cpuset, which os.availableParallelism() ignores), shared by the sessions that run at the same
 * time. Sessions on the JS thread run one at a time (onnxruntime-node runs `run` synchronously
 * there: dist/backend.js), so they get all of them; the batcher's worker-thread instances run
 * concurrently and split them instead of oversubscribing the cores. (onnxruntime's own choice
 * for 0 would give every instance all the cores; BENCHMARKS.md's ceiling table compares both.)
 */
export function intraOpThreads(
  config: Pick<ModelConfig, 'intra_op_threads'>,
  concurrent = 1,
  cpus: number = processCpus(),
): number {
  if (config.intra_op_threads > 0) return config.intra_op_threads;
  return Math.max(1, Math.floor(cpus / concurrent));
}

export function sessionOptions(
  config: ModelConfig,
  provider: ExecutionProvider,
  concurrent = 1,
): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: [providerConfig(config, provider)],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: intraOpThreads(config, concurrent),
    // Idle onnxruntime threads sleep instead of spin-waiting: they share the cores with the JS
    // thread that reads the next requests (and in a pod with a CPU quota). On the 2-core bench
    // machine under load, squeezenet through the server went from 48 to 81 and 72 to 139 req/s
    // (two alternating A/B rounds); BENCHMARKS.md's ceiling table has both settings.
    // Keys: onnxruntime_session_options_config_keys.h (session.intra_op.allow_spinning).
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    ...(config.inter_op_threads > 0 && {
      interOpNumThreads: config.inter_op_threads,
      executionMode: 'parallel' as const,
    }),
  };
}

/**
 * The provider as onnxruntime-node takes it: a name, or for CUDA with options `{ name: 'cuda',
 * deviceId, ... }`. onnxruntime-node 1.30's binding (js/node/src/session_options_helper.cc) hands
 * the CUDA provider `deviceId` only; gpu_mem_limit and arena_extend_strategy travel in the same
 * object under onnxruntime's CUDA option names, and load() warns that the binding drops them.
 */
export function providerConfig(
  config: Pick<ModelConfig, 'cuda_provider_options'>,
  provider: ExecutionProvider,
): ort.InferenceSession.ExecutionProviderConfig {
  const options = config.cuda_provider_options;
  if (provider !== 'cuda' || !options) return provider;
  const cuda: ort.InferenceSession.ExecutionProviderOption & Record<string, unknown> = {
    name: 'cuda',
    ...(options.device_id !== undefined && { deviceId: options.device_id }),
    ...(options.gpu_mem_limit !== undefined && { gpu_mem_limit: options.gpu_mem_limit }),
    ...(options.arena_extend_strategy !== undefined && {
      arena_extend_strategy: options.arena_extend_strategy,
    }),
  };
  return cuda;
}
