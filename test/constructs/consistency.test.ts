import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CADVISOR,
  KUBE_STATE_METRICS,
  METRICS_PORT,
  SERVER_PORT,
  type AdapterRule,
} from '../../constructs/index.ts';
import { createMetrics } from '../../server/metrics.ts';
import { startServer, type RunningServer } from '../../server/server.ts';
import {
  find,
  metricNames,
  one,
  repoRoot,
  scratch,
  synthSystem,
  VARIANTS,
  type K8sObject,
} from './helpers.ts';
import { renderAdapterQuery } from './promql-helpers.ts';

/** Every series name the server exports, read from its prom-client registry (histograms expand). */
async function serverSeriesNames(): Promise<Set<string>> {
  const { registry } = createMetrics();
  const names = new Set<string>();
  for (const m of await registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
  }
  return names;
}

/** The DCGM fields the synthesized dcgm-exporter is configured to export (its counters ConfigMap). */
function dcgmExported(objects: K8sObject[]): Set<string> {
  const csv: string = one(objects, 'ConfigMap', 'dcgm-exporter-counters').data['counters.csv'];
  return new Set(
    csv
      .split('\n')
      .filter((l) => l.trim() && !l.startsWith('#'))
      .map((l) => l.split(',')[0].trim()),
  );
}

function podTemplates(objects: K8sObject[]): K8sObject[] {
  return objects.filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet');
}

function selects(selector: Record<string, string>, labels: Record<string, string> = {}): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

let serverNames: Set<string>;
beforeAll(async () => {
  serverNames = await serverSeriesNames();
});

describe.each(VARIANTS)('main.ts ($backend, $monitoring): objects agree with each other', (options) => {
  const { system, objects } = synthSystem(options);

  it('each Service selects the pods of one workload and targets a declared container port', () => {
    const services = find(objects, 'Service');
    expect(services.length).toBeGreaterThan(2);
    for (const svc of services) {
      const ns = svc.metadata.namespace;
      const workloads = podTemplates(objects).filter(
        (w) => w.metadata.namespace === ns && selects(svc.spec.selector, w.spec.template.metadata.labels),
      );
      expect(
        workloads.map((w) => w.metadata.name),
        `Service ${ns}/${svc.metadata.name}`,
      ).toHaveLength(1);
      const ports = workloads[0].spec.template.spec.containers.flatMap(
        (c: { ports?: { name?: string; containerPort: number }[] }) => c.ports ?? [],
      );
      for (const p of svc.spec.ports) {
        const target = p.targetPort ?? p.port;
        const match = ports.find((cp: { name?: string; containerPort: number }) =>
          typeof target === 'string' ? cp.name === target : cp.containerPort === target,
        );
        expect(match, `Service ${svc.metadata.name} port ${p.name} -> ${target}`).toBeDefined();
      }
    }
  });

  it('each ServiceMonitor selects a Service in its namespaces by a port name that Service has', () => {
    const monitors = find(objects, 'ServiceMonitor');
    expect(monitors.length).toBe(options.monitoring === 'bundled' ? 0 : 2);
    for (const sm of monitors) {
      const namespaces: string[] = sm.spec.namespaceSelector.matchNames;
      const targets = find(objects, 'Service').filter(
        (s) =>
          namespaces.includes(s.metadata.namespace!) &&
          selects(sm.spec.selector.matchLabels, s.metadata.labels),
      );
      expect(targets.length, `ServiceMonitor ${sm.metadata.name}`).toBe(1);
      for (const ep of sm.spec.endpoints) {
        expect(targets[0].spec.ports.map((p: { name: string }) => p.name)).toContain(ep.port);
      }
      if (options.monitoring === 'kube-prometheus-stack')
        expect(sm.metadata.labels.release).toBe('kube-prometheus-stack');
    }
  });

  it('the autoscaler targets an existing Deployment and the Deployment leaves replicas to it', () => {
    const ref =
      options.backend === 'keda'
        ? one(objects, 'ScaledObject').spec.scaleTargetRef
        : one(objects, 'HorizontalPodAutoscaler').spec.scaleTargetRef;
    expect(ref.kind).toBe('Deployment');
    const target = one(objects, 'Deployment', ref.name);
    expect(target.metadata.namespace).toBe(system.hpa.namespace);
    expect(target.spec.replicas).toBeUndefined();
  });

  it('every custom metric the HPA uses is produced by exactly one adapter rule or KEDA trigger', () => {
    const custom = system.hpa.metrics.filter((m) => m.type !== 'Resource');
    expect(custom.length).toBeGreaterThan(0);
    if (options.backend === 'keda') {
      const triggers = one(objects, 'ScaledObject').spec.triggers;
      for (const m of custom) {
        const index = Number(/^s(\d+)-prometheus$/.exec(m.metricName)?.[1]);
        expect(triggers[index].type).toBe('prometheus');
        expect(triggers[index].metadata.query).toBe(m.query);
      }
      expect(find(objects, 'HorizontalPodAutoscaler')).toHaveLength(0);
    } else {
      const config = JSON.parse(one(objects, 'ConfigMap', 'prometheus-adapter').data['config.yaml']);
      const hpaMetrics = one(objects, 'HorizontalPodAutoscaler')
        .spec.metrics.filter((m: { type: string }) => m.type === 'Pods')
        .map((m: { pods: { metric: { name: string } } }) => m.pods.metric.name);
      expect(hpaMetrics).toEqual(custom.map((m) => m.metricName));
      for (const name of hpaMetrics) {
        expect(
          config.rules.filter((r: AdapterRule) => r.name.as === name),
          name,
        ).toHaveLength(1);
      }
      // and no rule produces a metric nobody uses
      expect(config.rules.map((r: AdapterRule) => r.name.as).sort()).toEqual([...hpaMetrics].sort());
    }
  });

  it('the resource metrics API is registered exactly once', () => {
    expect(find(objects, 'APIService', 'v1beta1.metrics.k8s.io')).toHaveLength(1);
  });

  it('every metric name in HPA queries, adapter rules, KEDA triggers, alerts and dashboards is exported', () => {
    const exported = new Set([
      ...serverNames,
      ...dcgmExported(objects),
      ...Object.values(KUBE_STATE_METRICS),
      ...Object.values(CADVISOR),
    ]);
    const exprs: [string, string][] = [];
    for (const m of system.hpa.metrics) if (m.query) exprs.push([`hpa ${m.kind}`, m.query]);
    for (const rule of system.hpa.adapterRules) {
      const series = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(rule.seriesQuery)![0];
      exprs.push([`adapter seriesQuery ${rule.name.as}`, rule.seriesQuery]);
      exprs.push([
        `adapter metricsQuery ${rule.name.as}`,
        renderAdapterQuery(rule, series, ['namespace="x"'], ['pod']),
      ]);
    }
    for (const t of system.hpa.kedaTriggers)
      if (t.metadata.query) exprs.push([`keda ${t.name}`, t.metadata.query]);
    for (const g of system.alerts.groups) for (const r of g.rules) exprs.push([`alert ${r.alert}`, r.expr]);
    for (const q of system.dashboards.queries()) exprs.push(['dashboard', q]);
    const unknown: string[] = [];
    for (const [where, expr] of exprs) {
      const names = metricNames(expr);
      expect(names.length, `${where}: ${expr}`).toBeGreaterThan(0);
      for (const n of names) if (!exported.has(n)) unknown.push(`${where}: ${n}`);
    }
    expect(unknown).toEqual([]);
  });
});

