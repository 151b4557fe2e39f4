/**
 * The planner's inputs taken from main.ts: the GpuHpa exactly as createSystem configures it, the
 * server container's CPU request and the scrape interval of its metrics.
 */
import { App } from 'cdk8s';
import { createSystem, type SystemOptions } from '../../main.ts';
import { quantityToMilli } from '../hpa/spec.ts';
import type { SimulationOptions } from './simulate.ts';
import { fromGpuHpa, type HpaUnderTest } from './target.ts';

export interface SystemPlanInputs {
  readonly hpa: HpaUnderTest;
  readonly cpuRequestMilli: number;
  readonly scrapeIntervalSeconds: number;
  readonly pipeline: NonNullable<SimulationOptions['pipeline']>;
}

/** Prometheus durations as the constructs write them ("15s", "1m", "1m30s"). */
export function durationSeconds(text: string, field: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  if (!m || text === '')
    throw new Error(`${field}: ${JSON.stringify(text)} is not a duration like "15s" or "1m"`);
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

export function systemPlanInputs(options: SystemOptions = {}): SystemPlanInputs {
  const system = createSystem(new App(), options);
  const scrape = durationSeconds(system.service.scrape.interval, 'service.scrape.interval');
  return {
    hpa: fromGpuHpa(system.hpa, `GpuHpa ${system.hpa.name} (main.ts, ${system.hpa.backend})`),
    cpuRequestMilli: quantityToMilli(system.service.cpu, 'service.cpu'),
    scrapeIntervalSeconds: scrape,
    // The server's and dcgm-exporter's series reach Prometheus at the service's scrape interval.
    pipeline: {
      gpu: { sampleEverySeconds: scrape },
      inflight: { sampleEverySeconds: scrape },
      queueTime: { sampleEverySeconds: scrape },
    },
  };
}
