import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { CADVISOR } from './dcgm-metrics.ts';
import {
  addonWorkload,
  aggregatedApiService,
  appLabels,
  ingressPolicy,
  networkPeer,
  nonRootPod,
  RESTRICTED_CONTAINER,
  selectorLabels,
  serviceAccountWithRbac,
} from './k8s-helpers.ts';
import { validator } from './validate.ts';
import { IMAGES } from './versions.ts';

/**
 * One prometheus-adapter discovery rule
 * (https://github.com/kubernetes-sigs/prometheus-adapter/blob/master/docs/config.md).
 */
export interface AdapterRule {
  /** Series discovery: which series become metrics. */
  readonly seriesQuery: string;
  /** Maps series labels onto Kubernetes resources (`namespace`, `pod`). */
  readonly resources: { readonly overrides: Record<string, { readonly resource: string }> };
  /** The metric's name in the custom metrics API. */
  readonly name: { readonly matches: string; readonly as: string };
  /** Go template (`<<.Series>>`, `<<.LabelMatchers>>`, `<<.GroupBy>>`) of the query the adapter runs. */
  readonly metricsQuery: string;
}

/** prometheus-adapter's config file. */
export interface AdapterConfig {
  readonly rules: readonly AdapterRule[];
  readonly resourceRules?: Record<string, unknown>;
}

/** cAdvisor's node, namespace and pod labels name the Kubernetes objects of those kinds. */
const CADVISOR_RESOURCES = {
  overrides: {
    node: { resource: 'node' },
    namespace: { resource: 'namespace' },
    pod: { resource: 'pod' },
  },
} as const;

/** cAdvisor-based resource rules, so the adapter can serve `metrics.k8s.io` instead of metrics-server. */
export const RESOURCE_RULES = {
  cpu: {
    containerQuery: `sum by (<<.GroupBy>>) (rate(${CADVISOR.cpuSeconds}{<<.LabelMatchers>>,container!="",pod!=""}[3m]))`,
    nodeQuery: `sum by (<<.GroupBy>>) (rate(${CADVISOR.cpuSeconds}{<<.LabelMatchers>>,id="/"}[3m]))`,
    resources: CADVISOR_RESOURCES,
    containerLabel: 'container',
  },
  memory: {
    containerQuery: `sum by (<<.GroupBy>>) (${CADVISOR.memoryWorkingSet}{<<.LabelMatchers>>,container!="",pod!=""})`,
    nodeQuery: `sum by (<<.GroupBy>>) (${CADVISOR.memoryWorkingSet}{<<.LabelMatchers>>,id="/"})`,
    resources: CADVISOR_RESOURCES,
    containerLabel: 'container',
  },
  window: '3m',
} as const;

export interface PrometheusAdapterProps {
  /**
   * Namespace of the adapter.
   * @default 'monitoring'
   */
  readonly namespace?: string;
  /** Prometheus the adapter queries, e.g. Monitoring's `prometheusUrl`. */
  readonly prometheusUrl: string;
  /** The adapter's rules. */
  readonly config: AdapterConfig;
  /**
   * How often the adapter re-discovers series.
   * @default '1m'
   */
  readonly metricsRelistInterval?: string;
  /**
   * A NetworkPolicy that lets only the aggregated API port (https, 6443) reach the adapter's pod.
   * @default true
   */
  readonly networkPolicy?: boolean;
  /**
   * Who may reach that port: the API server's aggregation layer. The API server is not a pod (it
   * dials from a control-plane node's address, or from outside the cluster network on managed
   * control planes), so no namespace or pod selector matches it; list the control plane's CIDRs here
   * to narrow it. The port serves only requests the API server authenticated (delegated authn/authz).
   * @default - any source
   */
  readonly apiServerFrom?: readonly k8s.NetworkPolicyPeer[];
  /**
   * Adapter image.
   * @default IMAGES.prometheusAdapter
   */
  readonly image?: string;
}

/**
 * prometheus-adapter serving `custom.metrics.k8s.io` (and `metrics.k8s.io` when its config has
 * resource rules): Deployment, Service, APIServices, RBAC and the rules ConfigMap.
 */
export class PrometheusAdapter extends Construct {
  readonly name = 'prometheus-adapter';
  readonly namespace: string;
  readonly prometheusUrl: string;
  readonly servesResourceMetrics: boolean;
  readonly configMap: k8s.KubeConfigMap;
  readonly deployment: k8s.KubeDeployment;
  readonly networkPolicy?: k8s.KubeNetworkPolicy;

