/**
 * The construct tests' common setup: a GpuInferenceService in namespace `ml`, and a GpuHpa on it
 * with enough GPU slices that the topology check never binds unless a test means it to.
 */
import type { Chart } from 'cdk8s';
import { GpuHpa, GpuInferenceService, type GpuHpaProps } from '../../constructs/index.ts';

export const PROM = 'http://prometheus.monitoring.svc:9090';

export function service(
  chart: Chart,
  props: ConstructorParameters<typeof GpuInferenceService>[2] = {},
): GpuInferenceService {
  return new GpuInferenceService(chart, 'Svc', { namespace: 'ml', ...props });
}

export function hpa(chart: Chart, props: Partial<GpuHpaProps> = {}): GpuHpa {
  return new GpuHpa(chart, 'Hpa', { target: service(chart), prometheusUrl: PROM, gpuSlices: 64, ...props });
}

/** A GpuHpa on the prometheus-adapter backend (the library's default is KEDA). */
export function adapterHpa(chart: Chart, props: Partial<GpuHpaProps> = {}): GpuHpa {
  return hpa(chart, { backend: 'prometheus-adapter', ...props });
}
