/**
 * What kube-prometheus-stack contributes to a cluster and dist/ assumes is there: prometheus-operator
 * (its Deployment and RBAC exactly as upstream publishes them in the pinned module, moved to the
 * monitoring namespace) and one Prometheus, named and selected as the chart names and selects
 * them (`<release>-prometheus`, ServiceMonitors and PrometheusRules labelled `release: <release>`),
 * at the Prometheus version the constructs deploy, kube-state-metrics (upstream's standard
 * example, scraped as the chart's subchart is) and the chart's kubelet (cAdvisor) scrape. All run as real processes through the node agent;
 * Prometheus' configuration is the one the operator generates.
 */
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { IMAGES, UPSTREAM } from '../constructs/versions.ts';
import { CONTROL_PLANE_TOLERATION } from '../constructs/k8s-helpers.ts';
import { COMPONENTS, OPERATOR_CRDS, type GoComponent } from './components.ts';
import { moduleFile } from './build.ts';

type Obj = {
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
};

const fromModule = (c: GoComponent, file: string): Obj[] =>
  parseAllDocuments(readFileSync(moduleFile(c, file), 'utf8')).map((d) => d.toJS() as Obj);
const fromComponent = (file: string): Obj[] => fromModule(COMPONENTS.prometheusOperator, file);

/** The prometheus-operator CRDs, from the pinned module. */
export function operatorCrds(): Obj[] {
  return OPERATOR_CRDS.flatMap((k) =>
    fromComponent(`example/prometheus-operator-crd/monitoring.coreos.com_${k}.yaml`),
  );
}

export interface PrometheusOptions {
  readonly namespace: string;
  /** @default 30s (kube-prometheus-stack's prometheusSpec.scrapeInterval default) */
  readonly scrapeInterval?: string;
  /** @default 30s */
  readonly evaluationInterval?: string;
}

export function monitoringStack(o: PrometheusOptions): Obj[] {
  const release = UPSTREAM.kubePrometheusStackRelease;
  const inNamespace = (objs: Obj[]) =>
    objs.map((obj) => {
      if (obj.kind.startsWith('Cluster')) {
        for (const s of (obj.subjects as { namespace?: string }[] | undefined) ?? [])
          s.namespace = o.namespace;
        return obj;
      }
      return { ...obj, metadata: { ...obj.metadata, namespace: o.namespace } };
    });
  const operator = inNamespace(
    ['cluster-role', 'cluster-role-binding', 'service-account', 'deployment'].flatMap((k) =>
      fromComponent(`example/rbac/prometheus-operator/prometheus-operator-${k}.yaml`),
    ),
  );
  // Neither upstream's example nor kube-prometheus-stack's chart tolerates any taint, so on
  // provisioning's topology (tainted control plane, tainted GPU workers) neither the operator nor
  // Prometheus schedules: a user sets `prometheusOperator.tolerations` and
  // `prometheus.prometheusSpec.tolerations` in the chart's values, as done here.
  for (const d of operator.filter((o) => o.kind === 'Deployment'))
    (
      d as unknown as { spec: { template: { spec: { tolerations?: unknown[] } } } }
    ).spec.template.spec.tolerations = [CONTROL_PLANE_TOLERATION];
  const prometheusRbac = inNamespace(
    ['cluster-role', 'cluster-role-binding', 'service-account'].flatMap((k) =>
      fromComponent(`example/rbac/prometheus/prometheus-${k}.yaml`),
    ),
  );
  const name = `${release}-prometheus`;
  const version = IMAGES.prometheus.slice(IMAGES.prometheus.lastIndexOf(':') + 1);
  const prometheus: Obj = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'Prometheus',
    metadata: { name, namespace: o.namespace, labels: { release } },
    spec: {
      image: IMAGES.prometheus,
      version,
      replicas: 1,
      serviceAccountName: 'prometheus',
      scrapeInterval: o.scrapeInterval ?? '30s',
      evaluationInterval: o.evaluationInterval ?? '30s',
      serviceMonitorSelector: { matchLabels: { release } },
      serviceMonitorNamespaceSelector: {},
      podMonitorSelector: { matchLabels: { release } },
      podMonitorNamespaceSelector: {},
      ruleSelector: { matchLabels: { release } },
      ruleNamespaceSelector: {},
      tolerations: [CONTROL_PLANE_TOLERATION],
      // The chart's default prometheusSpec.securityContext: the pod then meets the restricted Pod
      // Security level of the monitoring namespace (without it admission refused the pod).
      securityContext: {
        runAsGroup: 2000,
        runAsNonRoot: true,
        runAsUser: 1000,
        fsGroup: 2000,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      // Endpoints are deprecated since Kubernetes 1.33 (the API server warns on every list).
      serviceDiscoveryRole: 'EndpointSlice',
    },
  };
  const service: Obj = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: o.namespace, labels: { release } },
    spec: {
      selector: { 'app.kubernetes.io/name': 'prometheus', 'operator.prometheus.io/name': name },
      ports: [{ name: 'http-web', port: 9090, targetPort: 9090 }],
    },
  };
  // The chart's kube-state-metrics subchart: upstream's standard example, scraped as the chart's
  // ServiceMonitor does (honorLabels: its series carry the namespace and names of what they describe).
  const ksm = inNamespace(
    ['cluster-role', 'cluster-role-binding', 'service-account', 'deployment', 'service'].flatMap((k) =>
      fromModule(COMPONENTS.kubeStateMetrics, `examples/standard/${k}.yaml`),
    ),
  );
  for (const d of ksm.filter((o) => o.kind === 'Deployment'))
    (
      d as unknown as { spec: { template: { spec: { tolerations?: unknown[] } } } }
    ).spec.template.spec.tolerations = [CONTROL_PLANE_TOLERATION];
  for (const svc of ksm.filter((o) => o.kind === 'Service'))
    svc.metadata.labels = { ...svc.metadata.labels, release };
  const ksmMonitor: Obj = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'ServiceMonitor',
    metadata: { name: 'kube-state-metrics', namespace: o.namespace, labels: { release } },
    spec: {
      selector: { matchLabels: { 'app.kubernetes.io/name': 'kube-state-metrics' } },
      endpoints: [{ port: 'http-metrics', honorLabels: true }],
    },
  };
  // The chart's kubelet ServiceMonitor, cAdvisor endpoint: the Service is the one the operator
  // keeps (upstream's Deployment runs it with --kubelet-service=kube-system/kubelet), its endpoints
  // the nodes' InternalIPs, where the node agent serves the kubelet's metrics.
  const serviceAccount = '/var/run/secrets/kubernetes.io/serviceaccount';
  const kubeletMonitor: Obj = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'ServiceMonitor',
    metadata: { name: `${release}-kubelet`, namespace: o.namespace, labels: { release } },
    spec: {
      selector: { matchLabels: { 'app.kubernetes.io/name': 'kubelet', 'k8s-app': 'kubelet' } },
      namespaceSelector: { matchNames: ['kube-system'] },
      attachMetadata: { node: false },
      endpoints: [
        {
          port: 'https-metrics',
          path: '/metrics/cadvisor',
          scheme: 'https',
          honorLabels: true,
          honorTimestamps: true,
          bearerTokenFile: `${serviceAccount}/token`,
          tlsConfig: { caFile: `${serviceAccount}/ca.crt`, insecureSkipVerify: true },
          relabelings: [
            { action: 'replace', sourceLabels: ['__metrics_path__'], targetLabel: 'metrics_path' },
          ],
        },
      ],
    },
  };
  return [...operator, ...prometheusRbac, prometheus, service, ...ksm, ksmMonitor, kubeletMonitor];
}
