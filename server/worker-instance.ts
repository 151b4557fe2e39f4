import { Worker } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

interface WireTensor {
  readonly type: ort.Tensor.Type;
  readonly data: ort.Tensor['data'];
  readonly dims: readonly number[];
}

/**
 * Tensor data that nobody else references (the batcher's concatenated inputs): moved to the worker
 * instead of copied. Request tensors are never in it: they may be views over memory the caller keeps.
 */
/** One model instance: an onnxruntime session (tests wrap one to record what it runs). */
export interface BatchInstance {
  run(feeds: Record<string, ort.Tensor>, fetches: string[]): Promise<ort.InferenceSession.ReturnType>;
}

export const movable = new WeakSet<object>();

type Reply =
  | { readonly ready: true }
  | { readonly id: number; readonly outputs: Record<string, WireTensor> }
  | { readonly id: number; readonly error: string };

/**
 * A model instance in a worker thread (server/session-worker.mjs), so that the JS thread keeps
 * reading requests while a batch computes. Tensors cross by structured clone (a memcpy).
 */
export class WorkerInstance implements BatchInstance {
  private readonly pending = new Map<
    number,
    { resolve: (v: Record<string, ort.Tensor>) => void; reject: (e: Error) => void }
  >();
  private nextId = 0;
  private failure?: Error;

  private constructor(private readonly worker: Worker) {
    worker.on('message', (reply: Reply) => {
      if ('ready' in reply) return;
      const call = this.pending.get(reply.id);
      if (!call) return;
      this.pending.delete(reply.id);
      if ('error' in reply) {
        call.reject(new Error(reply.error));
        return;
      }
      const outputs: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(reply.outputs)) {
        outputs[name] = new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims);
      }
      call.resolve(outputs);
    });
    const fail = (error: Error) => {
      this.failure = error;
      for (const call of this.pending.values()) call.reject(error);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`model instance worker exited with code ${code}`)));
  }

  /** Starts a worker and resolves once its session is created. */
  static async create(file: string, options: ort.InferenceSession.SessionOptions): Promise<WorkerInstance> {
    const worker = new Worker(new URL('./session-worker.mjs', import.meta.url), {
      workerData: { file, options },
      // Plain JS: skip the parent's `--import tsx`, which would only slow the worker's start.
      execArgv: [],
    });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      worker.once('error', onError);
      worker.once('message', () => {
        worker.off('error', onError);
        resolve();
      });
    });
    return new WorkerInstance(worker);
  }

  run(feeds: Record<string, ort.Tensor>, fetches: string[]): Promise<ort.InferenceSession.ReturnType> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    const wire: Record<string, WireTensor> = {};
    const transfer: ArrayBuffer[] = [];
    for (const [name, t] of Object.entries(feeds)) {
      wire[name] = { type: t.type, data: t.data, dims: t.dims };
      if (movable.has(t.data) && !Array.isArray(t.data)) transfer.push(t.data.buffer as ArrayBuffer);
    }
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, feeds: wire, fetches }, transfer);
    });
  }

  async release(): Promise<void> {
    this.worker.removeAllListeners('exit');
    await this.worker.terminate();
  }
}
