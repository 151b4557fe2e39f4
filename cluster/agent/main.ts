/**
 * The node agent: one process that plays, for this machine, the parts of a cluster no binary here
 * plays: the kubelet for the pods it can run (pod-runner.ts), the `kubernetes` Service's forward
 * for those pods, the LoadBalancer implementation (load-balancer.ts), and an emulated GPU per GPU
 * node (emulated-gpu.ts), and the kubelet's metrics endpoints on each node's address (kubelet-metrics.ts).
 *
 *   tsx cluster/agent/main.ts CONFIG.json
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { GPU_RESOURCE } from '../../constructs/gpu-inference-service.ts';
import { podAddressing } from '../addresses.ts';
import { forward } from '../forward.ts';
import { layout } from '../layout.ts';
import { apiClient } from './api.ts';
import { PodRunner } from './pod-runner.ts';
import { LoadBalancer } from './load-balancer.ts';
import { EmulatedGpu } from './emulated-gpu.ts';
import { KubeletEndpoints, registeredNodes } from './kubelet-metrics.ts';
import type { AgentConfig } from './start.ts';

const config = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as AgentConfig;
const l = layout(config.dir);
const log = (msg: string) => console.log(`${new Date().toISOString()} ${msg}`);
const api = apiClient(`${l.dir}/node-agent.kubeconfig`);

await forward({
  listenHost: l.hostIp,
  listenPort: l.ports.apiserver,
  targetHost: '127.0.0.1',
  targetPort: l.ports.apiserver,
});
const gpus = new Map<string, EmulatedGpu>();
mkdirSync(join(l.dir, 'gpus'), { recursive: true });
const gpuFor = (node: string): EmulatedGpu => {
  let g = gpus.get(node);
  if (!g) gpus.set(node, (g = new EmulatedGpu(node, join(l.dir, 'gpus', `${node}.sock`))));
  return g;
};
const runner = new PodRunner({
  layout: l,
  api,
  addressing: podAddressing(config.podCidr),
  apiHost: l.hostIp,
  apiPort: l.ports.apiserver,
  gpuStartupSeconds: config.gpuStartupSeconds,
  gpuResource: GPU_RESOURCE,
  gpuFor,
  log,
});
const lb = new LoadBalancer({ api, log, firstAddress: config.loadBalancerFirstAddress });
const metrics = createServer((req, res) => {
  if (req.url !== '/metrics') return res.writeHead(404).end();
  res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(lb.metrics());
});
await new Promise<void>((resolve, reject) => {
  metrics.once('error', reject);
  metrics.listen(l.ports.agentMetrics, l.hostIp, () => resolve());
});

// The kubelet's metrics endpoints (resource metrics for metrics-server, cAdvisor's for Prometheus),
// on each node's InternalIP, from the real processes the runner started.
const kubelet = new KubeletEndpoints({ pkiDir: l.pki, device: l.bridge, log });
await kubelet.start(await registeredNodes(api));

let stopping = false;
process.on('SIGTERM', () => {
  stopping = true;
  runner.shutdown();
  lb.close();
  metrics.close();
  void kubelet.close();
  for (const g of gpus.values()) g.close();
  process.exit(0);
});

for (let first = true; !stopping; first = false) {
  const started = Date.now();
  try {
    await runner.sync();
    await lb.sync();
    if (first) writeFileSync(`${l.dir}/agent.ready`, '');
  } catch (e) {
    log(`sync failed: ${(e as Error).stack ?? String(e)}`);
  }
  kubelet.update(runner.running());
  await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - started))));
}
