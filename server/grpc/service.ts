import {
  status as Status,
  type Metadata,
  type sendUnaryData,
  type ServerUnaryCall,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Outcome } from '../../constructs/contract.ts';
import { BODY_POOL_BYTES, BodyPool } from '../body-pool.ts';
import { InvalidRequestError, NotFoundError } from '../errors.ts';
import { EXTENSIONS, SERVER_NAME, SERVER_VERSION } from '../identity.ts';
import { runInference } from '../inference-request.ts';
import type { Lifecycle } from '../lifecycle.ts';
import { recordRequest, unknownModel, type RequestLabels, type ServerMetricSet } from '../metrics.ts';
import { PLATFORM, type ModelVersion } from '../model.ts';
import type { ModelRepository } from '../repository.ts';
import {
  checkModelControl,
  checkRestriction,
  type ModelControlMode,
  type RestrictedApi,
} from '../repository-access.ts';
import { tritonModelConfig } from '../triton-config.ts';
import { MALFORMED } from './malformed.ts';
import { grpcError, outcomeOf } from './status.ts';
import {
  decodeGrpcRequest,
  encodeGrpcResponse,
  type AlignedCopies,
  type ModelInferRequestMessage,
} from './tensors.ts';

export interface GrpcServiceDeps {
  readonly repository: ModelRepository;
  readonly lifecycle: Lifecycle;
  readonly metrics: ServerMetricSet;
  readonly logger: Logger;
  /** @default 'none' */
  readonly modelControl?: ModelControlMode;
  /**
   * Triton's --grpc-restricted-protocol model-repository:KEY=VALUE: every Repository* RPC must carry
   * the metadata `triton-grpc-protocol-KEY` (Triton's prefix) with VALUE, else PERMISSION_DENIED.
   * @default unrestricted (still subject to modelControl)
   */
  readonly repositoryRestriction?: RestrictedApi;
}

/** Prefix Triton puts before the key of --grpc-restricted-protocol in the metadata a client sends. */
export const RESTRICTED_METADATA_PREFIX = 'triton-grpc-protocol-';

/** A request as proto-loader decodes it; each handler names the fields it reads. */
type Call = ServerUnaryCall<any, unknown>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Handler = (request: any, metadata: Metadata) => unknown; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A unary handler whose thrown errors (sync or async) become the gRPC status of REST's error. */
function unary(logger: Logger, handle: Handler) {
  return (call: Call, callback: sendUnaryData<unknown>) => {
    Promise.resolve()
      .then(() => {
        const malformed = (call.request as Record<symbol, string> | null)?.[MALFORMED];
        if (malformed !== undefined) throw new InvalidRequestError(malformed);
        return handle(call.request, call.metadata);
      })
      .then(
        (response) => callback(null, response),
        (err: unknown) => {
          const status = grpcError(err);
          if (status.code === Status.INTERNAL)
            logger.error({ err: (err as Error)?.message }, 'gRPC call failed');
          callback(status);
        },
      );
  };
}

/** The version a request names; '' is no version (the newest), as in the protocol. */
const resolveIn = (repository: ModelRepository, name: string, version: string): ModelVersion =>
  repository.resolve(name, version === '' ? undefined : version);

/**
 * inference.GRPCInferenceService (grpc_service.proto, Triton's superset of the Open Inference
 * Protocol's) over the same core as the REST app: the same repository, schedulers and batchers,
 * lifecycle (readiness, drain), metrics (protocol="grpc") and repository access rules. Shared
 * memory, trace and log settings and ModelStreamInfer are not implemented (UNIMPLEMENTED, grpc-js's
 * answer for a method without a handler).
 */
