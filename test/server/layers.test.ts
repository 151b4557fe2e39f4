/**
 * The layers of server/ (issue #12): the inference core never imports the protocol layer or the
 * front ends, and server/ has no import cycle. Imports are read with TypeScript's own scanner
 * (`ts.preProcessFile`: static, type-only and dynamic imports, and re-exports).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { serverDir } from './helpers.ts';

/** Model signature, config, sessions, schedulers, batcher, instances, versions, repository, stats. */
const CORE = [
  'batch-limits.ts',
  'batcher.ts',
  'classification.ts',
  'config.ts',
  'emulated-gpu.ts',
  'inference-request.ts',
  'instances.ts',
  'lifecycle.ts',
  'metrics.ts',
  'model.ts',
  'ort-tensor.ts',
  'repository.ts',
  'scheduler.ts',
  'scheduling.ts',
  'session-options.ts',
  'session-worker.mjs',
  'signature.ts',
  'stats.ts',
  'worker-instance.ts',
];

/** REST codecs, binary extension, JSON tensors, body reading, the apps, the gRPC service, the CLI. */
const PROTOCOL = [
  'app.ts',
  'binary.ts',
  'body-pool.ts',
  'body.ts',
  'cli.ts',
  'codec.ts',
  'grpc/flow-control.ts',
  'grpc/malformed.ts',
  'grpc/server.ts',
  'grpc/service.ts',
  'grpc/status.ts',
  'grpc/tensors.ts',
  'main.ts',
  'not-found.ts',
  'repository-access.ts',
  'server.ts',
  'tensors.ts',
  'triton-config.ts',
];

/** Leaves both layers use: datatypes (the signature's vocabulary), errors, message previews, logging. */
const SHARED = [
  'cpus.ts',
  'datatypes.ts',
  'errors.ts',
  'identity.ts',
  'json-source.ts',
  'logger.ts',
  'preview.ts',
];

type Graph = Map<string, string[]>;

/** Source files of server/ (not its models, bench or image tooling), relative to server/. */
function serverFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      if (e.isDirectory()) {
        if (['grpc'].includes(relative(serverDir, path))) walk(path);
      } else if (/\.(ts|mjs)$/.test(e.name)) out.push(relative(serverDir, path));
    }
  };
  walk(serverDir);
  return out.sort();
}

/** Each file's imports of other server/ files (relative to server/); imports outside server/ are left out. */
export function importGraph(files: readonly string[]): Graph {
  const graph: Graph = new Map();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(join(serverDir, file), 'utf8'), true, true);
    const targets = importedFiles
      .map((f) => f.fileName)
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => relative(serverDir, resolve(serverDir, dirname(file), spec)))
      .filter((target) => !target.startsWith('..'));
    graph.set(file, [...new Set(targets)].sort());
  }
  return graph;
}

/** Every cycle's files, in import order (one per strongly connected set found by depth-first search). */
export function findCycles(graph: Graph): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return cycles;
}

/** Imports of a core file that reach a protocol file, as "core -> protocol". */
export function layerViolations(graph: Graph): string[] {
  return CORE.flatMap((file) =>
    (graph.get(file) ?? []).filter((t) => PROTOCOL.includes(t)).map((t) => `${file} -> ${t}`),
  );
}

const files = serverFiles();
const graph = importGraph(files);

describe('server/ layers', () => {
  it('classifies every source file of server/ in exactly one layer', () => {
    expect([...CORE, ...PROTOCOL, ...SHARED].sort()).toEqual(files);
  });

  it('reads the imports the files have (a parser that saw nothing would pass everything)', () => {
    expect(graph.get('model.ts')).toEqual(expect.arrayContaining(['ort-tensor.ts', 'signature.ts']));
    expect(graph.get('grpc/service.ts')).toEqual(
      expect.arrayContaining(['inference-request.ts', 'grpc/tensors.ts']),
    );
    // `import type` and re-exports count: a type-only import still ties the layers together.
    expect(graph.get('inference-request.ts')).toContain('model.ts');
    expect(graph.get('app.ts')).toContain('repository-access.ts');
  });

  it('has no import cycle', () => {
    expect(findCycles(graph)).toEqual([]);
  });

  it('keeps the core free of the protocol layer and the front ends', () => {
    expect(layerViolations(graph)).toEqual([]);
  });

  it('keeps the shared leaves free of both layers', () => {
    const leaked = SHARED.flatMap((file) =>
      (graph.get(file) ?? []).filter((t) => !SHARED.includes(t)).map((t) => `${file} -> ${t}`),
    );
    expect(leaked).toEqual([]);
  });
});

describe('the checks themselves', () => {
  it('find a cycle and a core file importing a protocol file', () => {
    const bad: Graph = new Map([
      ['model.ts', ['tensors.ts']],
      ['tensors.ts', ['batcher.ts']],
      ['batcher.ts', ['model.ts']],
    ]);
    expect(findCycles(bad)).toEqual([['model.ts', 'tensors.ts', 'batcher.ts', 'model.ts']]);
    expect(layerViolations(bad)).toEqual(['model.ts -> tensors.ts']);
  });
});
