import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { scrapeAnnotations } from '../scrape.ts';
import {
  addonWorkload,
  appLabels,
  nonRootPod,
  RESTRICTED_CONTAINER,
  serviceAccountWithRbac,
} from '../k8s-helpers.ts';
import { IMAGES } from '../versions.ts';

/** kube-state-metrics (mode 'bundled'): the Deployment and HPA series the alerts and dashboards read. */
export function addKubeStateMetrics(parent: Construct, namespace: string): void {
  const scope = new Construct(parent, 'KubeStateMetrics');
  const name = 'kube-state-metrics';
  const ns = namespace;
  const labels = appLabels(name, name, 'exporter');
  serviceAccountWithRbac(scope, {
    name,
    namespace: ns,
    labels,
    clusterRules: [
      { apiGroups: [''], resources: ['pods', 'nodes'], verbs: ['list', 'watch'] },
      { apiGroups: ['apps'], resources: ['deployments'], verbs: ['list', 'watch'] },
      { apiGroups: ['autoscaling'], resources: ['horizontalpodautoscalers'], verbs: ['list', 'watch'] },
    ],
  });
  addonWorkload(scope, {
    name,
    namespace: ns,
    labels,
    deployment: { replicas: 1 },
    pod: {
      serviceAccountName: name,
      securityContext: nonRootPod(65534),
      containers: [
        {
          name: 'kube-state-metrics',
          image: IMAGES.kubeStateMetrics,
          args: ['--resources=pods,nodes,deployments,horizontalpodautoscalers'],
          ports: [{ name: 'http-metrics', containerPort: 8080 }],
          readinessProbe: {
            httpGet: { path: '/readyz', port: k8s.IntOrString.fromNumber(8081) },
            periodSeconds: 10,
          },
          livenessProbe: {
            httpGet: { path: '/livez', port: k8s.IntOrString.fromString('http-metrics') },
            periodSeconds: 10,
          },
          securityContext: RESTRICTED_CONTAINER,
        },
      ],
    },
    servicePort: { name: 'http-metrics', port: 8080 },
    serviceAnnotations: scrapeAnnotations(8080, '/metrics'),
  });
}
