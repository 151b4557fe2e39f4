/** NvidiaDevicePlugin: its config file, DaemonSet and RuntimeClass. */
import { describe, expect, it } from 'vitest';
import { IMAGES, NvidiaDevicePlugin } from '../../constructs/index.ts';
import { atPath, find, one, synthChart, validateObject } from './helpers.ts';

describe('NvidiaDevicePlugin', () => {
  it('shares each GPU with time-slicing and creates the nvidia RuntimeClass', () => {
    const objects = synthChart((c) => new NvidiaDevicePlugin(c, 'Dp', { timeSlicingReplicas: 6 }));
    expect(objects).toMatchSnapshot();
    const config = JSON.parse(one(objects, 'ConfigMap').data['config.yaml']);
    expect(config.sharing.timeSlicing.resources).toEqual([{ name: 'nvidia.com/gpu', replicas: 6 }]);
    expect(config.version).toBe('v1');
    const ds = one(objects, 'DaemonSet');
    expect(ds.metadata.namespace).toBe('kube-system');
    expect(ds.spec.template.spec.containers[0].image).toBe(IMAGES.nvidiaDevicePlugin);
    expect(ds.spec.template.spec.containers[0].env).toContainEqual({
      name: 'CONFIG_FILE',
      value: '/config/config.yaml',
    });
    expect(one(objects, 'RuntimeClass')).toMatchObject({ metadata: { name: 'nvidia' }, handler: 'nvidia' });
  });

  it('writes migStrategy and deviceListStrategy into the plugin config', () => {
    const config = (props: ConstructorParameters<typeof NvidiaDevicePlugin>[2]) =>
      JSON.parse(
        one(
          synthChart((c) => new NvidiaDevicePlugin(c, 'Dp', props)),
          'ConfigMap',
        ).data['config.yaml'],
      );
    expect(config({}).flags).toEqual({ migStrategy: 'none', failOnInitError: true });
    expect(
      config({ migStrategy: 'single', deviceListStrategy: 'volume-mounts', timeSlicingReplicas: 2 }),
    ).toMatchObject({
      flags: {
        migStrategy: 'single',
        failOnInitError: true,
        plugin: { deviceListStrategy: 'volume-mounts' },
      },
      sharing: { timeSlicing: { resources: [{ name: 'nvidia.com/gpu', replicas: 2 }] } },
    });
    expect(config({ migStrategy: 'mixed' }).flags.migStrategy).toBe('mixed');
  });

  it('writes no sharing section without time-slicing', () => {
    const config = JSON.parse(
      one(
        synthChart((c) => new NvidiaDevicePlugin(c, 'Dp')),
        'ConfigMap',
      ).data['config.yaml'],
    );
    expect(config.sharing).toBeUndefined();
  });

  it.each([
    [{ timeSlicingReplicas: 0 }, 'timeSlicingReplicas must be an integer from 1 to 64, got 0'],
    [{ timeSlicingReplicas: 65 }, 'timeSlicingReplicas must be an integer from 1 to 64, got 65'],
    [{ migStrategy: 'all' as never }, 'migStrategy must be one of "none", "single", "mixed", got "all"'],
    [
      { deviceListStrategy: 'cdi-cri' as never },
      'deviceListStrategy must be one of "envvar", "volume-mounts", got "cdi-cri"',
    ],
    [
      { migStrategy: 'mixed' as const, timeSlicingReplicas: 2 },
      'timeSlicingReplicas must be 1 with migStrategy "mixed"',
    ],
  ])('rejects %j', (props, message) => {
    expect(() => synthChart((c) => new NvidiaDevicePlugin(c, 'Dp', props))).toThrow(atPath(message));
  });
});

