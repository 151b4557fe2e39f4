/** Shared by the provisioning tests: run the real CLI entry point (free ports: ../free-port.ts). */
import { execFile } from 'node:child_process';
import type { HostResult } from '../../provision/src/engine.ts';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** Parsed stdout when --json was given (undefined when it did not parse: the test then fails on it). */
  json?: { check: boolean; failed: boolean; hosts: HostResult[]; notRun: string[] };
}

/** `node provision/node.mjs ...args` from the repository root, as a user would run it. */
export function runCli(args: string[], timeoutMs = 480_000): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      'node',
      ['provision/node.mjs', ...args],
      { maxBuffer: 64 << 20, timeout: timeoutMs },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 99) : 0;
        let json;
        if (args.includes('--json')) {
          try {
            json = JSON.parse(stdout);
          } catch {
            /* left undefined */
          }
        }
        resolve({ code, stdout, stderr, json });
      },
    );
  });
}
