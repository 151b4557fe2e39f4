import { ApiObject, JsonPatch, Lazy } from 'cdk8s';
import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { ServiceMonitor } from '../imports/servicemonitor-monitoring.coreos.com.ts';
import {
  ENV,
  GPU_NODE_LABEL,
  GPU_NODE_LABEL_VALUE,
  GPU_NODE_TAINT,
  GRPC_PORT,
  GRPC_PORT_NAME,
  LIVENESS_PATH,
  LOG_LEVELS,
  DRAIN_SECONDS_RANGE,
  MAX_BODY_BYTES_RANGE,
  METRICS,
  METRICS_PATH,
  METRICS_PORT,
  METRICS_PORT_NAME,
  MODEL_REPOSITORY_PATH,
  READINESS_PATH,
  SERVER_DEFAULTS,
  SERVER_PORT,
  SERVER_PORT_NAME,
  SERVER_UID,
} from './contract.ts';
import { imageReference } from './image-reference.ts';
import {
  appLabels,
  ingressPolicy,
  namespacePeer,
  networkPeer,
  nonRootPod,
  RESTRICTED_CONTAINER,
  selectorLabels,
} from './k8s-helpers.ts';
import { ModelSource } from './model-source.ts';
import { type IGpuScalable, type QueryOptions } from './gpu-scalable.ts';
import {
  byClause,
  deploymentPodRegex,
  gpuUtilizationByPod,
  histogramMean,
  workloadSelector,
} from './promql.ts';
import { resolveScrape, scrapeAnnotations, type ResolvedScrape, type ScrapeOptions } from './scrape.ts';
import { validator, type Validator } from './validate.ts';
import { IMAGES } from './versions.ts';

