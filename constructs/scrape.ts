import { UPSTREAM } from './versions.ts';
import { validator, type Validator } from './validate.ts';

/** How Prometheus finds a component's metrics endpoint. */
export interface ScrapeOptions {
  /**
   * Emit a prometheus-operator ServiceMonitor.
   * @default true
   */
  readonly serviceMonitor?: boolean;
  /**
   * Labels on the ServiceMonitor (and PrometheusRule) that the Prometheus instance selects on;
   * kube-prometheus-stack selects `release: <helm release>`. Use Monitoring's `resourceLabels`.
   * @default { release: 'kube-prometheus-stack' }
   */
  readonly labels?: Record<string, string>;
  /**
   * `prometheus.io/scrape`, `/port` and `/path` annotations on the Service, for a Prometheus without
   * the operator (such as Monitoring's bundled one).
   * @default true
   */
  readonly annotations?: boolean;
  /**
   * Scrape interval.
   * @default '15s'
   */
  readonly interval?: string;
}

export interface ResolvedScrape {
  readonly serviceMonitor: boolean;
  readonly labels: Record<string, string>;
  readonly annotations: boolean;
  readonly interval: string;
}

export function resolveScrape(
  field: string,
  options: ScrapeOptions = {},
  v: Validator = validator(),
): ResolvedScrape {
  return {
    serviceMonitor: options.serviceMonitor ?? true,
    labels: options.labels ?? { release: UPSTREAM.kubePrometheusStackRelease },
    annotations: options.annotations ?? true,
    interval: v.promDuration(`${field}.interval`, options.interval ?? '15s'),
  };
}

/** The annotations a plain Prometheus's `kubernetes_sd` endpoints job keeps (see Monitoring). */
export function scrapeAnnotations(port: number, path: string): Record<string, string> {
  return { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port), 'prometheus.io/path': path };
}
