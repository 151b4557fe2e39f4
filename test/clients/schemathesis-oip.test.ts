/**
 * schemathesis (pinned in test/clients/requirements.txt) against the real server with the KServe
 * Open Inference Protocol REST spec, third_party/oip/open_inference_rest.yaml: every check it has,
 * a fixed seed and a bounded number of cases per operation, in two passes. Each place where the
 * server answers what the spec does not say is a named deviation below with the spec lines that
 * justify it, checked against the file so that a justification cannot outlive its text.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningServer } from '../../server/server.ts';
import { bundledModels, removeDir, repoRoot, startTestServer } from '../server/helpers.ts';
import { clientPython } from './venv.ts';

const SPEC = join(repoRoot, 'third_party', 'oip', 'open_inference_rest.yaml');
const SEED = 20261206;
/** Cases per operation and phase: 217 and 285 cases in the two passes, 12-23 s each on a 2-core machine. */
const MAX_EXAMPLES = 50;
const INFER = 'post-v2-models-$-MODEL_NAME-versions-$-MODEL_VERSION-infer';

/** Where the server answers what the spec leaves open, and the spec lines (1-based) that say so. */
const DEVIATIONS = {
  pathTemplates: {
    lines: {
      42: `  '/v2/models/\${MODEL_NAME}/versions/\${MODEL_VERSION}/ready':`,
      46: '        name: MODEL_NAME',
    },
    why:
      "The paths write the parameter `${MODEL_NAME}` while the parameter is named MODEL_NAME: the '$' " +
      "is the prose spec's placeholder mark, and taken literally every URL would read /v2/models/$mlp. " +
      'The spec handed to schemathesis has `{MODEL_NAME}` and `{MODEL_VERSION}` instead.',
  },
  modelInputs: {
    lines: {
      263: '        inputs:',
      277: '    request_input:',
      282: '          type: string',
      127: "        '400':",
    },
    why:
      'A schema-valid inference request may hold no inputs or name any tensor, shape and datatype ' +
      '(no minItems, names and datatypes any string): only the model metadata says which the model ' +
      "takes, and the spec's answer to a request the model cannot take is 400. positive_data_acceptance " +
      'accepts 400 for the infer operation.',
  },
  unknownModels: {
    lines: {
      58: "        '200':",
      104: "      description: 'The per-model metadata endpoint provides information about a model.",
      210: '    metadata_model_error_response:',
    },
    why:
      "The model operations declare only '200'; the metadata description promises an error object " +
      'for failures and the spec defines it (metadata_model_error_response) without a status code. ' +
      'The server answers an unknown model 404 with {"error": ...}, as Triton does (KServe\'s SDK ' +
      'reads a 4xx from the ready endpoint as not ready: test/clients/kserve-rest.test.ts). In the ' +
      'pass with generated model names (the model operations only), status_code_conformance is off and ' +
      'positive_data_acceptance accepts 404.',
  },
} as const;

interface Report {
  exit_code: number;
  stop_reason: string;
  seed: number;
  running_time: number;
  operations: { total: number; tested: number; errored: number };
  test_cases: { generated: number; with_failures: number; errored: number };
  failures: unknown[];
  errors: unknown[];
}

let server: RunningServer;
let dir: string;
let spec: string;

beforeAll(async () => {
  server = await startTestServer(bundledModels);
  dir = mkdtempSync(join(tmpdir(), 'schemathesis-'));
  spec = join(dir, 'open_inference_rest.yaml');
  // DEVIATIONS.pathTemplates.
  writeFileSync(spec, readFileSync(SPEC, 'utf8').replace(/\$\{(MODEL_NAME|MODEL_VERSION)\}/g, '{$1}'));
});

afterAll(async () => {
  await server?.shutdown();
  if (dir) removeDir(dir);
});

/** One schemathesis run with the given schemathesis.toml lines; its JSON report. */
async function run(name: string, config: string[], cliArgs: string[] = []): Promise<Report> {
  const configFile = join(dir, `${name}.toml`);
  const reportFile = join(dir, `${name}.json`);
  // No example database: a case that failed once must not come back in a later run.
  writeFileSync(configFile, [`seed = ${SEED}`, '[generation]', 'database = "none"', ...config].join('\n'));
  const args = ['-m', 'schemathesis.cli', '--config-file', configFile, 'run', spec];
  args.push('--url', server.url, '--checks', 'all', '--max-examples', String(MAX_EXAMPLES));
  args.push('--workers', '1', '--continue-on-failure', '--no-color');
  args.push('--report', 'json', '--report-json-path', reportFile, ...cliArgs);
  const started = performance.now();
  const out = await promisify(execFile)(clientPython(), args, {
    cwd: dir, // schemathesis writes its cache (.schemathesis) where it runs
    maxBuffer: 16 * 1024 * 1024,
    timeout: 90_000,
  }).catch((err: { stdout?: string; stderr?: string }) => err);
  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as Report;
  console.log(
    `schemathesis ${name}: ${report.test_cases.generated} cases, ${report.operations.tested} operations, ` +
      `${report.failures.length} failures, ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  expect(
    { exit_code: report.exit_code, failures: report.failures, errors: report.errors },
    `schemathesis ${name} output:\n${out.stdout}\n${out.stderr}`,
  ).toEqual({ exit_code: 0, failures: [], errors: [] });
  return report;
}

const operation = (id: string, ...settings: string[]) => [
  '[[operations]]',
  `include-operation-id = "${id}"`,
  ...settings,
];

describe('schemathesis against the OIP REST spec', () => {
  it('each deviation cites lines the spec has', () => {
    const lines = readFileSync(SPEC, 'utf8').split('\n');
    for (const [name, { lines: cited }] of Object.entries(DEVIATIONS))
      for (const [n, text] of Object.entries(cited))
        expect(lines[Number(n) - 1]!.startsWith(text), `${name}: line ${n}`).toBe(true);
  });

  it('the bundled models (mlp, version 1): every check passes', { timeout: 120_000 }, async () => {
    const report = await run('models', [
      '[parameters]',
      '"path.MODEL_NAME" = "mlp"',
      '"path.MODEL_VERSION" = "1"',
      // DEVIATIONS.modelInputs
      ...operation(INFER, 'checks.positive_data_acceptance.expected-statuses = ["200", "400"]'),
    ]);
    expect(report).toMatchObject({ stop_reason: 'completed', seed: SEED });
    expect(report.operations).toMatchObject({ total: 6, tested: 6, errored: 0 });
    expect(report.test_cases.generated).toBeGreaterThanOrEqual(150);
  });

  it(
    'generated model names and versions: no server error, every other check passes',
    { timeout: 120_000 },
    async () => {
      // DEVIATIONS.unknownModels (and modelInputs). schemathesis 4.32 runs one set of checks for
      // all operations, so this pass takes only the model operations.
      const report = await run(
        'names',
        operation(INFER, 'checks.positive_data_acceptance.expected-statuses = ["200", "400", "404"]'),
        ['--include-path-regex', '^/v2/models/', '--exclude-checks', 'status_code_conformance'],
      );
      expect(report).toMatchObject({ stop_reason: 'completed', seed: SEED });
      expect(report.operations).toMatchObject({ total: 6, tested: 3, errored: 0 });
      expect(report.test_cases.generated).toBeGreaterThanOrEqual(100);
    },
  );
});
