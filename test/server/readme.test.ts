import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ENV, METRICS } from '../../constructs/contract.ts';
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
