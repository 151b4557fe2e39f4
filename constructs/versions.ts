/**
 * Every container image and upstream version this library deploys, pinned in one place.
 * Each entry cites where the tag was taken from; bump them here and nowhere else.
 */
import { SERVER_IMAGE } from './contract.ts';

export const IMAGES = {
  /**
   * The project's own inference server: the image `npm run image` builds (server/image/build.ts,
   * tagged with the package version), under the local name SERVER_IMAGE (constructs/contract.ts).
   * Nothing pulls it: provisioning imports the archive into each node's containerd, or you push it
   * to a registry of yours and name that (GpuInferenceService's `image`, or
   * CDK8S_GPU_INFERENCE_REGISTRY / CDK8S_GPU_INFERENCE_IMAGE for `npm run synth`; README.md, "Deploy").
   */
  inferenceServer: SERVER_IMAGE,
  /**
   * NVIDIA k8s-device-plugin v0.20.1 (2026-09-22), the newest release
   * (https://github.com/NVIDIA/k8s-device-plugin/releases/tag/v0.20.1, bumped in
   * https://github.com/NVIDIA/k8s-device-plugin/pull/2057; GPU Operator v26.7.1 ships this tag).
   * The 0.18-0.20 changelogs add allocation policies and MIG/Rubin support but keep the config
   * file at `version: v1` with `sharing.timeSlicing.resources` (api/config/v1/sharing.go), and the
   * `CONFIG_FILE` / `FAIL_ON_INIT_ERROR` settings (api/config/v1/consts.go) this construct uses.
   */
  nvidiaDevicePlugin: 'nvcr.io/nvidia/k8s-device-plugin:v0.20.1',
  /**
   * dcgm-exporter `<DCGM version>-<exporter version>-<base>`: 4.4.0-4.5.0 (DCGM 4.4, CUDA 13;
   * https://github.com/NVIDIA/dcgm-exporter/pull/545), the tag of the upstream README's quickstart.
   * `KUBERNETES_VIRTUAL_GPUS` (time-sliced GPUs per pod) is in its CLI since 3.3.
   * Not yet bumped: 4.6.0-4.8.3 (2026-07-15) and later rename the `Hostname` label to `hostname`
   * (https://docs.nvidia.com/datacenter/dcgm/latest/release-notes/dcgm-exporter.html, NVIDIA/dcgm-exporter#655)
   * and publish DCGM 4.6 builds as `-distroless`; move DCGM_LABELS, the alerts and dashboards with it.
   */
  dcgmExporter: 'nvcr.io/nvidia/k8s/dcgm-exporter:4.4.0-4.5.0-ubuntu22.04',
  /**
   * https://github.com/kubernetes-sigs/prometheus-adapter/releases/tag/v0.12.0 (chart prometheus-adapter 4.11.0),
   * the last release. Support on Kubernetes 1.37 (what provision/ installs): the project publishes no
   * compatibility matrix and is being deprecated in favour of KEDA (kubernetes-sigs/prometheus-adapter#701),
   * so 1.37 is untested upstream; it serves only the stable `custom.metrics.k8s.io` v1beta1/v1beta2 and
   * `metrics.k8s.io` v1beta1 APIs through `apiregistration.k8s.io/v1`, unchanged through 1.37. Hence
   * GpuHpa's default backend is KEDA; the adapter stays the recipe's option (main.ts).
   */
  prometheusAdapter: 'registry.k8s.io/prometheus-adapter/prometheus-adapter:v0.12.0',
  /**
   * https://github.com/kubernetes-sigs/metrics-server/releases/tag/v0.8.1 (image promoted in
   * https://github.com/kubernetes/k8s.io/pull/9026). metrics-server's README "Compatibility Matrix":
   * 0.8.x serves `metrics.k8s.io/v1beta1` on Kubernetes 1.31+, an open-ended range that includes the
   * 1.37 provision/ installs.
   */
  metricsServer: 'registry.k8s.io/metrics-server/metrics-server:v0.8.1',
  /**
   * https://github.com/kubernetes/kube-state-metrics/releases/tag/v2.20.0, the newest release (the
   * prometheus-community kube-state-metrics chart 8.4.0 moved to it). Not 2.18.0: it leaks a watch
   * per discovery poll (kubernetes/kube-state-metrics#2867, fixed in 2.19.0). The probes used here,
   * /livez and /readyz, came in 2.13 (its release notes).
   */
  kubeStateMetrics: 'registry.k8s.io/kube-state-metrics/kube-state-metrics:v2.20.0',
  /** Prometheus 3.5 LTS: https://github.com/prometheus/prometheus/releases/tag/v3.5.0 */
  prometheus: 'quay.io/prometheus/prometheus:v3.5.0',
  /** https://github.com/grafana/grafana/releases/tag/v12.1.0 */
  grafana: 'docker.io/grafana/grafana:12.1.0',
} as const;

/**
 * Versions of things this library emits objects for but does not deploy. The ScaledObject and the
 * prometheus-operator CRDs come from the commits in third_party/crds/SOURCE.md and cdk8s.yaml.
 */
export const UPSTREAM = {
  /**
   * KEDA the ScaledObject is written for, and the one the local cluster runs (cluster/components.ts):
   * https://github.com/kedacore/keda/releases/tag/v2.21.0. KEDA's compatibility matrix
   * (keda.sh/docs/2.22/operate/cluster, "Kubernetes Compatibility") tests v2.21 on Kubernetes
   * 1.34-1.36 and lists v2.22 as TBD; provisioning installs 1.37, so 2.21 is the newest tested line.
   * v2.21.1 needs Go 1.27.4, newer than the Go toolchain this project builds with. So on 1.37 KEDA
   * runs one minor past its tested range (its Deployment, ScaledObject CRD and the
   * `external.metrics.k8s.io/v1beta1` API it serves are unchanged in 1.37); move to the first KEDA
   * line the matrix lists for 1.37 once it is released. GpuHpa's default backend. Was 2.17.2
   * (tested on 1.30-1.32 only). Its CRD is imported from the kedacore/keda commit in
   * third_party/crds/SOURCE.md; the ScaledObject fields used here are unchanged since.
   */
  keda: '2.21.0',
  /** kube-prometheus-stack: its default release label is `release: <helm release name>`. */
  kubePrometheusStackRelease: 'kube-prometheus-stack',
} as const;

/**
 * The Pod Security Standards version that namespaces pin (`pod-security.kubernetes.io/<mode>-version`):
 * the Kubernetes release the manifests are written for (the local cluster runs v1.37). Pinned, not
 * `latest`, so a control-plane upgrade cannot tighten the rules under running workloads unseen.
 */
export const POD_SECURITY_VERSION = 'v1.37';
