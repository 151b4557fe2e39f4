/**
 * The contract between the inference server (server/), the constructs that deploy and scale it
 * (constructs/), provisioning that builds the GPU nodes they run on (provision/) and the tests that
 * hold them together. Every port, path, environment variable, server default, metric and GPU node
 * label or taint that crosses those boundaries is defined here and nowhere else.
 *
 * This module imports nothing, so the server and provisioning can use it without pulling in cdk8s.
 */

/** Container port of the HTTP server (the recipe's 8080). */
export const SERVER_PORT = 8080;
/** Name of that port on the container and the Service; ServiceMonitors select it by this name. */
export const SERVER_PORT_NAME = 'http';

/**
 * Container port of the KServe V2 gRPC service (`inference.GRPCInferenceService`, Triton's 8001 and
 * `--grpc-port`); the server's `--grpc-port 0` turns it off.
 */
export const GRPC_PORT = 8001;
/** Name of that port on the container and the Service (Kubernetes' gRPC probes can name it). */
export const GRPC_PORT_NAME = 'grpc';

/** Open Inference Protocol health endpoints, used as liveness and readiness probes. */
export const LIVENESS_PATH = '/v2/health/live';
export const READINESS_PATH = '/v2/health/ready';
/**
 * Prometheus exposition endpoint. It is served on its own port (Triton's 8002, `--metrics-port`),
 * never on SERVER_PORT, so a Service that publishes only SERVER_PORT publishes no metrics.
 */
export const METRICS_PATH = '/metrics';
export const METRICS_PORT = 8002;
/** Name of the metrics port on the container and the Service; ServiceMonitors select it by this name. */
export const METRICS_PORT_NAME = 'metrics';

/** Environment variables the server reads (the CLI flags override them). */
export const ENV = {
  modelRepository: 'MODEL_REPOSITORY',
  port: 'PORT',
  /** Port of the gRPC service (Triton's --grpc-port); 0 turns it off. */
  grpcPort: 'GRPC_PORT',
  /** Port of METRICS_PATH (Triton's --metrics-port). */
  metricsPort: 'METRICS_PORT',
  host: 'HOST',
  /** Seconds the server waits for in-flight requests after SIGTERM before it exits. */
  drainSeconds: 'DRAIN_SECONDS',
  logLevel: 'LOG_LEVEL',
  /** Largest inference request body in bytes; larger ones get 413. */
  maxBodyBytes: 'MAX_BODY_BYTES',
  /** Triton's --model-control-mode: none (default) or explicit. */
  modelControlMode: 'MODEL_CONTROL_MODE',
  /** Triton's --http-restricted-api, `model-repository:KEY=VALUE` (a credential: from a Secret). */
  httpRestrictedApi: 'HTTP_RESTRICTED_API',
} as const;

/** The server's defaults that the constructs set in the pod or leave to the server. */
export const SERVER_DEFAULTS = {
  /** Every interface: the kubelet's probes and the Service reach the pod's IP, not its loopback. */
  host: '0.0.0.0',
  /**
   * Seconds of drain after SIGTERM. 20, not more: Kubernetes' default terminationGracePeriodSeconds
   * of 30 must hold a preStop sleep of 5, the drain and 5 for the exit (GpuInferenceService's
   * defaults add up to exactly 30). With 25 either the construct's pods would wait 35 s or a pod left
   * at the default 30 would be SIGKILLed in the middle of its drain.
   */
  drainSeconds: 20,
  /** Largest request body (64 MiB), beyond it 413. */
  maxBodyBytes: 64 * 1024 * 1024,
  logLevel: 'info' satisfies LogLevel,
} as const;

/**
 * Bounds of MAX_BODY_BYTES, the server's flag and GpuInferenceService's maxBodyBytes alike: the
 * construct refuses at synth what the server would refuse at start, so no pod crash-loops on a
 * value the manifest let through.
 */
export const MAX_BODY_BYTES_RANGE = { min: 1, max: 2 ** 31 - 1 } as const;

