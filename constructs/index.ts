export * from './contract.ts';
export * from './versions.ts';
export * from './dcgm-metrics.ts';
export * from './validate.ts';
export * from './image-reference.ts';
export * from './promql.ts';
export * from './scrape.ts';
export * from './model-source.ts';
export * from './gpu-scalable.ts';
export * from './gpu-inference-service.ts';
export * from './nvidia-device-plugin.ts';
export * from './dcgm-monitoring.ts';
export * from './prometheus-adapter.ts';
export * from './autoscaling-v2/index.ts';
export * from './gpu-topology.ts';
export * from './warnings.ts';
// hpa/: named exports, so the backends' classes and helpers stay internal.
export {
  DEFAULT_HPA_METRICS,
  DEFAULT_QUEUE_TIME_WINDOW,
  HPA_METRIC_KINDS,
  HpaMetric,
  type HpaMetricKind,
  type QueueTimeOptions,
  type ResolvedHpaMetric,
} from './hpa/metrics.ts';
export { DEFAULT_BEHAVIOR, type ScalingBehavior } from './hpa/behavior.ts';
export type { HpaBackend } from './hpa/backend.ts';
export { adapterRuleFor, type AdapterBackendOptions } from './hpa/adapter-backend.ts';
export {
  KEDA_FALLBACK_BEHAVIORS,
  KEDA_METRICS_API_SERVER_APPS,
  KEDA_METRICS_API_SERVER_PORT,
  type KedaBackendOptions,
  type KedaFallbackBehavior,
  type KedaFallbackOptions,
  type KedaTrigger,
  type ScaleToZeroOptions,
} from './hpa/keda-backend.ts';
export { GpuHpa, type GpuHpaProps } from './hpa/gpu-hpa.ts';
export * from './alert-rules.ts';
export * from './dashboards.ts';
export * from './monitoring/monitoring.ts';
export * from './default-deny-ingress.ts';
export * from './system-namespace.ts';
export * from './kubelet-csr-approver.ts';
