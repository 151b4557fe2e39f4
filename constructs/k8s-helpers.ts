import { isIP } from 'node:net';
import { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-27';
import { validator, type Validator } from './validate.ts';

/** The recommended `app.kubernetes.io/*` labels; `name` + `instance` select a workload's pods. */
export function appLabels(name: string, instance: string, component?: string): Record<string, string> {
  return {
    'app.kubernetes.io/name': name,
    'app.kubernetes.io/instance': instance,
    ...(component ? { 'app.kubernetes.io/component': component } : {}),
    'app.kubernetes.io/part-of': 'cdk8s-gpu-inference',
  };
}

/** The subset of appLabels that selects pods (stable across upgrades: no version). */
export function selectorLabels(name: string, instance: string): Record<string, string> {
  return { 'app.kubernetes.io/name': name, 'app.kubernetes.io/instance': instance };
}

export interface ServiceAccountRbacProps {
  readonly name: string;
  readonly namespace: string;
  readonly labels: Record<string, string>;
  /** Cluster-wide rules of the account's own ClusterRole. */
  readonly clusterRules: k8s.PolicyRule[];
  /** Existing ClusterRoles bound cluster-wide (e.g. system:auth-delegator). */
  readonly boundClusterRoles?: string[];
  /** Roles in kube-system bound to the account (e.g. extension-apiserver-authentication-reader). */
  readonly kubeSystemRoles?: string[];
}

/**
 * A ServiceAccount with its own ClusterRole and binding, plus bindings to existing roles: the RBAC
 * every cluster add-on here (adapter, metrics-server, Prometheus, kube-state-metrics) needs.
 */
export function serviceAccountWithRbac(scope: Construct, props: ServiceAccountRbacProps): string {
  const { name, namespace, labels } = props;
  const subjects = [{ kind: 'ServiceAccount', name, namespace }];
  new k8s.KubeServiceAccount(scope, 'ServiceAccount', { metadata: { name, namespace, labels } });
  new k8s.KubeClusterRole(scope, 'ClusterRole', { metadata: { name, labels }, rules: props.clusterRules });
  new k8s.KubeClusterRoleBinding(scope, 'ClusterRoleBinding', {
    metadata: { name, labels },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    subjects,
  });
  for (const role of props.boundClusterRoles ?? []) {
    new k8s.KubeClusterRoleBinding(scope, `Bind-${role}`, {
      metadata: { name: `${name}:${role.replace(/^system:/, '')}`, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
      subjects,
    });
  }
  for (const role of props.kubeSystemRoles ?? []) {
    new k8s.KubeRoleBinding(scope, `Bind-${role}`, {
      metadata: { name: `${name}:${role}`, namespace: 'kube-system', labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role },
      subjects,
    });
  }
  return name;
}

/** An APIService registering an aggregated API served by a Service in the cluster. */
export function aggregatedApiService(
  scope: Construct,
  id: string,
  group: string,
  version: string,
  service: { name: string; namespace: string },
  labels: Record<string, string>,
): k8s.KubeApiService {
  return new k8s.KubeApiService(scope, id, {
    metadata: { name: `${version}.${group}`, labels },
    spec: {
      group,
      version,
      service: { name: service.name, namespace: service.namespace, port: 443 },
      groupPriorityMinimum: 100,
      versionPriority: 100,
      // Both servers present self-signed certificates generated at start-up (--cert-dir); a
      // cert-manager CA bundle would let the API server verify them instead.
      insecureSkipTlsVerify: true,
    },
  });
}

/** Container security context for an add-on that needs no privileges. */
export const RESTRICTED_CONTAINER: k8s.SecurityContext = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

/** Pod security context of an add-on running as a fixed non-root user; fsGroup lets it write its volumes. */
export function nonRootPod(runAsUser: number, fsGroup?: number): k8s.PodSecurityContext {
  return { runAsNonRoot: true, runAsUser, fsGroup, seccompProfile: { type: 'RuntimeDefault' } };
}

/** kubeadm's control-plane label and taint key (cmd/kubeadm/app/constants LabelNodeRoleControlPlane). */
export const CONTROL_PLANE_TAINT_KEY = 'node-role.kubernetes.io/control-plane';

/**
 * Every add-on tolerates the control plane's NoSchedule taint. The topology provisioning builds
 * has no other untainted node: a kubeadm control plane plus GPU workers tainted
 * `nvidia.com/gpu=present:NoSchedule` that only GPU workloads tolerate, so without this the
 * metrics pipeline (metrics-server, prometheus-adapter) never schedules and the HPA gets no
 * metrics; the real scheduler in test/cluster showed it. Where untainted workers exist the add-ons
 * may still land there.
 */
export const CONTROL_PLANE_TOLERATION: Readonly<k8s.Toleration> = Object.freeze({
  key: CONTROL_PLANE_TAINT_KEY,
  operator: 'Exists',
  effect: 'NoSchedule',
});

export interface AddonWorkloadProps {
  readonly name: string;
  readonly namespace: string;
  /** Labels of the Deployment, its pods and the Service (appLabels(name, name, component)). */
  readonly labels: Record<string, string>;
  /** Deployment spec fields other than the selector and the pod template (replicas, strategy). */
  readonly deployment?: Omit<k8s.DeploymentSpec, 'selector' | 'template'>;
  readonly pod: k8s.PodSpec;
  /** The Service's one port; it targets the container port of the same name. */
  readonly servicePort: { readonly name: string; readonly port: number };
  readonly serviceAnnotations?: Record<string, string>;
}

/**
 * A Deployment and the Service in front of it, both selecting pods by selectorLabels(name, name):
 * the shape of every cluster add-on here (metrics-server, Prometheus, Grafana, kube-state-metrics,
 * prometheus-adapter).
 */
export function addonWorkload(
  scope: Construct,
  props: AddonWorkloadProps,
): { deployment: k8s.KubeDeployment; service: k8s.KubeService } {
  const { name, namespace, labels } = props;
  const podSelector = selectorLabels(name, name);
  const deployment = new k8s.KubeDeployment(scope, 'Deployment', {
    metadata: { name, namespace, labels },
    spec: {
      ...props.deployment,
      selector: { matchLabels: podSelector },
      template: {
        metadata: { labels },
        spec: { ...props.pod, tolerations: [...(props.pod.tolerations ?? []), CONTROL_PLANE_TOLERATION] },
      },
    },
  });
  const { name: portName, port } = props.servicePort;
  const service = new k8s.KubeService(scope, 'Service', {
    metadata: { name, namespace, labels, annotations: props.serviceAnnotations },
    spec: {
      selector: podSelector,
      ports: [{ name: portName, port, targetPort: k8s.IntOrString.fromString(portName) }],
    },
  });
  return { deployment, service };
}

/** One ingress rule of an isolating NetworkPolicy: a port, and who may reach it. */
export interface IngressRule {
  /** Container port, by number or by name. */
  readonly port: number | string;
  /** Sources allowed; undefined allows any source (the `from` field is omitted). */
  readonly from?: readonly k8s.NetworkPolicyPeer[];
}

/**
 * A NetworkPolicy that isolates the selected pods for ingress and allows only `rules`. Egress is
 * not restricted. Traffic from the pod's own node (kubelet probes) is always allowed by
 * NetworkPolicy implementations.
 */
export function ingressPolicy(
  scope: Construct,
  id: string,
  props: {
    readonly name: string;
    readonly namespace: string;
    readonly labels: Record<string, string>;
    /** Labels the pods carry, or a whole label selector. */
    readonly podSelector: Record<string, string> | k8s.LabelSelector;
    readonly rules: readonly IngressRule[];
  },
): k8s.KubeNetworkPolicy {
  return new k8s.KubeNetworkPolicy(scope, id, {
    metadata: { name: props.name, namespace: props.namespace, labels: props.labels },
    spec: {
      podSelector:
        'matchLabels' in props.podSelector || 'matchExpressions' in props.podSelector
          ? (props.podSelector as k8s.LabelSelector)
          : { matchLabels: props.podSelector as Record<string, string> },
      policyTypes: ['Ingress'],
      ingress: props.rules.map((r) => ({
        ports: [
          {
            protocol: 'TCP',
            port:
              typeof r.port === 'number'
                ? k8s.IntOrString.fromNumber(r.port)
                : k8s.IntOrString.fromString(r.port),
          },
        ],
        ...(r.from ? { from: [...r.from] } : {}),
      })),
    },
  });
}

/** The peer of every pod in a namespace (the `kubernetes.io/metadata.name` label the API server sets). */
export function namespacePeer(namespace: string): k8s.NetworkPolicyPeer {
  return { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } } };
}

