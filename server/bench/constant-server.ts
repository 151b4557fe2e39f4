/**
 * The MLP comparison's reference: a bare Hono endpoint on the same route that reads the request
 * body and answers a constant MLP-shaped response, so the difference to the real server is what the
 * server adds (validation, onnxruntime, metrics, logging). It reads the body the idiomatic way,
 * `c.req.arrayBuffer()`; the server reads Node's request directly (server/body.ts), which is cheaper.
 *
 *   tsx server/bench/constant-server.ts PORT
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const app = new Hono();
const answer = {
  model_name: 'mlp',
  model_version: '1',
  outputs: [{ name: 'output', datatype: 'FP32', shape: [1, 4], data: [0.1, -0.2, 0.3, -0.4] }],
};
app.get('/v2/health/ready', (c) => c.json({ ready: true }));
app.post('/v2/models/:model/infer', async (c) => {
  await c.req.arrayBuffer();
  return c.json(answer);
});
serve({ fetch: app.fetch, port: Number(process.argv[2]), hostname: '127.0.0.1' });
