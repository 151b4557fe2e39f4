import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { GPU_NODE_SELECTOR, GPU_RESOURCE, GPU_TOLERATION } from './gpu-inference-service.ts';
import { appLabels, selectorLabels, serviceAccountWithRbac } from './k8s-helpers.ts';
import { validator, type Validator } from './validate.ts';
import { IMAGES } from './versions.ts';

export interface NvidiaDevicePluginProps {
  /**
   * Namespace of the DaemonSet and its ConfigMap.
   * @default 'kube-system'
   */
  readonly namespace?: string;
  /**
   * Pods sharing each physical GPU through time-slicing (`replicas` of `nvidia.com/gpu`); 1 turns
   * time-slicing off. The recipe's peak (six pods on one A40) needs 6 or more.
   * @default 1
   */
  readonly timeSlicingReplicas?: number;
  /**
   * How MIG devices are exposed (the plugin's `flags.migStrategy`): 'none' ignores MIG, 'single'
   * advertises the MIG instances of uniformly partitioned GPUs as `nvidia.com/gpu`, 'mixed'
   * advertises each profile as `nvidia.com/mig-<profile>`. Time-slicing shares `nvidia.com/gpu`, so
   * it is refused with 'mixed'.
   * @default 'none'
   */
  readonly migStrategy?: MigStrategy;
  /**
   * How the plugin passes the allocated devices to the container (`flags.plugin.deviceListStrategy`):
   * 'envvar' (NVIDIA_VISIBLE_DEVICES, readable and settable by any container) or 'volume-mounts'
   * (needs the container toolkit's `accept-nvidia-visible-devices-as-volume-mounts = true`, and
   * keeps unprivileged pods from asking for GPUs through the environment). The plugin's CDI
   * strategies ('cdi-annotations', 'cdi-cri') are refused: they need the driver root and the CDI
   * spec directory mounted into the plugin, which this DaemonSet does not do.
   * @default 'envvar'
   */
  readonly deviceListStrategy?: DeviceListStrategy;
  /**
   * Named device plugin configs for node groups besides the default one (the props above): a node
   * labelled `nvidia.com/device-plugin.config=<name>` gets that group's config, any other node the
   * default. With node groups the plugin's `config-manager` (an init container, and a sidecar that
   * re-reads the label and restarts the plugin on change) picks the config, so the DaemonSet's
   * ServiceAccount may read Node objects.
   * @default [] (one config for every node)
   */
  readonly nodeGroups?: readonly DevicePluginNodeGroup[];
  /**
   * Create the RuntimeClass `nvidia` (containerd handler `nvidia`, configured by
   * `nvidia-ctk runtime configure --runtime=containerd`).
   * @default true
   */
  readonly runtimeClass?: boolean;
  /**
   * Node selector of the DaemonSet: the nodes that have NVIDIA GPUs.
   * @default { 'nvidia.com/gpu.present': 'true' }
   */
  readonly nodeSelector?: Record<string, string>;
  /**
   * Device plugin image.
   * @default IMAGES.nvidiaDevicePlugin
   */
  readonly image?: string;
}

/** How one device plugin config shares and exposes the GPUs. */
export interface DevicePluginSharing {
  /**
   * Pods sharing each GPU through time-slicing (an integer from 1 to 64).
   * @default 1
   */
  readonly timeSlicingReplicas?: number;
  /** @default 'none' */
  readonly migStrategy?: MigStrategy;
  /** @default 'envvar' */
  readonly deviceListStrategy?: DeviceListStrategy;
}

/** A node group's device plugin config (NvidiaDevicePlugin `nodeGroups`). */
export interface DevicePluginNodeGroup extends DevicePluginSharing {
  /**
   * The config's name, which the node label `nvidia.com/device-plugin.config` selects: a DNS-1123
   * label other than `default` (the default config's name), unique among the node groups.
   */
  readonly name: string;
}

