/** AlertRules: the PrometheusRule groups and their thresholds. */
import { describe, expect, it } from 'vitest';
import { AlertRules, GpuHpa, GpuInferenceService } from '../../constructs/index.ts';
import { atPath, one, synthChart } from './helpers.ts';
import { PROM, service, adapterHpa } from './fixtures.ts';

describe('AlertRules', () => {
  it('writes the recipe HighGPULoad on DCGM_FI_DEV_GPU_UTIL and the serving alerts', () => {
    let rules!: AlertRules;
    const objects = synthChart((c) => {
      const h = adapterHpa(c);
      rules = new AlertRules(c, 'Alerts', {
        service: h.node.scope!.node.findChild('Svc') as GpuInferenceService,
        hpa: h,
      });
    });
    expect(one(objects, 'PrometheusRule')).toMatchSnapshot();
    const all = rules.groups.flatMap((g) => g.rules);
    expect(all.map((r) => r.alert)).toEqual([
      'HighGPULoad',
      'GpuMemoryPressure',
      'GpuXidErrors',
      'GpuTemperatureHigh',
      'InferenceLatencyP99High',
      'InferenceErrorRatioHigh',
      'InferenceQueueRejections',
      'InferenceProviderFallback',
      'InferencePodsNotReady',
      'HpaAtMaxReplicas',
    ]);
    const high = all[0];
    expect(high).toMatchObject({ for: '2m', labels: { severity: 'warning' } });
    expect(high.expr).toBe('max by (Hostname, gpu, UUID) (DCGM_FI_DEV_GPU_UTIL) > 85');
    const pr = one(objects, 'PrometheusRule');
    expect(pr.spec.groups[0].rules[0].expr).toBe(high.expr);
    expect(JSON.parse(rules.rulesFile())).toEqual({ groups: rules.groups });
  });

  it.each([
    [['Rules', 'ml'], 'addRulesConfigMap name must be a DNS-1123 label'],
    [['rules', 'ml_team'], 'addRulesConfigMap namespace must be a DNS-1123 label'],
    [
      ['rules', 'ml', 'rules/alerts.yaml'],
      "addRulesConfigMap key must be a file name of letters, digits, '-', '_' and '.', got \"rules/alerts.yaml\"",
    ],
  ])('addRulesConfigMap rejects %j', (args, message) => {
    const [name, namespace, key] = args;
    expect(() =>
      synthChart((c) =>
        new AlertRules(c, 'A', { service: service(c) }).addRulesConfigMap(c, name, namespace, key),
      ),
    ).toThrow(atPath(message));
  });

  it("takes every serving and GPU alert's windows and for: durations from thresholds", () => {
    let rules!: AlertRules;
    synthChart((c) => {
      const s = service(c);
      rules = new AlertRules(c, 'A', {
        service: s,
        hpa: new GpuHpa(c, 'H', { target: s, prometheusUrl: PROM, gpuSlices: 64 }),
        thresholds: {
          gpuUtilizationFor: '6s',
          gpuMemoryFor: '15s',
          xidErrorsWindow: '15s',
          gpuTemperatureFor: '15s',
          latencyP99Window: '20s',
          latencyP99For: '21s',
          errorRatioWindow: '30s',
          errorRatioFor: '31s',
          rejectionsWindow: '40s',
          rejectionsFor: '0s',
          podsNotReadyFor: '30s',
          atMaxReplicasFor: '45s',
          providerFallbackFor: '50s',
        },
      });
    });
    const byName = Object.fromEntries(rules.groups.flatMap((g) => g.rules).map((r) => [r.alert, r]));
    const timing = (name: string) => [byName[name].for, byName[name].expr.match(/\[[^\]]+\]/g) ?? []];
    expect(timing('HighGPULoad')).toEqual(['6s', []]);
    expect(timing('GpuMemoryPressure')).toEqual(['15s', []]);
    expect(timing('GpuXidErrors')).toEqual(['0s', ['[15s]']]);
    expect(timing('GpuTemperatureHigh')).toEqual(['15s', []]);
    expect(timing('InferenceLatencyP99High')).toEqual(['21s', ['[20s]']]);
    expect(timing('InferenceErrorRatioHigh')).toEqual(['31s', ['[30s]', '[30s]']]);
    expect(timing('InferenceQueueRejections')).toEqual(['0s', ['[40s]']]);
    expect(timing('InferencePodsNotReady')).toEqual(['30s', []]);
    expect(timing('HpaAtMaxReplicas')).toEqual(['45s', []]);
    expect(timing('InferenceProviderFallback')).toEqual(['50s', []]);
  });

  it.each([
    [
      { gpuUtilizationPercent: 0 },
      'thresholds.gpuUtilizationPercent must be an integer from 1 to 100, got 0',
    ],
    [{ gpuUtilizationFor: '2 minutes' }, 'thresholds.gpuUtilizationFor must be a Prometheus duration'],
    [
      { latencyP99Seconds: 0 },
      'thresholds.latencyP99Seconds must be a number greater than 0 and at most 600, got 0',
    ],
    [{ errorRatio: 2 }, 'thresholds.errorRatio must be a number greater than 0 and at most 1, got 2'],
    [
      { gpuTemperatureCelsius: 200 },
      'thresholds.gpuTemperatureCelsius must be an integer from 30 to 120, got 200',
    ],
    [
      { latencyP99Window: '0s' },
      'thresholds.latencyP99Window must be a Prometheus duration from 1s to 1d such as "30s", "2m" or "1h", got "0s"',
    ],
    [
      { latencyP99For: '2d' },
      'thresholds.latencyP99For must be a Prometheus duration from 0s to 1d such as "30s", "2m" or "1h", got "2d"',
    ],
    [
      { errorRatioWindow: '5 m' },
      'thresholds.errorRatioWindow must be a Prometheus duration from 1s to 1d such as "30s", "2m" or "1h", got "5 m"',
    ],
    [
      { errorRatioFor: '-1m' },
      'thresholds.errorRatioFor must be a Prometheus duration from 0s to 1d such as "30s", "2m" or "1h", got "-1m"',
    ],
    [
      { rejectionsWindow: '25h' },
      'thresholds.rejectionsWindow must be a Prometheus duration from 1s to 1d such as "30s", "2m" or "1h", got "25h"',
    ],
    [
      { rejectionsFor: 'soon' },
      'thresholds.rejectionsFor must be a Prometheus duration from 0s to 1d such as "30s", "2m" or "1h", got "soon"',
    ],
    [
      { gpuMemoryFor: '1w' },
      'thresholds.gpuMemoryFor must be a Prometheus duration from 0s to 1d such as "30s", "2m" or "1h", got "1w"',
    ],
    [
      { gpuTemperatureFor: '5' },
      'thresholds.gpuTemperatureFor must be a Prometheus duration from 0s to 1d such as "30s", "2m" or "1h", got "5"',
    ],
    [
      { xidErrorsWindow: '0ms' },
      'thresholds.xidErrorsWindow must be a Prometheus duration from 1s to 1d such as "30s", "2m" or "1h", got "0ms"',
    ],
  ])('rejects thresholds %j', (thresholds, message) => {
    expect(() => synthChart((c) => new AlertRules(c, 'A', { service: service(c), thresholds }))).toThrow(
      message,
    );
  });
});

describe('further validation messages', () => {
  it.each([
    [{ gpuMemoryPercent: 101 }, 'thresholds.gpuMemoryPercent must be an integer from 1 to 100, got 101'],
    [
      { rejectionsPerSecond: -1 },
      'thresholds.rejectionsPerSecond must be a number at least 0 and at most 1000000, got -1',
    ],
    [{ atMaxReplicasFor: '15' }, 'thresholds.atMaxReplicasFor must be a Prometheus duration'],
    [{ podsNotReadyFor: 'ten minutes' }, 'thresholds.podsNotReadyFor must be a Prometheus duration'],
  ])('AlertRules rejects thresholds %j', (thresholds, message) => {
    expect(() => synthChart((c) => new AlertRules(c, 'A', { service: service(c), thresholds }))).toThrow(
      message,
    );
  });
});
