/**
 * GpuInferenceService hardening (issue #13): the client Service carries the inference port only,
 * Prometheus scrapes the metrics port on a Service of its own, and the model repository API is
 * enabled only on request, with its credential from a Secret.
 */
import type { Chart } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import {
  ENV,
  GpuHpa,
  GpuInferenceService,
  METRICS_PATH,
  GRPC_PORT,
  METRICS_PORT,
  SERVER_PORT,
} from '../../constructs/index.ts';
import { one, synthChart, synthSystem, type K8sObject } from './helpers.ts';

function service(
  chart: Chart,
  props: ConstructorParameters<typeof GpuInferenceService>[2] = {},
): GpuInferenceService {
  return new GpuInferenceService(chart, 'Svc', { namespace: 'ml', serviceType: 'LoadBalancer', ...props });
}

const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

/** The container port a Service port reaches (targetPort by name or number). */
function containerPortOf(deployment: K8sObject, target: string | number): number | undefined {
  const ports: { name: string; containerPort: number }[] = deployment.spec.template.spec.containers[0].ports;
  return typeof target === 'number' ? target : ports.find((p) => p.name === target)?.containerPort;
}

describe('GpuInferenceService: metrics apart from inference', () => {
  it('publishes only the inference ports (HTTP, gRPC) on the LoadBalancer, the metrics port on a ClusterIP Service the ServiceMonitor selects', () => {
    const objects = synthChart((c) => service(c));
    const deployment = one(objects, 'Deployment', 'inference');
    const container = deployment.spec.template.spec.containers[0];
    expect(container.ports).toContainEqual({ name: 'metrics', containerPort: METRICS_PORT, protocol: 'TCP' });
    expect(container.env).toContainEqual({ name: ENV.metricsPort, value: String(METRICS_PORT) });

    const lb = one(objects, 'Service', 'inference');
    expect(lb.spec.type).toBe('LoadBalancer');
    expect(
      lb.spec.ports.map((p: { targetPort: string }) => containerPortOf(deployment, p.targetPort)),
    ).toEqual([SERVER_PORT, GRPC_PORT]);
    expect(lb.metadata.annotations?.['prometheus.io/scrape']).toBeUndefined();

    const metrics = one(objects, 'Service', 'inference-metrics');
    expect(metrics.spec.type).toBe('ClusterIP');
    expect(
      metrics.spec.ports.map((p: { targetPort: string }) => containerPortOf(deployment, p.targetPort)),
    ).toEqual([METRICS_PORT]);
    expect(metrics.metadata.annotations).toEqual({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': String(METRICS_PORT),
      'prometheus.io/path': METRICS_PATH,
    });

    const sm = one(objects, 'ServiceMonitor', 'inference');
    const selected = [lb, metrics].filter((s) => matches(sm.spec.selector.matchLabels, s.metadata.labels));
    expect(selected.map((s) => s.metadata.name)).toEqual(['inference-metrics']);
    expect(sm.spec.endpoints).toEqual([{ port: 'metrics', path: METRICS_PATH, interval: '15s' }]);
  });

  it("queries its series by the metrics Service's label, as Prometheus discovers them", () => {
    synthChart((c) => {
      const s = service(c);
      expect(s.metricLabels).toEqual({ namespace: 'ml', service: 'inference-metrics' });
      expect(s.inflightQuery()).toBe(
        'sum (inference_inflight_requests{namespace="ml",service="inference-metrics"})',
      );
    });
  });

  it("main.ts's system: no Service of type LoadBalancer or NodePort reaches a metrics port", () => {
    const { objects } = synthSystem();
    const deployment = one(objects, 'Deployment', 'inference');
    const published = objects.filter(
      (o) => o.kind === 'Service' && ['LoadBalancer', 'NodePort'].includes(o.spec.type),
    );
    expect(published.map((s) => s.metadata.name)).toEqual(['inference']);
    // Nothing scrapes through them: no scrape annotations, no ServiceMonitor selects them.
    const monitors = objects.filter((o) => o.kind === 'ServiceMonitor');
    for (const s of published) {
      expect(s.metadata.annotations?.['prometheus.io/scrape'], s.metadata.name).toBeUndefined();
      const scrapers = monitors.filter(
        (m) =>
          m.spec.namespaceSelector.matchNames.includes(s.metadata.namespace) &&
          matches(m.spec.selector.matchLabels, s.metadata.labels),
      );
      expect(scrapers.map((m) => m.metadata.name)).toEqual([]);
    }
    for (const s of published) {
      expect(
        s.spec.ports.map((p: { targetPort: string }) => containerPortOf(deployment, p.targetPort)),
      ).toEqual([SERVER_PORT, GRPC_PORT]);
    }
  });
});

