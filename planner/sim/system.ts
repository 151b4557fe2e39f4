/**
 * The planner's inputs taken from main.ts: the GpuHpa exactly as createSystem configures it, the
 * server container's CPU request, the GPU topology (the device plugin's time-slicing and GpuHpa's
 * slices), and the metric pipeline's timings read from the objects it
 * synthesizes (scrape intervals, dcgm-exporter's DCGM_EXPORTER_INTERVAL, metrics-server's
 * --metric-resolution).
 */
import { ApiObject, App } from 'cdk8s';
import { createSystem, type SystemOptions } from '../../main.ts';
import { quantityToMilli } from '../hpa/spec.ts';
import { DEFAULT_PIPELINE, type GpuTopologyModel, type SimulationOptions } from './simulate.ts';
import { HpaMetric } from '../../constructs/hpa/metrics.ts';
import { promDurationSeconds } from '../../constructs/validate.ts';
import { TargetError, fromGpuHpa, type HpaUnderTest } from './target.ts';

export interface SystemPlanInputs {
  readonly hpa: HpaUnderTest;
  readonly cpuRequestMilli: number;
  /** GPUs (GpuHpa's gpuSlices / timeSlicingReplicas) and pods per GPU (timeSlicingReplicas). */
  readonly topology: GpuTopologyModel;
  readonly scrapeIntervalSeconds: number;
  readonly pipeline: NonNullable<SimulationOptions['pipeline']>;
}

interface ContainerJson {
  readonly args?: readonly string[];
  readonly command?: readonly string[];
  readonly env?: readonly { readonly name: string; readonly value?: string }[];
}

/** Every container of every workload object in the app, with its object's name. */
function containers(app: App): { object: string; container: ContainerJson }[] {
  const out: { object: string; container: ContainerJson }[] = [];
  for (const node of app.node.findAll()) {
    if (!(node instanceof ApiObject)) continue;
    const json = node.toJson() as {
      metadata?: { name?: string };
      spec?: { template?: { spec?: { containers?: ContainerJson[] } } };
    };
    for (const container of json.spec?.template?.spec?.containers ?? [])
      out.push({ object: json.metadata?.name ?? '?', container });
  }
  return out;
}

/** The value of `--flag=value` in any container's args or command, if one sets it. */
function flagValue(app: App, flag: string): string | undefined {
  for (const { container } of containers(app)) {
    for (const arg of [...(container.args ?? []), ...(container.command ?? [])]) {
      if (arg.startsWith(`${flag}=`)) return arg.slice(flag.length + 1);
    }
  }
  return undefined;
}

function envValue(app: App, name: string): string | undefined {
  for (const { container } of containers(app)) {
    const v = container.env?.find((e) => e.name === name)?.value;
    if (v !== undefined) return v;
  }
  return undefined;
}

/** `kind=target` pairs, as `npm run plan -- --metrics` takes them. */
function metricsLabel(metrics: readonly HpaMetric[]): string {
  return metrics.map((m) => `${m.kind}=${m.target}`).join(',');
}

/** Parses `kind=target,...` (kinds cpu, gpu, inflight, queueTime) into HpaMetrics. */
export function parseMetrics(field: string, text: string): HpaMetric[] {
  const factories: Record<string, (target: number) => HpaMetric> = {
    cpu: HpaMetric.cpuUtilization,
    gpu: HpaMetric.gpuUtilization,
    inflight: HpaMetric.inflightRequests,
    queueTime: HpaMetric.queueTime,
  };
  return text.split(',').map((pair) => {
    const m = /^([A-Za-z]+)=([0-9.eE+-]+)$/.exec(pair.trim());
    const make = m ? factories[m[1]] : undefined;
    if (!m || !make || !Number.isFinite(Number(m[2]))) {
      throw new TargetError(
        `${field}: ${JSON.stringify(pair)} must be kind=target with kind one of ${Object.keys(factories).join(', ')} (e.g. inflight=8,queueTime=0.02)`,
      );
    }
    return make(Number(m[2]));
  });
}

