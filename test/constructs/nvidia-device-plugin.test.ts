/** NvidiaDevicePlugin: its config file, DaemonSet and RuntimeClass. */
import { describe, expect, it } from 'vitest';
import { IMAGES, NvidiaDevicePlugin } from '../../constructs/index.ts';
import { atPath, one, synthChart } from './helpers.ts';

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
