import { Lazy } from 'cdk8s';
import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import type { Dashboards } from '../dashboards.ts';
import { addonWorkload, appLabels, nonRootPod, RESTRICTED_CONTAINER } from '../k8s-helpers.ts';
import { IMAGES } from '../versions.ts';

/** The bundled Grafana (mode 'bundled'), provisioned with `dashboards` (read at synth). */
export function addBundledGrafana(
  parent: Construct,
  namespace: string,
  prometheusUrl: string,
  dashboards: readonly Dashboards[],
): void {
  const scope = new Construct(parent, 'Grafana');
  const name = 'grafana';
  const ns = namespace;
  const labels = appLabels(name, name, 'monitoring');
  const provisioning = {
    'datasources.yaml': JSON.stringify(
      {
        apiVersion: 1,
        datasources: [
          {
            name: 'Prometheus',
            type: 'prometheus',
            uid: 'prometheus',
            access: 'proxy',
            url: prometheusUrl,
            isDefault: true,
          },
        ],
      },
      null,
      2,
    ),
    'dashboards.yaml': JSON.stringify(
      {
        apiVersion: 1,
        providers: [
          { name: 'cdk8s-gpu-inference', type: 'file', options: { path: '/var/lib/grafana/dashboards' } },
        ],
      },
      null,
      2,
    ),
  };
  new k8s.KubeConfigMap(scope, 'Provisioning', {
    metadata: { name: `${name}-provisioning`, namespace: ns, labels },
    data: provisioning,
  });
  addonWorkload(scope, {
    name,
    namespace: ns,
    labels,
    deployment: { replicas: 1 },
    pod: {
      securityContext: nonRootPod(472, 472),
      containers: [
        {
          name: 'grafana',
          image: IMAGES.grafana,
          ports: [{ name: 'http', containerPort: 3000 }],
          env: [
            // Admin password from a Secret you create (`kubectl create secret generic grafana-admin
            // --from-literal=password=...`); without it Grafana keeps its first-login default.
            {
              name: 'GF_SECURITY_ADMIN_PASSWORD',
              valueFrom: { secretKeyRef: { name: 'grafana-admin', key: 'password', optional: true } },
            },
            { name: 'GF_PATHS_PROVISIONING', value: '/etc/grafana/provisioning' },
          ],
          readinessProbe: {
            httpGet: { path: '/api/health', port: k8s.IntOrString.fromString('http') },
            periodSeconds: 10,
          },
          resources: {
            requests: {
              cpu: k8s.Quantity.fromString('100m'),
              memory: k8s.Quantity.fromString('256Mi'),
            },
          },
          securityContext: { ...RESTRICTED_CONTAINER, readOnlyRootFilesystem: false },
          volumeMounts: [
            { name: 'datasources', mountPath: '/etc/grafana/provisioning/datasources', readOnly: true },
            { name: 'providers', mountPath: '/etc/grafana/provisioning/dashboards', readOnly: true },
            { name: 'dashboards', mountPath: '/var/lib/grafana/dashboards', readOnly: true },
            { name: 'data', mountPath: '/var/lib/grafana' },
          ],
        },
      ],
      volumes: [
        {
          name: 'datasources',
          configMap: {
            name: `${name}-provisioning`,
            items: [{ key: 'datasources.yaml', path: 'datasources.yaml' }],
          },
        },
        {
          name: 'providers',
          configMap: {
            name: `${name}-provisioning`,
            items: [{ key: 'dashboards.yaml', path: 'dashboards.yaml' }],
          },
        },
        {
          name: 'dashboards',
          projected: {
            sources: Lazy.any({
              produce: () => dashboards.map((d) => ({ configMap: { name: d.configMap.name } })),
            }),
          },
        },
        { name: 'data', emptyDir: {} },
      ],
    },
    servicePort: { name: 'http', port: 3000 },
  });
}