/**
 * DRAIN_SECONDS' range, the server's flag and GpuInferenceService's `drainSeconds` alike (the
 * construct's terminationGracePeriodSeconds grows with it): up to an hour.
 */
export const DRAIN_SECONDS_RANGE = { min: 0, max: 3600 } as const;

/** LOG_LEVEL's values (pino's levels and silent), the server's flag and GpuInferenceService's logLevel alike. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Where the model repository is mounted in the container image and in the pod. */
export const MODEL_REPOSITORY_PATH = '/models';
/** Triton's layout: `<repository>/<model>/<version>/model.onnx`, optional `<model>/config.json`. */
export const MODEL_FILE_NAME = 'model.onnx';
export const MODEL_CONFIG_FILE_NAME = 'config.json';

/** Non-root user of the server image. */
export const SERVER_UID = 10001;

/**
 * The server image `npm run image` (server/image/build.ts) commits and GpuInferenceService runs by
 * default, tagged with the package version. `localhost/` makes it fully qualified: an unqualified
 * name would be read as docker.io/cdk8s-gpu-inference/server, where anyone could publish an image
 * of that name for a node that lacks the imported one to pull; no registry answers for `localhost`,
 * so such a node reports ErrImagePull instead. It is the name podman and buildah give local images,
 * and the name `ctr -n k8s.io images import` registers from the archive's index.
 */
export const SERVER_IMAGE = 'localhost/cdk8s-gpu-inference/server:0.1.0';
/** SERVER_IMAGE without its registry: where a push to a registry of yours puts it (`<registry>/<this>`). */
export const SERVER_IMAGE_PATH = SERVER_IMAGE.slice(SERVER_IMAGE.indexOf('/') + 1);
/**
 * The CUDA version of the GPU image (server/Dockerfile's `nvidia/cuda:<this>-cudnn-runtime` base):
 * provisioning derives the minimum NVIDIA driver of the nodes from it (provision/src/versions.ts).
 */
export const SERVER_IMAGE_CUDA = '12.8.1';

/**
 * What GPU nodes carry: provisioning (provision/src/roles/gpu-node.ts) applies the label and the
 * taint, and the GPU workloads the constructs synthesize select the label and tolerate the taint.
 * GPU feature discovery sets the same label on clusters provisioned otherwise.
 */