export function createGrpcService(deps: GrpcServiceDeps): UntypedServiceImplementation {
  const { repository, lifecycle, metrics, logger } = deps;
  const modelControl = deps.modelControl ?? 'none';
  const restriction = deps.repositoryRestriction;
  const restricted = (metadata: Metadata) => {
    if (!restriction) return;
    const key = `${RESTRICTED_METADATA_PREFIX}${restriction.header}`;
    const got = metadata.get(key)[0];
    checkRestriction(
      { header: key, value: restriction.value },
      typeof got === 'string' ? got : undefined,
      'metadata',
      '--grpc-restricted-protocol',
    );
  };
  const handler = (fn: Handler) => unary(logger, fn);

  // Aligned copies of raw inputs, reused from call to call (tensors.ts fromRaw).
  const pool = new BodyPool(BODY_POOL_BYTES);
  const modelInfer = async (msg: ModelInferRequestMessage) => {
    const start = performance.now();
    const copies: AlignedCopies = { pool, taken: [] };
    let labels: RequestLabels = unknownModel('grpc');
    let outcome: Outcome = 'success';
    let queued = false;
    lifecycle.requestStarted();
    try {
      const version = resolveIn(repository, msg.model_name, msg.model_version);
      labels = { model: version.name, version: version.version, protocol: 'grpc' };
      return await version.serve(async () => {
        const request = decodeGrpcRequest(msg, version.signature, copies);
        const outputs = await runInference(version, request, () => {
          metrics.inflight.inc(labels);
          queued = true;
        });
        return encodeGrpcResponse(version.name, version.version, request, outputs);
      });
    } catch (err) {
      outcome = outcomeOf(err);
      throw err;
    } finally {
      // The call is answered or failed: no queue, batch or response views its inputs any more.
      for (const copy of copies.taken) pool.release(copy);
      lifecycle.requestFinished();
      if (queued) metrics.inflight.dec(labels);
      recordRequest(metrics, labels, outcome, (performance.now() - start) / 1000);
    }
  };

  return {
    ServerLive: handler(() => ({ live: true })),
    ServerReady: handler(() => ({ ready: lifecycle.notReadyReason() === undefined })),
    ModelReady: handler((req: { name: string; version: string }) => {
      if (!repository.states().has(req.name)) throw new NotFoundError(`unknown model '${req.name}'`);
      try {
        resolveIn(repository, req.name, req.version);
        return { ready: true };
      } catch (err) {
        if (err instanceof NotFoundError) throw err;
        return { ready: false };
      }
    }),
    ServerMetadata: handler(() => ({ name: SERVER_NAME, version: SERVER_VERSION, extensions: EXTENSIONS })),
    ModelMetadata: handler((req: { name: string; version: string }) => {
      const mv = resolveIn(repository, req.name, req.version);
      const versions = req.version === '' ? repository.versions(req.name) : [mv];
      const tensor = (t: { name: string; datatype: string; shape: readonly number[] }) => ({
        name: t.name,
        datatype: t.datatype,
        shape: t.shape.map(String),
      });
      return {
        name: mv.name,
        versions: versions.map((v) => v.version),
        platform: PLATFORM,
        inputs: mv.signature.inputs.map(tensor),
        outputs: mv.signature.outputs.map(tensor),
      };
    }),
    ModelConfig: handler((req: { name: string; version: string }) => ({
      config: tritonModelConfig(resolveIn(repository, req.name, req.version)),
    })),
    ModelStatistics: handler((req: { name: string; version: string }) => {
      let versions: readonly ModelVersion[];
      if (req.name === '') versions = repository.loaded();
      else if (req.version === '') {
        resolveIn(repository, req.name, '');
        versions = repository.versions(req.name);
      } else versions = [resolveIn(repository, req.name, req.version)];
      return {
        model_stats: versions.map((mv) => {
          const s = mv.stats.toJSON(mv.name, mv.version);
          return { ...s, last_inference: String(s.last_inference) };
        }),
      };
    }),
    ModelInfer: handler(modelInfer),
    RepositoryIndex: handler(async (req: { repository_name: string; ready: boolean }, metadata) => {
      restricted(metadata);
      if (req.repository_name !== '')
        throw new InvalidRequestError(
          `repository_name is ${JSON.stringify(req.repository_name)}; this server has one model repository: allowed '' (empty)`,
        );
      const rows = await repository.index();
      return { models: req.ready ? rows.filter((r) => r.state === 'READY') : rows };
    }),
    RepositoryModelLoad: handler(
      async (req: { repository_name: string; model_name: string; parameters?: object }, metadata) => {
        restricted(metadata);
        checkModelControl(modelControl);
        const names = Object.keys(req.parameters ?? {});
        if (names.length > 0)
          throw new InvalidRequestError(
            `parameters ${names.join(', ')} are not supported: a model loads from its directory in the model repository (allowed: no parameters)`,
          );
        await repository.load(req.model_name);
        return {};
      },
    ),
    RepositoryModelUnload: handler(async (req: { model_name: string }, metadata) => {
      restricted(metadata);
      checkModelControl(modelControl);
      await repository.unload(req.model_name);
      return {};
    }),
  };
}