describe('GpuInferenceService: model control', () => {
  const envOf = (objects: K8sObject[]) =>
    one(objects, 'Deployment', 'inference').spec.template.spec.containers[0].env as {
      name: string;
      value?: string;
      valueFrom?: unknown;
    }[];

  it('keeps model control off by default, with no restricted-API variable', () => {
    const env = envOf(synthChart((c) => service(c)));
    expect(env).toContainEqual({ name: ENV.modelControlMode, value: 'none' });
    expect(env.map((e) => e.name)).not.toContain(ENV.httpRestrictedApi);
  });

  it("explicit mode takes the repository API's credential from the named Secret, never its value", () => {
    const objects = synthChart((c) =>
      service(c, {
        modelControlMode: 'explicit',
        repositoryApiCredential: { secretName: 'repo-api', secretKey: 'key', header: 'x-repo-key' },
      }),
    );
    const env = envOf(objects);
    expect(env).toContainEqual({ name: ENV.modelControlMode, value: 'explicit' });
    const names = env.map((e) => e.name);
    // The Secret's variable comes first: $(VAR) expands only variables defined before it.
    expect(names.indexOf('MODEL_REPOSITORY_API_KEY')).toBeLessThan(names.indexOf(ENV.httpRestrictedApi));
    expect(env).toContainEqual({
      name: 'MODEL_REPOSITORY_API_KEY',
      valueFrom: { secretKeyRef: { name: 'repo-api', key: 'key' } },
    });
    expect(env).toContainEqual({
      name: ENV.httpRestrictedApi,
      value: 'model-repository:x-repo-key=$(MODEL_REPOSITORY_API_KEY)',
    });
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
    // Defaults of the credential.
    const dflt = envOf(
      synthChart((c) =>
        service(c, { modelControlMode: 'explicit', repositoryApiCredential: { secretName: 'repo-api' } }),
      ),
    );
    expect(dflt).toContainEqual({
      name: 'MODEL_REPOSITORY_API_KEY',
      valueFrom: { secretKeyRef: { name: 'repo-api', key: 'token' } },
    });
    expect(dflt).toContainEqual({
      name: ENV.httpRestrictedApi,
      value: 'model-repository:x-model-repository-key=$(MODEL_REPOSITORY_API_KEY)',
    });
  });

  it.each([
    [
      { modelControlMode: 'explicit' as const },
      'modelControlMode is "explicit", which lets a client load and unload models, but repositoryApiCredential is not set',
    ],
    [{ modelControlMode: 'poll' as never }, 'modelControlMode must be one of "none", "explicit", got "poll"'],
    [
      { modelControlMode: 'explicit' as const, repositoryApiCredential: { secretName: 'Repo_Api' } },
      "repositoryApiCredential.secretName must be a DNS-1123 subdomain (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters), got \"Repo_Api\"",
    ],
    [
      {
        modelControlMode: 'explicit' as const,
        repositoryApiCredential: { secretName: 'a', secretKey: 'a/b' },
      },
      "repositoryApiCredential.secretKey must be a Secret key of letters, digits, '-', '_' and '.', got \"a/b\"",
    ],
    [
      {
        modelControlMode: 'explicit' as const,
        repositoryApiCredential: { secretName: 'a', header: 'x key:' },
      },
      'repositoryApiCredential.header must be an HTTP header name of letters, digits and \'-\', got "x key:"',
    ],
    [
      { env: { MODEL_CONTROL_MODE: 'explicit' } },
      'env.MODEL_CONTROL_MODE is "explicit", but MODEL_CONTROL_MODE is a contract variable: set modelControlMode instead',
    ],
    [
      { env: { HTTP_RESTRICTED_API: 'model-repository:k=v' } },
      'env.HTTP_RESTRICTED_API is "model-repository:k=v", but HTTP_RESTRICTED_API is a contract variable: set repositoryApiCredential instead',
    ],
    [
      { env: { METRICS_PORT: '8080' } },
      'env.METRICS_PORT is "8080", but METRICS_PORT is a contract variable: fixed by the contract at 8002',
    ],
    [
      {
        modelControlMode: 'explicit' as const,
        repositoryApiCredential: { secretName: 'a' },
        env: { MODEL_REPOSITORY_API_KEY: 'x' },
      },
      'env.MODEL_REPOSITORY_API_KEY is "x", but MODEL_REPOSITORY_API_KEY holds the repositoryApiCredential Secret\'s value',
    ],
  ])('rejects %j', (props, message) => {
    expect(() => synthChart((c) => service(c, props))).toThrow(message);
  });
});

describe('GpuInferenceService: a prop an autoscaler would ignore', () => {
  const prometheusUrl = 'http://prometheus.monitoring.svc:9090';

  it('refuses replicas on a service a GpuHpa targets, naming the prop and why', () => {
    expect(() =>
      synthChart(
        (c) => new GpuHpa(c, 'Hpa', { target: service(c, { replicas: 3 }), prometheusUrl, gpuSlices: 64 }),
      ),
    ).toThrow(
      /^test\/Svc: replicas is 3 on GpuInferenceService inference, but GpuHpa inference owns its replicas .* would be ignored/,
    );
  });

  it('keeps replicas without an autoscaler, and leaves the field to the HPA when none is given', () => {
    expect(
      one(
        synthChart((c) => service(c, { replicas: 3 })),
        'Deployment',
        'inference',
      ).spec.replicas,
    ).toBe(3);
    const objects = synthChart(
      (c) => new GpuHpa(c, 'Hpa', { target: service(c), prometheusUrl, gpuSlices: 64 }),
    );
    expect(one(objects, 'Deployment', 'inference').spec.replicas).toBeUndefined();
  });
});
