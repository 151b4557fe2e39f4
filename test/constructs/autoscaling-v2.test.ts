/**
 * The autoscaling/v2 model (constructs/autoscaling-v2/) against upstream: the defaults of
 * kubernetes/kubernetes pkg/apis/autoscaling/v2/defaults.go, the ranges of
 * pkg/apis/autoscaling/validation/validation.go (validateScalingRules, validateScalingPolicy), the
 * int32 width of the API's integer fields, and the quantity grammar of
 * k8s.io/apimachinery/pkg/api/resource. GpuHpa and the planner both go through it, so each rule is
 * checked once here and once through each caller.
 */
import { Chart, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_BEHAVIOR,
  DEFAULT_CPU_UTILIZATION,
  DEFAULT_DOWNSCALE_STABILIZATION_SECONDS,
  DEFAULT_TOLERANCE,
  GpuHpa,
  GpuInferenceService,
  HPA_METRIC_KINDS,
  HpaMetric,
  INT32_MAX,
  INT32_MIN,
  MAX_PERIOD_SECONDS,
  MAX_STABILIZATION_WINDOW_SECONDS,
  ValidationError,
  apiDefaultBehavior,
  checkHpaSpec,
  checkMetricSpec,
  checkScalingRules,
  milliOf,
  parseQuantity,
  quantity,
  resolveScalingRules,
  toQuantity,
  type HpaSpec,
  type MetricSpec,
  type ScalingBehavior,
  type ScalingRulesToCheck,
} from '../../constructs/index.ts';
import { HpaSpecError, resolveHpaSpec } from '../../planner/index.ts';
import { DEFAULT_PIPELINE } from '../../planner/sim/simulate.ts';
import { TargetError, fromGpuHpa } from '../../planner/sim/target.ts';

const PROM = 'http://prometheus.monitoring.svc:9090';

function gpuHpa(behavior: ScalingBehavior, backend: 'keda' | 'prometheus-adapter' = 'keda'): GpuHpa {
  const chart = new Chart(Testing.app(), 'test');
  const target = new GpuInferenceService(chart, 'Svc', { namespace: 'ml' });
  return new GpuHpa(chart, 'Hpa', { target, prometheusUrl: PROM, gpuSlices: 64, behavior, backend });
}

/** Valid rules to vary one field of. */
const VALID: ScalingRulesToCheck = {
  stabilizationWindowSeconds: 0,
  selectPolicy: 'Max',
  policies: [{ type: 'Pods', value: 1, periodSeconds: 15 }],
};

function withPolicy(p: Partial<ScalingRulesToCheck['policies'][number]>): ScalingRulesToCheck {
  return { ...VALID, policies: [{ ...VALID.policies[0], ...p }] };
}

describe('limits', () => {
  it('are the int32 width and validation.go MaxPeriodSeconds / MaxStabilizationWindowSeconds', () => {
    expect(INT32_MAX).toBe(2 ** 31 - 1);
    expect(INT32_MIN).toBe(-(2 ** 31));
    expect(MAX_PERIOD_SECONDS).toBe(1800);
    expect(MAX_STABILIZATION_WINDOW_SECONDS).toBe(3600);
  });
});