/** A device plugin config with its defaults applied. */
export interface ResolvedDevicePluginConfig {
  readonly name: string;
  readonly timeSlicingReplicas: number;
  readonly migStrategy: MigStrategy;
  readonly deviceListStrategy: DeviceListStrategy;
}

/** Name of the config of nodes without the node-group label (the plugin's `DEFAULT_CONFIG`). */
export const DEFAULT_DEVICE_PLUGIN_CONFIG = 'default';
/** The node label whose value names a node's device plugin config (read by `config-manager`). */
export const DEVICE_PLUGIN_CONFIG_LABEL = 'nvidia.com/device-plugin.config';

/** The device plugin's MIG strategies (k8s-device-plugin api/config/v1/flags.go). */
export type MigStrategy = 'none' | 'single' | 'mixed';
export const MIG_STRATEGIES: readonly MigStrategy[] = ['none', 'single', 'mixed'];
/**
 * The device plugin's device list strategies this construct supports (of k8s-device-plugin's
 * api/config/v1 ones, which add 'cdi-annotations' and 'cdi-cri').
 */
export type DeviceListStrategy = 'envvar' | 'volume-mounts';
export const DEVICE_LIST_STRATEGIES: readonly DeviceListStrategy[] = ['envvar', 'volume-mounts'];

/** Name of the RuntimeClass this construct creates. */
export const NVIDIA_RUNTIME_CLASS = 'nvidia';

/**
 * NVIDIA's k8s-device-plugin as a DaemonSet: it advertises `nvidia.com/gpu` on each GPU node, with
 * optional time-slicing so several pods share one GPU, and a RuntimeClass `nvidia`.
 *
 * The nodes must carry the label `nvidia.com/gpu.present=true` (GPU feature discovery sets it;
 * provision/ labels the recipe's nodes) and usually the taint `nvidia.com/gpu=present:NoSchedule`.
 */
export class NvidiaDevicePlugin extends Construct {
  readonly namespace: string;
  /** The default config's time-slicing replicas (nodes without the node-group label). */
  readonly timeSlicingReplicas: number;
  readonly migStrategy: MigStrategy;
  readonly deviceListStrategy: DeviceListStrategy;
  /** Whether any config (the default or a node group's) time-slices its GPUs. */
  readonly timeSliced: boolean;
  /** The named node-group configs, resolved (empty without `nodeGroups`). */
  readonly nodeGroups: readonly ResolvedDevicePluginConfig[];
  /** The default config file (version v1), as written to the ConfigMap. */
  readonly config: Record<string, unknown>;
  /** Every config file by name: the default one and each node group's. */
  readonly configs: Readonly<Record<string, Record<string, unknown>>>;
  readonly runtimeClassName?: string;
  readonly daemonSet: k8s.KubeDaemonSet;
  readonly configMap: k8s.KubeConfigMap;

