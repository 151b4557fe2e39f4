import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ENV, LOG_LEVELS, METRICS, SERVER_DEFAULTS } from '../../constructs/contract.ts';
import { serverDir } from './helpers.ts';

const readme = readFileSync(join(serverDir, 'README.md'), 'utf8');

it('documents every contract metric with its type and labels, and nothing else', () => {
  const rows = [...readme.matchAll(/^\| `(inference_[a-z_]+)` \| (\w+) \| ([a-z_, ]+) \|/gm)].map((m) => ({
    name: m[1],
    type: m[2],
    labels: m[3]!.split(', '),
  }));
  expect(rows).toEqual(
    Object.values(METRICS).map((d) => ({ name: d.name, type: d.type, labels: [...d.labelNames] })),
  );
});

it('documents every environment variable of the contract', () => {
  for (const name of Object.values(ENV)) expect(readme).toContain(`\`${name}\``);
});

it("documents the contract's defaults and log levels in the flags table", () => {
  const row = (flag: string) =>
    new RegExp(`^\\| \`--${flag} [^|]*\\| [^|]*\\| \`([^\`]*)\` \\|(.*)$`, 'm').exec(readme);
  expect(row('host')?.[1]).toBe(SERVER_DEFAULTS.host);
  expect(row('drain-seconds')?.[1]).toBe(String(SERVER_DEFAULTS.drainSeconds));
  expect(row('max-body-bytes')?.[1]).toBe(String(SERVER_DEFAULTS.maxBodyBytes));
  expect(row('log-level')?.[1]).toBe(SERVER_DEFAULTS.logLevel);
  expect(row('log-level')?.[2]).toContain(LOG_LEVELS.map((l) => `\`${l}\``).join(', '));
});
