import type { V2Datatype } from './datatypes.ts';
import type { ModelVersion } from './model.ts';
import type { TensorSpec } from './signature.ts';

/**
 * Triton's model configuration extension
 * (third_party/oip/triton/docs/extension_model_configuration.md): a loaded version's configuration
 * as the JSON form of model_config.proto's ModelConfig, the fields that describe this server's
 * behaviour. With `max_batch_size` > 0 the dims leave out the batch dimension, as Triton's do
 * (clients such as perf_analyzer prepend it); a model that does not batch (dim 0 not dynamic on
 * every input and output) reports 0 and its full shapes.
 */

/** model_config.proto's DataType names: TYPE_ + the protocol's name, BYTES as TYPE_STRING. */
export const tritonDataType = (datatype: V2Datatype): string =>
  `TYPE_${datatype === 'BYTES' ? 'STRING' : datatype}`;

export function tritonModelConfig(mv: ModelVersion) {
  const { config, signature } = mv;
  const maxBatchSize = signature.batchable ? config.max_batch_size : 0;
  const dims = (spec: TensorSpec) => (maxBatchSize > 0 ? spec.shape.slice(1) : [...spec.shape]);
  const db = config.dynamic_batching;
  const labelFile = (name: string) => config.output.find((o) => o.name === name)?.label_filename ?? '';
  return {
    name: mv.name,
    platform: 'onnxruntime_onnx',
    backend: 'onnxruntime',
    // Every version directory is loaded (model_config.proto's VersionPolicy All).
    version_policy: { all: {} },
    max_batch_size: maxBatchSize,
    input: signature.inputs.map((spec) => ({
      name: spec.name,
      data_type: tritonDataType(spec.datatype),
      format: 'FORMAT_NONE',
      dims: dims(spec),
      is_shape_tensor: false,
      allow_ragged_batch: false,
      optional: false,
    })),
    output: signature.outputs.map((spec) => ({
      name: spec.name,
      data_type: tritonDataType(spec.datatype),
      dims: dims(spec),
      label_filename: labelFile(spec.name),
      is_shape_tensor: false,
    })),
    instance_group: [
      {
        name: `${mv.name}_0`,
        kind: mv.provider === 'cuda' ? 'KIND_GPU' : 'KIND_CPU',
        count: config.instances,
        ...(mv.provider === 'cuda' && { gpus: [config.cuda_provider_options?.device_id ?? 0] }),
      },
    ],
    // The batcher runs only where the model batches (scheduler.ts createScheduler).
    ...(db &&
      signature.batchable && {
        dynamic_batching: {
          preferred_batch_size: [...db.preferred_batch_size],
          max_queue_delay_microseconds: db.max_queue_delay_microseconds,
          preserve_ordering: false,
          default_queue_policy: {
            timeout_action: 'REJECT',
            default_timeout_microseconds: db.default_queue_timeout_microseconds,
            allow_timeout_override: true,
            max_queue_size: db.max_queue_size,
          },
        },
      }),
    optimization: {
      execution_accelerators: {
        gpu_execution_accelerator: [],
        cpu_execution_accelerator: [],
      },
    },
    parameters: {
      execution_provider: { string_value: mv.provider },
      // What each session runs with, after the defaults (server/instances.ts), and where the
      // instance count came from: config.json, or the default rule that chose it.
      intra_op_thread_count: { string_value: String(mv.instancePlan.intraOpThreads) },
      instance_count_from: { string_value: mv.instancePlan.from },
      inter_op_thread_count: { string_value: String(config.inter_op_threads) },
    },
  };
}
