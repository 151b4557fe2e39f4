/**
 * What GpuHpa, AlertRules and Dashboards need of the workload they scale, alert on and chart (cf.
 * cdk8s-plus IScalable): GpuInferenceService implements it, and so can any other workload that
 * exports the server's metrics contract (constructs/contract.ts). Build the queries with the
 * helpers of promql.ts.
 */

/** Query options of the PromQL methods. */
export interface QueryOptions {
  /**
   * Range of rate() windows: a Prometheus duration or Grafana's `$__rate_interval`.
   * @default '1m'
   */
  readonly window?: string;
  /**
   * Group by pod (one series per pod) instead of summing over the service.
   * @default false
   */
  readonly byPod?: boolean;
}

/** A GPU workload an autoscaler, alert rules and a dashboard can target. */
export interface IGpuScalable {
  readonly name: string;
  readonly namespace: string;
  /** `apps/v1` Deployment name the HPA's scaleTargetRef points at. */
  readonly deploymentName: string;
  /** Regex matching the names of the target's pods. */
  readonly podNameRegex: string;
  /** `nvidia.com/gpu` requested per pod (0: none; GpuHpa then needs no GPU topology). */
  readonly gpus: number;
  /** Pods a rollout adds above the replica count (the Deployment's maxSurge, as a count). */
  readonly maxSurge: number;
  /** Called by an autoscaler: the workload stops setting `replicas`; throws when another owns them. */
  markAutoscaled(owner: string): void;
  /** PromQL, per pod (label `pod`), of the target's GPU utilization (percent). */
  gpuUtilizationQuery(): string;
  /** Requests accepted and not yet answered. */
  inflightQuery(options?: QueryOptions): string;
  /** Mean time requests waited in the batcher queue, in seconds (0 when idle). */
  queueTimeQuery(options?: QueryOptions): string;
  /** Requests waiting in the batcher queue. */
  queueDepthQuery(options?: QueryOptions): string;
  /** Mean executed batch size. */
  batchSizeQuery(options?: QueryOptions): string;
  /** Requests per second answered (all outcomes). */
  requestRateQuery(options?: QueryOptions): string;
  /** Fraction of requests that failed on the server side. */
  errorRatioQuery(options?: QueryOptions): string;
  /** Requests per second rejected because the queue was full. */
  rejectionRateQuery(options?: QueryOptions): string;
  /** Latency quantile (0 < q < 1) of whole requests, in seconds. */
  latencyQuantileQuery(q: number, options?: QueryOptions): string;
  /** Per pod and model version: 1 where the model runs on another execution provider than asked. */
  providerFallbackQuery(): string;
}
