/** Starts the node agent (cluster/agent/main.ts) as one of the cluster's processes. */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_STARTUP } from '../../planner/sim/simulate.ts';
import type { Layout } from '../layout.ts';
import { REPO_ROOT } from '../layout.ts';
import { start, waitFor } from '../processes.ts';

export interface AgentConfig {
  readonly dir: string;
  readonly podCidr: string;
  /** @default the planner's DEFAULT_STARTUP.startupSeconds (model load and image pull of a GPU pod) */
  readonly gpuStartupSeconds: number;
  /** LoadBalancer addresses are given out from here up, on the host's loopback. */
  readonly loadBalancerFirstAddress: string;
}

export interface AgentOptions {
  /** @default DEFAULT_STARTUP.startupSeconds */
  readonly gpuStartupSeconds?: number;
  /** @default 127.0.100.1 */
  readonly loadBalancerFirstAddress?: string;
}

export async function startAgent(l: Layout, podCidr: string, opts: AgentOptions = {}): Promise<void> {
  const config: AgentConfig = {
    dir: l.dir,
    podCidr,
    gpuStartupSeconds: opts.gpuStartupSeconds ?? DEFAULT_STARTUP.startupSeconds,
    loadBalancerFirstAddress: opts.loadBalancerFirstAddress ?? '127.0.100.1',
  };
  const file = join(l.dir, 'agent.json');
  writeFileSync(file, JSON.stringify(config, null, 2));
  const p = start(
    l,
    'node-agent',
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'cluster', 'agent', 'main.ts'), file],
    {
      cwd: REPO_ROOT,
    },
  );
  await waitFor(p, 'ready', async () => existsSync(join(l.dir, 'agent.ready')));
}