describe('defaults (defaults.go and kube-controller-manager flags)', () => {
  it('scale up: no window, the larger of 4 pods or 100 % per 15 s', () => {
    expect(apiDefaultBehavior().scaleUp).toEqual({
      stabilizationWindowSeconds: 0,
      selectPolicy: 'Max',
      policies: [
        { type: 'Pods', value: 4, periodSeconds: 15 },
        { type: 'Percent', value: 100, periodSeconds: 15 },
      ],
    });
  });

  it('scale down: the controller flag window (300 s unless given), 100 % per 15 s', () => {
    expect(apiDefaultBehavior().scaleDown).toEqual({
      stabilizationWindowSeconds: 300,
      selectPolicy: 'Max',
      policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
    });
    expect(apiDefaultBehavior(120).scaleDown.stabilizationWindowSeconds).toBe(120);
    expect(DEFAULT_DOWNSCALE_STABILIZATION_SECONDS).toBe(300);
  });

  it('tolerance 0.1 and the cpu 80 % metric of an empty spec.metrics', () => {
    expect(DEFAULT_TOLERANCE).toBe(0.1);
    expect(DEFAULT_CPU_UTILIZATION).toBe(80);
    expect(resolveHpaSpec({ maxReplicas: 2 }).metrics).toEqual([
      expect.objectContaining({ kind: 'ResourceUtilization', resource: 'cpu', targetUtilization: 80 }),
    ]);
  });

  it('GpuHpa departs from them only in scaling down (50 % per 60 s), and says so in DEFAULT_BEHAVIOR', () => {
    const api = apiDefaultBehavior();
    expect(DEFAULT_BEHAVIOR.scaleUp.stabilizationWindowSeconds).toBe(api.scaleUp.stabilizationWindowSeconds);
    expect(new Set(DEFAULT_BEHAVIOR.scaleUp.policies.map((p) => JSON.stringify(p)))).toEqual(
      new Set(api.scaleUp.policies.map((p) => JSON.stringify(p))),
    );
    expect(DEFAULT_BEHAVIOR.scaleDown.stabilizationWindowSeconds).toBe(
      api.scaleDown.stabilizationWindowSeconds,
    );
    expect(DEFAULT_BEHAVIOR.scaleDown.policies).toEqual([{ type: 'Percent', value: 50, periodSeconds: 60 }]);
  });
});

describe('checkScalingRules (validateScalingRules, validateScalingPolicy)', () => {
  const accepted: [string, ScalingRulesToCheck][] = [
    ['value 1', withPolicy({ value: 1 })],
    ['value INT32_MAX', withPolicy({ value: 2147483647 })],
    ['periodSeconds 1', withPolicy({ periodSeconds: 1 })],
    ['periodSeconds 1800', withPolicy({ periodSeconds: 1800 })],
    ['type Percent', withPolicy({ type: 'Percent' })],
    ['window 3600', { ...VALID, stabilizationWindowSeconds: 3600 }],
    ['selectPolicy Min', { ...VALID, selectPolicy: 'Min' }],
    ['selectPolicy Disabled', { ...VALID, selectPolicy: 'Disabled' }],
  ];
  it.each(accepted)('accepts %s', (_, rules) => {
    expect(() => checkScalingRules('r', rules)).not.toThrow();
  });

  const rejected: [ScalingRulesToCheck, string][] = [
    [withPolicy({ value: 0 }), 'r.policies[0].value must be an integer from 1 to 2147483647, got 0'],
    [
      withPolicy({ value: 2 ** 31 }),
      'r.policies[0].value must be an integer from 1 to 2147483647, got 2147483648',
    ],
    [withPolicy({ value: 1.5 }), 'r.policies[0].value must be an integer from 1 to 2147483647, got 1.5'],
    [
      withPolicy({ periodSeconds: 0 }),
      'r.policies[0].periodSeconds must be an integer from 1 to 1800, got 0',
    ],
    [
      withPolicy({ periodSeconds: 1801 }),
      'r.policies[0].periodSeconds must be an integer from 1 to 1800, got 1801',
    ],
    [withPolicy({ type: 'Replicas' }), 'r.policies[0].type must be one of "Pods", "Percent", got "Replicas"'],
    [{ ...VALID, policies: [] }, 'r.policies must list at least one policy, got []'],
    [
      { ...VALID, stabilizationWindowSeconds: -1 },
      'r.stabilizationWindowSeconds must be an integer from 0 to 3600, got -1',
    ],
    [
      { ...VALID, stabilizationWindowSeconds: 3601 },
      'r.stabilizationWindowSeconds must be an integer from 0 to 3600, got 3601',
    ],
    [{ ...VALID, selectPolicy: 'max' }, 'r.selectPolicy must be one of "Max", "Min", "Disabled", got "max"'],
  ];
  it.each(rejected)('rejects %j', (rules, message) => {
    expect(() => checkScalingRules('r', rules)).toThrow(new ValidationError(message));
  });
});

