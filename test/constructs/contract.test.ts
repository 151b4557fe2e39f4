/**
 * The contract's facts that cross from the constructs to the server and to provisioning, each
 * checked on both sides: what the server and provisioning do, against what the manifests ask.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import {
  ENV,
  GPU_NODE_LABEL,
  GPU_NODE_LABEL_VALUE,
  GPU_NODE_TAINT,
  GpuInferenceService,
  GRPC_PORT,
  GRPC_PORT_NAME,
  LOG_LEVELS,
  DRAIN_SECONDS_RANGE,
  MAX_BODY_BYTES_RANGE,
  SERVER_DEFAULTS,
} from '../../constructs/index.ts';
import { gpuRegistration, planGpuNodeLabels } from '../../provision/src/roles/gpu-node.ts';
import { parseCommandLine, USAGE } from '../../server/cli.ts';
import { tolerates, type Taint, type Toleration } from '../tolerations.ts';
import { one, synthChart, synthSystem, type K8sObject } from './helpers.ts';

/** `a=b,c=d`, kubelet's --node-labels. */
function labelList(spec: string): Record<string, string> {
  return Object.fromEntries(spec.split(',').map((kv) => kv.split('=') as [string, string]));
}

/** The labels and taints a GPU worker gets from provisioning, both at kubeadm join and from kubectl. */
function provisioned() {
  const reg = gpuRegistration(true, false) as {
    taints: Taint[];
    kubeletExtraArgs: { name: string; value: string }[];
  };
  const atJoin = {
    labels: labelList(reg.kubeletExtraArgs.find((a) => a.name === 'node-labels')!.value),
    taints: reg.taints,
  };
  const plan = planGpuNodeLabels('gpu-1', { labels: {}, taints: [] });
  const runs = plan.steps.map((step) => ('run' in step ? step.run : ''));
  const label = runs.map((r) => / label node gpu-1 (\S+) --overwrite$/.exec(r)).find(Boolean);
  const taint = runs.map((r) => / taint node gpu-1 ([^=\s]+)=(\S*):(\S+) --overwrite$/.exec(r)).find(Boolean);
  const byKubectl = {
    labels: labelList(label![1]!),
    taints: [{ key: taint![1]!, value: taint![2]!, effect: taint![3]! }],
  };
  return { atJoin, byKubectl };
}

/** main.ts's objects that must run on the GPU nodes, and where their placement is. */
const GPU_PLACED: [kind: string, name: string][] = [
  ['RuntimeClass', 'nvidia'],
  ['DaemonSet', 'nvidia-device-plugin'],
  ['DaemonSet', 'dcgm-exporter'],
  ['Deployment', 'inference'],
];
function placement(o: K8sObject): { nodeSelector?: Record<string, string>; tolerations?: Toleration[] } {
  return o.kind === 'RuntimeClass' ? o.scheduling : o.spec.template.spec;
}

describe('GPU nodes: the label and taint provisioning applies are the ones the manifests place on', () => {
  const { atJoin, byKubectl } = provisioned();

  it('provisioning applies the contract label and taint, at join and when it repairs a node', () => {
    for (const node of [atJoin, byKubectl]) {
      expect(node.labels).toEqual({ [GPU_NODE_LABEL]: GPU_NODE_LABEL_VALUE });
      expect(node.taints).toEqual([GPU_NODE_TAINT]);
    }
    // and takes a node that carries them as done
    expect(planGpuNodeLabels('gpu-1', { ...atJoin }).status).toBe('ok');
  });

  const { objects } = synthSystem();
  it.each(GPU_PLACED)('main.ts %s %s selects that label and tolerates that taint', (kind, name) => {
    const { nodeSelector, tolerations } = placement(one(objects, kind, name));
    expect(nodeSelector).toEqual({ [GPU_NODE_LABEL]: GPU_NODE_LABEL_VALUE });
    // A RuntimeClass's tolerations are added to its pods'; the pods themselves carry them here.
    if (kind !== 'RuntimeClass')
      for (const taint of atJoin.taints)
        expect((tolerations ?? []).some((t) => tolerates(t, taint))).toBe(true);
    for (const [key, value] of Object.entries(nodeSelector ?? {})) expect(atJoin.labels[key]).toBe(value);
  });
});

