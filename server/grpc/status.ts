import { status as Status, type ServiceError } from '@grpc/grpc-js';
import { Metadata } from '@grpc/grpc-js';
import type { Outcome } from '../../constructs/contract.ts';
import { ServerError } from '../errors.ts';

/**
 * The gRPC status of an error, by the HTTP status its ServerError carries (the mapping gRPC's own
 * doc/http-grpc-status-mapping.md and Triton's grpc_utils use): 400 INVALID_ARGUMENT, 403
 * PERMISSION_DENIED, 404 NOT_FOUND, 503 UNAVAILABLE (not ready, unloading, queue full or queue
 * timeout: all worth a retry elsewhere), anything else INTERNAL. The message is the same as REST's.
 */
const CODES: Record<ServerError['status'], Status> = {
  400: Status.INVALID_ARGUMENT,
  403: Status.PERMISSION_DENIED,
  404: Status.NOT_FOUND,
  500: Status.INTERNAL,
  503: Status.UNAVAILABLE,
};

export function grpcError(err: unknown): Partial<ServiceError> {
  if (err instanceof ServerError) {
    const metadata = new Metadata();
    // A full queue's Retry-After travels as metadata, as REST's header does.
    for (const [k, v] of Object.entries(err.headers)) metadata.set(k.toLowerCase(), v);
    return { code: CODES[err.status], details: err.message, metadata };
  }
  return { code: Status.INTERNAL, details: (err as Error)?.message || 'internal error' };
}

/** The requests metric's outcome of an error (as REST counts it). */
export function outcomeOf(err: unknown): Outcome {
  return err instanceof ServerError ? err.outcome : 'server_error';
}
