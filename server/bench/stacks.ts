/**
 * The serving stacks the benchmarks start, each on a free loopback port and serving the bundled
 * models (server/models) under their names on the V2 infer route: our server, the bare-Hono
 * ceiling, the recipe's Flask stack, and the peers a user would pick instead (KServe's ModelServer
 * and PyTriton, from the virtual environment of server/bench/requirements.txt).
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { start, type Started } from './processes.ts';
import { benchPython } from './venv.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
export const SERVER_DIR = resolve(HERE, '..');
export const MODELS = join(SERVER_DIR, 'models');
export const SQUEEZENET = 'squeezenet1_1';
export const MLP = 'mlp';

export interface Stack {
  /** Row label in the tables. */
  readonly label: string;
  /** The bundled models it serves. */
  readonly models: readonly string[];
  /** Why it cannot run on this machine, naming what installs it; undefined when it can. */
  unavailable(): string | undefined;
  /** Starts it, logs under `logDir`, resolving once every model answers. */
  start(name: string, logDir: string, env?: Record<string, string>): Promise<Started>;
}

const onPath = (tool: string) =>
  (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(join(dir, tool)));

/** Our server, run the way `npm run serve` runs it (tsx), from a model repository. */
export const startServer = (
  name: string,
  repository: string,
  logDir: string,
  env: Record<string, string> = {},
) =>
  start(
    name,
    process.execPath,
    (port) => [
      '--import',
      'tsx',
      'main.ts',
      '--model-repository',
      repository,
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
    ],
    { cwd: SERVER_DIR, env, logDir },
  );

export const ourServer: Stack = {
  label: 'our server (Node, onnxruntime-node)',
  models: [SQUEEZENET, MLP],
  unavailable: () => undefined,
  start: (name, logDir, env) => startServer(name, MODELS, logDir, env),
};

/** server/bench/constant-server.ts: reads the body and answers a constant; no inference. */
export const bareHono: Stack = {
  label: 'bare Hono, constant answer, no inference (HTTP ceiling)',
  models: [SQUEEZENET, MLP],
  unavailable: () => undefined,
  start: (name, logDir) =>
    start(
      name,
      process.execPath,
      (port) => ['--import', 'tsx', join(HERE, 'constant-server.ts'), String(port)],
      {
        cwd: SERVER_DIR,
        logDir,
      },
    ),
};

const DEBIAN_TORCH = '/usr/lib/python3/dist-packages/torchvision';

/** The recipe's stack: server/bench/flask_baseline.py under gunicorn, 2 workers x 1 torch thread. */
export const flask: Stack = {
  label: 'Flask + PyTorch 1.13 (the recipe; gunicorn 2 workers x 1 thread)',
  // flask_baseline.py serves torchvision's squeezenet1_1 under any name: not the MLP.
  models: [SQUEEZENET],
  unavailable: () =>
    !onPath('gunicorn') || !existsSync(DEBIAN_TORCH)
      ? 'needs Debian packages gunicorn python3-flask python3-torch python3-torchvision (apt-get install)'
      : undefined,
  start: (name, logDir) =>
    start(
      name,
      'gunicorn',
      (port) => ['--workers', '2', '--bind', `127.0.0.1:${port}`, '--timeout', '120', 'flask_baseline:app'],
      {
        cwd: HERE,
        env: { BENCH_TORCH_THREADS: '1', PYTHONDONTWRITEBYTECODE: '1', PATH: `/usr/bin:${process.env.PATH}` },
        logDir,
        group: true,
      },
    ),
};

const venvMissing = () =>
  existsSync(benchPython())
    ? undefined
    : `needs the virtual environment of server/bench/requirements.txt: run server/bench/venv.sh (missing ${benchPython()})`;

/** A peer script of server/bench/peers/ run by the bench venv's Python with MODELS and the port. */
const pythonPeer = (label: string, script: string, readyPath: string): Stack => ({
  label,
  models: [SQUEEZENET, MLP],
  unavailable: venvMissing,
  start: (name, logDir) =>
    start(name, benchPython(), (port) => [join(HERE, 'peers', script), MODELS, String(port)], {
      cwd: HERE,
      env: { PYTHONDONTWRITEBYTECODE: '1' },
      logDir,
      // tritonserver and uvicorn run as children: stopped with their group.
      group: true,
      readyPath,
      readySeconds: 180,
    }),
});

export const kserve = pythonPeer(
  'KServe 0.21 ModelServer + onnxruntime (Python)',
  'kserve_onnx.py',
  `/v2/models/${MLP}/ready`,
);

/** Triton answers /v2/health/ready before PyTriton has bound the models: wait for the last one bound. */
export const pytriton = pythonPeer(
  'PyTriton 0.7 (tritonserver 2.x) + onnxruntime (Python callable)',
  'pytriton_onnx.py',
  `/v2/models/${MLP}/ready`,
);
