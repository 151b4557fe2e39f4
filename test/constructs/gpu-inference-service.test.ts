/**
 * GpuInferenceService hardening (issue #13): the client Service carries the inference port only,
 * Prometheus scrapes the metrics port on a Service of its own, and the model repository API is
 * enabled only on request, with its credential from a Secret.
 */
import { JsonPatch, type Chart } from 'cdk8s';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ENV,
  GpuHpa,
  GpuInferenceService,
  IMAGES,
  LIVENESS_PATH,
  METRICS_PATH,
  GRPC_PORT,
  METRICS_PORT,
  ModelSource,
  MODEL_REPOSITORY_PATH,
  READINESS_PATH,
  SERVER_PORT,
  SERVER_UID,
} from '../../constructs/index.ts';
import { atPath, one, repoRoot, synthChart, synthSystem, type K8sObject } from './helpers.ts';
import { service } from './fixtures.ts';
import { IMAGE_NAME } from '../../server/image/build.ts';

/** A GpuInferenceService published on a LoadBalancer. */
function publicService(
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
    const objects = synthChart((c) => publicService(c));
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
      const s = publicService(c);
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
    const env = envOf(synthChart((c) => publicService(c)));
    expect(env).toContainEqual({ name: ENV.modelControlMode, value: 'none' });
    expect(env.map((e) => e.name)).not.toContain(ENV.httpRestrictedApi);
  });

  it("explicit mode takes the repository API's credential from the named Secret, never its value", () => {
    const objects = synthChart((c) =>
      publicService(c, {
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
        publicService(c, {
          modelControlMode: 'explicit',
          repositoryApiCredential: { secretName: 'repo-api' },
        }),
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
    expect(() => synthChart((c) => publicService(c, props))).toThrow(message);
  });
});

describe('GpuInferenceService: a prop an autoscaler would ignore', () => {
  const prometheusUrl = 'http://prometheus.monitoring.svc:9090';

  it('refuses replicas on a service a GpuHpa targets, naming the prop and why', () => {
    expect(() =>
      synthChart(
        (c) =>
          new GpuHpa(c, 'Hpa', { target: publicService(c, { replicas: 3 }), prometheusUrl, gpuSlices: 64 }),
      ),
    ).toThrow(
      /^test\/Svc: replicas is 3 on GpuInferenceService inference, but GpuHpa inference owns its replicas .* would be ignored/,
    );
  });

  it('keeps replicas without an autoscaler, and leaves the field to the HPA when none is given', () => {
    expect(
      one(
        synthChart((c) => publicService(c, { replicas: 3 })),
        'Deployment',
        'inference',
      ).spec.replicas,
    ).toBe(3);
    const objects = synthChart(
      (c) => new GpuHpa(c, 'Hpa', { target: publicService(c), prometheusUrl, gpuSlices: 64 }),
    );
    expect(one(objects, 'Deployment', 'inference').spec.replicas).toBeUndefined();
  });
});

describe('GpuInferenceService', () => {
  it('runs the server on the contract with GPU, security context, probes and drain', () => {
    const objects = synthChart((c) => service(c, { runtimeClassName: 'nvidia' }));
    expect(objects).toMatchSnapshot();
    const pod = one(objects, 'Deployment').spec.template.spec;
    const c = pod.containers[0];
    expect(c.image).toBe(IMAGES.inferenceServer);
    // What `npm run image` commits, under its local name, tagged with the package version; the node
    // runs the imported image without asking a registry.
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(IMAGES.inferenceServer).toBe(`localhost/cdk8s-gpu-inference/server:${pkg.version}`);
    expect(IMAGES.inferenceServer).toBe(IMAGE_NAME);
    expect(c.imagePullPolicy).toBe('IfNotPresent');
    expect(c.ports).toEqual([
      { name: 'http', containerPort: SERVER_PORT, protocol: 'TCP' },
      { name: 'grpc', containerPort: GRPC_PORT, protocol: 'TCP' },
      { name: 'metrics', containerPort: METRICS_PORT, protocol: 'TCP' },
    ]);
    expect(c.resources.limits).toEqual({ cpu: '2000m', memory: '8Gi', 'nvidia.com/gpu': 1 });
    expect(c.readinessProbe.httpGet.path).toBe(READINESS_PATH);
    expect(c.livenessProbe.httpGet.path).toBe(LIVENESS_PATH);
    expect(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold).toBe(300);
    // Liveness never waits for the models (server/README.md); readiness does, so it bounds the load.
    expect(c.startupProbe.httpGet.path).toBe(READINESS_PATH);
    expect(c.env).toContainEqual({ name: 'MODEL_REPOSITORY', value: MODEL_REPOSITORY_PATH });
    expect(c.env).toContainEqual({ name: 'DRAIN_SECONDS', value: '20' });
    expect(c.lifecycle).toEqual({ preStop: { sleep: { seconds: 5 } } });
    expect(pod.terminationGracePeriodSeconds).toBe(30);
    expect(c.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: SERVER_UID,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.runtimeClassName).toBe('nvidia');
    expect(pod.tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(pod.nodeSelector).toEqual({ 'nvidia.com/gpu.present': 'true' });
    expect(one(objects, 'Deployment').spec.replicas).toBe(1);
    expect(one(objects, 'Service', 'inference').spec.type).toBe('ClusterIP');
    expect(one(objects, 'PodDisruptionBudget').spec.maxUnavailable).toBe(1);
    expect(one(objects, 'ServiceMonitor').metadata.labels.release).toBe('kube-prometheus-stack');
  });

  it('mounts each model source at the model repository path', () => {
    const podWith = (modelSource?: ModelSource) =>
      one(
        synthChart((c) => service(c, { modelSource })),
        'Deployment',
      ).spec.template.spec;
    const pvc = podWith(ModelSource.persistentVolumeClaim('models'));
    expect(pvc.volumes).toContainEqual({
      name: 'models',
      persistentVolumeClaim: { claimName: 'models', readOnly: true },
    });
    expect(pvc.containers[0].volumeMounts).toContainEqual({
      name: 'models',
      mountPath: MODEL_REPOSITORY_PATH,
      readOnly: true,
    });
    const host = podWith(ModelSource.hostPath('/srv/models'));
    expect(host.volumes).toContainEqual({
      name: 'models',
      hostPath: { path: '/srv/models', type: 'Directory' },
    });
    const init = podWith(ModelSource.initContainer('amazon/aws-cli:2', ['aws', 's3', 'sync']));
    expect(init.initContainers[0].volumeMounts).toEqual([
      { name: 'models', mountPath: MODEL_REPOSITORY_PATH },
    ]);
    expect(init.initContainers[0].securityContext.runAsNonRoot).toBe(true);
    const baked = podWith();
    expect(baked.volumes.map((v: { name: string }) => v.name)).toEqual(['tmp']);
  });

  it('runs on CPU without GPU scheduling when gpus is 0, and exposes a LoadBalancer', () => {
    const objects = synthChart((c) => service(c, { gpus: 0, serviceType: 'LoadBalancer' }));
    const pod = one(objects, 'Deployment').spec.template.spec;
    expect(pod.containers[0].resources.limits['nvidia.com/gpu']).toBeUndefined();
    expect(pod.tolerations).toBeUndefined();
    expect(pod.nodeSelector).toBeUndefined();
    expect(one(objects, 'Service', 'inference').spec.type).toBe('LoadBalancer');
  });

  it('builds PromQL from the contract metrics and its own labels', () => {
    synthChart((c) => {
      const s = service(c);
      expect(s.requestRateQuery()).toBe(
        'sum (rate(inference_requests_total{namespace="ml",service="inference-metrics"}[1m]))',
      );
      expect(s.latencyQuantileQuery(0.99, { window: '5m' })).toBe(
        'histogram_quantile(0.99, sum by (le) (rate(inference_request_duration_seconds_bucket{namespace="ml",service="inference-metrics"}[5m])))',
      );
      expect(s.inflightQuery({ byPod: true })).toBe(
        'sum by (pod) (inference_inflight_requests{namespace="ml",service="inference-metrics"})',
      );
      expect(s.queueDepthQuery()).toBe(
        'sum (inference_queue_depth{namespace="ml",service="inference-metrics"})',
      );
      expect(s.gpuUtilizationQuery()).toContain(
        'DCGM_FI_DEV_GPU_UTIL{exported_namespace="ml",exported_pod=~"inference-[a-z0-9]+-[a-z0-9]+"}',
      );
      expect(() => s.latencyQuantileQuery(1.5)).toThrow(
        'quantile must be a number greater than 0 and at most 1, got 1.5',
      );
      expect(() => s.requestRateQuery({ window: 'five' })).toThrow(
        'window must be a Prometheus duration such as "30s", "2m" or "1h", got "five"',
      );
    });
  });

  it('passes extra env and maxBodyBytes through, but no env key the contract owns', () => {
    const objects = synthChart((c) => service(c, { maxBodyBytes: 1024, env: { OMP_NUM_THREADS: '4' } }));
    const env = one(objects, 'Deployment').spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'MAX_BODY_BYTES', value: '1024' });
    expect(env).toContainEqual({ name: 'OMP_NUM_THREADS', value: '4' });
    expect(env.filter((e: { name: string }) => e.name === 'PORT')).toEqual([
      { name: 'PORT', value: String(SERVER_PORT) },
    ]);
    const defaults = one(
      synthChart((c) => service(c)),
      'Deployment',
    ).spec.template.spec.containers[0].env;
    expect(defaults.map((e: { name: string }) => e.name)).not.toContain('MAX_BODY_BYTES');
    for (const key of Object.values(ENV)) {
      expect(() => synthChart((c) => service(c, { env: { [key]: 'x' } }))).toThrow(
        `env.${key} is "x", but ${key} is a contract variable: `,
      );
    }
  });

  it.each([
    [
      { env: { PORT: '9' } },
      'env.PORT is "9", but PORT is a contract variable: fixed by the contract at 8080, which the probes and Service target (set servicePort for the Service\'s port)',
    ],
    [
      { env: { DRAIN_SECONDS: '60' } },
      'env.DRAIN_SECONDS is "60", but DRAIN_SECONDS is a contract variable: set drainSeconds instead',
    ],
    [
      { env: { LOG_LEVEL: 'debug' } },
      'env.LOG_LEVEL is "debug", but LOG_LEVEL is a contract variable: set logLevel instead',
    ],
    [
      { env: { MAX_BODY_BYTES: '1' } },
      'env.MAX_BODY_BYTES is "1", but MAX_BODY_BYTES is a contract variable: set maxBodyBytes instead',
    ],
    [
      { env: { MODEL_REPOSITORY: '/data' } },
      'env.MODEL_REPOSITORY is "/data", but MODEL_REPOSITORY is a contract variable: fixed by the contract at /models',
    ],
    [
      { env: { HOST: '127.0.0.1' } },
      'env.HOST is "127.0.0.1", but HOST is a contract variable: fixed by the contract at 0.0.0.0',
    ],
    [{ maxBodyBytes: 0 }, 'maxBodyBytes must be an integer from 1 to 2147483647, got 0'],
    [{ gpus: 17 }, 'gpus must be an integer from 0 to 16, got 17'],
    [{ replicas: -1 }, 'replicas must be an integer from 0 to 1000, got -1'],
    [{ cpu: '2 cores' }, 'cpu must be a Kubernetes quantity such as "500m", "2" or "8Gi", got "2 cores"'],
    [{ memory: '8GB' }, 'memory must be a Kubernetes quantity such as "500m", "2" or "8Gi", got "8GB"'],
    [{ name: 'Inference' }, 'name must be a DNS-1123 label'],
    [{ namespace: 'ml_team' }, 'namespace must be a DNS-1123 label'],
    [
      { serviceType: 'Ingress' as never },
      'serviceType must be one of "ClusterIP", "LoadBalancer", "NodePort", got "Ingress"',
    ],
    [{ servicePort: 70000 }, 'servicePort must be an integer from 1 to 65535, got 70000'],
    [{ drainSeconds: 1.5 }, 'drainSeconds must be an integer from 0 to 3600, got 1.5'],
    [{ startupTimeoutSeconds: 5 }, 'startupTimeoutSeconds must be an integer from 10 to 3600, got 5'],
    [{ image: 'my image' }, 'image must be a container image reference without spaces, got "my image"'],
    [{ env: { 'BAD-KEY': 'x' } }, 'env key must match [A-Za-z_][A-Za-z0-9_]*, got "BAD-KEY"'],
    [
      { logLevel: 'loud' },
      'logLevel must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got "loud"',
    ],
    [{ scrape: { interval: '15' } }, 'scrape.interval must be a Prometheus duration'],
  ])('rejects %j', (props, message) => {
    expect(() => synthChart((c) => service(c, props))).toThrow(atPath(message));
  });
});

