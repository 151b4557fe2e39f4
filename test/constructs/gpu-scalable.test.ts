// GpuHpa, AlertRules and Dashboards take the IGpuScalable interface, not GpuInferenceService: a
// minimal other workload implementing it (built on promql.ts's vocabulary) can be scaled, alerted on
// and dashboarded, and every query names that workload's selector.
import { describe, expect, it } from 'vitest';
import {
  AlertRules,
  Dashboards,
  GpuHpa,
  METRICS,
  byClause,
  histogramMean,
  gpuUtilizationByPod,
  workloadSelector,
  type IGpuScalable,
  type QueryOptions,
} from '../../constructs/index.ts';
import { synthChart } from './helpers.ts';

const PROM = 'http://prometheus.monitoring.svc:9090';
const SERIES = '{namespace="llm",job="vllm-pods"}';
const PODS = 'pod=~"vllm-[0-9]+"';

/** A StatefulSet-like workload that is not a GpuInferenceService, scraped under job vllm-pods. */
class OtherWorkload implements IGpuScalable {
  readonly name = 'vllm';
  readonly namespace = 'llm';
  readonly deploymentName = 'vllm';
  readonly podNameRegex = 'vllm-[0-9]+';
  readonly gpus = 0;
  readonly maxSurge = 1;
  owners: string[] = [];
  private readonly labels = { namespace: 'llm', job: 'vllm-pods' };
  markAutoscaled(owner: string): void {
    this.owners.push(owner);
  }
  private sel(extra: readonly string[] = []): string {
    return workloadSelector(this.labels, extra);
  }
  private by(o: QueryOptions, ...labels: string[]): string {
    return byClause(o.byPod ? ['pod', ...labels] : labels);
  }
  private w(o: QueryOptions): string {
    return o.window ?? '2m';
  }
  gpuUtilizationQuery(): string {
    return gpuUtilizationByPod(this);
  }
  inflightQuery(o: QueryOptions = {}): string {
    return `sum${this.by(o)} (${METRICS.inflight.name}${this.sel()})`;
  }
  queueTimeQuery(o: QueryOptions = {}): string {
    return histogramMean(METRICS.queueDuration.name, this.sel(), this.w(o), o.byPod ? ['pod'] : []);
  }
  queueDepthQuery(o: QueryOptions = {}): string {
    return `sum${this.by(o)} (${METRICS.queueDepth.name}${this.sel()})`;
  }
  batchSizeQuery(o: QueryOptions = {}): string {
    return histogramMean(METRICS.batchSize.name, this.sel(), this.w(o), o.byPod ? ['pod'] : []);
  }
  requestRateQuery(o: QueryOptions = {}): string {
    return `sum${this.by(o)} (rate(${METRICS.requests.name}${this.sel()}[${this.w(o)}]))`;
  }
  errorRatioQuery(o: QueryOptions = {}): string {
    const failed = `sum${this.by(o)} (rate(${METRICS.requests.name}${this.sel(['outcome="server_error"'])}[${this.w(o)}]))`;
    return `${failed} / clamp_min(${this.requestRateQuery(o)}, 1e-9)`;
  }
  rejectionRateQuery(o: QueryOptions = {}): string {
    return `sum${this.by(o)} (rate(${METRICS.requests.name}${this.sel(['outcome="rejected"'])}[${this.w(o)}]))`;
  }
  latencyQuantileQuery(q: number, o: QueryOptions = {}): string {
    return `histogram_quantile(${q}, sum${this.by(o, 'le')} (rate(${METRICS.requestDuration.name}_bucket${this.sel()}[${this.w(o)}])))`;
  }
  providerFallbackQuery(): string {
    return `max by (pod) (${METRICS.providerFallback.name}${this.sel()})`;
  }
}

describe('IGpuScalable: another workload than GpuInferenceService', () => {
  for (const backend of ['keda', 'prometheus-adapter'] as const) {
    it(`is scaled (${backend}), alerted on and dashboarded, with queries naming its selector`, () => {
      const target = new OtherWorkload();
      let hpa!: GpuHpa;
      let alerts!: AlertRules;
      let dashboards!: Dashboards;
      const objects = synthChart((chart) => {
        hpa = new GpuHpa(chart, 'Hpa', {
          target,
          prometheusUrl: PROM,
          backend,
          metrics: [
            { kind: 'inflight', target: 4 },
            { kind: 'queueTime', target: 0.05 },
          ],
          ...(backend === 'prometheus-adapter' ? { adapter: { deploy: false } } : {}),
        });
        alerts = new AlertRules(chart, 'Alerts', { service: target, hpa });
        dashboards = new Dashboards(chart, 'Dashboards', { service: target, hpa });
      });
      expect(target.owners).toEqual(['GpuHpa vllm']);
      expect(hpa.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'vllm' });
      // KEDA queries the workload's own series; the adapter's per-pod queries select its pods.
      const queries = hpa.metrics.map((m) => m.query ?? '');
      expect(queries).toHaveLength(2);
      for (const q of queries) expect(q).toContain(backend === 'keda' ? SERIES : `{namespace="llm",${PODS}}`);
      const kinds = objects.map((o) => o.kind);
      expect(kinds).toContain(backend === 'keda' ? 'ScaledObject' : 'HorizontalPodAutoscaler');
      const exprs = alerts.groups.flatMap((g) => g.rules.map((r) => r.expr));
      expect(exprs.filter((e) => e.includes(SERIES.slice(0, -1))).length).toBeGreaterThanOrEqual(4);
      expect(exprs.join('\n')).toContain('{namespace="llm",deployment="vllm"}');
      const board = JSON.stringify(dashboards.dashboard);
      expect(board).toContain(JSON.stringify(SERIES).slice(1, -1));
      expect(board).toContain(
        JSON.stringify(`{exported_namespace="llm",exported_pod=~"vllm-[0-9]+"}`).slice(1, -1),
      );
      expect(board).toContain(JSON.stringify(`{namespace="llm",container="server",${PODS}}`).slice(1, -1));
      expect(objects.some((o) => o.kind === 'PrometheusRule' || o.kind === 'ConfigMap')).toBe(true);
    });
  }
});
