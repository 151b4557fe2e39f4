import type { Outcome } from '../constructs/contract.ts';

/**
 * Errors that carry their HTTP status (Triton's mapping: 400 invalid request, 403 not allowed, 404
 * unknown model or version, 503 not ready or overloaded, 500 internal) and the `outcome` label they count under in
 * the requests metric. The app's single onError turns them into `{"error": message}`.
 */
export class ServerError extends Error {
  constructor(
    message: string,
    public readonly status: 400 | 403 | 404 | 500 | 503,
    public readonly outcome: Outcome,
    /** Extra response headers (e.g. Retry-After on a full queue). */
    public readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class InvalidRequestError extends ServerError {
  constructor(message: string) {
    super(message, 400, 'client_error');
  }
}

/** The request is not allowed here: model control off, or a restricted API without its header. */
export class ForbiddenError extends ServerError {
  constructor(message: string) {
    super(message, 403, 'client_error');
  }
}

export class NotFoundError extends ServerError {
  constructor(message: string) {
    super(message, 404, 'not_found');
  }
}

export class UnavailableError extends ServerError {
  constructor(message: string, headers: Record<string, string> = {}) {
    super(message, 503, 'rejected', headers);
  }
}

/** A request waited longer than its queue timeout before compute started. */
export class QueueTimeoutError extends ServerError {
  constructor(message: string) {
    super(message, 503, 'timeout');
  }
}

/** onnxruntime failed while running a request: the message is onnxruntime's. */
export class InferenceFailedError extends ServerError {
  constructor(message: string) {
    super(message, 500, 'server_error');
  }
}

/** A model's first execution provider failed and --provider-fallback fail forbids the next. */
export class ProviderFallbackError extends Error {
  constructor(
    message: string,
    public readonly provider: string,
    public readonly next: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'ProviderFallbackError';
  }
}

/**
 * A model directory or config.json that cannot be loaded; the message names file (with line and
 * column where known), field, value and what is allowed, for every problem found at once.
 */
export class ModelConfigError extends Error {
  constructor(
    message: string,
    /** One line per problem; the message lists them all. */
    readonly problems: readonly string[] = [message],
  ) {
    super(message);
    this.name = 'ModelConfigError';
  }
}