describe('NvidiaDevicePlugin node groups', () => {
  const groups = [
    { name: 'a40-shared', timeSlicingReplicas: 4 },
    { name: 'h100-mig', migStrategy: 'single' as const, deviceListStrategy: 'volume-mounts' as const },
  ];

  it("writes one config per node group beside the default, which config-manager picks by the node's label", async () => {
    let dp!: NvidiaDevicePlugin;
    const objects = synthChart((c) => {
      dp = new NvidiaDevicePlugin(c, 'Dp', { timeSlicingReplicas: 2, nodeGroups: groups });
    });
    const data = one(objects, 'ConfigMap').data;
    expect(Object.keys(data).sort()).toEqual(['a40-shared', 'default', 'h100-mig']);
    const config = (name: string) => JSON.parse(data[name]);
    expect(config('default').sharing.timeSlicing.resources).toEqual([
      { name: 'nvidia.com/gpu', replicas: 2 },
    ]);
    expect(config('a40-shared').sharing.timeSlicing.resources).toEqual([
      { name: 'nvidia.com/gpu', replicas: 4 },
    ]);
    expect(config('h100-mig')).toEqual({
      version: 'v1',
      flags: {
        migStrategy: 'single',
        failOnInitError: true,
        plugin: { deviceListStrategy: 'volume-mounts' },
      },
    });
    expect(dp.nodeGroups).toEqual([
      { name: 'a40-shared', timeSlicingReplicas: 4, migStrategy: 'none', deviceListStrategy: 'envvar' },
      {
        name: 'h100-mig',
        timeSlicingReplicas: 1,
        migStrategy: 'single',
        deviceListStrategy: 'volume-mounts',
      },
    ]);
    expect(dp.timeSlicingReplicas).toBe(2);
    expect(dp.timeSliced).toBe(true);

    const ds = one(objects, 'DaemonSet');
    const pod = ds.spec.template.spec;
    expect(pod.shareProcessNamespace).toBe(true);
    expect(pod.serviceAccountName).toBe('nvidia-device-plugin');
    const env = (c: { env: { name: string; value?: string }[] }) =>
      Object.fromEntries(c.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value]));
    expect(pod.initContainers.map((c: { command: string[] }) => c.command)).toEqual([['config-manager']]);
    expect(env(pod.initContainers[0])).toMatchObject({
      ONESHOT: 'true',
      NODE_LABEL: 'nvidia.com/device-plugin.config',
      DEFAULT_CONFIG: 'default',
      CONFIG_FILE_SRCDIR: '/available-configs',
      CONFIG_FILE_DST: '/config/config.yaml',
    });
    const [sidecar, plugin] = pod.containers;
    expect(env(sidecar)).toMatchObject({
      ONESHOT: 'false',
      SEND_SIGNAL: 'true',
      SIGNAL: '1',
      PROCESS_TO_SIGNAL: 'nvidia-device-plugin',
    });
    expect(env(plugin).CONFIG_FILE).toBe('/config/config.yaml');
    // config.yaml is a symlink into /available-configs, which the plugin must see too; the sidecar
    // finds the process to signal by its argv[0].
    expect(plugin.volumeMounts).toContainEqual({
      name: 'available-configs',
      mountPath: '/available-configs',
      readOnly: true,
    });
    expect(plugin.command).toEqual(['nvidia-device-plugin']);
    expect(pod.volumes).toContainEqual({ name: 'config', emptyDir: {} });
    expect(pod.volumes).toContainEqual({
      name: 'available-configs',
      configMap: { name: 'nvidia-device-plugin' },
    });
    // config-manager reads its Node's label, and nothing else.
    expect(one(objects, 'ClusterRole').rules).toEqual([
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
    ]);
    expect(one(objects, 'ClusterRoleBinding').subjects).toEqual([
      { kind: 'ServiceAccount', name: 'nvidia-device-plugin', namespace: 'kube-system' },
    ]);
    for (const obj of objects) expect(await validateObject(obj)).toBeUndefined();
  });

  it('is time-sliced when any config is, the default or a node group', () => {
    const sliced = (props: ConstructorParameters<typeof NvidiaDevicePlugin>[2]) => {
      let dp!: NvidiaDevicePlugin;
      synthChart((c) => {
        dp = new NvidiaDevicePlugin(c, 'Dp', props);
      });
      return dp.timeSliced;
    };
    expect(sliced({})).toBe(false);
    expect(sliced({ nodeGroups: [{ name: 'h100' }] })).toBe(false);
    expect(sliced({ nodeGroups: [{ name: 'h100' }, { name: 'a40', timeSlicingReplicas: 2 }] })).toBe(true);
    expect(sliced({ timeSlicingReplicas: 2 })).toBe(true);
  });

  it('keeps the single-config DaemonSet without node groups: no config-manager, no ServiceAccount', () => {
    const objects = synthChart((c) => new NvidiaDevicePlugin(c, 'Dp', { timeSlicingReplicas: 6 }));
    expect(Object.keys(one(objects, 'ConfigMap').data)).toEqual(['config.yaml']);
    const pod = one(objects, 'DaemonSet').spec.template.spec;
    expect(pod.initContainers).toBeUndefined();
    expect(pod.containers).toHaveLength(1);
    expect(pod.serviceAccountName).toBeUndefined();
    expect(find(objects, 'ClusterRole')).toEqual([]);
  });

  it.each([
    [[{ name: 'A40' }], 'nodeGroups[0].name must be a DNS-1123 label'],
    [
      [{ name: 'default' }],
      'nodeGroups[0].name must differ from "default" (the default config\'s name) and from the other node groups\' names, got "default"',
    ],
    [
      [{ name: 'a40' }, { name: 'a40', timeSlicingReplicas: 2 }],
      'nodeGroups[1].name must differ from "default" (the default config\'s name) and from the other node groups\' names, got "a40"',
    ],
    [
      [{ name: 'a40', timeSlicingReplicas: 0 }],
      'nodeGroups[0].timeSlicingReplicas must be an integer from 1 to 64, got 0',
    ],
    [
      [{ name: 'a40', timeSlicingReplicas: 65 }],
      'nodeGroups[0].timeSlicingReplicas must be an integer from 1 to 64, got 65',
    ],
    [
      [{ name: 'a40' }, { name: 'h100', migStrategy: 'all' as never }],
      'nodeGroups[1].migStrategy must be one of "none", "single", "mixed", got "all"',
    ],
    [
      [{ name: 'a40', deviceListStrategy: 'cdi-cri' as never }],
      'nodeGroups[0].deviceListStrategy must be one of "envvar", "volume-mounts", got "cdi-cri"',
    ],
    [
      [{ name: 'h100', migStrategy: 'mixed' as const, timeSlicingReplicas: 2 }],
      'nodeGroups[0].timeSlicingReplicas must be 1 with migStrategy "mixed"',
    ],
  ])('rejects nodeGroups %j', (nodeGroups, message) => {
    expect(() => synthChart((c) => new NvidiaDevicePlugin(c, 'Dp', { nodeGroups }))).toThrow(
      new RegExp(`^test/Dp: ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
    );
  });
});
