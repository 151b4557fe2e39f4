/** main.ts's system synthesized with test options into a scratch folder (props, never YAML edits). */
import { App, YamlOutputType } from 'cdk8s';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubectlJson } from '../../cluster/kubectl.ts';
import type { Layout } from '../../cluster/layout.ts';
import { createSystem, INFERENCE_NAMESPACE, type SystemOptions } from '../../main.ts';
import { waitUntil } from './wait.ts';

export function synthSystem(options: SystemOptions): string {
  const outdir = mkdtempSync(join(tmpdir(), 'cluster-system-'));
  const app = new App({ outdir, yamlOutputType: YamlOutputType.FILE_PER_CHART });
  createSystem(app, options);
  app.synth();
  return outdir;
}

/** One inference request for the bundled mlp model (the model the emulated GPU serves). */
export const MLP_INFER_BODY = JSON.stringify({
  inputs: [
    { name: 'input', shape: [1, 16], datatype: 'FP32', data: Array.from({ length: 16 }, (_, i) => i) },
  ],
});

/** The inference Service's LoadBalancer address, once the agent has given it one. */
export function loadBalancerIp(l: Layout, timeoutMs = 60_000): Promise<string> {
  return waitUntil('the inference Service has a LoadBalancer address', timeoutMs, () => {
    const svc = kubectlJson<{ status: { loadBalancer?: { ingress?: { ip: string }[] } } }>(l, [
      'get',
      'svc',
      '-n',
      INFERENCE_NAMESPACE,
      'inference',
    ]);
    return svc.status.loadBalancer?.ingress?.[0]?.ip ?? { pending: JSON.stringify(svc.status) };
  });
}
