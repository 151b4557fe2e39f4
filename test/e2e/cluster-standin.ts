/**
 * Stand-ins for the two cluster components whose series the dashboards and alerts read besides the
 * server and dcgm-exporter, served on one loopback /metrics endpoint:
 *
 * - the kubelet's cAdvisor: each pod's CPU seconds and working set, measured from the pod process's
 *   /proc/<pid>/stat and /proc/<pid>/status (real figures of the real server process);
 * - kube-state-metrics: the HPA status the planner's HPA computation decided and the Deployment's
 *   replica counts.
 *
 * The metric and label names are written here from upstream's documentation on purpose — NOT taken
 * from constructs/ — so a wrong name in a dashboard or alert shows up as a query without data:
 * cAdvisor/kubelet: container_cpu_usage_seconds_total, container_memory_working_set_bytes with labels
 * namespace, pod, container (kubernetes/kubernetes pkg/kubelet/metrics/collectors and
 * google/cadvisor docs/storage/prometheus.md); kube-state-metrics docs/metrics/workload/
 * horizontalpodautoscaler-metrics.md and deployment-metrics.md (labels namespace,
 * horizontalpodautoscaler / deployment).
 *
 * The same CPU reading is what metrics-server would hand the HPA for `Resource cpu` (it reads the
 * kubelet's usage of the same cgroup), so `cpuMillicores()` feeds the HPA computation too.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';

/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat (100 on Linux x86_64 and arm64). */
const CLOCK_TICKS_PER_SECOND = 100;

export interface StandInPod {
  readonly name: string;
  readonly namespace: string;
  readonly container: string;
  readonly pid: number;
  /** Whether the pod's readiness probe passes now. */
  ready: boolean;
}

export interface HpaStatus {
  readonly namespace: string;
  readonly name: string;
  readonly minReplicas: number;
  readonly maxReplicas: number;
  currentReplicas: number;
  desiredReplicas: number;
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

function residentBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) * 1024 : 0;
}

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
const labels = (l: Record<string, string>) =>
  `{${Object.entries(l)
    .map(([k, v]) => `${k}="${esc(v)}"`)
    .join(',')}}`;

export class ClusterStandIn {
  static async start(deployment: {
    namespace: string;
    name: string;
    specReplicas: number;
  }): Promise<ClusterStandIn> {
    const standIn = new ClusterStandIn(deployment);
    await new Promise<void>((resolve) => standIn.server.listen(0, '127.0.0.1', resolve));
    return standIn;
  }

  readonly pods: StandInPod[] = [];
  readonly hpas: HpaStatus[] = [];
  private readonly server: Server;
  private readonly lastCpu = new Map<string, { at: number; seconds: number }>();

  private constructor(
    private readonly deployment: { namespace: string; name: string; specReplicas: number },
  ) {
    this.server = createServer((req, res) => {
      const body =
        req.url === '/metrics/cadvisor' ? this.cadvisor() : req.url === '/metrics' ? this.kubeState() : null;
      if (body === null) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(body);
    });
  }

  get address(): string {
    const a = this.server.address();
    if (!a || typeof a === 'string') throw new Error('stand-in not listening');
    return `127.0.0.1:${a.port}`;
  }

  private cadvisor(): string {
    const lines = [
      '# TYPE container_cpu_usage_seconds_total counter',
      ...this.pods.map(
        (p) =>
          `container_cpu_usage_seconds_total${labels({ namespace: p.namespace, pod: p.name, container: p.container })} ${cpuSeconds(p.pid)}`,
      ),
      '# TYPE container_memory_working_set_bytes gauge',
      ...this.pods.map(
        (p) =>
          `container_memory_working_set_bytes${labels({ namespace: p.namespace, pod: p.name, container: p.container })} ${residentBytes(p.pid)}`,
      ),
    ];
    return lines.join('\n') + '\n';
  }

  private kubeState(): string {
    const d = this.deployment;
    const dl = labels({ namespace: d.namespace, deployment: d.name });
    const lines = [
      '# TYPE kube_deployment_spec_replicas gauge',
      `kube_deployment_spec_replicas${dl} ${d.specReplicas}`,
      '# TYPE kube_deployment_status_replicas_available gauge',
      `kube_deployment_status_replicas_available${dl} ${this.pods.filter((p) => p.ready).length}`,
    ];
    const hpa = (metric: string, value: (h: HpaStatus) => number) => [
      `# TYPE ${metric} gauge`,
      ...this.hpas.map(
        (h) => `${metric}${labels({ namespace: h.namespace, horizontalpodautoscaler: h.name })} ${value(h)}`,
      ),
    ];
    lines.push(
      ...hpa('kube_horizontalpodautoscaler_status_current_replicas', (h) => h.currentReplicas),
      ...hpa('kube_horizontalpodautoscaler_status_desired_replicas', (h) => h.desiredReplicas),
      ...hpa('kube_horizontalpodautoscaler_spec_max_replicas', (h) => h.maxReplicas),
      ...hpa('kube_horizontalpodautoscaler_spec_min_replicas', (h) => h.minReplicas),
    );
    return lines.join('\n') + '\n';
  }

  /**
   * CPU of each pod in millicores since the previous call (what metrics-server reports over its
   * window); a pod's first call reports its average since start.
   */
  cpuMillicores(): Map<string, number> {
    const out = new Map<string, number>();
    const now = Date.now() / 1000;
    for (const p of this.pods) {
      const seconds = cpuSeconds(p.pid);
      const last = this.lastCpu.get(p.name) ?? { at: now - 1, seconds: 0 };
      out.set(p.name, Math.round(((seconds - last.seconds) / Math.max(now - last.at, 1e-3)) * 1000));
      this.lastCpu.set(p.name, { at: now, seconds });
    }
    return out;
  }

  /** Scrape jobs as kube-prometheus-stack's kubelet and kube-state-metrics ServiceMonitors set them (honorLabels). */
  scrapeConfigs(interval: string): Record<string, unknown>[] {
    return [
      {
        job_name: 'kubelet',
        honor_labels: true,
        scrape_interval: interval,
        metrics_path: '/metrics/cadvisor',
        static_configs: [{ targets: [this.address] }],
      },
      {
        job_name: 'kube-state-metrics',
        honor_labels: true,
        scrape_interval: interval,
        static_configs: [{ targets: [this.address] }],
      },
    ];
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
