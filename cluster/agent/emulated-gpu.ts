/**
 * EMULATION, not a GPU: one device per GPU node, a FIFO server with the planner's service time
 * (planner/sim/capacity.ts batchSeconds, DEFAULT_CAPACITY), shared by every pod the agent runs on
 * that node, so that time-slicing behaves as on hardware: pods on one GPU share its throughput.
 * Servers reach it through EMULATED_GPU_SOCKET (server/emulated-gpu.ts). It also reports how busy
 * it was, for the labelled DCGM stand-in exporter.
 */
import { rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { batchSeconds, DEFAULT_CAPACITY, type CapacityModel } from '../../planner/sim/capacity.ts';

export class EmulatedGpu {
  private queue: Promise<void> = Promise.resolve();
  private busySeconds = 0;
  private readonly server: Server;

  constructor(
    readonly node: string,
    readonly socketPath: string,
    private readonly model: CapacityModel = DEFAULT_CAPACITY,
  ) {
    rmSync(socketPath, { force: true });
    this.server = createServer((req, res) => {
      const rows = Number(new URL(req.url ?? '/', 'http://gpu').searchParams.get('rows') ?? 1);
      if (!Number.isInteger(rows) || rows < 1) {
        res.writeHead(400).end(`rows must be an integer >= 1, got ${rows}`);
        return;
      }
      const seconds = batchSeconds(this.model, rows);
      this.queue = this.queue.then(
        () =>
          new Promise<void>((done) =>
            setTimeout(() => {
              this.busySeconds += seconds;
              res.writeHead(200).end();
              done();
            }, seconds * 1000),
          ),
      );
    });
    this.server.listen(socketPath);
  }

  /** Total seconds the device has been busy (DCGM's utilization is its rate). */
  get busy(): number {
    return this.busySeconds;
  }

  close(): void {
    this.server.close();
    rmSync(this.socketPath, { force: true });
  }
}