/** createSystem's options, and pods per GPU to simulate instead of its device plugin's time-slicing. */
export interface SystemPlanOptions extends SystemOptions {
  /**
   * Pods per GPU (time-slicing replicas) to simulate. GpuHpa's maxReplicas then follows it as
   * main.ts derives it (every slice but the rollout's surge pod) unless `maxReplicas` is given.
   * @default the device plugin's timeSlicingReplicas
   */
  readonly slicesPerGpu?: number;
}

export function systemPlanInputs(options: SystemPlanOptions = {}): SystemPlanInputs {
  const { slicesPerGpu: slicesOverride, ...systemOptions } = options;
  let app = new App();
  let system = createSystem(app, systemOptions);
  if (slicesOverride !== undefined && options.maxReplicas === undefined) {
    const gpus = (system.hpa.gpuSlices ?? 0) / system.devicePlugin.timeSlicingReplicas;
    const maxReplicas = gpus * slicesOverride - system.service.maxSurge;
    if (maxReplicas < 1)
      throw new TargetError(
        `slicesPerGpu: ${slicesOverride} on ${gpus} GPU(s) leaves no slice beside the rollout's surge pod; allowed: at least ${Math.ceil((1 + system.service.maxSurge) / gpus)}`,
      );
    app = new App();
    system = createSystem(app, { ...systemOptions, maxReplicas });
  }
  const scrape = promDurationSeconds('service.scrape.interval', system.service.scrape.interval);
  const dcgmScrape = promDurationSeconds('dcgm.scrape.interval', system.dcgm.scrape.interval);
  const dcgmInterval = envValue(app, 'DCGM_EXPORTER_INTERVAL');
  const resolution = flagValue(app, '--metric-resolution');
  const slicesPerGpu = system.devicePlugin.timeSlicingReplicas;
  const slices = system.hpa.gpuSlices;
  if (slices === undefined || slices % slicesPerGpu !== 0 || system.service.gpus !== 1) {
    throw new TargetError(
      `main.ts: GpuHpa gpuSlices ${String(slices)} must be a multiple of the device plugin's timeSlicingReplicas ${slicesPerGpu}, with one GPU per pod (got ${system.service.gpus})`,
    );
  }
  const queueWindow = system.hpa.metrics.find((m) => m.kind === 'queueTime')?.window;
  return {
    hpa: fromGpuHpa(
      system.hpa,
      `GpuHpa ${system.hpa.name} (main.ts, ${system.hpa.backend}${options.hpaMetrics ? `, ${metricsLabel(options.hpaMetrics)}` : ''})`,
    ),
    cpuRequestMilli: quantityToMilli(system.service.cpu, 'service.cpu'),
    topology: { gpus: slices / slicesPerGpu, slicesPerGpu: slicesOverride ?? slicesPerGpu },
    scrapeIntervalSeconds: scrape,
    pipeline: {
      // metrics-server samples the kubelet every --metric-resolution; its CPU rate spans that window.
      cpu: resolution
        ? {
            sampleEverySeconds: promDurationSeconds('metrics-server --metric-resolution', resolution),
            averageOverSeconds: promDurationSeconds('metrics-server --metric-resolution', resolution),
          }
        : DEFAULT_PIPELINE.cpu,
      // DCGM averages GPU utilization over its collect interval (ms); Prometheus scrapes the exporter.
      gpu: {
        sampleEverySeconds: dcgmScrape,
        averageOverSeconds: dcgmInterval
          ? Math.max(1, Math.round(Number(dcgmInterval) / 1000))
          : DEFAULT_PIPELINE.gpu.averageOverSeconds,
      },
      // The server's series reach Prometheus at the service's scrape interval.
      inflight: { sampleEverySeconds: scrape },
      // The adapter rule / KEDA query average queue time over the metric's rate() window.
      queueTime: {
        sampleEverySeconds: scrape,
        ...(queueWindow
          ? { averageOverSeconds: promDurationSeconds('hpa queueTime window', queueWindow) }
          : {}),
      },
    },
  };
}
