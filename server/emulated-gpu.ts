/**
 * TEST AND DEMO ONLY: an emulated GPU. On a machine without a GPU, more pods cannot add compute,
 * so a closed autoscaling loop needs a model of the device: after onnxruntime computes a job on
 * the CPU, the job also holds the emulated device (a service on a Unix socket, shared by every pod
 * "on" that GPU: cluster/agent/emulated-gpu.ts) for its modelled service time, so pods on one GPU
 * share its throughput as time-sliced pods do on hardware.
 *
 * Enabled only by the EMULATED_GPU_SOCKET environment variable, which the local cluster's node
 * agent sets; the constructs and the image never set it. Only models served by the direct
 * scheduler are emulated (the dynamic batcher's worker threads run their own sessions).
 */
import { request } from 'node:http';
import type * as ort from 'onnxruntime-node';
import type { SchedulerFactory } from './scheduling.ts';

export const EMULATED_GPU_ENV = 'EMULATED_GPU_SOCKET';

/** Holds the emulated device for one job of `rows` rows; resolves when the device is done with it. */
function holdDevice(socketPath: string, rows: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: `/run?rows=${rows}`, method: 'POST' }, (res) => {
      res.resume();
      res.on('end', () =>
        res.statusCode === 200 ? resolve() : reject(new Error(`emulated GPU: ${res.statusCode}`)),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

function emulatedSession(session: ort.InferenceSession, socketPath: string): ort.InferenceSession {
  return new Proxy(session, {
    get(target, prop) {
      if (prop === 'run')
        return async (feeds: Record<string, ort.Tensor>, ...rest: unknown[]) => {
          const out = await (target.run as (...a: unknown[]) => Promise<unknown>).call(
            target,
            feeds,
            ...rest,
          );
          const rows = Number(Object.values(feeds)[0]?.dims[0] ?? 1);
          await holdDevice(socketPath, rows);
          return out;
        };
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** The scheduler factory with every session's compute followed by the emulated device's time. */
export function withEmulatedGpu(factory: SchedulerFactory, socketPath: string): SchedulerFactory {
  return (ctx) =>
    factory({
      ...ctx,
      sessions: async () => (await ctx.sessions()).map((s) => emulatedSession(s, socketPath)),
    });
}
