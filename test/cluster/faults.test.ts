/**
 * cluster:up's failures: a port in use and a component that dies each stop it with a message
 * naming the component, its log file and what to do, and leave no process and no network behind.
 */
import { execFileSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { down, up } from '../../cluster/cluster.ts';
import { layout } from '../../cluster/layout.ts';
import { alive, recorded } from '../../cluster/processes.ts';

const l = layout();
let blocker: Server | undefined;

afterEach(async () => {
  blocker?.close();
  blocker = undefined;
  await down();
});

function leftBehind(): string[] {
  const procs = recorded(l)
    .filter((p) => alive(p.pid))
    .map((p) => `process ${p.name}`);
  const links = execFileSync('ip', ['-br', 'link'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.split(/\s+/)[0]!)
    .filter((n) => n === l.bridge || n.startsWith(l.vethPrefix));
  const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .filter((n) => n.startsWith(l.netnsPrefix));
  return [...procs, ...links, ...netns];
}

describe('cluster:up faults', () => {
  it('a port in use: names the component and the port, starts nothing', async () => {
    blocker = createServer();
    await new Promise<void>((r) => blocker!.listen(l.ports.apiserver, '127.0.0.1', r));
    await expect(up({ apply: false })).rejects.toThrow(
      `kube-apiserver: port 127.0.0.1:${l.ports.apiserver} is already in use (another cluster:up, or another program)`,
    );
    expect(leftBehind()).toEqual([]);
  });

  it('a component that dies: names it, its log and what to do, and stops what had started', async () => {
    const err = await up({ apply: false, controllerManager: { hpaSyncPeriod: 'fifteen' } }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.message).toMatch(
      /^kube-controller-manager: exited before healthy\n {2}log: \S+kube-controller-manager\.log\n/,
    );
    expect(err?.message).toContain('invalid argument "fifteen"');
    expect(err?.message).toContain(
      'what to do: fix the cause above, then run npm run cluster:down and npm run cluster:up again',
    );
    expect(leftBehind()).toEqual([]);
  }, 120_000);
});