/** A Secret data key (letters, digits, '-', '_', '.'). */
function secretKey(field: string, value: string, v: Validator): string {
  if (!/^[-._a-zA-Z0-9]{1,253}$/.test(value)) {
    throw v.error(
      `${field} must be a Secret key of letters, digits, '-', '_' and '.', got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** A header name the server's --http-restricted-api accepts. */
function headerName(field: string, value: string, v: Validator): string {
  if (!/^[A-Za-z0-9-]{1,128}$/.test(value)) {
    throw v.error(
      `${field} must be an HTTP header name of letters, digits and '-', got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** Extended resource advertised by the NVIDIA device plugin. */
export const GPU_RESOURCE = 'nvidia.com/gpu';
/** What puts a pod on the GPU nodes: their label, and a toleration of their taint (the contract's). */
export const GPU_NODE_SELECTOR: Readonly<Record<string, string>> = Object.freeze({
  [GPU_NODE_LABEL]: GPU_NODE_LABEL_VALUE,
});
/** Exists, not Equal: a GPU node whose taint some other tool set to another value still takes the pods. */
export const GPU_TOLERATION: Readonly<k8s.Toleration> = Object.freeze({
  key: GPU_NODE_TAINT.key,
  operator: 'Exists',
  effect: GPU_NODE_TAINT.effect,
});

/**
 * Who sets each contract variable instead of `env`; typed over ENV's values so a new contract
 * variable cannot be added without saying who owns it.
 */
const CONTRACT_ENV_OWNERS: Readonly<Record<(typeof ENV)[keyof typeof ENV], string>> = {
  [ENV.modelRepository]: `fixed by the contract at ${MODEL_REPOSITORY_PATH}, where the model volume is mounted`,
  [ENV.port]: `fixed by the contract at ${SERVER_PORT}, which the probes and Service target (set servicePort for the Service's port)`,
  [ENV.metricsPort]: `fixed by the contract at ${METRICS_PORT}, which the metrics Service and the ServiceMonitor target`,
  [ENV.grpcPort]: `fixed by the contract at ${GRPC_PORT}, which the Service and the NetworkPolicy open for gRPC clients`,
  [ENV.host]: `fixed by the contract at ${SERVER_DEFAULTS.host}, so the kubelet probes and the Service reach the server`,
  [ENV.drainSeconds]: 'set drainSeconds instead',
  [ENV.logLevel]: 'set logLevel instead',
  [ENV.maxBodyBytes]: 'set maxBodyBytes instead',
  [ENV.modelControlMode]: 'set modelControlMode instead',
  [ENV.httpRestrictedApi]:
    'set repositoryApiCredential instead (a Secret holds the value; the manifest only refers to it)',
};

/** Container variable that holds the repository API key read from the Secret (repositoryApiCredential). */
export const REPOSITORY_API_KEY_ENV = 'MODEL_REPOSITORY_API_KEY';

/** Triton's --model-control-mode: `none` (load/unload refused) or `explicit` (the repository API may load and unload). */
export type ModelControlMode = 'none' | 'explicit';

/**
 * The credential of the server's model repository API (Triton's `--http-restricted-api
 * model-repository:KEY=VALUE`): a request must carry the header `header` with the value stored in
 * a Secret. The manifest names the Secret only; the value never appears in it.
 */
export interface RepositoryApiCredential {
  /** Name of a Secret in the service's namespace (you create it, e.g. `kubectl create secret generic`). */
  readonly secretName: string;
  /**
   * Key in the Secret whose value is the credential.
   * @default 'token'
   */
  readonly secretKey?: string;
  /**
   * Header a repository API request must carry (letters, digits and '-', as the server accepts).
   * @default 'x-model-repository-key'
   */
  readonly header?: string;
}

export type ServiceType = 'ClusterIP' | 'LoadBalancer' | 'NodePort';
export type ImagePullPolicy = 'IfNotPresent' | 'Always' | 'Never';

export interface GpuInferenceServiceProps {
  /**
   * Namespace of every object.
   * @default 'default'
   */
  readonly namespace?: string;
  /**
   * Name of the Deployment, Service, PodDisruptionBudget and ServiceMonitor.
   * @default 'inference'
   */
  readonly name?: string;
  /**
   * Server image: `npm run image`'s build (or server/Dockerfile's GPU image) imported into the
   * nodes' containerd, or pushed to your registry and named here.
   * @default IMAGES.inferenceServer (SERVER_IMAGE, 'localhost/cdk8s-gpu-inference/server:<package version>', the local name `npm run image` commits)
   */
  readonly image?: string;
  /**
   * The container's imagePullPolicy. IfNotPresent runs an image imported into the node without
   * asking a registry; Always suits a mutable tag in a registry.
   * @default 'IfNotPresent'
   */
  readonly imagePullPolicy?: ImagePullPolicy;
  /**
   * Replicas while no autoscaler is bound. GpuHpa removes the field so the HPA owns it: setting
   * it on a service a GpuHpa targets is an error (it would be ignored; use minReplicas there).
   * @default 1
   */
  readonly replicas?: number;
  /**
   * `nvidia.com/gpu` per pod (a time-slice when the device plugin shares GPUs); 0 runs on CPU.
   * @default 1
   */
  readonly gpus?: number;
  /**
   * CPU request and limit (the recipe's 2000m).
   * @default '2000m'
   */
  readonly cpu?: string;
  /**
   * Memory request and limit (the recipe's 8Gi).
   * @default '8Gi'
   */
  readonly memory?: string;
  /**
   * Where the model repository comes from.
   * @default ModelSource.image() (the models baked into the image)
   */
  readonly modelSource?: ModelSource;
  /**
   * RuntimeClass of the pods, e.g. NvidiaDevicePlugin's `nvidia`.
   * @default - none: the node's default runtime (nvidia as containerd's default runtime)
   */
  readonly runtimeClassName?: string;
  /**
   * Node selector placing pods on GPU nodes.
   * @default { 'nvidia.com/gpu.present': 'true' } when gpus > 0, none otherwise
   */
  readonly nodeSelector?: Record<string, string>;
  /**
   * Tolerate the `nvidia.com/gpu` NoSchedule taint of GPU nodes.
   * @default true when gpus > 0
   */
  readonly tolerateGpuTaint?: boolean;
  /**
   * Service type; the recipe used LoadBalancer.
   * @default 'ClusterIP'
   */
  readonly serviceType?: ServiceType;
  /**
   * Port of the Service (forwarded to the container's contract port).
   * @default 80
   */
  readonly servicePort?: number;
  /**
   * Seconds the server keeps answering in-flight requests after SIGTERM (DRAIN_SECONDS).
   * @default 20 (the server's default, SERVER_DEFAULTS.drainSeconds)
   */
  readonly drainSeconds?: number;
  /**
   * Seconds the preStop hook waits before SIGTERM, so that endpoints and load balancers stop sending
   * new requests first.
   * @default 5
   */
  readonly preStopSeconds?: number;
  /**
   * Longest expected start-up (image pull excluded: model load and warm-up); sizes the startupProbe,
   * which probes readiness: a container not ready by then is restarted.
   * @default 300
   */
  readonly startupTimeoutSeconds?: number;
  /**
   * PodDisruptionBudget `maxUnavailable`. 1 never blocks a node drain, at any replica count; with a
   * single replica the drain then evicts the only pod (no service until its replacement is ready).
   * A PDB that allows no eviction at one replica (minAvailable 1) would block drains until someone
   * scales up instead. For availability through drains run at least 2 replicas (GpuHpa minReplicas).
   * See constructs/README.md, "Disruptions".
   * @default 1
   */
  readonly maxUnavailable?: number;
  /**
   * Scraping of the server's /metrics.
   * @default - a ServiceMonitor labelled for kube-prometheus-stack, and scrape annotations
   */
  readonly scrape?: ScrapeOptions;
  /**
   * Server log level (LOG_LEVEL), one of LOG_LEVELS.
   * @default 'info'
   */
  readonly logLevel?: string;
  /**
   * Largest inference request body in bytes (MAX_BODY_BYTES); larger requests get 413.
   * @default - the server's default, 64 MiB
   */
  readonly maxBodyBytes?: number;
  /**
   * A NetworkPolicy that selects the server's pods and lets in only the inference ports, HTTP and
   * gRPC (from `allowInferenceFrom`), and the metrics port (from `prometheusNamespace`).
   * @default true
   */
  readonly networkPolicy?: boolean;
  /**
   * Who may reach the inference ports (HTTP and gRPC): NetworkPolicy peers (`ipBlock` CIDRs, namespace or pod
   * selectors). Through a LoadBalancer or NodePort the source is the client's address only with
   * `externalTrafficPolicy: Local`; with the default (Cluster) it may be a node's.
   * @default - any source: the Service is the public endpoint (the recipe's LoadBalancer)
   */
  readonly allowInferenceFrom?: readonly k8s.NetworkPolicyPeer[];
  /**
   * Namespace of the Prometheus that scrapes the metrics port: the only one the NetworkPolicy
   * lets reach it.
   * @default 'monitoring'
   */
  readonly prometheusNamespace?: string;
  /**
   * Model control of the server (MODEL_CONTROL_MODE, Triton's --model-control-mode): `none` serves
   * the model source's models and refuses the repository API's load and unload; `explicit` allows
   * them, and then needs `repositoryApiCredential`.
   * @default 'none'
   */
  readonly modelControlMode?: ModelControlMode;
  /**
   * The Secret whose value every model repository API request must carry as a header
   * (HTTP_RESTRICTED_API). Required with modelControlMode `explicit`; with `none` it restricts the
   * remaining repository index.
   * @default - none: the repository API is unrestricted (allowed only with modelControlMode 'none')
   */
  readonly repositoryApiCredential?: RepositoryApiCredential;
  /**
   * Extra environment variables of the server container. The contract's variables (ENV in
   * contract.ts) are set from props or fixed by the contract, so they are rejected here.
   * @default {}
   */
  readonly env?: Record<string, string>;
}

/**
 * The inference server as a Deployment on the server's contract (port, health probes, model
 * repository, drain), with its Service, PodDisruptionBudget and scraping, and the PromQL of its
 * metrics for GpuHpa, AlertRules and Dashboards.
 */
export class GpuInferenceService extends Construct implements IGpuScalable {
  readonly name: string;
  readonly namespace: string;
  readonly deploymentName: string;
  readonly image: string;
  readonly imagePullPolicy: ImagePullPolicy;
  readonly replicas: number;
  readonly gpus: number;
  /** Pods a rollout adds above the replicas (the Deployment's maxSurge): they need GPU slices too. */
  readonly maxSurge = 1;
  readonly cpu: string;
  readonly memory: string;
  readonly modelSource: ModelSource;
  readonly serviceType: ServiceType;
  readonly servicePort: number;
  readonly drainSeconds: number;
  readonly preStopSeconds: number;
  readonly terminationGracePeriodSeconds: number;
  readonly startupTimeoutSeconds: number;
  readonly scrape: ResolvedScrape;
  readonly modelControlMode: ModelControlMode;
  /** Name of the ClusterIP Service carrying only the metrics port (METRICS_PORT), which Prometheus scrapes. */
  readonly metricsServiceName: string;
  /** Labels selecting this service's pods. */
  readonly podSelector: Record<string, string>;
  readonly podNameRegex: string;
  /** Label matchers of the server's series as scraped through the Service (namespace, service). */
  readonly metricLabels: Record<string, string>;
  /**
   * The server's Deployment: a plain ApiObject (built from cdk8s-plus-27's typed manifest) so that
   * JSON patches on it survive serialization, as the preStop `sleep` action needs.
   */
  readonly deployment: ApiObject;
  /** The Service clients use (type serviceType): the inference port only. */
  readonly service: k8s.KubeService;
  /** The metrics Service (ClusterIP): the metrics port only, selected by the ServiceMonitor. */
  readonly metricsService: k8s.KubeService;
  readonly podDisruptionBudget: k8s.KubePodDisruptionBudget;
  readonly serviceMonitor?: ServiceMonitor;
  readonly networkPolicy?: k8s.KubeNetworkPolicy;
  private autoscaledBy?: string;
  /** Whether props.replicas was given (an autoscaler would ignore it). */
  private readonly replicasGiven: boolean;

  constructor(scope: Construct, id: string, props: GpuInferenceServiceProps = {}) {
    super(scope, id);
    const v = validator(this);
    this.namespace = v.dnsLabel('namespace', props.namespace ?? 'default');
    this.name = v.dnsLabel('name', props.name ?? 'inference', 47);
    this.deploymentName = this.name;
    this.image = props.image ?? IMAGES.inferenceServer;
    if (this.image.trim() === '' || /\s/.test(this.image)) {
      throw v.error(
        `image must be a container image reference without spaces, got ${JSON.stringify(this.image)}`,
      );
    }
    imageReference('image', this.image, v);
    this.imagePullPolicy = v.oneOf('imagePullPolicy', props.imagePullPolicy ?? 'IfNotPresent', [
      'IfNotPresent',
      'Always',
      'Never',
    ]);
    this.replicas = v.integerInRange('replicas', props.replicas ?? 1, 0, 1000);
    this.replicasGiven = props.replicas !== undefined;
    this.gpus = v.integerInRange('gpus', props.gpus ?? 1, 0, 16);
    this.cpu = v.quantity('cpu', props.cpu ?? '2000m');
    this.memory = v.quantity('memory', props.memory ?? '8Gi');
    this.modelSource = props.modelSource ?? ModelSource.image();
    this.serviceType = v.oneOf('serviceType', props.serviceType ?? 'ClusterIP', [
      'ClusterIP',
      'LoadBalancer',
      'NodePort',
    ]);
    this.servicePort = v.integerInRange('servicePort', props.servicePort ?? 80, 1, 65535);
    this.drainSeconds = v.integerInRange(
      'drainSeconds',
      props.drainSeconds ?? SERVER_DEFAULTS.drainSeconds,
      DRAIN_SECONDS_RANGE.min,
      DRAIN_SECONDS_RANGE.max,
    );
    this.preStopSeconds = v.integerInRange('preStopSeconds', props.preStopSeconds ?? 5, 0, 60);
    this.startupTimeoutSeconds = v.integerInRange(
      'startupTimeoutSeconds',
      props.startupTimeoutSeconds ?? 300,
      10,
      3600,
    );
    // preStop, then SIGTERM and the server's drain, plus margin for its exit.
    this.terminationGracePeriodSeconds = this.preStopSeconds + this.drainSeconds + 5;
    const maxUnavailable = v.integerInRange('maxUnavailable', props.maxUnavailable ?? 1, 1, 1000);
    this.scrape = resolveScrape('scrape', props.scrape, v);
    const logLevel = v.oneOf('logLevel', props.logLevel ?? SERVER_DEFAULTS.logLevel, LOG_LEVELS);
    const maxBodyBytes =
      props.maxBodyBytes === undefined
        ? undefined
        : v.integerInRange(
            'maxBodyBytes',
            props.maxBodyBytes,
            MAX_BODY_BYTES_RANGE.min,
            MAX_BODY_BYTES_RANGE.max,
          );
    this.modelControlMode = v.oneOf('modelControlMode', props.modelControlMode ?? 'none', [
      'none',
      'explicit',
    ]);
    const prometheusNamespace = v.dnsLabel('prometheusNamespace', props.prometheusNamespace ?? 'monitoring');
    const inferenceFrom = props.allowInferenceFrom?.map((peer, i) =>
      networkPeer(`allowInferenceFrom[${i}]`, peer, v),
    );
    if (inferenceFrom?.length === 0) {
      throw v.error(
        'allowInferenceFrom must list at least one peer, got []: leave it unset to allow any source, or set networkPolicy false',
      );
    }
    if (inferenceFrom && props.networkPolicy === false) {
      throw v.error(
        'allowInferenceFrom needs networkPolicy true (it is the NetworkPolicy that enforces it), got networkPolicy false',
      );
    }
    const credential = props.repositoryApiCredential;
    if (this.modelControlMode === 'explicit' && credential === undefined) {
      throw v.error(
        'modelControlMode is "explicit", which lets a client load and unload models, but repositoryApiCredential is not set: name the Secret whose value the repository API requires ({ secretName }), or use modelControlMode "none"',
      );
    }
    const restrictedApi = credential && {
      secretName: v.dnsSubdomain('repositoryApiCredential.secretName', credential.secretName),
      secretKey: secretKey('repositoryApiCredential.secretKey', credential.secretKey ?? 'token', v),
      header: headerName('repositoryApiCredential.header', credential.header ?? 'x-model-repository-key', v),
    };
    for (const [key, value] of Object.entries(props.env ?? {})) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
        throw v.error(`env key must match [A-Za-z_][A-Za-z0-9_]*, got ${JSON.stringify(key)}`);
      }
      // Overriding these would move the port, model path or drain away from what the probes,
      // Service and terminationGracePeriodSeconds were built for.
      if (Object.hasOwn(CONTRACT_ENV_OWNERS, key)) {
        const owner = CONTRACT_ENV_OWNERS[key as keyof typeof CONTRACT_ENV_OWNERS];
        throw v.error(`env.${key} is ${JSON.stringify(value)}, but ${key} is a contract variable: ${owner}`);
      }
      if (restrictedApi && key === REPOSITORY_API_KEY_ENV) {
        throw v.error(
          `env.${key} is ${JSON.stringify(value)}, but ${key} holds the repositoryApiCredential Secret's value: choose another name`,
        );
      }
    }

    const labels = appLabels('inference-server', this.name, 'server');
    this.podSelector = selectorLabels('inference-server', this.name);
    this.podNameRegex = deploymentPodRegex(this.deploymentName);
    this.metricsServiceName = `${this.name}-metrics`;
    // The series carry the Service Prometheus discovers them through: the metrics Service.
    this.metricLabels = { namespace: this.namespace, service: this.metricsServiceName };

    const onGpu = this.gpus > 0;
    const nodeSelector = props.nodeSelector ?? (onGpu ? GPU_NODE_SELECTOR : undefined);
    const tolerate = props.tolerateGpuTaint ?? onGpu;
    const model = this.modelSource.parts();
    const resources: Record<string, k8s.Quantity> = {
      cpu: k8s.Quantity.fromString(this.cpu),
      memory: k8s.Quantity.fromString(this.memory),
    };
    const limits = { ...resources, ...(onGpu ? { [GPU_RESOURCE]: k8s.Quantity.fromNumber(this.gpus) } : {}) };
    const restricted: k8s.SecurityContext = {
      ...RESTRICTED_CONTAINER,
      runAsUser: SERVER_UID,
      runAsGroup: SERVER_UID,
    };
    const port = k8s.IntOrString.fromString(SERVER_PORT_NAME);
    const env: Record<string, string> = {
      [ENV.modelRepository]: MODEL_REPOSITORY_PATH,
      [ENV.port]: String(SERVER_PORT),
      [ENV.grpcPort]: String(GRPC_PORT),
      [ENV.metricsPort]: String(METRICS_PORT),
      [ENV.host]: SERVER_DEFAULTS.host,
      [ENV.drainSeconds]: String(this.drainSeconds),
      [ENV.logLevel]: logLevel,
      ...(maxBodyBytes === undefined ? {} : { [ENV.maxBodyBytes]: String(maxBodyBytes) }),
      [ENV.modelControlMode]: this.modelControlMode,
      ...props.env,
    };
    const containerEnv: k8s.EnvVar[] = Object.entries(env).map(([name, value]) => ({ name, value }));
    if (restrictedApi) {
      // The key from the Secret, then HTTP_RESTRICTED_API built from it by the kubelet's $(VAR)
      // expansion (a variable may refer to those defined before it): the manifest holds the
      // header name and the Secret's name, never the value.
      containerEnv.push(
        {
          name: REPOSITORY_API_KEY_ENV,
          valueFrom: { secretKeyRef: { name: restrictedApi.secretName, key: restrictedApi.secretKey } },
        },
        {
          name: ENV.httpRestrictedApi,
          value: `model-repository:${restrictedApi.header}=$(${REPOSITORY_API_KEY_ENV})`,
        },
      );
    }

    // A plain ApiObject built from the typed 1.27 manifest: cdk8s-plus-27's KubeDeployment
    // re-serializes through its 1.27 types after applying JSON patches, dropping the preStop
    // `sleep` action (GA in Kubernetes 1.34, on by default since 1.30) that the patch below adds.
    this.deployment = new ApiObject(
      this,
      'Deployment',
      k8s.KubeDeployment.manifest({
        metadata: { name: this.deploymentName, namespace: this.namespace, labels },
        spec: {
          replicas: Lazy.any({ produce: () => (this.autoscaledBy ? undefined : this.replicas) }),
          selector: { matchLabels: this.podSelector },
          // Surge first: a replacement loads its model before an old pod stops serving.
          strategy: {
            type: 'RollingUpdate',
            rollingUpdate: {
              maxSurge: k8s.IntOrString.fromNumber(this.maxSurge),
              maxUnavailable: k8s.IntOrString.fromNumber(0),
            },
          },
          template: {
            metadata: { labels },
            spec: {
              runtimeClassName: props.runtimeClassName,
              nodeSelector,
              tolerations: tolerate ? [GPU_TOLERATION] : undefined,
              terminationGracePeriodSeconds: this.terminationGracePeriodSeconds,
              automountServiceAccountToken: false,
              securityContext: { ...nonRootPod(SERVER_UID, SERVER_UID), runAsGroup: SERVER_UID },
              topologySpreadConstraints: [
                {
                  // Spread over GPU nodes when there are several; time-sliced nodes take many pods.
                  maxSkew: 1,
                  topologyKey: 'kubernetes.io/hostname',
                  whenUnsatisfiable: 'ScheduleAnyway',
                  labelSelector: { matchLabels: this.podSelector },
                },
              ],
              initContainers: model.initContainers.length
                ? model.initContainers.map((c) => ({ ...c, securityContext: restricted }))
                : undefined,
              containers: [
                {
                  name: 'server',
                  image: this.image,
                  imagePullPolicy: this.imagePullPolicy,
                  ports: [
                    { name: SERVER_PORT_NAME, containerPort: SERVER_PORT, protocol: 'TCP' },
                    { name: GRPC_PORT_NAME, containerPort: GRPC_PORT, protocol: 'TCP' },
                    { name: METRICS_PORT_NAME, containerPort: METRICS_PORT, protocol: 'TCP' },
                  ],
                  env: containerEnv,
                  resources: { requests: resources, limits },
                  // On readiness: the server is live as soon as it listens and ready once its models
                  // are loaded and warmed up, so only this probe bounds the load; a load that hangs
                  // past startupTimeoutSeconds restarts the container.
                  startupProbe: {
                    httpGet: { path: READINESS_PATH, port },
                    periodSeconds: 5,
                    timeoutSeconds: 2,
                    failureThreshold: Math.ceil(this.startupTimeoutSeconds / 5),
                  },
                  livenessProbe: {
                    httpGet: { path: LIVENESS_PATH, port },
                    periodSeconds: 10,
                    timeoutSeconds: 2,
                    failureThreshold: 3,
                  },
                  readinessProbe: {
                    httpGet: { path: READINESS_PATH, port },
                    periodSeconds: 5,
                    timeoutSeconds: 2,
                    failureThreshold: 2,
                  },
                  securityContext: restricted,
                  volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }, ...model.mounts],
                },
              ],
              volumes: [{ name: 'tmp', emptyDir: {} }, ...model.volumes],
            },
          },
        },
      }),
    );
    if (this.preStopSeconds > 0) {
      this.deployment.addJsonPatch(
        JsonPatch.add('/spec/template/spec/containers/0/lifecycle', {
          preStop: { sleep: { seconds: this.preStopSeconds } },
        }),
      );
    }

    // Clients get the inference ports only (HTTP and gRPC): the metrics port (and nothing else) is
    // on a ClusterIP Service of its own, so a LoadBalancer never publishes /metrics.
    this.service = new k8s.KubeService(this, 'Service', {
      metadata: { name: this.name, namespace: this.namespace, labels },
      spec: {
        type: this.serviceType,
        selector: this.podSelector,
        ports: [
          { name: SERVER_PORT_NAME, port: this.servicePort, targetPort: port, protocol: 'TCP' },
          {
            name: GRPC_PORT_NAME,
            port: GRPC_PORT,
            targetPort: k8s.IntOrString.fromString(GRPC_PORT_NAME),
            protocol: 'TCP',
          },
        ],
      },
    });
    const metricsLabels = appLabels('inference-server', this.name, 'metrics');
    this.metricsService = new k8s.KubeService(this, 'MetricsService', {
      metadata: {
        name: this.metricsServiceName,
        namespace: this.namespace,
        labels: metricsLabels,
        annotations: this.scrape.annotations ? scrapeAnnotations(METRICS_PORT, METRICS_PATH) : undefined,
      },
      spec: {
        type: 'ClusterIP',
        selector: this.podSelector,
        ports: [
          {
            name: METRICS_PORT_NAME,
            port: METRICS_PORT,
            targetPort: k8s.IntOrString.fromString(METRICS_PORT_NAME),
            protocol: 'TCP',
          },
        ],
      },
    });

    this.podDisruptionBudget = new k8s.KubePodDisruptionBudget(this, 'Pdb', {
      metadata: { name: this.name, namespace: this.namespace, labels },
      spec: {
        maxUnavailable: k8s.IntOrString.fromNumber(maxUnavailable),
        selector: { matchLabels: this.podSelector },
      },
    });

    if (props.networkPolicy ?? true) {
      this.networkPolicy = ingressPolicy(this, 'NetworkPolicy', {
        name: this.name,
        namespace: this.namespace,
        labels,
        podSelector: this.podSelector,
        rules: [
          { port: SERVER_PORT_NAME, from: inferenceFrom },
          { port: GRPC_PORT_NAME, from: inferenceFrom },
          { port: METRICS_PORT_NAME, from: [namespacePeer(prometheusNamespace)] },
        ],
      });
    }

    if (this.scrape.serviceMonitor) {
      this.serviceMonitor = new ServiceMonitor(this, 'ServiceMonitor', {
        metadata: {
          name: this.name,
          namespace: this.namespace,
          labels: { ...labels, ...this.scrape.labels },
        },
        spec: {
          // The metrics Service only (its component label): the client Service has no metrics port.
          selector: { matchLabels: { ...this.podSelector, 'app.kubernetes.io/component': 'metrics' } },
          namespaceSelector: { matchNames: [this.namespace] },
          endpoints: [{ port: METRICS_PORT_NAME, path: METRICS_PATH, interval: this.scrape.interval }],
        },
      });
    }
  }

  /** Name of the autoscaler that owns `replicas`, if any. */
  get autoscaler(): string | undefined {
    return this.autoscaledBy;
  }

  markAutoscaled(owner: string): void {
    if (this.autoscaledBy && this.autoscaledBy !== owner) {
      throw validator(this).error(
        `GpuInferenceService ${this.name} is already scaled by ${this.autoscaledBy}; a second autoscaler (${owner}) would fight over replicas`,
      );
    }
    if (this.replicasGiven) {
      throw validator(this).error(
        `replicas is ${this.replicas} on GpuInferenceService ${this.name}, but ${owner} owns its replicas and the Deployment leaves the field out, so it would be ignored; remove replicas (the autoscaler's minReplicas sets the floor)`,
      );
    }
    this.autoscaledBy = owner;
  }

  private sel(extra: readonly string[] = []): string {
    return workloadSelector(this.metricLabels, extra);
  }

  private window(options: QueryOptions): string {
    const window = options.window ?? '1m';
    // Grafana's interval variables are allowed for dashboards.
    return /^\$__(rate_interval|interval|range)$/.test(window)
      ? window
      : validator(this).promDuration('window', window);
  }

  private by(options: QueryOptions, ...labels: string[]): string {
    return byClause(options.byPod ? ['pod', ...labels] : labels);
  }

  /** Mean of a histogram's observations over the window (0 when nothing was observed). */
  private histogramMean(metric: string, options: QueryOptions): string {
    return histogramMean(metric, this.sel(), this.window(options), options.byPod ? ['pod'] : []);
  }

  /** Requests per second answered by the service (all outcomes). */
  requestRateQuery(options: QueryOptions = {}): string {
    return `sum${this.by(options)} (rate(${METRICS.requests.name}${this.sel()}[${this.window(options)}]))`;
  }

  /** Fraction of requests that failed on the server side (server_error or timeout). */
  errorRatioQuery(options: QueryOptions = {}): string {
    const w = this.window(options);
    const failed = `sum${this.by(options)} (rate(${METRICS.requests.name}${this.sel(['outcome=~"server_error|timeout"'])}[${w}]))`;
    return `${failed} / clamp_min(${this.requestRateQuery(options)}, 1e-9)`;
  }

  /** Requests per second rejected because the batcher queue was full. */
  rejectionRateQuery(options: QueryOptions = {}): string {
    return `sum${this.by(options)} (rate(${METRICS.requests.name}${this.sel(['outcome="rejected"'])}[${this.window(options)}]))`;
  }

  /** Latency quantile (0 < q < 1) of whole requests, in seconds. */
  latencyQuantileQuery(q: number, options: QueryOptions = {}): string {
    validator(this).numberInRange('quantile', q, 0, 1, true);
    return `histogram_quantile(${q}, sum${this.by(options, 'le')} (rate(${METRICS.requestDuration.name}_bucket${this.sel()}[${this.window(options)}])))`;
  }

  /** Mean time requests waited in the batcher queue, in seconds (0 when idle). */
  queueTimeQuery(options: QueryOptions = {}): string {
    return this.histogramMean(METRICS.queueDuration.name, options);
  }

  /** Requests waiting in the batcher queue. */
  queueDepthQuery(options: QueryOptions = {}): string {
    return `sum${this.by(options)} (${METRICS.queueDepth.name}${this.sel()})`;
  }

  /** Requests accepted and not yet answered. */
  inflightQuery(options: QueryOptions = {}): string {
    return `sum${this.by(options)} (${METRICS.inflight.name}${this.sel()})`;
  }

  /**
   * Model versions running on another execution provider than the first they asked for (e.g. CUDA
   * requested, CPU in use), per pod: 1 each, from the server's inference_model_provider_fallback.
   */
  providerFallbackQuery(): string {
    return `max by (pod, model, version, requested_provider, provider) (${METRICS.providerFallback.name}${this.sel()})`;
  }

  /** Mean executed batch size. */
  batchSizeQuery(options: QueryOptions = {}): string {
    return this.histogramMean(METRICS.batchSize.name, options);
  }

  /**
   * GPU utilization (percent) of each of this service's pods, from dcgm-exporter's
   * `exported_namespace`/`exported_pod` labels, as a series with a `pod` label.
   */
  gpuUtilizationQuery(): string {
    return gpuUtilizationByPod(this);
  }
}
