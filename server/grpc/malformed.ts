import type { ServiceDefinition } from '@grpc/grpc-js';

/**
 * A message that does not parse reaches the handler as `{ [MALFORMED]: why }` instead of failing
 * in grpc-js, which would answer INTERNAL ("Error deserializing request"): a client's bad bytes
 * are its error (INVALID_ARGUMENT, counted as client_error), not the server's.
 */
export const MALFORMED = Symbol('malformed message');

export function reportMalformed(service: ServiceDefinition): ServiceDefinition {
  return Object.fromEntries(
    Object.entries(service).map(([name, method]) => [
      name,
      {
        ...method,
        requestDeserialize: (bytes: Buffer) => {
          try {
            return method.requestDeserialize(bytes);
          } catch (err) {
            return {
              [MALFORMED]: `${method.path}: the ${bytes.byteLength}-byte request is not a valid ${name}Request protobuf message: ${(err as Error).message}`,
            };
          }
        },
      },
    ]),
  ) as ServiceDefinition;
}
