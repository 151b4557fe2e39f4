import { k8s } from 'cdk8s-plus-27';
import { Construct } from 'constructs';
import { GPU_NODE_SELECTOR, GPU_RESOURCE, GPU_TOLERATION } from './gpu-inference-service.ts';
import { appLabels, selectorLabels } from './k8s-helpers.ts';
import { validator } from './validate.ts';
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
  readonly timeSlicingReplicas: number;
  readonly migStrategy: MigStrategy;
  readonly deviceListStrategy: DeviceListStrategy;
  /** The device plugin's config file (version v1), as written to the ConfigMap. */
  readonly config: Record<string, unknown>;
  readonly runtimeClassName?: string;
  readonly daemonSet: k8s.KubeDaemonSet;
  readonly configMap: k8s.KubeConfigMap;

  constructor(scope: Construct, id: string, props: NvidiaDevicePluginProps = {}) {
    super(scope, id);
    const v = validator(this);
    this.namespace = v.dnsLabel('namespace', props.namespace ?? 'kube-system');
    this.timeSlicingReplicas = v.integerInRange('timeSlicingReplicas', props.timeSlicingReplicas ?? 1, 1, 64);
    this.migStrategy = v.oneOf('migStrategy', props.migStrategy ?? 'none', MIG_STRATEGIES);
    this.deviceListStrategy = v.oneOf(
      'deviceListStrategy',
      props.deviceListStrategy ?? 'envvar',
      DEVICE_LIST_STRATEGIES,
    );
    if (this.migStrategy === 'mixed' && this.timeSlicingReplicas > 1) {
      throw v.error(
        `timeSlicingReplicas must be 1 with migStrategy "mixed" (MIG devices are then nvidia.com/mig-<profile>, which the time-slicing of ${GPU_RESOURCE} does not share), got ${this.timeSlicingReplicas}`,
      );
    }
    const nodeSelector = props.nodeSelector ?? GPU_NODE_SELECTOR;
    const name = 'nvidia-device-plugin';
    const labels = appLabels(name, name, 'device-plugin');

    // https://github.com/NVIDIA/k8s-device-plugin#shared-access-to-gpus-with-cuda-time-slicing
    this.config = {
      version: 'v1',
      flags: {
        migStrategy: this.migStrategy,
        failOnInitError: true,
        // Written only when not the plugin's default, so the default config stays as it was.
        ...(this.deviceListStrategy !== 'envvar'
          ? { plugin: { deviceListStrategy: this.deviceListStrategy } }
          : {}),
      },
      ...(this.timeSlicingReplicas > 1
        ? {
            sharing: {
              timeSlicing: {
                // Keep the resource name nvidia.com/gpu so workloads need no change.
                renameByDefault: false,
                // A pod asking for 2 slices of one GPU gets no more compute than with 1.
                failRequestsGreaterThanOne: true,
                resources: [{ name: GPU_RESOURCE, replicas: this.timeSlicingReplicas }],
              },
            },
          }
        : {}),
    };
    this.configMap = new k8s.KubeConfigMap(this, 'Config', {
      metadata: { name, namespace: this.namespace, labels },
      data: { 'config.yaml': JSON.stringify(this.config, null, 2) + '\n' },
    });

    if (props.runtimeClass ?? true) {
      this.runtimeClassName = NVIDIA_RUNTIME_CLASS;
      new k8s.KubeRuntimeClass(this, 'RuntimeClass', {
        metadata: { name: NVIDIA_RUNTIME_CLASS, labels },
        handler: 'nvidia',
        scheduling: { nodeSelector },
      });
    }

    this.daemonSet = new k8s.KubeDaemonSet(this, 'DaemonSet', {
      metadata: { name, namespace: this.namespace, labels },
      spec: {
        selector: { matchLabels: selectorLabels(name, name) },
        updateStrategy: { type: 'RollingUpdate' },
        template: {
          metadata: { labels },
          spec: {
            priorityClassName: 'system-node-critical',
            runtimeClassName: this.runtimeClassName,
            nodeSelector,
            tolerations: [GPU_TOLERATION],
            containers: [
              {
                name: 'nvidia-device-plugin',
                image: props.image ?? IMAGES.nvidiaDevicePlugin,
                env: [
                  { name: 'CONFIG_FILE', value: '/config/config.yaml' },
                  { name: 'FAIL_ON_INIT_ERROR', value: 'true' },
                ],
                securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
                volumeMounts: [
                  { name: 'device-plugin', mountPath: '/var/lib/kubelet/device-plugins' },
                  { name: 'config', mountPath: '/config', readOnly: true },
                ],
              },
            ],
            volumes: [
              { name: 'device-plugin', hostPath: { path: '/var/lib/kubelet/device-plugins' } },
              { name: 'config', configMap: { name } },
            ],
          },
        },
      },
    });
  }
}
