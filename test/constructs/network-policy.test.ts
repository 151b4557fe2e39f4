/**
 * NetworkPolicies (issue #13, finding 5): default-deny ingress where the system owns every pod, the
 * inference port from where the user allows, metrics ports only from Prometheus's namespace, and
 * the aggregated API servers (prometheus-adapter, KEDA's metrics API server) only on their port.
 *
 * `reachable` evaluates the synthesized policies as the NetworkPolicy API defines them (a pod
 * selected by any Ingress policy is isolated; a connection is allowed if some rule of some policy
 * selecting the pod admits its port and source); a check of ours, the CNI is the real judge.
 */
import type { Chart } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import {
  GpuHpa,
  GpuInferenceService,
  HpaMetric,
  GRPC_PORT,
  METRICS_PORT,
  PrometheusAdapter,
  SERVER_PORT,
} from '../../constructs/index.ts';
import { find, one, synthChart, synthSystem, type K8sObject } from './helpers.ts';

/* eslint-disable @typescript-eslint/no-explicit-any */

/** A connection's source: a pod (namespace and labels) or an address outside the cluster's pods. */
type Source = { namespace: string; labels?: Record<string, string> } | { ip: string };

function selects(selector: any, labels: Record<string, string>): boolean {
  const byLabels = Object.entries(selector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpr = (selector?.matchExpressions ?? []).every((e: any) =>
    e.operator === 'In'
      ? e.values.includes(labels[e.key])
      : e.operator === 'Exists'
        ? e.key in labels
        : false,
  );
  return byLabels && byExpr;
}

function ipv4InCidr(ip: string, cidr: string): boolean {
  const [net, bits] = cidr.split('/');
  const n = (a: string) => a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  if (!net.includes('.') || !ip.includes('.')) return false;
  const size = 2 ** (32 - Number(bits));
  return Math.floor(n(ip) / size) === Math.floor(n(net) / size);
}

function peerAdmits(peer: any, source: Source, podNamespace: string): boolean {
  if (peer.ipBlock) {
    return (
      'ip' in source &&
      ipv4InCidr(source.ip, peer.ipBlock.cidr) &&
      !(peer.ipBlock.except ?? []).some((c: string) => ipv4InCidr(source.ip, c))
    );
  }
  if ('ip' in source) return false;
  const nsOk = peer.namespaceSelector
    ? selects(peer.namespaceSelector, { 'kubernetes.io/metadata.name': source.namespace })
    : source.namespace === podNamespace;
  const podOk = peer.podSelector ? selects(peer.podSelector, source.labels ?? {}) : true;
  return nsOk && podOk;
}

/** Whether `source` may open a TCP connection to the container port `portName` of `workload`'s pods. */
function reachable(objects: K8sObject[], workload: K8sObject, portName: string, source: Source): boolean {
  const ns = workload.metadata.namespace!;
  const template = workload.spec.template;
  const labels = template.metadata.labels;
  const port = template.spec.containers
    .flatMap((c: any) => c.ports ?? [])
    .find((p: any) => p.name === portName);
  if (!port) throw new Error(`${workload.metadata.name} has no port ${portName}`);
  const policies = find(objects, 'NetworkPolicy').filter(
    (p) =>
      p.metadata.namespace === ns &&
      p.spec.policyTypes.includes('Ingress') &&
      selects(p.spec.podSelector, labels),
  );
  if (policies.length === 0) return true;
  return policies.some((p) =>
    (p.spec.ingress ?? []).some((rule: any) => {
      const portOk =
        !rule.ports ||
        rule.ports.some(
          (rp: any) => rp.port === undefined || rp.port === port.name || rp.port === port.containerPort,
        );
      const fromOk = !rule.from || rule.from.some((peer: any) => peerAdmits(peer, source, ns));
      return portOk && fromOk;
    }),
  );
}

const INTERNET = { ip: '203.0.113.7' };
const PROMETHEUS = { namespace: 'monitoring', labels: { 'app.kubernetes.io/name': 'prometheus' } };
const OTHER_POD = { namespace: 'default', labels: { app: 'curious' } };
const NEIGHBOUR = { namespace: 'gpu-inference', labels: { app: 'neighbour' } };

describe("main.ts's NetworkPolicies", () => {
  const { objects } = synthSystem();
  const inference = one(objects, 'Deployment', 'inference');

  it('lets any source reach the inference port (the public LoadBalancer), and only Prometheus the metrics port', () => {
    expect(reachable(objects, inference, 'http', INTERNET)).toBe(true);
    expect(reachable(objects, inference, 'http', OTHER_POD)).toBe(true);
    expect(reachable(objects, inference, 'grpc', INTERNET)).toBe(true);
    expect(reachable(objects, inference, 'grpc', OTHER_POD)).toBe(true);
    expect(reachable(objects, inference, 'metrics', PROMETHEUS)).toBe(true);
    expect(reachable(objects, inference, 'metrics', INTERNET)).toBe(false);
    expect(reachable(objects, inference, 'metrics', OTHER_POD)).toBe(false);
    expect(reachable(objects, inference, 'metrics', NEIGHBOUR)).toBe(false);
  });

  it('denies ingress by default in the inference and dcgm-exporter namespaces, not in monitoring', () => {
    const denyAll = find(objects, 'NetworkPolicy').filter(
      (p) => Object.keys(p.spec.podSelector).length === 0 && p.spec.ingress === undefined,
    );
    expect(denyAll.map((p) => p.metadata.namespace).sort()).toEqual(['gpu-inference', 'gpu-monitoring']);
    // A pod of the namespace that no other policy opens is closed.
    const stray = {
      ...inference,
      spec: {
        template: {
          metadata: { labels: { app: 'stray' } },
          spec: { containers: [{ ports: [{ name: 'x', containerPort: 1 }] }] },
        },
      },
    };
    expect(reachable(objects, stray, 'x', NEIGHBOUR)).toBe(false);
  });

  it("lets only Prometheus's namespace reach dcgm-exporter's metrics port", () => {
    const dcgm = one(objects, 'DaemonSet', 'dcgm-exporter');
    expect(reachable(objects, dcgm, 'metrics', PROMETHEUS)).toBe(true);
    expect(reachable(objects, dcgm, 'metrics', OTHER_POD)).toBe(false);
    expect(reachable(objects, dcgm, 'metrics', INTERNET)).toBe(false);
  });

  it("opens prometheus-adapter's aggregated API port to the API server, which is not a pod (any source), and nothing else", () => {
    const adapter = one(objects, 'Deployment', 'prometheus-adapter');
    expect(reachable(objects, adapter, 'https', { ip: '10.0.0.10' })).toBe(true);
    const policy = one(objects, 'NetworkPolicy', 'prometheus-adapter');
    expect(policy.spec.ingress).toEqual([{ ports: [{ protocol: 'TCP', port: 'https' }] }]);
  });

  it("opens KEDA's metrics API server on 6443 only, selected by the app label of the Helm chart or the release manifests", () => {
    const keda = synthSystem({ backend: 'keda' }).objects;
    const policy = one(keda, 'NetworkPolicy', 'keda-operator-metrics-apiserver');
    expect(policy.metadata.namespace).toBe('keda');
    for (const app of ['keda-operator-metrics-apiserver', 'keda-metrics-apiserver']) {
      expect(selects(policy.spec.podSelector, { app })).toBe(true);
    }
    expect(selects(policy.spec.podSelector, { app: 'keda-operator' })).toBe(false);
    expect(policy.spec.ingress).toEqual([{ ports: [{ protocol: 'TCP', port: 6443 }] }]);
  });
});

describe('NetworkPolicy props', () => {
  const svc = (c: Chart, props: ConstructorParameters<typeof GpuInferenceService>[2] = {}) =>
    new GpuInferenceService(c, 'Svc', { namespace: 'ml', ...props });

  it('allowInferenceFrom narrows the inference port to those peers; prometheusNamespace names the scraper', () => {
    const objects = synthChart((c) =>
      svc(c, {
        allowInferenceFrom: [
          { ipBlock: { cidr: '198.51.100.0/24', except: ['198.51.100.9/32'] } },
          { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'gateway' } } },
        ],
        prometheusNamespace: 'observability',
      }),
    );
    const d = one(objects, 'Deployment', 'inference');
    expect(reachable(objects, d, 'http', { ip: '198.51.100.20' })).toBe(true);
    expect(reachable(objects, d, 'http', { ip: '198.51.100.9' })).toBe(false);
    expect(reachable(objects, d, 'http', INTERNET)).toBe(false);
    expect(reachable(objects, d, 'http', { namespace: 'gateway' })).toBe(true);
    // gRPC is an inference port too: the same peers, no others.
    expect(reachable(objects, d, 'grpc', { ip: '198.51.100.20' })).toBe(true);
    expect(reachable(objects, d, 'grpc', { ip: '198.51.100.9' })).toBe(false);
    expect(reachable(objects, d, 'grpc', INTERNET)).toBe(false);
    expect(reachable(objects, d, 'grpc', { namespace: 'gateway' })).toBe(true);
    expect(reachable(objects, d, 'grpc', PROMETHEUS)).toBe(false);
    expect(reachable(objects, d, 'metrics', { namespace: 'observability' })).toBe(true);
    expect(reachable(objects, d, 'metrics', PROMETHEUS)).toBe(false);
    expect(d.spec.template.spec.containers[0].ports.map((p: any) => p.containerPort)).toEqual([
      SERVER_PORT,
      GRPC_PORT,
      METRICS_PORT,
    ]);
  });

  it('networkPolicy false emits none', () => {
    expect(
      find(
        synthChart((c) => svc(c, { networkPolicy: false })),
        'NetworkPolicy',
      ),
    ).toEqual([]);
    expect(
      find(
        synthChart(
          (c) =>
            new PrometheusAdapter(c, 'A', {
              prometheusUrl: 'http://p:9090',
              config: { rules: [] },
              networkPolicy: false,
            }),
        ),
        'NetworkPolicy',
      ),
    ).toEqual([]);
  });

  it('apiServerFrom narrows the aggregated API ports to the control plane', () => {
    const objects = synthChart((c) => {
      new GpuHpa(c, 'Hpa', {
        target: svc(c),
        prometheusUrl: 'http://p:9090',
        gpuSlices: 64,
        metrics: [HpaMetric.inflightRequests(8)],
        backend: 'prometheus-adapter',
        adapter: { apiServerFrom: [{ ipBlock: { cidr: '10.0.0.0/24' } }] },
      });
    });
    const adapter = one(objects, 'Deployment', 'prometheus-adapter');
    expect(reachable(objects, adapter, 'https', { ip: '10.0.0.10' })).toBe(true);
    expect(reachable(objects, adapter, 'https', { ip: '10.0.1.10' })).toBe(false);
  });

  it.each([
    [{ allowInferenceFrom: [] }, 'allowInferenceFrom must list at least one peer, got []'],
    [
      { allowInferenceFrom: [{ ipBlock: { cidr: '10.0.0.0/33' } }] },
      'allowInferenceFrom[0].ipBlock.cidr must be a CIDR such as "10.0.0.0/8" or "2001:db8::/32", got "10.0.0.0/33"',
    ],
    [
      { allowInferenceFrom: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0'] } }] },
      'allowInferenceFrom[0].ipBlock.except[0] must be a CIDR such as "10.0.0.0/8" or "2001:db8::/32", got "10.1.0.0"',
    ],
    [
      { allowInferenceFrom: [{}] },
      'allowInferenceFrom[0] must have an ipBlock, a namespaceSelector or a podSelector, got {}',
    ],
    [{ prometheusNamespace: 'Monitoring' }, 'prometheusNamespace must be a DNS-1123 label'],
    [
      { networkPolicy: false, allowInferenceFrom: [{ ipBlock: { cidr: '10.0.0.0/8' } }] },
      'allowInferenceFrom needs networkPolicy true (it is the NetworkPolicy that enforces it), got networkPolicy false',
    ],
  ])('rejects %j', (props, message) => {
    expect(() => synthChart((c) => svc(c, props))).toThrow(message);
  });
});
