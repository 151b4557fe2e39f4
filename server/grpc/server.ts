import { join } from 'node:path';
import {
  Server,
  ServerCredentials,
  status as Status,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServiceDefinition,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { loadPackageDefinition, type GrpcObject } from '@grpc/grpc-js';
import { widenFlowControlWindows } from './flow-control.ts';
import { reportMalformed } from './malformed.ts';
import { createGrpcService, type GrpcServiceDeps } from './service.ts';

/** The .proto files compiled at start (copies of the upstream files; proto/SOURCE.md). */
export const PROTO_DIR = join(import.meta.dirname, 'proto');
export const PROTO_FILES = ['grpc_service.proto', 'health.proto'];

/**
 * proto-loader's options: snake_case fields as in the .proto files (and Triton's JSON forms), int64
 * as text (no precision lost beyond 2^53), enums by name, defaults and oneof names filled in.
 */
const LOADER_OPTIONS = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

export function loadServices(): {
  inference: ServiceDefinition;
  health: ServiceDefinition;
} {
  const definition = loadSync(PROTO_FILES, { ...LOADER_OPTIONS, includeDirs: [PROTO_DIR] });
  const root = loadPackageDefinition(definition);
  const inference = (root.inference as GrpcObject).GRPCInferenceService as unknown as {
    service: ServiceDefinition;
  };
  const health = ((root.grpc as GrpcObject).health as GrpcObject).v1 as GrpcObject;
  return {
    inference: reportMalformed(inference.service),
    health: (health.Health as unknown as { service: ServiceDefinition }).service,
  };
}

export interface GrpcServerOptions extends GrpcServiceDeps {
  /** 0 picks a free port. */
  readonly port: number;
  readonly host: string;
  /** Largest message received, as REST's largest body (--max-body-bytes); beyond it RESOURCE_EXHAUSTED. */
  readonly maxMessageBytes: number;
  /** Connections older than this get GOAWAY and reconnect (REST's maxConnectionAgeSeconds, same reason). */
  readonly maxConnectionAgeSeconds: number;
}

export interface RunningGrpcServer {
  readonly port: number;
  /** host:port, as gRPC clients take it. */
  readonly address: string;
  /**
   * No new call from now on (GOAWAY to every client); accepted calls get up to `graceSeconds` to
   * finish, then every connection is closed. True if every call finished in time.
   */
  shutdown(graceSeconds: number): Promise<boolean>;
}

export async function startGrpcServer(opts: GrpcServerOptions): Promise<RunningGrpcServer> {
  const services = loadServices();
  const server = new Server({
    'grpc.max_receive_message_length': opts.maxMessageBytes,
    'grpc.max_connection_age_ms': opts.maxConnectionAgeSeconds * 1000,
    // The calls on a connection that reached its age get this long to finish before it is closed.
    'grpc.max_connection_age_grace_ms': 30_000,
  });
  server.addService(services.inference, createGrpcService(opts));
  // grpc.health.v1 (Kubernetes' gRPC probes, grpc_health_probe): SERVING while the server is ready.
  server.addService(services.health, {
    Check: (call: ServerUnaryCall<{ service: string }, unknown>, callback: sendUnaryData<unknown>) => {
      const { service } = call.request;
      if (service !== '' && service !== 'inference.GRPCInferenceService')
        return callback({
          code: Status.NOT_FOUND,
          details: `unknown service '${service}'; allowed: '' or inference.GRPCInferenceService`,
        });
      callback(null, { status: opts.lifecycle.notReadyReason() === undefined ? 'SERVING' : 'NOT_SERVING' });
    },
  });
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${opts.port}`, ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(new Error(`cannot serve gRPC on ${host}:${opts.port}: ${err.message}`)) : resolve(port),
    ),
  );
  widenFlowControlWindows(server);
  return {
    port,
    address: `${host}:${port}`,
    shutdown: async (graceSeconds) => {
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        new Promise<boolean>((resolve) => server.tryShutdown(() => resolve(true))),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), graceSeconds * 1000))),
      ]);
      clearTimeout(timer);
      if (!drained) server.forceShutdown();
      return drained;
    },
  };
}
