import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  ENV,
  GRPC_PORT,
  LOG_LEVELS,
  DRAIN_SECONDS_RANGE,
  MAX_BODY_BYTES_RANGE,
  METRICS_PORT,
  MODEL_REPOSITORY_PATH,
  SERVER_DEFAULTS,
  SERVER_PORT,
  type LogLevel,
} from '../constructs/contract.ts';
import { DEFAULT_PENDING_BODIES } from './app.ts';
import { PROVIDER_FALLBACKS, type ProviderFallback } from './model.ts';
import { MODEL_CONTROL_MODES, type ModelControlMode, type RestrictedApi } from './repository-access.ts';

// The command line apart from main.ts, which starts the server on import: tests read the defaults
// and bounds from parseCommandLine and USAGE without starting one.
export const USAGE = `Usage: tsx server/main.ts [options]
  --model-repository DIR  model repository (env ${ENV.modelRepository}; default ${MODEL_REPOSITORY_PATH})
  --port N                port, 0 = any free port (env ${ENV.port}; default ${SERVER_PORT})
  --grpc-port N           port of the KServe V2 gRPC service (inference.GRPCInferenceService),
                          0 = off (env ${ENV.grpcPort}; default ${GRPC_PORT}, Triton's)
  --metrics-port N        port of /metrics, 0 = any free port (env ${ENV.metricsPort}; default ${METRICS_PORT})
  --host H                listen address (env ${ENV.host}; default ${SERVER_DEFAULTS.host})
  --drain-seconds S       grace period for in-flight requests after SIGTERM (env ${ENV.drainSeconds}; default ${SERVER_DEFAULTS.drainSeconds})
  --max-body-bytes N      largest request body, larger gets 413 (env ${ENV.maxBodyBytes}; default ${SERVER_DEFAULTS.maxBodyBytes})
  --max-pending-body-bytes N
                          bytes of request bodies received at once, beyond it 503
                          (default ${DEFAULT_PENDING_BODIES} x --max-body-bytes)
  --log-level L           ${LOG_LEVELS.join('|')} (env ${ENV.logLevel}; default ${SERVER_DEFAULTS.logLevel})
  --strict-readiness B    true: ready only while a model is loaded and every model that should
                          serve is READY; false: once the startup load is over (default true)
  --model-control-mode M  none|explicit: explicit allows the repository API's load and unload
                          (env ${ENV.modelControlMode}; default none: every model loaded at start)
  --load-model NAME       explicit mode: load NAME at start (repeatable; * = every model)
  --http-restricted-api model-repository:KEY=VALUE
                          the repository API needs header KEY: VALUE (env ${ENV.httpRestrictedApi})
  --grpc-restricted-protocol model-repository:KEY=VALUE
                          the gRPC repository RPCs need metadata triton-grpc-protocol-KEY: VALUE
                          (Triton's; default: --http-restricted-api's KEY and VALUE)
  --provider-fallback F   allow|fail: fail makes a model whose first execution provider fails
                          (cuda without a GPU) a load failure instead of running on the next (default allow)
  --help`;

class UsageError extends Error {}