const PODS: MetricSpec = {
  type: 'Pods',
  pods: { metric: { name: 'inflight' }, target: { type: 'AverageValue', averageValue: '8' } },
};
const EXTERNAL: MetricSpec = {
  type: 'External',
  external: { metric: { name: 'demand' }, target: { type: 'Value', value: '20m' } },
};

describe('checkHpaSpec and checkMetricSpec (validateHorizontalPodAutoscalerSpec, validateMetricSpec)', () => {
  const accepted: [string, HpaSpec][] = [
    ['a Pods metric', { maxReplicas: 3, metrics: [PODS] }],
    ['minReplicas = maxReplicas', { minReplicas: 3, maxReplicas: 3 }],
    ['maxReplicas INT32_MAX', { maxReplicas: 2147483647 }],
    ['minReplicas 0 with an External metric', { minReplicas: 0, maxReplicas: 3, metrics: [EXTERNAL] }],
    [
      'cpu averageUtilization 1',
      {
        maxReplicas: 3,
        metrics: [
          {
            type: 'Resource',
            resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 1 } },
          },
        ],
      },
    ],
  ];
  it.each(accepted)('accepts %s', (_, spec) => {
    expect(() => checkHpaSpec('spec', spec)).not.toThrow();
  });

  const rejected: [HpaSpec, string][] = [
    [{ maxReplicas: 0 }, 'spec.maxReplicas must be an integer from 1 to 2147483647, got 0'],
    [{ maxReplicas: 2 ** 31 }, 'spec.maxReplicas must be an integer from 1 to 2147483647, got 2147483648'],
    [
      { minReplicas: 4, maxReplicas: 3 },
      'spec.maxReplicas must be an integer from 4 (spec.minReplicas) to 2147483647, got 3',
    ],
    [{ minReplicas: -1, maxReplicas: 3 }, 'spec.minReplicas must be an integer from 0 to 2147483647, got -1'],
    [
      { minReplicas: 0, maxReplicas: 3, metrics: [PODS] },
      'spec.minReplicas 0 needs at least one Object or External metric (scaling to zero), got none',
    ],
    [
      { maxReplicas: 3, metrics: [{ ...PODS, type: 'Memory' as never }] },
      'spec.metrics[0].type must be one of "Resource", "ContainerResource", "Pods", "Object", "External", got "Memory"',
    ],
    [
      { maxReplicas: 3, metrics: [{ type: 'Pods' }] },
      'spec.metrics[0].pods is required for type Pods, got none',
    ],
    [
      { maxReplicas: 3, metrics: [{ ...PODS, external: EXTERNAL.external }] },
      'spec.metrics[0].external must be unset for type Pods (set only pods)',
    ],
    [
      {
        maxReplicas: 3,
        metrics: [{ type: 'Pods', pods: { metric: { name: '' }, target: PODS.pods!.target } }],
      },
      'spec.metrics[0].pods.metric.name is required, got ""',
    ],
    [
      {
        maxReplicas: 3,
        metrics: [{ type: 'Pods', pods: { metric: { name: 'x' }, target: { type: 'Value', value: '1' } } }],
      },
      'spec.metrics[0].pods.target.averageValue is required for type Pods, got none',
    ],
    [
      {
        maxReplicas: 3,
        metrics: [
          {
            type: 'Pods',
            pods: { metric: { name: 'x' }, target: { type: 'AverageValue', averageValue: '0' } },
          },
        ],
      },
      'spec.metrics[0].pods.target.averageValue must be a quantity greater than 0, got "0"',
    ],
    [
      {
        maxReplicas: 3,
        metrics: [
          {
            type: 'Pods',
            pods: { metric: { name: 'x' }, target: { type: 'Average' as never, averageValue: '1' } },
          },
        ],
      },
      'spec.metrics[0].pods.target.type must be one of "Utilization", "Value", "AverageValue", got "Average"',
    ],
    [
      {
        maxReplicas: 3,
        metrics: [
          {
            type: 'Resource',
            resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 0 } },
          },
        ],
      },
      'spec.metrics[0].resource.target.averageUtilization must be an integer from 1 to 2147483647, got 0',
    ],
    [
      {
        maxReplicas: 3,
        metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization' } } }],
      },
      'spec.metrics[0].resource.target needs averageUtilization or averageValue, got neither',
    ],
    [
      {
        maxReplicas: 3,
        metrics: [
          {
            type: 'External',
            external: { metric: { name: 'd' }, target: { type: 'Value', value: '1', averageValue: '1' } },
          },
        ],
      },
      'spec.metrics[0].external.target may set value or averageValue, got both',
    ],
    [
      {
        maxReplicas: 3,
        metrics: [
          {
            type: 'ContainerResource',
            containerResource: {
              name: 'cpu',
              container: 'Server_1',
              target: { type: 'Utilization', averageUtilization: 60 },
            },
          },
        ],
      },
      'spec.metrics[0].containerResource.container must be a DNS-1123 label',
    ],
  ];
  it.each(rejected)('rejects %j', (spec, message) => {
    expect(() => checkHpaSpec('spec', spec)).toThrow(message);
  });

  it.each(['keda', 'prometheus-adapter'] as const)('accepts every metric GpuHpa writes (%s)', (backend) => {
    const h = gpuHpa({}, backend);
    expect(h.metrics.length).toBeGreaterThan(0);
    h.metrics.forEach((m, i) => expect(() => checkMetricSpec(`metrics[${i}]`, m.spec)).not.toThrow());
  });
});

