import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RunningServer } from '../../server/server.ts';
import { bundledModels, fp32Request, post, reference, startTestServer } from './helpers.ts';

let server: RunningServer;

beforeAll(async () => {
  // The bundled repository, exactly what `npm run serve` serves.
  server = await startTestServer(bundledModels);
});

afterAll(async () => {
  await server?.shutdown();
});

it.each(['squeezenet1_1', 'mlp'])(
  '%s answers through the HTTP API what PyTorch computed (1e-4)',
  async (model) => {
    const ref = reference(model);
    expect(ref.input.shape[0]).toBeGreaterThan(1); // a batch: rows must not leak into each other
    const res = await post(
      `${server.url}/v2/models/${model}/infer`,
      fp32Request(ref.input.name, ref.input.shape, ref.input.data),
    );
    expect(res.status).toBe(200);
    const out = res.body.outputs[0];
    expect(out).toMatchObject({ name: ref.output.name, datatype: 'FP32', shape: ref.output.shape });
    expect(out.data).toHaveLength(ref.output.data.length);
    let worst = 0;
    ref.output.data.forEach((expected, i) => {
      worst = Math.max(worst, Math.abs(out.data[i] - expected));
    });
    expect(worst).toBeLessThan(1e-4);
    // The reference is not trivially matched: outputs vary across the tensor.
    expect(new Set(out.data.slice(0, 50)).size).toBeGreaterThan(2);
  },
);
