/**
 * The real components the local control plane runs, built from the Go module proxy: every module,
 * version and package pinned in this one place, with the upstream source of each choice. Bump them
 * here only; `npm run cluster:build` builds what is missing into the cache (cluster/build.ts).
 *
 * Where the proxy does not serve the version the constructs deploy, the nearest one it serves is
 * pinned and the comment says so.
 */
import { IMAGES, UPSTREAM } from '../constructs/versions.ts';
import { KUBERNETES_MINOR } from '../provision/src/versions.ts';

/** Every CRD prometheus-operator watches (it fails to sync without any of them). */
export const OPERATOR_CRDS = [
  'alertmanagerconfigs',
  'alertmanagers',
  'podmonitors',
  'probes',
  'prometheusagents',
  'prometheuses',
  'prometheusrules',
  'scrapeconfigs',
  'servicemonitors',
  'thanosrulers',
] as const;

export interface GoComponent {
  /** Short name: the cache folder and the name logs use. */
  readonly name: string;
  readonly module: string;
  readonly version: string;
  /** Main packages to build; each gives a binary named after its last path element. */
  readonly packages: readonly string[];
  /**
   * The version that replaces each `=> ./local/path` directive of the module's own go.mod, so the
   * module builds as a dependency (k8s.io/kubernetes points its staging modules at ./staging/src;
   * their releases are `v0.<minor>.<patch>`). Other replace directives are copied as they stand.
   * @default the component's own version
   */
  readonly localReplaceVersion?: string;
  /** @default the last path element of each package */
  readonly binaries?: readonly string[];
  /** Files of the module (CRDs, upstream manifests) kept next to the binaries, at their module paths. */
  readonly files?: readonly string[];
  /** Packages that must stay at a version other than the one the module graph selects. */
  readonly extraRequires?: readonly string[];
  /**
   * `-X` settings the project's own release build passes to the linker (a version string the
   * binary reports); part of the cache key.
   * @default none
   */
  readonly ldflags?: readonly string[];
}

/** Kubernetes patch release of provisioning's minor (provision/src/versions.ts KUBERNETES_MINOR). */
export const KUBERNETES_VERSION = `v${KUBERNETES_MINOR}.2`;

const kubeMinorPatch = KUBERNETES_VERSION.replace(/^v1\./, 'v0.');

/**
 * What hack/lib/version.sh sets: without it every binary reports v0.0.0-master, and clients that
 * check the server's version misjudge it (prometheus-operator turned off EndpointSlice discovery,
 * "Kubernetes API capabilities endpointslices=false"); kubeadm defaults kubernetesVersion to it.
 */
const KUBERNETES_LDFLAGS = ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'].flatMap(
  (pkg) => [
    `-X ${pkg}.gitVersion=${KUBERNETES_VERSION}`,
    `-X ${pkg}.gitMajor=${KUBERNETES_VERSION.split('.')[0]!.replace(/^v/, '')}`,
    `-X ${pkg}.gitMinor=${KUBERNETES_VERSION.split('.')[1]!}`,
    `-X ${pkg}.gitTreeState=clean`,
  ],
);