  constructor(scope: Construct, id: string, props: PrometheusAdapterProps) {
    super(scope, id);
    const v = validator(this);
    this.namespace = v.dnsLabel('adapter.namespace', props.namespace ?? 'monitoring');
    this.prometheusUrl = v.httpUrl('adapter.prometheusUrl', props.prometheusUrl);
    const relist = v.promDuration('adapter.metricsRelistInterval', props.metricsRelistInterval ?? '1m');
    this.servesResourceMetrics = props.config.resourceRules !== undefined;
    const name = this.name;
    const labels = appLabels(name, name, 'metrics-adapter');

    serviceAccountWithRbac(this, {
      name,
      namespace: this.namespace,
      labels,
      clusterRules: [
        {
          apiGroups: [''],
          resources: ['nodes', 'namespaces', 'pods', 'services'],
          verbs: ['get', 'list', 'watch'],
        },
      ],
      boundClusterRoles: ['system:auth-delegator'],
      kubeSystemRoles: ['extension-apiserver-authentication-reader'],
    });
    // Lets the HPA controller read what the adapter serves.
    const readerRules: k8s.PolicyRule[] = [
      { apiGroups: ['custom.metrics.k8s.io'], resources: ['*'], verbs: ['get', 'list', 'watch'] },
      ...(this.servesResourceMetrics
        ? [{ apiGroups: ['metrics.k8s.io'], resources: ['pods', 'nodes'], verbs: ['get', 'list', 'watch'] }]
        : []),
    ];
    new k8s.KubeClusterRole(this, 'MetricsReader', {
      metadata: { name: `${name}:metrics-reader`, labels },
      rules: readerRules,
    });
    new k8s.KubeClusterRoleBinding(this, 'HpaReadsMetrics', {
      metadata: { name: `${name}:hpa-controller`, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `${name}:metrics-reader` },
      subjects: [{ kind: 'ServiceAccount', name: 'horizontal-pod-autoscaler', namespace: 'kube-system' }],
    });

    this.configMap = new k8s.KubeConfigMap(this, 'Config', {
      metadata: { name, namespace: this.namespace, labels },
      data: { 'config.yaml': JSON.stringify(props.config, null, 2) + '\n' },
    });

    this.deployment = addonWorkload(this, {
      name,
      namespace: this.namespace,
      labels,
      deployment: { replicas: 1 },
      pod: {
        serviceAccountName: name,
        securityContext: nonRootPod(10001),
        containers: [
          {
            name: 'adapter',
            image: props.image ?? IMAGES.prometheusAdapter,
            args: [
              '--cert-dir=/tmp/cert',
              '--secure-port=6443',
              `--prometheus-url=${this.prometheusUrl}`,
              `--metrics-relist-interval=${relist}`,
              '--config=/etc/adapter/config.yaml',
            ],
            ports: [{ name: 'https', containerPort: 6443 }],
            readinessProbe: {
              httpGet: { path: '/readyz', port: k8s.IntOrString.fromString('https'), scheme: 'HTTPS' },
              periodSeconds: 10,
            },
            livenessProbe: {
              httpGet: { path: '/livez', port: k8s.IntOrString.fromString('https'), scheme: 'HTTPS' },
              periodSeconds: 10,
            },
            resources: {
              requests: {
                cpu: k8s.Quantity.fromString('100m'),
                memory: k8s.Quantity.fromString('128Mi'),
              },
              limits: { memory: k8s.Quantity.fromString('512Mi') },
            },
            securityContext: RESTRICTED_CONTAINER,
            volumeMounts: [
              { name: 'config', mountPath: '/etc/adapter', readOnly: true },
              { name: 'tmp', mountPath: '/tmp' },
            ],
          },
        ],
        volumes: [
          { name: 'config', configMap: { name } },
          { name: 'tmp', emptyDir: {} },
        ],
      },
      servicePort: { name: 'https', port: 443 },
    }).deployment;
    if (props.networkPolicy ?? true) {
      this.networkPolicy = ingressPolicy(this, 'NetworkPolicy', {
        name,
        namespace: this.namespace,
        labels,
        podSelector: selectorLabels(name, name),
        rules: [
          {
            port: 'https',
            from: props.apiServerFrom?.map((p, i) => networkPeer(`adapter.apiServerFrom[${i}]`, p, v)),
          },
        ],
      });
    }
    const svc = { name, namespace: this.namespace };
    aggregatedApiService(this, 'CustomMetricsApi', 'custom.metrics.k8s.io', 'v1beta1', svc, labels);
    aggregatedApiService(this, 'CustomMetricsApiV2', 'custom.metrics.k8s.io', 'v1beta2', svc, labels);
    if (this.servesResourceMetrics)
      aggregatedApiService(this, 'ResourceMetricsApi', 'metrics.k8s.io', 'v1beta1', svc, labels);
  }
}
