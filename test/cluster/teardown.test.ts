/**
 * A program that started a local cluster stops it when a signal ends it (hardening #13: a
 * crashed or interrupted demo left its servers running). A real detached process group, started
 * as cluster:up starts its components, stands for the cluster here; the script is killed as
 * Ctrl-C or a test runner would kill it.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, expect, it } from 'vitest';
import { alive } from '../../cluster/processes.ts';
import { REPO_ROOT } from '../../cluster/layout.ts';

const dirs: string[] = [];
const pids: number[] = [];
afterAll(() => {
  for (const pid of pids) if (alive(pid)) process.kill(-pid, 'SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const SCRIPT = `
import { layout } from './cluster/layout.ts';
import { start, stopAll } from './cluster/processes.ts';
import { stopOnSignal } from './cluster/teardown.ts';
const l = layout(process.argv[1]);
const p = start(l, 'component', 'sh', ['-c', 'sleep 600 & wait']);
stopOnSignal(() => stopAll(l, 2000));
console.log(p.pid);
setInterval(() => undefined, 1000);
`;

for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
] as const) {
  it(`stops the processes it started on ${signal}, then exits ${code}`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'teardown-'));
    dirs.push(dir);
    const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT, dir], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    proc.stderr!.on('data', (d) => (stderr += String(d)));
    const pid = await new Promise<number>((resolve, reject) => {
      createInterface({ input: proc.stdout! }).once('line', (line) => resolve(Number(line)));
      proc.once('exit', (c) => reject(new Error(`script exited ${c}: ${stderr}`)));
    });
    pids.push(pid);
    expect(alive(pid)).toBe(true);
    const exited = new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
    proc.kill(signal);
    expect(await exited).toBe(code);
    expect(alive(pid)).toBe(false);
    expect(stderr).toContain(`${signal}: stopping the local cluster before exiting ...`);
  });
}
