/**
 * The part cloud-provider-kind or MetalLB plays: every Service of type LoadBalancer gets an address
 * on the host's loopback, written to `status.loadBalancer.ingress`; each of its ports accepts TCP
 * connections there and spreads them round-robin over the Service's ready endpoints (from its
 * EndpointSlices, the port matched by name as kube-proxy does).
 */
import { createConnection, createServer, type Server } from 'node:net';
import type { ApiClient } from './api.ts';
import type { List } from './pod-spec.ts';

interface Service {
  metadata: { name: string; namespace: string; uid: string };
  spec: { type?: string; ports: { name?: string; port: number; protocol?: string }[] };
  status?: { loadBalancer?: { ingress?: { ip: string }[] } };
}

interface EndpointSlice {
  metadata: { namespace: string; labels?: Record<string, string> };
  ports?: { name?: string; port: number }[] | null;
  endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[];
}

interface Balanced {
  readonly ip: string;
  readonly servers: Server[];
  backends: Map<string, string[]>;
  next: number;
  /** Connections accepted per Service port name: the demand signal that exists at zero replicas. */
  readonly connections: Map<string, number>;
  /** Connections closed at once per Service port name because no endpoint was ready. */
  readonly refused: Map<string, number>;
}

/** The load balancer's counters (metrics()); a KEDA demand query reads the first. */
export const LB_METRICS = {
  connections: 'loadbalancer_connections_total',
  refused: 'loadbalancer_connections_refused_total',
} as const;

export interface LoadBalancerOptions {
  readonly api: ApiClient;
  readonly log: (msg: string) => void;
  readonly firstAddress: string;
}

export class LoadBalancer {
  private readonly services = new Map<string, Balanced>();
  private nextHost: number;
  private readonly prefix: string;

  constructor(private readonly o: LoadBalancerOptions) {
    const parts = o.firstAddress.split('.');
    this.prefix = parts.slice(0, 3).join('.');
    this.nextHost = Number(parts[3]);
  }

  async sync(): Promise<void> {
    const svcs = (await this.o.api.get<List<Service>>('/api/v1/services')).items.filter(
      (s) => s.spec.type === 'LoadBalancer',
    );
    const slices = (await this.o.api.get<List<EndpointSlice>>('/apis/discovery.k8s.io/v1/endpointslices'))
      .items;
    for (const svc of svcs) {
      const key = `${svc.metadata.namespace}/${svc.metadata.name}`;
      let b = this.services.get(key);
      if (!b) {
        b = await this.open(svc);
        this.services.set(key, b);
      }
      b.backends = backendsOf(svc, slices);
      if (svc.status?.loadBalancer?.ingress?.[0]?.ip !== b.ip)
        await this.o.api.send(
          'PATCH',
          `/api/v1/namespaces/${svc.metadata.namespace}/services/${svc.metadata.name}/status`,
          { status: { loadBalancer: { ingress: [{ ip: b.ip, ipMode: 'VIP' }] } } },
          'application/merge-patch+json',
        );
    }
    const live = new Set(svcs.map((s) => `${s.metadata.namespace}/${s.metadata.name}`));
    for (const [key, b] of this.services) {
      if (live.has(key)) continue;
      for (const server of b.servers) server.close();
      this.services.delete(key);
    }
  }

  private async open(svc: Service): Promise<Balanced> {
    const ip = `${this.prefix}.${this.nextHost++}`;
    const b: Balanced = {
      ip,
      servers: [],
      backends: new Map(),
      next: 0,
      connections: new Map(),
      refused: new Map(),
    };
    for (const port of svc.spec.ports) {
      const name = port.name ?? '';
      const server = createServer((client) => {
        b.connections.set(name, (b.connections.get(name) ?? 0) + 1);
        const targets = b.backends.get(name) ?? [];
        if (!targets.length) {
          b.refused.set(name, (b.refused.get(name) ?? 0) + 1);
          return client.destroy();
        }
        const [host, p] = targets[b.next++ % targets.length]!.split(':') as [string, string];
        const upstream = createConnection({ host, port: Number(p) });
        client.pipe(upstream).pipe(client);
        const close = () => (client.destroy(), upstream.destroy());
        client.on('error', close);
        upstream.on('error', close);
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port.port, ip, () => resolve());
      });
      b.servers.push(server);
    }
    this.o.log(`load balancer ${svc.metadata.namespace}/${svc.metadata.name} at ${ip}`);
    return b;
  }

  /**
   * The counters in Prometheus' text format, labelled with the Service's namespace, name and port
   * name: what an ingress controller or a cloud load balancer exports, and the only demand signal
   * that exists while a Deployment has zero replicas (KEDA's activation reads it).
   */
  metrics(): string {
    const counter = (name: string, help: string, of: (b: Balanced) => Map<string, number>) => [
      `# HELP ${name} ${help}`,
      `# TYPE ${name} counter`,
      ...[...this.services].flatMap(([key, b]) => {
        const [namespace, service] = key.split('/') as [string, string];
        return [...of(b)].map(
          ([port, n]) => `${name}{namespace="${namespace}",service="${service}",port="${port}"} ${n}`,
        );
      }),
    ];
    return (
      [
        ...counter(
          LB_METRICS.connections,
          'TCP connections accepted at the Service of type LoadBalancer.',
          (b) => b.connections,
        ),
        ...counter(
          LB_METRICS.refused,
          'TCP connections closed at once because the Service had no ready endpoint.',
          (b) => b.refused,
        ),
      ].join('\n') + '\n'
    );
  }

  close(): void {
    for (const b of this.services.values()) for (const s of b.servers) s.close();
  }
}

function backendsOf(svc: Service, slices: EndpointSlice[]): Map<string, string[]> {
  const mine = slices.filter(
    (s) =>
      s.metadata.namespace === svc.metadata.namespace &&
      s.metadata.labels?.['kubernetes.io/service-name'] === svc.metadata.name,
  );
  const out = new Map<string, string[]>();
  for (const port of svc.spec.ports) {
    const name = port.name ?? '';
    const targets: string[] = [];
    for (const s of mine) {
      const target = s.ports?.find((p) => (p.name ?? '') === name)?.port;
      if (target === undefined) continue;
      for (const e of s.endpoints ?? [])
        if (e.conditions?.ready !== false) for (const a of e.addresses) targets.push(`${a}:${target}`);
    }
    out.set(name, targets);
  }
  return out;
}