function integer(flag: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag} is ${JSON.stringify(value)}; allowed: an integer from ${min} to ${max}`);
  }
  return n;
}

/**
 * `model-repository:KEY=VALUE`, Triton's syntax; model-repository is the only category here. The
 * value is a credential: errors name the flag and the expected form, never the value.
 */
function restrictedApi(source: string, spec: string | undefined): RestrictedApi {
  const m = /^model-repository:([A-Za-z0-9-]+)=(.+)$/.exec(spec ?? '');
  if (!m) {
    throw new UsageError(
      `${source} must be model-repository:KEY=VALUE (KEY a header name of letters, digits and '-', VALUE not empty); got a value of ${spec?.length ?? 0} characters that is not`,
    );
  }
  return { header: m[1]!.toLowerCase(), value: m[2]! };
}

export function parseCommandLine(argv: string[], env: NodeJS.ProcessEnv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      'model-repository': { type: 'string' },
      port: { type: 'string' },
      'grpc-port': { type: 'string' },
      'metrics-port': { type: 'string' },
      host: { type: 'string' },
      'drain-seconds': { type: 'string' },
      'max-body-bytes': { type: 'string' },
      'max-pending-body-bytes': { type: 'string' },
      'log-level': { type: 'string' },
      'strict-readiness': { type: 'string', default: 'true' },
      'model-control-mode': { type: 'string' },
      'load-model': { type: 'string', multiple: true },
      'http-restricted-api': { type: 'string' },
      'grpc-restricted-protocol': { type: 'string' },
      'provider-fallback': { type: 'string', default: 'allow' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const pick = (flag: keyof typeof values, name: string, dflt: string): [string, string] =>
    values[flag] !== undefined
      ? [`--${flag}`, String(values[flag])]
      : env[name] !== undefined
        ? [name, env[name]!]
        : [`--${flag}`, dflt];
  const logLevel = pick('log-level', ENV.logLevel, SERVER_DEFAULTS.logLevel);
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel[1])) {
    throw new UsageError(
      `${logLevel[0]} is ${JSON.stringify(logLevel[1])}; allowed: ${LOG_LEVELS.join(', ')}`,
    );
  }
  const control = pick('model-control-mode', ENV.modelControlMode, 'none');
  if (!(MODEL_CONTROL_MODES as readonly string[]).includes(control[1])) {
    throw new UsageError(
      `${control[0]} is ${JSON.stringify(control[1])}; allowed: ${MODEL_CONTROL_MODES.join(', ')}`,
    );
  }
  const fallback = values['provider-fallback'];
  if (!(PROVIDER_FALLBACKS as readonly string[]).includes(fallback)) {
    throw new UsageError(
      `--provider-fallback is ${JSON.stringify(fallback)}; allowed: ${PROVIDER_FALLBACKS.join(', ')}`,
    );
  }
  const restricted =
    values['http-restricted-api'] !== undefined
      ? ['--http-restricted-api', values['http-restricted-api']]
      : env[ENV.httpRestrictedApi] !== undefined
        ? [ENV.httpRestrictedApi, env[ENV.httpRestrictedApi]!]
        : undefined;
  const strict = values['strict-readiness'];
  if (strict !== 'true' && strict !== 'false')
    throw new UsageError(`--strict-readiness is ${JSON.stringify(strict)}; allowed: true, false`);
  const maxBodyBytes = integer(
    ...pick('max-body-bytes', ENV.maxBodyBytes, String(SERVER_DEFAULTS.maxBodyBytes)),
    MAX_BODY_BYTES_RANGE.min,
    MAX_BODY_BYTES_RANGE.max,
  );
  const grpcPort = integer(...pick('grpc-port', ENV.grpcPort, String(GRPC_PORT)), 0, 65535);
  const grpcRestricted = values['grpc-restricted-protocol'];
  return {
    help: values.help,
    loadModels: values['load-model'],
    modelControl: control[1] as ModelControlMode,
    repositoryRestriction: restricted && restrictedApi(restricted[0]!, restricted[1]!),
    ...(grpcRestricted !== undefined && {
      grpcRepositoryRestriction: restrictedApi('--grpc-restricted-protocol', grpcRestricted),
    }),
    // Triton's --grpc-port 0 turns the service off (ServerOptions.grpcPort undefined).
    ...(grpcPort !== 0 && { grpcPort }),
    modelRepository: resolve(pick('model-repository', ENV.modelRepository, MODEL_REPOSITORY_PATH)[1]),
    port: integer(...pick('port', ENV.port, String(SERVER_PORT)), 0, 65535),
    metricsPort: integer(...pick('metrics-port', ENV.metricsPort, String(METRICS_PORT)), 0, 65535),
    host: pick('host', ENV.host, SERVER_DEFAULTS.host)[1],
    drainSeconds: integer(
      ...pick('drain-seconds', ENV.drainSeconds, String(SERVER_DEFAULTS.drainSeconds)),
      DRAIN_SECONDS_RANGE.min,
      DRAIN_SECONDS_RANGE.max,
    ),
    maxBodyBytes,
    maxPendingBodyBytes:
      values['max-pending-body-bytes'] === undefined
        ? undefined
        : integer('--max-pending-body-bytes', values['max-pending-body-bytes'], maxBodyBytes, 2 ** 53 - 1),
    logLevel: logLevel[1] as LogLevel,
    strictReadiness: strict === 'true',
    providerFallback: fallback as ProviderFallback,
  };
}