  constructor(scope: Construct, id: string, props: NvidiaDevicePluginProps = {}) {
    super(scope, id);
    const v = validator(this);
    this.namespace = v.dnsLabel('namespace', props.namespace ?? 'kube-system');
    const defaults = resolveConfig(v, '', DEFAULT_DEVICE_PLUGIN_CONFIG, props);
    this.timeSlicingReplicas = defaults.timeSlicingReplicas;
    this.migStrategy = defaults.migStrategy;
    this.deviceListStrategy = defaults.deviceListStrategy;
    const seen = new Set([DEFAULT_DEVICE_PLUGIN_CONFIG]);
    this.nodeGroups = (props.nodeGroups ?? []).map((g, i) => {
      const field = `nodeGroups[${i}]`;
      const name = v.dnsLabel(`${field}.name`, g.name);
      if (seen.has(name)) {
        throw v.error(
          `${field}.name must differ from "${DEFAULT_DEVICE_PLUGIN_CONFIG}" (the default config's name) and from the other node groups' names, got ${JSON.stringify(name)}`,
        );
      }
      seen.add(name);
      return resolveConfig(v, `${field}.`, name, g);
    });
    const nodeSelector = props.nodeSelector ?? GPU_NODE_SELECTOR;
    const name = 'nvidia-device-plugin';
    const labels = appLabels(name, name, 'device-plugin');

    this.timeSliced = [defaults, ...this.nodeGroups].some((c) => c.timeSlicingReplicas > 1);
    this.config = configFile(defaults);
    this.configs = Object.fromEntries([
      [DEFAULT_DEVICE_PLUGIN_CONFIG, this.config],
      ...this.nodeGroups.map((g) => [g.name, configFile(g)]),
    ]);
    const perNode = this.nodeGroups.length > 0;
    this.configMap = new k8s.KubeConfigMap(this, 'Config', {
      metadata: { name, namespace: this.namespace, labels },
      // One config: the plugin reads it directly. Several: config-manager copies the node's one
      // (by its label) to /config/config.yaml, from files named like the configs.
      data: perNode
        ? Object.fromEntries(
            Object.entries(this.configs).map(([n, c]) => [n, JSON.stringify(c, null, 2) + '\n']),
          )
        : { 'config.yaml': JSON.stringify(this.config, null, 2) + '\n' },
    });

    if (props.runtimeClass ?? true) {
      this.runtimeClassName = NVIDIA_RUNTIME_CLASS;
      new k8s.KubeRuntimeClass(this, 'RuntimeClass', {
        metadata: { name: NVIDIA_RUNTIME_CLASS, labels },
        handler: 'nvidia',
        scheduling: { nodeSelector },
      });
    }

    const image = props.image ?? IMAGES.nvidiaDevicePlugin;
    // config-manager reads its node's label through the API.
    const serviceAccount = perNode
      ? serviceAccountWithRbac(this, {
          name,
          namespace: this.namespace,
          labels,
          clusterRules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] }],
        })
      : undefined;

    this.daemonSet = new k8s.KubeDaemonSet(this, 'DaemonSet', {
      metadata: { name, namespace: this.namespace, labels },
      spec: {
        selector: { matchLabels: selectorLabels(name, name) },
        updateStrategy: { type: 'RollingUpdate' },
        template: {
          metadata: { labels },
          spec: {
            ...(perNode
              ? {
                  serviceAccountName: serviceAccount,
                  // config-manager signals the plugin process to reload its config.
                  shareProcessNamespace: true,
                  initContainers: [configManager(image, true)],
                }
              : {}),
            priorityClassName: 'system-node-critical',
            runtimeClassName: this.runtimeClassName,
            nodeSelector,
            tolerations: [GPU_TOLERATION],
            containers: [
              ...(perNode ? [configManager(image, false)] : []),
              {
                name: 'nvidia-device-plugin',
                image,
                // config-manager signals the process whose argv[0] is this name.
                ...(perNode ? { command: ['nvidia-device-plugin'] } : {}),
                env: [
                  { name: 'CONFIG_FILE', value: '/config/config.yaml' },
                  { name: 'FAIL_ON_INIT_ERROR', value: 'true' },
                ],
                securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
                volumeMounts: [
                  { name: 'device-plugin', mountPath: '/var/lib/kubelet/device-plugins' },
                  { name: 'config', mountPath: '/config', readOnly: true },
                  // /config/config.yaml is then config-manager's symlink into the available configs.
                  ...(perNode
                    ? [{ name: AVAILABLE_CONFIGS, mountPath: `/${AVAILABLE_CONFIGS}`, readOnly: true }]
                    : []),
                ],
              },
            ],
            volumes: [
              { name: 'device-plugin', hostPath: { path: '/var/lib/kubelet/device-plugins' } },
              ...(perNode
                ? [
                    { name: AVAILABLE_CONFIGS, configMap: { name } },
                    { name: 'config', emptyDir: {} },
                  ]
                : [{ name: 'config', configMap: { name } }]),
            ],
          },
        },
      },
    });
  }
}

