/**
 * EMULATION, not a GPU: one device per GPU node, a FIFO server with the planner's service time
 * (planner/sim/capacity.ts batchSeconds, DEFAULT_CAPACITY), shared by every pod the agent runs on
 * that node, so that time-slicing behaves as on hardware: pods on one GPU share its throughput.
 * Servers reach it through EMULATED_GPU_SOCKET (server/emulated-gpu.ts). It also reports how busy
 * it was, and which pods hold it, for the labelled DCGM stand-in exporter (dcgm-standin.ts):
 * `GET /stats` on the same socket answers GpuStats as JSON.
 */
import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { batchSeconds, DEFAULT_CAPACITY, type CapacityModel } from '../../planner/sim/capacity.ts';

/** The path of the stats request on the device's socket. */
export const GPU_STATS_PATH = '/stats';

/** A container the device is allocated to (what the kubelet's pod-resources API lists). */
export interface GpuWorkload {
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
}

/** What `GET /stats` answers. */
export interface GpuStats {
  readonly node: string;
  /** Seconds the device has been busy since it started, the running job's elapsed part included. */
  readonly busySeconds: number;
  /** The containers the device is allocated to now, in the order they were attached. */
  readonly pods: readonly GpuWorkload[];
}

export class EmulatedGpu {
  private queue: Promise<void> = Promise.resolve();
  private busySeconds = 0;
  /** The job on the device now: when it started (performance.now()) and its service time. */
  private running?: { readonly since: number; readonly seconds: number };
  private readonly workloads = new Map<string, { workload: GpuWorkload; attached: () => boolean }>();
  private readonly server: Server;

  constructor(
    readonly node: string,
    readonly socketPath: string,
    private readonly model: CapacityModel = DEFAULT_CAPACITY,
  ) {
    rmSync(socketPath, { force: true });
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://gpu');
      if (req.method === 'GET' && url.pathname === GPU_STATS_PATH) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.stats));
        return;
      }
      // Anything else is a job (server/emulated-gpu.ts POSTs /run?rows=N).
      const rows = Number(url.searchParams.get('rows') ?? 1);
      if (!Number.isInteger(rows) || rows < 1) {
        res.writeHead(400).end(`rows must be an integer >= 1, got ${rows}`);
        return;
      }
      const seconds = batchSeconds(this.model, rows);
      this.queue = this.queue.then(
        () =>
          new Promise<void>((done) => {
            this.running = { since: performance.now(), seconds };
            setTimeout(() => {
              this.running = undefined;
              this.busySeconds += seconds;
              res.writeHead(200).end();
              done();
            }, seconds * 1000);
          }),
      );
    });
    this.server.listen(socketPath);
  }

  /**
   * Total seconds the device has been busy (DCGM's utilization is its rate): the finished jobs'
   * service times plus the elapsed part of the running one, so that the rate over a window shorter
   * than a job is not lumped at the job's end. Never decreases.
   */
  get busy(): number {
    const r = this.running;
    const elapsed = r ? Math.min(r.seconds, (performance.now() - r.since) / 1000) : 0;
    return this.busySeconds + elapsed;
  }

  /**
   * Records that the device is allocated to `workload` for as long as `attached()` is true (the
   * node agent: until the pod is terminated). Attaching the same container again replaces it.
   */
  attach(workload: GpuWorkload, attached: () => boolean): void {
    const key = `${workload.namespace}/${workload.pod}/${workload.container}`;
    this.workloads.set(key, { workload, attached });
  }

  get stats(): GpuStats {
    for (const [key, w] of this.workloads) if (!w.attached()) this.workloads.delete(key);
    return {
      node: this.node,
      busySeconds: this.busy,
      pods: [...this.workloads.values()].map((w) => w.workload),
    };
  }

  close(): void {
    this.server.close();
    rmSync(this.socketPath, { force: true });
  }
}
