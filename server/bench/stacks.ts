/**
 * The serving stacks the benchmarks start, each on a free loopback port and serving the bundled
 * models (server/models) under their names on the V2 infer route: our server, the bare-Hono
 * ceiling, the recipe's Flask stack, and the peers a user would pick instead (KServe's ModelServer
 * and PyTriton, from the virtual environment of server/bench/requirements.txt).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, start, type Started } from './processes.ts';
import { benchPython, benchVenv, benchVenvReady, TORCHSERVE_REQUIREMENTS_FILE } from './venv.ts';

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
  /** Its inference route for a model (default the V2 one, `/v2/models/<model>/infer`). */
  readonly inferPath?: (model: string) => string;
}

export const inferPath = (stack: Stack, model: string): string =>
  stack.inferPath?.(model) ?? `/v2/models/${model}/infer`;

const onPath = (tool: string) =>
  (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(join(dir, tool)));

/**
 * Our server, run the way `npm run serve` runs it (tsx), from a model repository. Its gRPC and
 * metrics ports are free ones, not the defaults 8001 and 8002, which another server on a shared
 * machine may hold.
 */
export async function startServer(
  name: string,
  repository: string,
  logDir: string,
  env: Record<string, string> = {},
): Promise<Started> {
  const [grpcPort, metricsPort] = [await freePort(), await freePort()];
  const s = await start(
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
      '--grpc-port',
      String(grpcPort),
      '--metrics-port',
      String(metricsPort),
      '--host',
      '127.0.0.1',
    ],
    { cwd: SERVER_DIR, env, logDir },
  );
  return { ...s, grpcPort };
}

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
  benchVenvReady()
    ? undefined
    : `needs the virtual environment of server/bench/requirements.txt: run server/bench/venv.sh (${benchVenv()} is not complete)`;

/**
 * A peer script of server/bench/peers/ run by the bench venv's Python with MODELS, the port and
 * `extra(logDir)`.
 */
const pythonPeer = (
  label: string,
  script: string,
  readyPath: string,
  extra: (logDir: string, name: string) => string[] = () => [],
): Stack => ({
  label,
  models: [SQUEEZENET, MLP],
  unavailable: venvMissing,
  async start(name, logDir) {
    // Read by pytriton_onnx.py (Triton's gRPC port, for perf_analyzer -i grpc); kserve_onnx.py ignores it.
    const grpcPort = await freePort();
    const s = await start(
      name,
      benchPython(),
      (port) => [join(HERE, 'peers', script), MODELS, String(port), ...extra(logDir, name)],
      {
        cwd: HERE,
        env: { PYTHONDONTWRITEBYTECODE: '1', BENCH_GRPC_PORT: String(grpcPort) },
        logDir,
        // tritonserver and uvicorn run as children: stopped with their group.
        group: true,
        readyPath,
        readySeconds: 180,
      },
    );
    return script === 'pytriton_onnx.py' ? { ...s, grpcPort } : s;
  },
});

export const kserve = pythonPeer(
  'KServe 0.21 ModelServer + onnxruntime (Python)',
  'kserve_onnx.py',
  `/v2/models/${MLP}/ready`,
);

/** Triton answers /v2/health/ready before PyTriton has bound the models: wait for the last one bound. */
export const pytriton = pythonPeer(
  'PyTriton 0.7 (tritonserver 2.51) + onnxruntime (Python callable)',
  'pytriton_onnx.py',
  `/v2/models/${MLP}/ready`,
  // PyTriton's workspace (sockets, tritonserver's files) in the bench's scratch directory, not ~/.cache/pytriton.
  (logDir, name) => [join(logDir, `${name}-workspace`)],
);

/**
 * A console script's entry point run by the venv's interpreter directly: independent of the
 * interpreter path pip wrote into the bin/ scripts.
 */
const ENTRY_POINT = (module: string, fn: string) =>
  `import sys; sys.argv[0] = '${fn}'; from ${module} import ${fn}; sys.exit(${fn}())`;

