/**
 * The report a client script (test/clients/*.py) prints: one entry per call, holding what the call
 * returned or the exception it raised. The script runs in the pinned client venv.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { clientPython } from './venv.ts';

type Entry = { ok?: any; error?: string; trace?: string }; // eslint-disable-line @typescript-eslint/no-explicit-any
export type ClientReport = Record<string, Entry>;

/** Runs test/clients/`script` with `args` and parses its report. */
export async function runClientScript(script: string, args: readonly string[]): Promise<ClientReport> {
  const { stdout } = await promisify(execFile)(clientPython(), [join(import.meta.dirname, script), ...args], {
    maxBuffer: 16 * 1024 * 1024,
    timeout: 120_000,
  });
  return JSON.parse(stdout) as ClientReport;
}

/** The value a call returned; fails with the client's exception when it raised one. */
export function callResult(report: ClientReport, call: string) {
  const entry = report[call];
  expect(entry, `the script made no ${call} call`).toBeDefined();
  expect(entry!.error, `${call} raised:\n${entry!.trace}`).toBeUndefined();
  return entry!.ok;
}