export const GPU_NODE_LABEL = 'nvidia.com/gpu.present';
export const GPU_NODE_LABEL_VALUE = 'true';
/** NoSchedule keeps every pod without the toleration, i.e. everything but GPU workloads, off GPU nodes. */
export const GPU_NODE_TAINT = { key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' } as const;

export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricDefinition {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly labelNames: readonly string[];
  /** Histogram bucket upper bounds, in the metric's base unit. */
  readonly buckets?: readonly number[];
}

/** Labels on every per-model series. */
export const MODEL_LABELS = ['model', 'version'] as const;

/**
 * Values of the `protocol` label of the per-request series ({@link METRICS.requests},
 * requestDuration, inflight): the front end a request came through. Every other series is the
 * inference core's, shared by both. Queries that sum over it see every request whatever its protocol.
 */
export const PROTOCOLS = ['http', 'grpc'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** Values of the `outcome` label of {@link METRICS.requests}. */
export const OUTCOMES = [
  'success',
  'client_error',
  'not_found',
  'rejected',
  'timeout',
  'server_error',
] as const;
export type Outcome = (typeof OUTCOMES)[number];

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The server's metrics. prom-client metrics are created from these definitions (server/metrics.ts),
 * and GpuHpa, AlertRules and the dashboards build their PromQL from the same names.
 */
export const METRICS = {
  requests: {
    name: 'inference_requests_total',
    help: 'Inference requests by outcome (success, client_error, not_found, rejected, timeout, server_error) and protocol (http, grpc).',
    type: 'counter',
    labelNames: [...MODEL_LABELS, 'outcome', 'protocol'],
  },
  requestDuration: {
    name: 'inference_request_duration_seconds',
    help: 'Time from receiving an inference request to sending its response, by protocol (http, grpc).',
    type: 'histogram',
    labelNames: [...MODEL_LABELS, 'protocol'],
    buckets: LATENCY_BUCKETS,
  },
  queueDuration: {
    name: 'inference_queue_duration_seconds',
    help: 'Time an inference request waited in the batcher queue before its batch started.',
    type: 'histogram',
    labelNames: [...MODEL_LABELS],
    buckets: LATENCY_BUCKETS,
  },
  computeDuration: {
    name: 'inference_compute_duration_seconds',
    help: 'Time of the onnxruntime session.run call that computed a batch.',
    type: 'histogram',
    labelNames: [...MODEL_LABELS, 'provider'],
    buckets: LATENCY_BUCKETS,
  },
  batchSize: {
    name: 'inference_batch_size',
    help: 'Number of samples (batch-dimension rows) in each executed batch.',
    type: 'histogram',
    labelNames: [...MODEL_LABELS],
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
  },
  inflight: {
    name: 'inference_inflight_requests',
    help: 'Inference requests accepted and not yet answered, by protocol (http, grpc).',
    type: 'gauge',
    labelNames: [...MODEL_LABELS, 'protocol'],
  },
  queueDepth: {
    name: 'inference_queue_depth',
    help: 'Inference requests waiting in the batcher queue.',
    type: 'gauge',
    labelNames: [...MODEL_LABELS],
  },
  modelLoadDuration: {
    name: 'inference_model_load_duration_seconds',
    help: 'Time to load and warm up a model version.',
    type: 'gauge',
    labelNames: [...MODEL_LABELS, 'provider'],
  },
  modelReady: {
    name: 'inference_model_ready',
    help: '1 when the model version is loaded and ready, 0 otherwise.',
    type: 'gauge',
    labelNames: [...MODEL_LABELS, 'provider'],
  },
  /**
   * A model that asked for CUDA and computes on CPU (the CUDA provider failed and the next one in
   * config.json's execution_providers was used): its pod holds a GPU slice and reports ready.
   */
  providerFallback: {
    name: 'inference_model_provider_fallback',
    help: '1 while the model version runs on another execution provider than the first its config.json asks for (requested_provider), 0 when it runs on that one.',
    type: 'gauge',
    labelNames: [...MODEL_LABELS, 'requested_provider', 'provider'],
  },
} as const satisfies Record<string, MetricDefinition>;

export type MetricKey = keyof typeof METRICS;

/**
 * The kubelet-serving CSR approver (controllers/csr-approver/main.ts), run from SERVER_IMAGE by
 * KubeletCsrApprover: the command that starts it in place of the image's CMD (the image's WORKDIR
 * is the repository root), the environment it reads, and that environment's defaults and ranges.
 */
export const CSR_APPROVER_COMMAND = ['node', '--import', 'tsx', 'controllers/csr-approver/main.ts'] as const;
export const CSR_APPROVER_ENV = {
  /** Seconds between full relists of the CSRs (each ends the watch), which retry the CSRs left pending. */
  resyncSeconds: 'RESYNC_SECONDS',
  /** `info`: one line per decision; `debug`: also the CSRs it leaves alone (other signers, decided). */
  logLevel: 'LOG_LEVEL',
} as const;
export const CSR_APPROVER_DEFAULTS = { resyncSeconds: 300, logLevel: 'info' } as const;
export const CSR_APPROVER_RESYNC_RANGE = { min: 10, max: 86_400 } as const;
export const CSR_APPROVER_LOG_LEVELS = ['info', 'debug'] as const;
/** The reason of the Approved/Denied conditions the approver writes: who decided. */
export const CSR_APPROVER_REASON = {
  approved: 'KubeletCsrApproverApproved',
  denied: 'KubeletCsrApproverDenied',
} as const;
