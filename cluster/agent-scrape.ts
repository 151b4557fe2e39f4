/**
 * The node agent's load-balancer counters (agent/load-balancer.ts) as a Prometheus target: a
 * Service without a selector, its EndpointSlice at the agent's address, and a ServiceMonitor that
 * the kube-prometheus-stack Prometheus selects. In a real cluster the ingress controller or gateway
 * in front of the Service is scraped the same way. `honorLabels` keeps the counters' own
 * namespace and service labels (the Service they count), not the scrape target's.
 */
import { UPSTREAM } from '../constructs/versions.ts';
import type { Layout } from './layout.ts';

const NAME = 'local-load-balancer';

export function agentScrape(l: Layout, namespace: string): Record<string, unknown>[] {
  const labels = { 'app.kubernetes.io/name': NAME, release: UPSTREAM.kubePrometheusStackRelease };
  return [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: NAME, namespace, labels },
      spec: { clusterIP: 'None', ports: [{ name: 'metrics', port: l.ports.agentMetrics }] },
    },
    // Endpoints, not an EndpointSlice: the operator-generated job discovers with the `endpoints`
    // role, and the endpointslice-mirroring controller makes the slice from it for everything else.
    {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name: NAME, namespace, labels },
      subsets: [
        {
          addresses: [{ ip: l.hostIp }],
          ports: [{ name: 'metrics', port: l.ports.agentMetrics, protocol: 'TCP' }],
        },
      ],
    },
    {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      metadata: { name: NAME, namespace, labels },
      spec: {
        selector: { matchLabels: { 'app.kubernetes.io/name': NAME } },
        endpoints: [{ port: 'metrics', interval: '5s', honorLabels: true }],
      },
    },
  ];
}