describe('resolveScalingRules', () => {
  const defaults = apiDefaultBehavior().scaleDown;

  it('fills unset fields from the defaults and keeps set ones', () => {
    expect(resolveScalingRules('d', { stabilizationWindowSeconds: 60 }, defaults)).toEqual({
      ...defaults,
      stabilizationWindowSeconds: 60,
    });
    expect(resolveScalingRules('d', undefined, defaults)).toEqual(defaults);
    expect(resolveScalingRules('d', undefined, defaults)).not.toHaveProperty('tolerance');
  });

  it('reads a tolerance as a quantity of at least 0', () => {
    expect(resolveScalingRules('d', { tolerance: '0.05' }, defaults).tolerance).toBe(0.05);
    expect(resolveScalingRules('d', { tolerance: '50m' }, defaults).tolerance).toBe(0.05);
    expect(resolveScalingRules('d', { tolerance: 0 }, defaults).tolerance).toBe(0);
    expect(() => resolveScalingRules('d', { tolerance: '-10m' }, defaults)).toThrow(
      'd.tolerance must be at least 0, got "-10m"',
    );
    expect(() => resolveScalingRules('d', { tolerance: '5%' }, defaults)).toThrow(
      'd.tolerance must be a Kubernetes quantity such as "250m", "2", "1.5k", "512Mi", got "5%"',
    );
  });
});

describe('the same rules through GpuHpa and the planner', () => {
  const bad: ScalingBehavior = { scaleUp: { policies: [{ type: 'Pods', value: 0, periodSeconds: 15 }] } };
  const rule = 'behavior.scaleUp.policies[0].value must be an integer from 1 to 2147483647, got 0';

  it('GpuHpa names its construct path, the prop, the value and the range', () => {
    expect(() => gpuHpa(bad)).toThrow(new ValidationError(`test/Hpa: ${rule}`));
  });

  it('the planner names the spec field, as an HpaSpecError', () => {
    expect(() => resolveHpaSpec({ maxReplicas: 3, behavior: bad })).toThrow(new HpaSpecError(`spec.${rule}`));
  });

  it.each(['keda', 'prometheus-adapter'] as const)(
    'the planner reads back what GpuHpa writes (%s): same behavior, metrics it can resolve',
    (backend) => {
      const h = gpuHpa({ scaleDown: { stabilizationWindowSeconds: 120 } }, backend);
      const resolved = resolveHpaSpec(fromGpuHpa(h).spec);
      expect(resolved.behavior).toEqual(h.behavior);
      expect(resolved.behavior?.scaleDown.stabilizationWindowSeconds).toBe(120);
      expect(resolved.metrics).toHaveLength(h.metrics.length);
    },
  );
});