describe('further validation messages', () => {
  it.each([
    [{ preStopSeconds: 61 }, 'preStopSeconds must be an integer from 0 to 60, got 61'],
    [{ maxUnavailable: 0 }, 'maxUnavailable must be an integer from 1 to 1000, got 0'],
  ])('GpuInferenceService rejects %j', (props, message) => {
    expect(() => synthChart((c) => service(c, props))).toThrow(atPath(message));
  });
});

describe('GpuInferenceService: fields newer than the 1.27 types, through JSON patches', () => {
  const container = (objects: K8sObject[]) => one(objects, 'Deployment').spec.template.spec.containers[0];

  it('adds the preStop sleep action only with preStopSeconds above 0', () => {
    expect(container(synthChart((c) => service(c, { preStopSeconds: 7 }))).lifecycle).toEqual({
      preStop: { sleep: { seconds: 7 } },
    });
    expect(container(synthChart((c) => service(c, { preStopSeconds: 0 }))).lifecycle).toBeUndefined();
  });

  it("keeps a user's own patch on the Deployment, even of a field the 1.27 types lack", () => {
    const objects = synthChart((c) =>
      service(c).deployment.addJsonPatch(
        JsonPatch.add('/spec/template/spec/containers/0/restartPolicy', 'Always'),
      ),
    );
    expect(container(objects).restartPolicy).toBe('Always');
    expect(container(objects).lifecycle).toEqual({ preStop: { sleep: { seconds: 5 } } });
  });
});