describe("the server's defaults and bounds are the contract's, and the construct keeps to them", () => {
  const server = parseCommandLine([], {});
  const svc = (props: ConstructorParameters<typeof GpuInferenceService>[2] = {}) =>
    synthChart((c) => new GpuInferenceService(c, 'Svc', { namespace: 'ml', ...props }));
  const env = (objects: K8sObject[]): Record<string, string> =>
    Object.fromEntries(
      one(objects, 'Deployment').spec.template.spec.containers[0].env.map(
        (e: { name: string; value: string }) => [e.name, e.value],
      ),
    );

  it('the server starts with them and its --help says so', () => {
    const { host, drainSeconds, maxBodyBytes, logLevel } = server;
    expect({ host, drainSeconds, maxBodyBytes, logLevel }).toEqual(SERVER_DEFAULTS);
    for (const [flag, value] of [
      ['host', SERVER_DEFAULTS.host],
      ['drain-seconds', SERVER_DEFAULTS.drainSeconds],
      ['max-body-bytes', SERVER_DEFAULTS.maxBodyBytes],
      ['log-level', SERVER_DEFAULTS.logLevel],
    ] as const)
      expect(USAGE).toMatch(new RegExp(`--${flag} .*; default ${value}\\)`));
  });

  it("the construct's pod runs the server on the same host, drain and log level, and its body limit", () => {
    const e = env(svc());
    expect(e[ENV.host]).toBe(SERVER_DEFAULTS.host);
    expect(e[ENV.drainSeconds]).toBe(String(SERVER_DEFAULTS.drainSeconds));
    expect(e[ENV.logLevel]).toBe(SERVER_DEFAULTS.logLevel);
    expect(e[ENV.maxBodyBytes]).toBeUndefined();
  });

  it('the gRPC port: the server listens on GRPC_PORT by default (0 turns it off), the pod names it and sets it', () => {
    expect(server.grpcPort).toBe(GRPC_PORT);
    expect(USAGE).toMatch(new RegExp(`--grpc-port .*\\n.*; default ${GRPC_PORT}, Triton's\\)`));
    expect(parseCommandLine([], { [ENV.grpcPort]: '9001' }).grpcPort).toBe(9001);
    expect(parseCommandLine(['--grpc-port', '0'], {}).grpcPort).toBeUndefined();
    expect(() => parseCommandLine(['--grpc-port', '65536'], {})).toThrow(
      '--grpc-port is "65536"; allowed: an integer from 0 to 65535',
    );
    const objects = svc();
    expect(env(objects)[ENV.grpcPort]).toBe(String(GRPC_PORT));
    const container = one(objects, 'Deployment').spec.template.spec.containers[0];
    expect(container.ports).toContainEqual({
      name: GRPC_PORT_NAME,
      containerPort: GRPC_PORT,
      protocol: 'TCP',
    });
  });

  it("the default drain fits Kubernetes' default grace period after the construct's preStop sleep", () => {
    const pod = one(svc(), 'Deployment').spec.template.spec;
    const preStop: number = pod.containers[0].lifecycle.preStop.sleep.seconds;
    expect(preStop + SERVER_DEFAULTS.drainSeconds).toBeLessThan(pod.terminationGracePeriodSeconds);
    expect(pod.terminationGracePeriodSeconds).toBeLessThanOrEqual(30);
  });

  it('the body limit: both accept the bounds and refuse one beyond either', () => {
    const { min, max } = MAX_BODY_BYTES_RANGE;
    for (const n of [min, max]) {
      expect(parseCommandLine(['--max-body-bytes', String(n)], {}).maxBodyBytes).toBe(n);
      expect(env(svc({ maxBodyBytes: n }))[ENV.maxBodyBytes]).toBe(String(n));
    }
    for (const n of [min - 1, max + 1]) {
      expect(() => parseCommandLine(['--max-body-bytes', String(n)], {})).toThrow(
        `an integer from ${min} to ${max}`,
      );
      expect(() => svc({ maxBodyBytes: n })).toThrow(`maxBodyBytes must be an integer from ${min} to ${max}`);
    }
  });

  it('the drain: both accept the bounds and refuse one beyond either', () => {
    const { min, max } = DRAIN_SECONDS_RANGE;
    for (const n of [min, max]) {
      expect(parseCommandLine(['--drain-seconds', String(n)], {}).drainSeconds).toBe(n);
      expect(env(svc({ drainSeconds: n }))[ENV.drainSeconds]).toBe(String(n));
    }
    for (const n of [min - 1, max + 1]) {
      expect(() => parseCommandLine([`--drain-seconds=${n}`], {})).toThrow(
        `an integer from ${min} to ${max}`,
      );
      expect(() => svc({ drainSeconds: n })).toThrow(`drainSeconds must be an integer from ${min} to ${max}`);
    }
  });

  it("log levels: pino's and silent, accepted by both, anything else refused by both", () => {
    expect([...LOG_LEVELS].sort()).toEqual([...Object.keys(pino.levels.values), 'silent'].sort());
    for (const level of LOG_LEVELS) {
      expect(parseCommandLine(['--log-level', level], {}).logLevel).toBe(level);
      expect(env(svc({ logLevel: level }))[ENV.logLevel]).toBe(level);
    }
    expect(() => parseCommandLine(['--log-level', 'loud'], {})).toThrow(`allowed: ${LOG_LEVELS.join(', ')}`);
    expect(() => svc({ logLevel: 'loud' })).toThrow('logLevel must be one of');
  });
});
