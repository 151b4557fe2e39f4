import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import {
  addonWorkload,
  aggregatedApiService,
  appLabels,
  RESTRICTED_CONTAINER,
  serviceAccountWithRbac,
} from '../k8s-helpers.ts';
import { IMAGES } from '../versions.ts';

/** metrics-server (kube-system): the resource metrics API (`metrics.k8s.io`) the HPA's cpu metric reads. */
export function addMetricsServer(parent: Construct, insecureTls: boolean): void {
  const scope = new Construct(parent, 'MetricsServer');
  const name = 'metrics-server';
  const ns = 'kube-system';
  const labels = appLabels(name, name, 'resource-metrics');
  serviceAccountWithRbac(scope, {
    name,
    namespace: ns,
    labels,
    clusterRules: [
      { apiGroups: [''], resources: ['nodes/metrics'], verbs: ['get'] },
      { apiGroups: [''], resources: ['pods', 'nodes'], verbs: ['get', 'list', 'watch'] },
    ],
    boundClusterRoles: ['system:auth-delegator'],
    kubeSystemRoles: ['extension-apiserver-authentication-reader'],
  });
  new k8s.KubeClusterRole(scope, 'AggregatedReader', {
    metadata: {
      name: 'system:aggregated-metrics-reader',
      labels: {
        ...labels,
        'rbac.authorization.k8s.io/aggregate-to-admin': 'true',
        'rbac.authorization.k8s.io/aggregate-to-edit': 'true',
        'rbac.authorization.k8s.io/aggregate-to-view': 'true',
      },
    },
    rules: [{ apiGroups: ['metrics.k8s.io'], resources: ['pods', 'nodes'], verbs: ['get', 'list', 'watch'] }],
  });
  addonWorkload(scope, {
    name,
    namespace: ns,
    labels,
    deployment: { strategy: { rollingUpdate: { maxUnavailable: k8s.IntOrString.fromNumber(0) } } },
    pod: {
      serviceAccountName: name,
      priorityClassName: 'system-cluster-critical',
      nodeSelector: { 'kubernetes.io/os': 'linux' },
      containers: [
        {
          name: 'metrics-server',
          image: IMAGES.metricsServer,
          args: [
            '--cert-dir=/tmp',
            '--secure-port=10250',
            '--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname',
            '--kubelet-use-node-status-port',
            '--metric-resolution=15s',
            ...(insecureTls ? ['--kubelet-insecure-tls'] : []),
          ],
          ports: [{ name: 'https', containerPort: 10250, protocol: 'TCP' }],
          readinessProbe: {
            httpGet: { path: '/readyz', port: k8s.IntOrString.fromString('https'), scheme: 'HTTPS' },
            periodSeconds: 10,
            failureThreshold: 3,
            initialDelaySeconds: 20,
          },
          livenessProbe: {
            httpGet: { path: '/livez', port: k8s.IntOrString.fromString('https'), scheme: 'HTTPS' },
            periodSeconds: 10,
            failureThreshold: 3,
          },
          resources: {
            requests: {
              cpu: k8s.Quantity.fromString('100m'),
              memory: k8s.Quantity.fromString('200Mi'),
            },
          },
          securityContext: { ...RESTRICTED_CONTAINER, runAsUser: 1000 },
          volumeMounts: [{ name: 'tmp-dir', mountPath: '/tmp' }],
        },
      ],
      volumes: [{ name: 'tmp-dir', emptyDir: {} }],
    },
    servicePort: { name: 'https', port: 443 },
  });
  aggregatedApiService(scope, 'ApiService', 'metrics.k8s.io', 'v1beta1', { name, namespace: ns }, labels);
}
