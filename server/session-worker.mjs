// One model instance off the JS thread: an onnxruntime session in a worker thread.
// onnxruntime-node runs `session.run` synchronously on the calling thread, so in the server's
// thread it would stop the event loop (and the reading of request bodies) for each batch.
// Plain JavaScript so that it loads in a worker without a TypeScript loader (tsx, vitest).
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';

const session = await ort.InferenceSession.create(workerData.file, workerData.options);

parentPort.on('message', async ({ id, feeds, fetches }) => {
  try {
    const tensors = {};
    for (const [name, t] of Object.entries(feeds)) tensors[name] = new ort.Tensor(t.type, t.data, t.dims);
    const results = await session.run(tensors, fetches);
    const outputs = {};
    for (const [name, t] of Object.entries(results))
      outputs[name] = { type: t.type, data: t.data, dims: t.dims };
    parentPort.postMessage({ id, outputs });
  } catch (err) {
    parentPort.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
});
parentPort.postMessage({ ready: true });