describe('quantity grammar (apimachinery resource.Quantity)', () => {
  const values: [string, number][] = [
    ['250m', 0.25],
    ['2', 2],
    ['1.5k', 1500],
    ['512Mi', 512 * 1024 ** 2],
    ['1Ki', 1024],
    ['1e3', 1000],
    ['1E3', 1000],
    ['1E', 1e18],
    ['+1', 1],
    ['-1', -1],
    ['.5', 0.5],
    ['5.', 5],
    ['100n', 1e-7],
    ['3u', 3e-6],
    ['2G', 2e9],
  ];
  it.each(values)('%s is %d', (text, value) => {
    expect(parseQuantity(text)).toBeCloseTo(value, 12);
  });

  it.each(['', ' 1', '1 ', '1e3k', '1KiB', '1ki', 'Mi', '1.2.3', '1 Mi', 'e3', '8GB', '1,5'])(
    'rejects %j',
    (text) => {
      expect(parseQuantity(text)).toBeUndefined();
    },
  );

  it('MilliValue rounds up, without float noise adding a unit', () => {
    expect(milliOf(0.1)).toBe(100);
    // 4.03 * 1000 is 4030.0000000000005 in floats.
    expect(milliOf(4.03)).toBe(4030);
    expect(milliOf(0.25)).toBe(250);
    expect(milliOf(1.0005)).toBe(1001);
    expect(milliOf(1e-7)).toBe(1);
  });

  it('toQuantity writes integers as is and fractions in milli-units that read back', () => {
    expect(toQuantity(8)).toBe('8');
    expect(toQuantity(0.02)).toBe('20m');
    for (const x of [0.001, 0.02, 0.5, 8, 12.25]) expect(parseQuantity(toQuantity(x))).toBeCloseTo(x, 12);
  });

  it('the constructs validate resource requests with the same grammar, not negative', () => {
    expect(quantity('cpu', '1e3')).toBe('1e3');
    expect(quantity('cpu', '.5')).toBe('.5');
    expect(() => quantity('cpu', '8GB')).toThrow(
      'cpu must be a Kubernetes quantity such as "500m", "2" or "8Gi", got "8GB"',
    );
    expect(() => quantity('memory', '-1Gi')).toThrow('memory must be a quantity of at least 0, got "-1Gi"');
  });
});

describe('HpaMetricKind: GpuHpa signals and the planner simulated signals are one type', () => {
  it('every kind has a factory, and the simulator a pipeline for it', () => {
    const made = [
      HpaMetric.cpuUtilization(60),
      HpaMetric.gpuUtilization(70),
      HpaMetric.inflightRequests(8),
      HpaMetric.queueTime(0.02),
    ].map((m) => m.kind);
    expect(made).toEqual([...HPA_METRIC_KINDS]);
    expect(Object.keys(DEFAULT_PIPELINE).sort()).toEqual([...HPA_METRIC_KINDS].sort());
  });

  it('the planner refuses a kind outside it, listing the kinds', () => {
    expect(() =>
      fromGpuHpa({
        minReplicas: 1,
        maxReplicas: 2,
        metrics: [{ kind: 'memory' as never, spec: { type: 'Resource' } }],
      }),
    ).toThrow(new TargetError('metrics[0].kind: "memory" must be one of cpu, gpu, inflight, queueTime'));
  });
});
