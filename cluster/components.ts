/**
 * The real components the local control plane runs, built from the Go module proxy: every module,
 * version and package pinned in this one place, with the upstream source of each choice. Bump them
 * here only; `npm run cluster:build` builds what is missing into the cache (cluster/build.ts).
 *
 * Where the proxy does not serve the version the constructs deploy, the nearest one it serves is
 * pinned and the comment says so.
 */
import { IMAGES, UPSTREAM } from '../constructs/versions.ts';
import {
  CNI_PLUGINS_VERSION,
  CONTAINERD_VERSION,
  KUBERNETES_MINOR,
  RUNC_VERSION,
} from '../provision/src/versions.ts';

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

/** upstream's build_linux.sh: every plugin under plugins/{meta,main,ipam} but windows. */
const CNI_PLUGINS = [
  ...['bandwidth', 'firewall', 'portmap', 'sbr', 'tuning', 'vrf'].map((p) => `meta/${p}`),
  ...['bridge', 'dummy', 'host-device', 'ipvlan', 'loopback', 'macvlan', 'ptp', 'tap', 'vlan'].map(
    (p) => `main/${p}`,
  ),
  ...['dhcp', 'host-local', 'static'].map((p) => `ipam/${p}`),
];

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
  /**
   * Build tags the project's own release build sets (runc's `seccomp`, the static builds'
   * `netgo osusergo`); part of the cache key.
   * @default none
   */
  readonly tags?: readonly string[];
  /**
   * CGO_ENABLED for the build: false for the pure-Go static binaries upstream releases ship, true
   * where the project needs C (runc's nsenter and libseccomp); part of the cache key.
   * @default Go's own default
   */
  readonly cgo?: boolean;
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
   * kubelet of the same release, build and linker settings as `kubeadm` (so Go's build cache is
   * shared): test/provision/e2e-kubeadm runs it inside a booted Debian 12 host under `kubeadm init`.
   * Dynamically linked against this machine's glibc (2.36, Debian 12) like the other Kubernetes
   * binaries; its own component for the reason kubeadm is.
   */
  kubelet: {
    name: 'kubelet',
    module: 'k8s.io/kubernetes',
    version: KUBERNETES_VERSION,
    packages: ['k8s.io/kubernetes/cmd/kubelet'],
    localReplaceVersion: kubeMinorPatch,
    ldflags: KUBERNETES_LDFLAGS,
  },
  /**
   * kube-proxy of the same release, build and linker settings as `kubelet` (Go's build cache is
   * shared): cluster/kube-proxy.ts runs it in iptables mode beside the real kubelet node, so that
   * pods reach the API server through the `kubernetes` Service's ClusterIP. Its own component for
   * the reason kubeadm is (the `kubernetes` folder's cache key stays as it is).
   */
  kubeProxy: {
    name: 'kube-proxy',
    module: 'k8s.io/kubernetes',
    version: KUBERNETES_VERSION,
    packages: ['k8s.io/kubernetes/cmd/kube-proxy'],
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
  /**
   * containerd at provisioning's pin (provision/src/versions.ts CONTAINERD_VERSION), built as its
   * Makefile's static release (`make STATIC=1`: tags osusergo netgo static_build, the Version
   * ldflag `containerd --version` prints and the containerd role checks) but with CGO_ENABLED=0, so
   * one binary runs on Debian 11's glibc 2.31 as well as 12 and 13. Without cgo the btrfs
   * snapshotter is left out (overlayfs and native are kept); containerd-stress is not built.
   * containerd's Kubernetes support table lists 1.37 with "2.4.0+, 2.3.0+" (RELEASES.md at v2.4.2).
   * provision's air-gapped artifacts are packed from these (cluster/containerd-artifacts.ts).
   */
  containerd: {
    name: 'containerd',
    module: 'github.com/containerd/containerd/v2',
    version: `v${CONTAINERD_VERSION}`,
    packages: [
      'github.com/containerd/containerd/v2/cmd/containerd',
      'github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2',
      'github.com/containerd/containerd/v2/cmd/ctr',
    ],
    tags: ['urfave_cli_no_docs', 'osusergo', 'netgo', 'static_build'],
    cgo: false,
    ldflags: [
      `-X github.com/containerd/containerd/v2/version.Version=v${CONTAINERD_VERSION}`,
      '-X github.com/containerd/containerd/v2/version.Package=github.com/containerd/containerd/v2',
      '-s -w',
    ],
  },
  /**
   * runc at provisioning's pin (RUNC_VERSION), as its Makefile's `static` target: cgo for nsenter
   * and libseccomp (Debian's libseccomp-dev, linked statically), tags seccomp netgo osusergo, a
   * static executable; the version comes from the module's own VERSION file.
   */
  runc: {
    name: 'runc',
    module: 'github.com/opencontainers/runc',
    version: `v${RUNC_VERSION}`,
    packages: ['github.com/opencontainers/runc'],
    binaries: ['runc'],
    tags: ['seccomp', 'urfave_cli_no_docs', 'netgo', 'osusergo'],
    cgo: true,
    ldflags: ['-extldflags=-static', '-s -w'],
  },
  /**
   * The CNI plugins at provisioning's pin (CNI_PLUGINS_VERSION): every Linux plugin of upstream's
   * build_linux.sh (meta, main, ipam), pure Go and static as its release script builds them.
   */
  cniPlugins: {
    name: 'cni-plugins',
    module: 'github.com/containernetworking/plugins',
    version: `v${CNI_PLUGINS_VERSION}`,
    packages: CNI_PLUGINS.map((p) => `github.com/containernetworking/plugins/plugins/${p}`),
    cgo: false,
    ldflags: [
      `-X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=v${CNI_PLUGINS_VERSION}`,
      '-s -w',
    ],
  },
} as const satisfies Record<string, GoComponent>;

export type ComponentName = keyof typeof COMPONENTS;

function imageTag(image: string): string {
  return image.slice(image.lastIndexOf(':') + 1);
}