/** A config's props resolved and validated; `field` prefixes the prop names in messages. */
function resolveConfig(
  v: Validator,
  field: string,
  name: string,
  props: DevicePluginSharing,
): ResolvedDevicePluginConfig {
  const timeSlicingReplicas = v.integerInRange(
    `${field}timeSlicingReplicas`,
    props.timeSlicingReplicas ?? 1,
    1,
    64,
  );
  const migStrategy = v.oneOf(`${field}migStrategy`, props.migStrategy ?? 'none', MIG_STRATEGIES);
  const deviceListStrategy = v.oneOf(
    `${field}deviceListStrategy`,
    props.deviceListStrategy ?? 'envvar',
    DEVICE_LIST_STRATEGIES,
  );
  if (migStrategy === 'mixed' && timeSlicingReplicas > 1) {
    throw v.error(
      `${field}timeSlicingReplicas must be 1 with migStrategy "mixed" (MIG devices are then nvidia.com/mig-<profile>, which the time-slicing of ${GPU_RESOURCE} does not share), got ${timeSlicingReplicas}`,
    );
  }
  return { name, timeSlicingReplicas, migStrategy, deviceListStrategy };
}

/** The plugin's config file (version v1) of one config. */
function configFile(c: ResolvedDevicePluginConfig): Record<string, unknown> {
  // https://github.com/NVIDIA/k8s-device-plugin#shared-access-to-gpus-with-cuda-time-slicing
  return {
    version: 'v1',
    flags: {
      migStrategy: c.migStrategy,
      failOnInitError: true,
      // Written only when not the plugin's default, so the default config stays as it was.
      ...(c.deviceListStrategy !== 'envvar' ? { plugin: { deviceListStrategy: c.deviceListStrategy } } : {}),
    },
    ...(c.timeSlicingReplicas > 1
      ? {
          sharing: {
            timeSlicing: {
              // Keep the resource name nvidia.com/gpu so workloads need no change.
              renameByDefault: false,
              // A pod asking for 2 slices of one GPU gets no more compute than with 1.
              failRequestsGreaterThanOne: true,
              resources: [{ name: GPU_RESOURCE, replicas: c.timeSlicingReplicas }],
            },
          },
        }
      : {}),
  };
}

/** Volume of every config file, from which config-manager copies the node's one. */
const AVAILABLE_CONFIGS = 'available-configs';

/**
 * The plugin image's `config-manager`, as upstream's Helm chart runs it: once before the plugin
 * (`oneshot`), then as a sidecar that follows the node label and sends the plugin SIGHUP. It links
 * /config/config.yaml to the node's file under /available-configs (k8s-device-plugin
 * cmd/config-manager), so the plugin mounts both.
 */
function configManager(image: string, oneshot: boolean): k8s.Container {
  return {
    name: oneshot ? 'config-manager-init' : 'config-manager',
    image,
    command: ['config-manager'],
    env: [
      { name: 'ONESHOT', value: String(oneshot) },
      { name: 'KUBECONFIG', value: '' },
      { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
      { name: 'NODE_LABEL', value: DEVICE_PLUGIN_CONFIG_LABEL },
      { name: 'CONFIG_FILE_SRCDIR', value: `/${AVAILABLE_CONFIGS}` },
      { name: 'CONFIG_FILE_DST', value: '/config/config.yaml' },
      { name: 'DEFAULT_CONFIG', value: DEFAULT_DEVICE_PLUGIN_CONFIG },
      { name: 'FALLBACK_STRATEGIES', value: 'named' },
      { name: 'SEND_SIGNAL', value: String(!oneshot) },
      { name: 'SIGNAL', value: oneshot ? '' : '1' },
      { name: 'PROCESS_TO_SIGNAL', value: oneshot ? '' : 'nvidia-device-plugin' },
    ],
    securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
    volumeMounts: [
      { name: AVAILABLE_CONFIGS, mountPath: `/${AVAILABLE_CONFIGS}`, readOnly: true },
      { name: 'config', mountPath: '/config' },
    ],
  };
}