export const COMPONENTS = {
  /**
   * kube-apiserver, kube-controller-manager, kube-scheduler and kubectl of the Kubernetes release
   * provisioning installs (1.37; v1.37.2 is the newest 1.37 patch the proxy serves). Its staging
   * modules are replaced by their `v0.37.2` releases.
   */
  kubernetes: {
    name: 'kubernetes',
    module: 'k8s.io/kubernetes',
    version: KUBERNETES_VERSION,
    packages: [
      'k8s.io/kubernetes/cmd/kube-apiserver',
      'k8s.io/kubernetes/cmd/kube-controller-manager',
      'k8s.io/kubernetes/cmd/kube-scheduler',
      'k8s.io/kubernetes/cmd/kubectl',
    ],
    localReplaceVersion: kubeMinorPatch,
    ldflags: KUBERNETES_LDFLAGS,
  },
  /**
   * kubeadm of the same release, build and linker settings as `kubernetes`
   * (test/provision/kubeadm-validate runs `kubeadm config validate` on what provisioning writes).
   * Its own component rather than a fifth package of `kubernetes`: the cache folder is keyed by
   * module, version, Go and ldflags, not by the package list, so a fifth package would rebuild and
   * replace the folder every checkout's cluster tests read. Go's build cache keeps it cheap.
   */
  kubeadm: {
    name: 'kubeadm',
    module: 'k8s.io/kubernetes',
    version: KUBERNETES_VERSION,
    packages: ['k8s.io/kubernetes/cmd/kubeadm'],
    localReplaceVersion: kubeMinorPatch,
    ldflags: KUBERNETES_LDFLAGS,
  },
  /**
   * etcd 3.7.0: kubeadm 1.37's DefaultEtcdVersion "3.7.0-0" and SupportedEtcdVersion for 1.34-1.36
   * (cmd/kubeadm/app/constants/constants.go at v1.37.2), which is what a provisioned cluster runs.
   */
  etcd: {
    name: 'etcd',
    module: 'go.etcd.io/etcd/server/v3',
    version: 'v3.7.0',
    packages: ['go.etcd.io/etcd/server/v3'],
    binaries: ['etcd'],
  },
  /**
   * kwok v0.8.0, the newest release (built with Go 1.26, client libraries 0.36): it manages the
   * emulated nodes (leases, heartbeats) and the pods no real process backs.
   */
  kwok: {
    name: 'kwok',
    module: 'sigs.k8s.io/kwok',
    version: 'v0.8.0',
    packages: ['sigs.k8s.io/kwok/cmd/kwok'],
  },
  /**
   * The constructs deploy metrics-server v0.8.1 (IMAGES.metricsServer); the proxy serves v0.8.0 and
   * v0.9.0 only, and v0.9.0 is not a release, so v0.8.0 (same 0.8 line: Kubernetes 1.31+, per
   * the compatibility matrix in its README).
   */
  metricsServer: {
    name: 'metrics-server',
    module: 'sigs.k8s.io/metrics-server',
    version: 'v0.8.0',
    packages: ['sigs.k8s.io/metrics-server/cmd/metrics-server'],
  },
  /** prometheus-adapter at the tag the constructs deploy (IMAGES.prometheusAdapter). */
  prometheusAdapter: {
    name: 'prometheus-adapter',
    module: 'sigs.k8s.io/prometheus-adapter',
    version: imageTag(IMAGES.prometheusAdapter),
    packages: ['sigs.k8s.io/prometheus-adapter/cmd/adapter'],
  },
  /**
   * prometheus-operator v0.93.0 (2026-07-28; Go 1.26, client libraries 0.36): it generates the
   * Prometheus configuration from the synthesized ServiceMonitors and PrometheusRules. Its CRDs
   * come from the same module. v0.94 and later are not served by the proxy.
   */
  prometheusOperator: {
    name: 'prometheus-operator',
    module: 'github.com/prometheus-operator/prometheus-operator',
    version: 'v0.93.0',
    packages: ['github.com/prometheus-operator/prometheus-operator/cmd/operator'],
    files: [
      ...OPERATOR_CRDS.map((k) => `example/prometheus-operator-crd/monitoring.coreos.com_${k}.yaml`),
      // The operator's own Deployment and RBAC, and Prometheus' RBAC, as upstream publishes them.
      ...['cluster-role', 'cluster-role-binding', 'service-account', 'deployment'].map(
        (k) => `example/rbac/prometheus-operator/prometheus-operator-${k}.yaml`,
      ),
      ...['cluster-role', 'cluster-role-binding', 'service-account'].map(
        (k) => `example/rbac/prometheus/prometheus-${k}.yaml`,
      ),
    ],
  },
  /**
   * Prometheus 3.5.0, the version the constructs deploy (IMAGES.prometheus; Go module versions of
   * Prometheus 3.x are v0.3XX.Y: v0.305.0 is v3.5.0). Debian 12's prometheus is 2.42, which
   * prometheus-operator v0.93 no longer supports (its PrometheusCompatibilityMatrix starts later).
   * Built without the web UI's assets: the HTTP API is all the tests use.
   */
  prometheus: {
    name: 'prometheus',
    module: 'github.com/prometheus/prometheus',
    version: `v0.${imageTag(IMAGES.prometheus).replace(/^v3\.(\d+)\.(\d+)$/, (_, minor: string, patch: string) => `3${minor.padStart(2, '0')}.${patch}`)}`,
    packages: [
      'github.com/prometheus/prometheus/cmd/prometheus',
      'github.com/prometheus/prometheus/cmd/promtool',
    ],
  },
  /**
   * kube-state-metrics at the version the constructs deploy (IMAGES.kubeStateMetrics; Go 1.26,
   * client libraries 0.36), with upstream's standard example manifests: kube-prometheus-stack
   * installs it, and the dashboards' replica panels read its HPA series.
   */
  kubeStateMetrics: {
    name: 'kube-state-metrics',
    module: 'k8s.io/kube-state-metrics/v2',
    version: imageTag(IMAGES.kubeStateMetrics),
    packages: ['k8s.io/kube-state-metrics/v2'],
    binaries: ['kube-state-metrics'],
    files: ['cluster-role', 'cluster-role-binding', 'service-account', 'deployment', 'service'].map(
      (k) => `examples/standard/${k}.yaml`,
    ),
  },
  /**
   * KEDA's operator (image ghcr.io/kedacore/keda, command /keda) and metrics API server
   * (keda-metrics-apiserver, command /keda-adapter) at the release the ScaledObject is written for
   * (UPSTREAM.keda), with the kustomize tree its release manifest is built from (config/minimal:
   * CRDs, RBAC, both Deployments, the external metrics APIService; no admission webhooks).
   */
  keda: {
    name: 'keda',
    module: 'github.com/kedacore/keda/v2',
    version: `v${UPSTREAM.keda}`,
    packages: ['github.com/kedacore/keda/v2/cmd/operator', 'github.com/kedacore/keda/v2/cmd/adapter'],
    binaries: ['keda', 'keda-adapter'],
    files: [
      'config/minimal/kustomization.yaml',
      'config/minimal/kustomize-config/metadataLabelTransformer.yaml',
      'config/crd/kustomization.yaml',
      ...['scaledjob', 'scaledobject'].map((k) => `config/crd/patches/${k}_patch.yaml`),
      ...[
        'keda.sh_scaledobjects',
        'keda.sh_scaledjobs',
        'keda.sh_triggerauthentications',
        'keda.sh_clustertriggerauthentications',
        'eventing.keda.sh_cloudeventsources',
        'eventing.keda.sh_clustercloudeventsources',
      ].map((k) => `config/crd/bases/${k}.yaml`),
      ...['kustomization', 'namespace'].map((k) => `config/general/${k}.yaml`),
      ...['kustomization', 'role', 'role_binding', 'aggregate_cluster_roles'].map(
        (k) => `config/rbac/${k}.yaml`,
      ),
      ...['kustomization', 'manager', 'service'].map((k) => `config/manager/${k}.yaml`),
      ...['kustomization', 'role', 'role_binding', 'deployment', 'service', 'api_service'].map(
        (k) => `config/metrics-server/${k}.yaml`,
      ),
      ...['kustomization', 'service_account'].map((k) => `config/service_account/${k}.yaml`),
    ],
  },
} as const satisfies Record<string, GoComponent>;

export type ComponentName = keyof typeof COMPONENTS;

function imageTag(image: string): string {
  return image.slice(image.lastIndexOf(':') + 1);
}
