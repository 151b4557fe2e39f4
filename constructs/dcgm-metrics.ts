/**
 * Names dcgm-exporter, kube-state-metrics and the kubelet (cAdvisor) export, used by GpuHpa,
 * AlertRules and the dashboards. The server's own names live in contract.ts.
 */

/**
 * dcgm-exporter 4.x field names, enabled in its default counters file
 * (https://github.com/NVIDIA/dcgm-exporter/blob/main/etc/default-counters.csv). The recipe's
 * `dcgm_gpu_utilization` is the pre-2.0 name of DCGM_FI_DEV_GPU_UTIL.
 */
export const DCGM = {
  /** GPU utilization, percent (gauge). */
  gpuUtil: 'DCGM_FI_DEV_GPU_UTIL',
  /** Framebuffer memory used, MiB (gauge). */
  fbUsed: 'DCGM_FI_DEV_FB_USED',
  /** Framebuffer memory free, MiB (gauge). */
  fbFree: 'DCGM_FI_DEV_FB_FREE',
  /** Value of the last XID error, 0 when none (gauge). */
  xidErrors: 'DCGM_FI_DEV_XID_ERRORS',
  /** GPU temperature, degrees Celsius (gauge). */
  gpuTemp: 'DCGM_FI_DEV_GPU_TEMP',
  /** Power draw, watts (gauge). */
  powerUsage: 'DCGM_FI_DEV_POWER_USAGE',
  /** Memory copy utilization, percent (gauge). */
  memCopyUtil: 'DCGM_FI_DEV_MEM_COPY_UTIL',
} as const;

/**
 * Labels dcgm-exporter puts on each series. With `--kubernetes` (the default in the image) it adds the
 * pod, namespace and container using a GPU, read from the kubelet's pod-resources socket. A
 * prometheus-operator scrape (honorLabels: false) renames those to `exported_pod` /
 * `exported_namespace`, because the target's own `pod`/`namespace` labels (the exporter's pod) win.
 */
export const DCGM_LABELS = {
  gpu: 'gpu',
  uuid: 'UUID',
  hostname: 'Hostname',
  modelName: 'modelName',
  workloadPod: 'exported_pod',
  workloadNamespace: 'exported_namespace',
} as const;

/** Rows of dcgm-exporter's counters CSV (field, Prometheus type, help) for the fields above. */
export const DCGM_COUNTERS: readonly (readonly [string, 'gauge' | 'counter', string])[] = [
  [DCGM.gpuUtil, 'gauge', 'GPU utilization (in %).'],
  [DCGM.memCopyUtil, 'gauge', 'Memory utilization (in %).'],
  [DCGM.fbUsed, 'gauge', 'Framebuffer memory used (in MiB).'],
  [DCGM.fbFree, 'gauge', 'Framebuffer memory free (in MiB).'],
  [DCGM.gpuTemp, 'gauge', 'GPU temperature (in C).'],
  [DCGM.powerUsage, 'gauge', 'Power draw (in W).'],
  [DCGM.xidErrors, 'gauge', 'Value of the last XID error encountered.'],
];

/**
 * The profiling (DCP) fields of dcgm-exporter's default counters file, `DCGM_FI_PROF_*`: read
 * through the driver's profiling interface, which needs `CAP_SYS_ADMIN` in the exporter's container
 * (NVIDIA's dcgm-exporter manifests add it for these fields). The other fields need no capability.
 */
export const DCGM_PROFILING_COUNTERS: readonly (readonly [string, 'gauge' | 'counter', string])[] = [
  ['DCGM_FI_PROF_GR_ENGINE_ACTIVE', 'gauge', 'Ratio of time the graphics engine is active.'],
  ['DCGM_FI_PROF_SM_ACTIVE', 'gauge', 'The ratio of cycles an SM has at least 1 warp assigned.'],
  ['DCGM_FI_PROF_SM_OCCUPANCY', 'gauge', 'The ratio of number of warps resident on an SM.'],
  ['DCGM_FI_PROF_PIPE_TENSOR_ACTIVE', 'gauge', 'Ratio of cycles the tensor (HMMA) pipe is active.'],
  [
    'DCGM_FI_PROF_DRAM_ACTIVE',
    'gauge',
    'Ratio of cycles the device memory interface is active sending or receiving data.',
  ],
  [
    'DCGM_FI_PROF_PCIE_TX_BYTES',
    'counter',
    'The number of bytes of active pcie tx data including both header and payload.',
  ],
  [
    'DCGM_FI_PROF_PCIE_RX_BYTES',
    'counter',
    'The number of bytes of active pcie rx data including both header and payload.',
  ],
];

/** kube-state-metrics v2 series used by the alerts and dashboards. */
export const KUBE_STATE_METRICS = {
  hpaCurrentReplicas: 'kube_horizontalpodautoscaler_status_current_replicas',
  hpaDesiredReplicas: 'kube_horizontalpodautoscaler_status_desired_replicas',
  hpaMaxReplicas: 'kube_horizontalpodautoscaler_spec_max_replicas',
  deploymentSpecReplicas: 'kube_deployment_spec_replicas',
  deploymentAvailableReplicas: 'kube_deployment_status_replicas_available',
} as const;

/** Kubelet / cAdvisor container metrics (scraped by kube-prometheus-stack's kubelet ServiceMonitor). */
export const CADVISOR = {
  cpuSeconds: 'container_cpu_usage_seconds_total',
  memoryWorkingSet: 'container_memory_working_set_bytes',
} as const;
