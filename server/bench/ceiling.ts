/**
 * The ceiling: onnxruntime-node throughput in-process (no HTTP, no JSON), for a model at several
 * batch sizes. Run alone, so that nothing else in the process competes with the session:
 *
 *   tsx server/bench/ceiling.ts MODEL.onnx INTRA_OP_THREADS SECONDS_PER_BATCH BATCH...
 *
 * prints one JSON line: [{ batch, samplesPerSecond, cpuMsPerSample }, ...] (CPU: the whole process,
 * user + system, over the timed loop). INTRA_OP_THREADS 0 is onnxruntime's
 * own choice; BENCH_ALLOW_SPINNING=0 turns off the spin-waiting of its intra-op threads
 * (session option `session.intra_op.allow_spinning`, onnxruntime_session_options_config_keys.h).
 */
import * as ort from 'onnxruntime-node';

const [model, intra, seconds, ...batches] = process.argv.slice(2);
const session = await ort.InferenceSession.create(model, {
  ...(Number(intra) > 0 && { intraOpNumThreads: Number(intra) }),
  ...(process.env.BENCH_ALLOW_SPINNING === '0' && {
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  }),
});
const input = session.inputNames[0];
const meta = session.inputMetadata[0];
const sampleShape = (meta.isTensor ? meta.shape : []).slice(1).map((d) => (typeof d === 'number' ? d : 1));
const results = [];
for (const b of batches.map(Number)) {
  const dims = [b, ...sampleShape];
  const data = new Float32Array(dims.reduce((a, c) => a * c, 1)).map(() => Math.random());
  const feeds = { [input]: new ort.Tensor('float32', data, dims) };
  await session.run(feeds);
  let samples = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() - t0 < Number(seconds) * 1000) {
    await session.run(feeds);
    samples += b;
  }
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  results.push({
    batch: b,
    samplesPerSecond: samples / elapsed,
    cpuMsPerSample: (cpu.user + cpu.system) / 1000 / samples,
  });
}
await session.release();
console.log(JSON.stringify(results));
