/**
 * `npm run --silent hpa-conformance < cases.json`: reads one JSON array of conformance cases on
 * stdin and prints one JSON array of results, one object per case, in order (format:
 * third_party/hpa-conformance/README.md). Nothing else goes to stdout; problems go to stderr.
 */
import { CaseInputError, runCases } from '../conformance/cases.ts';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<number> {
  const text = await readStdin();
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (e) {
    process.stderr.write(`hpa-conformance: stdin is not JSON: ${(e as Error).message}\n`);
    return 2;
  }
  const inputErrors: string[] = [];
  let outputs;
  try {
    outputs = runCases(input, inputErrors);
  } catch (e) {
    if (!(e instanceof CaseInputError)) throw e;
    process.stderr.write(`hpa-conformance: ${e.message}\n`);
    return 2;
  }
  process.stdout.write(`[\n${outputs.map((o) => '  ' + JSON.stringify(o)).join(',\n')}\n]\n`);
  for (const message of inputErrors) process.stderr.write(`hpa-conformance: ${message}\n`);
  return inputErrors.length > 0 ? 2 : 0;
}

process.exitCode = await main();
