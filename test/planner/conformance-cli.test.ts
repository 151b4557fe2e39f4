import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const samples = fileURLToPath(new URL('../../third_party/hpa-conformance/', import.meta.url));

type Json = Record<string, unknown>;

/** Runs the CLI exactly as the conformance README specifies: `npm run --silent hpa-conformance < FILE`. */
function runCli(file: string): { stdout: string; cases: Json[] } {
  const input = readFileSync(file, 'utf8');
  const stdout = execFileSync('npm', ['run', '--silent', 'hpa-conformance'], {
    cwd: root,
    input,
    encoding: 'utf8',
  });
  return { stdout, cases: JSON.parse(input) as Json[] };
}

// expected field in a case -> the output field that must equal it (README: "every expected field
// that the case asserts (not null) equals the output").
const FIELDS: Record<string, string> = {
  expectedReplicas: 'replicas',
  expectedUtilization: 'utilization',
  expectedValue: 'value',
  expectedCondition: 'condition',
  expectedRecommendationsAfter: 'recommendationsAfter',
  expectedLimit: 'limit',
};

function failures(c: Json, out: Json): string[] {
  const f: string[] = [];
  for (const [expected, actual] of Object.entries(FIELDS)) {
    if (c[expected] === null || c[expected] === undefined) continue;
    if (JSON.stringify(c[expected]) !== JSON.stringify(out[actual])) {
      f.push(`${expected} ${JSON.stringify(c[expected])} != ${actual} ${JSON.stringify(out[actual])}`);
    }
  }
  if (typeof c.expectedError === 'string' && typeof out.error !== 'string') f.push('expected an error');
  if ('metricType' in c && c.expectedError == null && out.error !== null)
    f.push(`unexpected error ${String(out.error)}`);
  if (typeof c.expectedRecommendationsLength === 'number') {
    if ((out.recommendationsAfter as unknown[] | null)?.length !== c.expectedRecommendationsLength) {
      f.push(`recommendations length != ${c.expectedRecommendationsLength}`);
    }
  }
  return f;
}

describe('npm run --silent hpa-conformance', () => {
  for (const name of ['replica-calc.sample.json', 'behavior.sample.json']) {
    it(`passes every case of ${name}`, () => {
      const { stdout, cases } = runCli(samples + name);
      const outputs = JSON.parse(stdout) as Json[];
      expect(Array.isArray(outputs)).toBe(true);
      expect(outputs.map((o) => o.id)).toEqual(cases.map((c) => c.id));
      const failed = cases
        .map((c, i) => ({ id: c.id, f: failures(c, outputs[i]) }))
        .filter((x) => x.f.length > 0);
      expect(failed).toEqual([]);
      expect(cases.length).toBeGreaterThanOrEqual(20);
    });
  }

  it('prints only the JSON array (stdout parses whole) with the README fields', () => {
    const { stdout } = runCli(samples + 'replica-calc.sample.json');
    const first = (JSON.parse(stdout) as Json[])[0];
    expect(Object.keys(first).sort()).toEqual(['error', 'id', 'replicas', 'utilization', 'value']);
  });

  it('rejects input that is not a JSON array with a message on stderr', () => {
    let err: { status?: number; stderr?: string; stdout?: string } = {};
    try {
      execFileSync('npm', ['run', '--silent', 'hpa-conformance'], {
        cwd: root,
        input: '{"id":1}',
        encoding: 'utf8',
        stdio: 'pipe',
      });
    } catch (e) {
      err = e as typeof err;
    }
    expect(err.status).toBe(2);
    expect(err.stdout).toBe('');
    expect(err.stderr).toContain('expected a JSON array of cases');
  });
});