const torchserveMissing = () => {
  if (!existsSync(DEBIAN_TORCH))
    return 'needs Debian packages python3-torch python3-torchvision (apt-get install)';
  if (!onPath('java')) return 'needs a Java 17 runtime on PATH (Debian openjdk-17-jre-headless)';
  if (!benchVenvReady(TORCHSERVE_REQUIREMENTS_FILE)) {
    return `needs the virtual environment of server/bench/requirements-torchserve.txt: run server/bench/venv.sh torchserve (${benchVenv(TORCHSERVE_REQUIREMENTS_FILE)} is not complete)`;
  }
  return undefined;
};

/**
 * TorchServe 0.12 (Java frontend, Python workers) with bench/peers/torchserve_handler.py running the
 * ONNX files through onnxruntime: each model packed by torch-model-archiver into a model store,
 * TorchServe's defaults otherwise (one worker per core, no batching), token auth off for the
 * loopback-only run. Ready when the management API reports every model's workers READY.
 */
export const torchserve: Stack = {
  label: 'TorchServe 0.12 + onnxruntime (Python handler, Debian torch 1.13)',
  models: [SQUEEZENET, MLP],
  unavailable: torchserveMissing,
  inferPath: (model) => `/predictions/${model}`,
  async start(name, logDir) {
    const t0 = performance.now();
    const bin = join(benchVenv(TORCHSERVE_REQUIREMENTS_FILE), 'bin');
    const python = join(bin, 'python');
    const store = join(logDir, `${name}-store`);
    mkdirSync(store, { recursive: true });
    for (const model of [SQUEEZENET, MLP]) {
      execFileSync(python, [
        '-c',
        ENTRY_POINT('model_archiver.model_packaging', 'generate_model_archive'),
        '--model-name',
        model,
        '--version',
        '1',
        '--serialized-file',
        join(MODELS, model, '1', 'model.onnx'),
        '--handler',
        join(HERE, 'peers', 'torchserve_handler.py'),
        '--export-path',
        store,
        '--force',
      ]);
    }
    const [management, metrics] = [await freePort(), await freePort()];
    const config = join(logDir, `${name}.properties`);
    const s = await start(
      name,
      python,
      (port) => {
        // The inference port is only known here: the configuration is written just before the spawn.
        writeFileSync(
          config,
          [
            `inference_address=http://127.0.0.1:${port}`,
            `management_address=http://127.0.0.1:${management}`,
            `metrics_address=http://127.0.0.1:${metrics}`,
            'disable_token_authorization=true',
            // The default queue (100 requests per model) answers 503 to half of 200 concurrent clients;
            // TorchServe's performance guide says to raise it for concurrent load.
            'job_queue_size=1000',
            'install_py_dep_per_model=false',
            '',
          ].join('\n'),
        );
        return [
          '-c',
          ENTRY_POINT('ts.model_server', 'start'),
          '--start',
          '--foreground',
          '--ncs',
          '--model-store',
          store,
          '--models',
          ...[SQUEEZENET, MLP].map((m) => `${m}=${m}.mar`),
          '--ts-config',
          config,
          '--disable-token-auth',
        ];
      },
      {
        cwd: logDir,
        env: { PATH: `${bin}:${process.env.PATH}`, PYTHONDONTWRITEBYTECODE: '1' },
        logDir,
        group: true,
        readyPath: '/ping',
        readySeconds: 180,
      },
    );
    const deadline = performance.now() + 180_000;
    for (const model of [SQUEEZENET, MLP]) {
      for (;;) {
        const res = await fetch(`http://127.0.0.1:${management}/models/${model}`).catch(() => undefined);
        const workers = res?.ok
          ? ((await res.json()) as { workers?: { status: string }[] }[])[0]?.workers
          : [];
        if (workers?.length && workers.every((w) => w.status === 'READY')) break;
        if (performance.now() > deadline)
          throw new Error(`${name}: ${model} has no READY worker after 180 s; log ${s.log}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    return { ...s, coldStart: (performance.now() - t0) / 1000 };
  },
};
