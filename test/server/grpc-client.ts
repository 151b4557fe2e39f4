/**
 * A @grpc/grpc-js client of the server's inference.GRPCInferenceService (and grpc.health.v1), from
 * the same .proto files the server compiles, for the gRPC tests.
 */
import * as grpc from '@grpc/grpc-js';
import { loadServices } from '../../server/grpc/server.ts';

export interface GrpcReply {
  /** 0 (OK) or the gRPC status code. */
  code: number;
  details: string;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  metadata?: grpc.Metadata;
}

export interface GrpcTestClient {
  /** One unary call; errors are returned as the reply, not thrown. */
  call(method: string, request: object, metadata?: Record<string, string>): Promise<GrpcReply>;
  health(service?: string): Promise<GrpcReply>;
  close(): void;
}

export function grpcClient(address: string): GrpcTestClient {
  const services = loadServices();
  const Inference = grpc.makeGenericClientConstructor(services.inference, 'GRPCInferenceService');
  const Health = grpc.makeGenericClientConstructor(services.health, 'Health');
  const client = new Inference(address, grpc.credentials.createInsecure()) as unknown as Record<
    string,
    (req: object, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void
  >;
  const health = new Health(address, grpc.credentials.createInsecure()) as unknown as typeof client;
  const invoke = (c: typeof client, method: string, request: object, metadata: Record<string, string> = {}) =>
    new Promise<GrpcReply>((resolve) => {
      const md = new grpc.Metadata();
      for (const [k, v] of Object.entries(metadata)) md.set(k, v);
      c[method]!.call(c, request, md, (err, res) =>
        resolve(
          err
            ? { code: err.code, details: err.details, body: undefined, metadata: err.metadata }
            : { code: 0, details: '', body: res },
        ),
      );
    });
  return {
    call: (method, request, metadata) => invoke(client, method, request, metadata),
    health: (service = '') => invoke(health, 'Check', { service }),
    close: () => {
      (client as unknown as grpc.Client).close();
      (health as unknown as grpc.Client).close();
    },
  };
}

/**
 * Sends `bytes` as the serialized request of `method`, whatever they are (a malformed message).
 */
export function sendRawBytes(address: string, method: string, bytes: Buffer): Promise<GrpcReply> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      `/inference.GRPCInferenceService/${method}`,
      (b: Buffer) => b,
      (b: Buffer) => b,
      bytes,
      (err, res) => {
        client.close();
        resolve(
          err
            ? { code: err.code, details: err.details, body: undefined }
            : { code: 0, details: '', body: res },
        );
      },
    );
  });
}

export const { status: GrpcStatus } = grpc;
