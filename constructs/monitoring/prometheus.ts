import { Lazy } from 'cdk8s';
import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import type { AlertRules } from '../alert-rules.ts';
import {
  addonWorkload,
  appLabels,
  nonRootPod,
  RESTRICTED_CONTAINER,
  serviceAccountWithRbac,
} from '../k8s-helpers.ts';
import { IMAGES } from '../versions.ts';

/** The bundled Prometheus (mode 'bundled'), loading `rules` (read at synth: rules added later count). */
export function addBundledPrometheus(
  parent: Construct,
  namespace: string,
  retention: string,
  config: Record<string, unknown> | undefined,
  rules: readonly AlertRules[],
): void {
  const scope = new Construct(parent, 'Prometheus');
  const name = 'prometheus';
  const ns = namespace;
  const labels = appLabels(name, name, 'monitoring');
  serviceAccountWithRbac(scope, {
    name,
    namespace: ns,
    labels,
    clusterRules: [
      {
        apiGroups: [''],
        resources: ['nodes', 'nodes/metrics', 'services', 'endpoints', 'pods'],
        verbs: ['get', 'list', 'watch'],
      },
      { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
      { nonResourceUrLs: ['/metrics', '/metrics/cadvisor'], verbs: ['get'] },
    ],
  });
  new k8s.KubeConfigMap(scope, 'Config', {
    metadata: { name, namespace: ns, labels },
    data: { 'prometheus.yml': JSON.stringify(config, null, 2) + '\n' },
  });
  new k8s.KubeConfigMap(scope, 'Rules', {
    metadata: { name: `${name}-rules`, namespace: ns, labels },
    data: Lazy.any({
      produce: () => Object.fromEntries(rules.map((r) => [`${r.name}.yaml`, r.rulesFile()])),
    }),
  });
  addonWorkload(scope, {
    name,
    namespace: ns,
    labels,
    // One writer on the TSDB: never two pods at once.
    deployment: { replicas: 1, strategy: { type: 'Recreate' } },
    pod: {
      serviceAccountName: name,
      securityContext: nonRootPod(65534, 65534),
      containers: [
        {
          name: 'prometheus',
          image: IMAGES.prometheus,
          args: [
            '--config.file=/etc/prometheus/prometheus.yml',
            '--storage.tsdb.path=/prometheus',
            `--storage.tsdb.retention.time=${retention}`,
            '--web.enable-lifecycle',
          ],
          ports: [{ name: 'web', containerPort: 9090 }],
          readinessProbe: {
            httpGet: { path: '/-/ready', port: k8s.IntOrString.fromString('web') },
            periodSeconds: 10,
          },
          livenessProbe: {
            httpGet: { path: '/-/healthy', port: k8s.IntOrString.fromString('web') },
            periodSeconds: 30,
          },
          resources: {
            requests: { cpu: k8s.Quantity.fromString('200m'), memory: k8s.Quantity.fromString('1Gi') },
            limits: { memory: k8s.Quantity.fromString('4Gi') },
          },
          securityContext: RESTRICTED_CONTAINER,
          volumeMounts: [
            { name: 'config', mountPath: '/etc/prometheus', readOnly: true },
            { name: 'rules', mountPath: '/etc/prometheus/rules', readOnly: true },
            { name: 'data', mountPath: '/prometheus' },
          ],
        },
      ],
      volumes: [
        { name: 'config', configMap: { name } },
        { name: 'rules', configMap: { name: `${name}-rules` } },
        // Data lives as long as the pod; use a PVC for anything beyond the recipe's single node.
        { name: 'data', emptyDir: {} },
      ],
    },
    servicePort: { name: 'web', port: 9090 },
  });
}
