import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect, it } from 'vitest';
import { ENV, GRPC_PORT, MODEL_REPOSITORY_PATH, SERVER_PORT, SERVER_UID } from '../../constructs/contract.ts';
import { readDockerfile } from '../../server/image/build.ts';
import { serverDir } from './helpers.ts';

// The image cannot be built here (no Docker engine): check what can be checked statically, that
// it agrees with the contract GpuInferenceService deploys it with.
const dockerfile = readFileSync(join(serverDir, 'Dockerfile'), 'utf8');
const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

it('runs as the contract user, on the contract port, with the contract model path', () => {
  expect(runtime).toMatch(new RegExp(`^USER ${SERVER_UID}:${SERVER_UID}$`, 'm'));
  expect(runtime).toContain(`groupadd --gid ${SERVER_UID} `);
  expect(runtime).toContain(`useradd --uid ${SERVER_UID} --gid ${SERVER_UID} `);
  expect(runtime).toMatch(new RegExp(`^EXPOSE ${SERVER_PORT} ${GRPC_PORT}$`, 'm'));
  const env = /^ENV (.*)$/m.exec(runtime)![1]!;
  expect(env).toContain(`${ENV.modelRepository}=${MODEL_REPOSITORY_PATH}`);
  expect(env).toContain(`${ENV.port}=${SERVER_PORT}`);
  expect(env).toContain(`${ENV.grpcPort}=${GRPC_PORT}`);
  expect(runtime).toContain(`COPY server/models ${MODEL_REPOSITORY_PATH}`);
  expect(runtime).toMatch(/^CMD \["node", "--import", "tsx", "server\/main\.ts"\]$/m);
});

it('uses a CUDA 12 + cuDNN runtime base and installs the CUDA 12 provider at build time', () => {
  expect(runtime).toMatch(/^FROM nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime-ubuntu\d+\.\d+$/m);
  // package.json's allowScripts denies onnxruntime-node's install script: the image runs it itself.
  expect(dockerfile).toContain('ONNXRUNTIME_NODE_INSTALL=skip npm ci');
  expect(dockerfile).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12 node script/install.js');
  // The build stage's Node is the one the repository is tested with.
  const node = /^FROM node:(\d+\.\d+\.\d+)-/m.exec(dockerfile)![1];
  expect(process.versions.node.split('.').slice(0, 2)).toEqual(node!.split('.').slice(0, 2));
});

it("skips onnxruntime-node's CUDA download through package.json's allowScripts, not an unknown npm config", () => {
  // npm 11 warns `Unknown project config "onnxruntime-node-install"` for the .npmrc key this
  // replaced, and its next major drops such keys (the download would come back).
  const pkg = JSON.parse(readFileSync(join(serverDir, '..', 'package.json'), 'utf8')) as {
    allowScripts?: Record<string, boolean>;
  };
  expect(pkg.allowScripts?.['onnxruntime-node']).toBe(false);
  const npmrc = join(serverDir, '..', '.npmrc');
  expect(existsSync(npmrc) ? readFileSync(npmrc, 'utf8') : '').not.toMatch(/^\s*onnxruntime-node/m);
  expect(dockerfile).not.toContain('.npmrc');
});

/** The server's own TypeScript files (bench/ and image/ are tools, not in the image), relative to server/. */
const serverSources = (dir = ''): string[] =>
  readdirSync(join(serverDir, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? dir === '' && e.name !== 'grpc'
        ? []
        : serverSources(join(dir, e.name))
      : e.name.endsWith('.ts')
        ? [join(dir, e.name)]
        : [],
  );

it('copies every file outside server/ that the server imports', () => {
  const outside = new Set<string>();
  for (const file of serverSources()) {
    const text = readFileSync(join(serverDir, file), 'utf8');
    for (const m of text.matchAll(/from '(\.\.\/[^']+)'/g)) {
      const path = join('server', dirname(file), m[1]!);
      if (!path.startsWith('server/')) outside.add(path);
    }
  }
  expect([...outside]).toEqual(['constructs/contract.ts']);
  for (const path of outside)
    expect(runtime).toContain(`COPY ${path} ${path.slice(0, path.lastIndexOf('/'))}/`);
});

it('copies every source file of the server (worker scripts included)', () => {
  const copy = /^COPY (server\/\S+ )+server\/$/m.exec(runtime)![0];
  const globs = copy.split(' ').slice(1, -1);
  const matches = (file: string) =>
    globs.some((g) =>
      g.startsWith('server/*') ? file.endsWith(g.slice('server/*'.length)) : g === `server/${file}`,
    );
  const sources = readdirSync(serverDir).filter((f) => /\.(ts|mjs|js|json)$/.test(f));
  expect(sources).toContain('main.ts');
  expect(sources.filter((f) => !matches(f))).toEqual([]);
  // The gRPC front end and its .proto files: the whole folder.
  expect(runtime).toMatch(/^COPY server\/grpc server\/grpc$/m);
  expect(serverSources().filter((f) => f.startsWith('grpc/'))).toContain('grpc/server.ts');
});

it('gives npm run image (server/image/build.ts) the file list, user, environment and command of its runtime stage', () => {
  const image = readDockerfile(dockerfile);
  expect(image.workdir).toBe('/app');
  expect(image.user).toBe(`${SERVER_UID}:${SERVER_UID}`);
  expect(image.exposed).toEqual([SERVER_PORT, GRPC_PORT]);
  expect(image.cmd).toEqual(['node', '--import', 'tsx', 'server/main.ts']);
  expect(image.env[ENV.modelRepository]).toBe(MODEL_REPOSITORY_PATH);
  const sources = image.copies.flatMap(([s]) => s);
  // The build stage's node_modules and Node binary (COPY --from) are made by npm ci and Debian's nodejs there.
  expect(sources).toEqual(
    expect.arrayContaining([
      'package.json',
      'constructs/contract.ts',
      'server/main.ts',
      'server/session-worker.mjs',
      'server/grpc',
    ]),
  );
  expect(sources.filter((s) => !existsSync(join(serverDir, '..', s)))).toEqual([]);
  expect(image.copies).toContainEqual([['server/models'], MODEL_REPOSITORY_PATH]);
});