/** A NetworkPolicy peer: exactly one kind of source, and an ipBlock's CIDRs well formed. */
export function networkPeer(
  field: string,
  peer: k8s.NetworkPolicyPeer,
  v: Validator = validator(),
): k8s.NetworkPolicyPeer {
  if (peer.ipBlock && (peer.namespaceSelector || peer.podSelector)) {
    throw v.error(`${field} must be an ipBlock or selectors, not both, got ${JSON.stringify(peer)}`);
  }
  if (!peer.ipBlock && !peer.namespaceSelector && !peer.podSelector) {
    throw v.error(
      `${field} must have an ipBlock, a namespaceSelector or a podSelector, got ${JSON.stringify(peer)}`,
    );
  }
  for (const [i, cidr] of [peer.ipBlock?.cidr, ...(peer.ipBlock?.except ?? [])].entries()) {
    if (cidr !== undefined && !isCidr(cidr)) {
      const where = i === 0 ? 'ipBlock.cidr' : `ipBlock.except[${i - 1}]`;
      throw v.error(
        `${field}.${where} must be a CIDR such as "10.0.0.0/8" or "2001:db8::/32", got ${JSON.stringify(cidr)}`,
      );
    }
  }
  return peer;
}

function isCidr(value: string): boolean {
  const [addr, bits, ...rest] = value.split('/');
  const version = isIP(addr ?? '');
  const max = version === 4 ? 32 : 128;
  return version !== 0 && rest.length === 0 && /^[0-9]{1,3}$/.test(bits ?? '') && Number(bits) <= max;
}
