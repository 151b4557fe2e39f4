import type * as ort from 'onnxruntime-node';
import { MAX_QUEUE_TIMEOUT_MICROSECONDS as MAX_TIMEOUT } from './config.ts';
import { checkSameBatch } from './batch-limits.ts';
import type { TensorData } from './datatypes.ts';
import { InvalidRequestError } from './errors.ts';
import { SHOWN_CHARS as SHOWN, isRecord, preview } from './preview.ts';
import type { ModelSignature } from './signature.ts';
import type { DecodedInferRequest, RequestedOutput } from './inference-request.ts';
import { makeTensor } from './ort-tensor.ts';
import { checkInputHeader, dataFromJson, tensorToJson, type CheckedHeader } from './tensors.ts';

export interface InferResult {
  readonly model_name: string;
  readonly model_version: string;
  readonly outputs: Record<string, ort.Tensor>;
}

export interface EncodedResponse {
  readonly body: string | Uint8Array;
  readonly headers: Record<string, string>;
}

/**
 * Turns a request body into validated tensors and results into a response body. JSON is the
 * protocol's default; other codecs (Triton's binary tensor data extension) register before it and
 * claim the requests they recognise.
 */
export interface InferCodec {
  /** Protocol extension name announced in server metadata (`GET /v2`), if any. */
  readonly extension?: string;
  accepts(headers: Headers): boolean;
  /**
   * Where raw tensor bytes start in the body, if it carries any: the body is then read into memory
   * with that offset 8-byte aligned, so `decode` can view the tensors instead of copying them.
   */
  tensorOffset?(headers: Headers): number | undefined;
  decode(body: Uint8Array, headers: Headers, signature: ModelSignature): DecodedInferRequest;
  encode(result: InferResult, request: DecodedInferRequest): EncodedResponse;
}

/** Reads a tensor's data from the request; JSON `data` or, for the binary extension, a slice of the body. */
export type InputDataReader = (input: Record<string, unknown>, header: CheckedHeader) => TensorData;

/**
 * Validates the JSON part of an inference request (the whole body, or a binary request's header)
 * against the model, reading each input's data with `readData`.
 */
export function decodeRequestObject(
  json: unknown,
  signature: ModelSignature,
  readData: InputDataReader,
): DecodedInferRequest {
  if (!isRecord(json))
    throw new InvalidRequestError('the request body must be a JSON object {inputs: [...]}');
  const { id, parameters = {}, inputs, outputs } = json;
  if (id !== undefined && typeof id !== 'string')
    throw new InvalidRequestError(`id is ${preview(id, SHOWN)}; expected a string`);
  if (!isRecord(parameters))
    throw new InvalidRequestError(`parameters is ${preview(parameters, SHOWN)}; expected an object`);
  if (!Array.isArray(inputs) || inputs.length === 0) {
    throw new InvalidRequestError(
      `inputs is ${inputs === undefined ? 'missing' : preview(inputs, SHOWN)}; expected a non-empty array of tensors`,
    );
  }
  const tensors: Record<string, ort.Tensor> = {};
  let batch: { name: string; rows: number } | undefined;
  inputs.forEach((input: unknown, index) => {
    const header = checkInputHeader(input, index, signature);
    const { name } = header.spec;
    if (tensors[name]) throw new InvalidRequestError(`input '${name}' is given twice`);
    if (signature.batchable) {
      if (batch) checkSameBatch(name, header.shape[0]!, batch);
      batch ??= { name, rows: header.shape[0]! };
    }
    const params = (input as Record<string, unknown>).parameters;
    if (params !== undefined && !isRecord(params)) {
      throw new InvalidRequestError(
        `input '${name}': parameters is ${preview(params, SHOWN)}; expected an object`,
      );
    }
    tensors[name] = makeTensor(
      header.spec.datatype,
      readData(input as Record<string, unknown>, header),
      header.shape,
    );
  });
  const missing = signature.inputs.filter((s) => !tensors[s.name]).map((s) => `'${s.name}'`);
  if (missing.length > 0) throw new InvalidRequestError(`missing input ${missing.join(', ')}`);

  let requested: RequestedOutput[];
  if (outputs === undefined) {
    requested = signature.outputs.map((s) => ({ name: s.name, parameters: {} }));
  } else {
    if (!Array.isArray(outputs))
      throw new InvalidRequestError(`outputs is ${preview(outputs, SHOWN)}; expected an array of {name}`);
    const names = signature.outputs.map((s) => s.name);
    requested = outputs.map((o: unknown, i) => {
      if (!isRecord(o) || typeof o.name !== 'string') {
        throw new InvalidRequestError(`outputs[${i}] is ${preview(o, SHOWN)}; expected an object {name}`);
      }
      if (!names.includes(o.name)) {
        throw new InvalidRequestError(
          `output '${o.name}' is not an output of this model; outputs: ${names.join(', ')}`,
        );
      }
      if (o.parameters !== undefined && !isRecord(o.parameters)) {
        throw new InvalidRequestError(
          `output '${o.name}': parameters is ${preview(o.parameters, SHOWN)}; expected an object`,
        );
      }
      return { name: o.name, parameters: (o.parameters as Record<string, unknown>) ?? {} };
    });
    if (new Set(requested.map((o) => o.name)).size !== requested.length) {
      throw new InvalidRequestError('outputs names an output more than once');
    }
  }

  const timeout = parameters.timeout;
  if (
    timeout !== undefined &&
    !(Number.isSafeInteger(timeout) && (timeout as number) >= 0 && (timeout as number) <= MAX_TIMEOUT)
  ) {
    throw new InvalidRequestError(
      `parameters.timeout is ${preview(timeout, SHOWN)}; allowed: microseconds, an integer from 0 to ${MAX_TIMEOUT} (1 hour)`,
    );
  }
  return {
    ...(id !== undefined && { id }),
    parameters,
    inputs: tensors,
    outputs: requested,
    ...(typeof timeout === 'number' && timeout > 0 && { queueTimeoutMs: timeout / 1000 }),
  };
}

/** The protocol's inference response object; `outputs` as JSON tensors in the requested order. */
export function responseObject(result: InferResult, request: DecodedInferRequest) {
  return {
    model_name: result.model_name,
    model_version: result.model_version,
    ...(request.id !== undefined && { id: request.id }),
    outputs: request.outputs.map((o) => tensorToJson(o.name, result.outputs[o.name]!)),
  };
}

const decoder = new TextDecoder();

export const jsonCodec: InferCodec = {
  accepts: () => true,
  decode(body, _headers, signature) {
    let json: unknown;
    try {
      json = JSON.parse(decoder.decode(body));
    } catch (err) {
      throw new InvalidRequestError(`malformed JSON in request body: ${(err as Error).message}`);
    }
    return decodeRequestObject(json, signature, (input, header) => {
      if (isRecord(input.parameters) && input.parameters.binary_data_size !== undefined) {
        throw new InvalidRequestError(
          `input '${header.spec.name}': binary_data_size needs the binary tensor data extension (Inference-Header-Content-Length header)`,
        );
      }
      return dataFromJson(header.spec.name, header, input.data);
    });
  },
  encode(result, request) {
    return {
      body: JSON.stringify(responseObject(result, request)),
      headers: { 'content-type': 'application/json' },
    };
  },
};