describe('the metric-name check', () => {
  it('finds selected names and rejects names nobody exports', async () => {
    expect(
      metricNames('sum by (pod) (rate(a_total{x="y"}[1m])) / clamp_min(b{pod=~"p.*"}, 1e-9) > 0.5'),
    ).toEqual(['a_total', 'b']);
    const names = await serverSeriesNames();
    expect(names.has('inference_request_duration_seconds_bucket')).toBe(true);
    // The recipe's stale DCGM name is not exported by anything we deploy.
    expect(names.has('dcgm_gpu_utilization')).toBe(false);
  });
});

describe('probes hit paths the real server serves', () => {
  let server: RunningServer;
  beforeAll(async () => {
    const repo = scratch('models');
    cpSync(join(repoRoot, 'server', 'models', 'mlp'), join(repo, 'mlp'), { recursive: true });
    server = await startServer({
      modelRepository: repo,
      port: 0,
      metricsPort: 0,
      host: '127.0.0.1',
      drainSeconds: 1,
      maxBodyBytes: 1 << 20,
      strictReadiness: false,
      logger: pino({ level: 'silent' }),
    });
    await server.loaded;
  });
  afterAll(async () => {
    await server?.shutdown();
  });

  it('liveness, readiness and startup answer on the contract port, the ServiceMonitor on the metrics port only', async () => {
    const { objects } = synthSystem();
    const deployment = one(objects, 'Deployment', 'inference');
    const container = deployment.spec.template.spec.containers[0];
    const byName = new Map(
      container.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]),
    );
    const env = new Map(container.env.map((e: { name: string; value: string }) => [e.name, e.value]));
    const paths: string[] = [];
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
      const get = container[probe].httpGet;
      expect(byName.get(get.port), probe).toBe(SERVER_PORT);
      paths.push(get.path);
    }
    // The server listens where the probes knock: PORT in the pod is the probed container port.
    expect(env.get('PORT')).toBe(String(SERVER_PORT));
    for (const path of paths) {
      const res = await fetch(server.url + path);
      expect(res.status, path).toBe(200);
    }
    const res = await fetch(server.url + '/v2/health/not-a-probe');
    expect(res.status).toBe(404);
    // The ServiceMonitor scrapes the metrics port, where the server serves /metrics, and only there.
    const sm = one(objects, 'ServiceMonitor', 'inference');
    const endpoint = sm.spec.endpoints[0];
    expect(byName.get(endpoint.port)).toBe(METRICS_PORT);
    expect(env.get('METRICS_PORT')).toBe(String(METRICS_PORT));
    expect((await fetch(server.metricsUrl + endpoint.path)).status).toBe(200);
    expect((await fetch(server.url + endpoint.path)).status).toBe(404);
  });
});
