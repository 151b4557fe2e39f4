import { timingSafeEqual } from 'node:crypto';
import { ForbiddenError } from './errors.ts';

/**
 * Who may use the model repository API (index, load, unload), the same for every protocol: REST's
 * /v2/repository and gRPC's Repository* RPCs check the same mode and the same credential.
 */

export type ModelControlMode = 'none' | 'explicit';
export const MODEL_CONTROL_MODES: readonly ModelControlMode[] = ['none', 'explicit'];

/** A header (REST) or metadata entry (gRPC) an API category requires (Triton's --http-restricted-api). */
export interface RestrictedApi {
  readonly header: string;
  readonly value: string;
}

/** Equal strings in time independent of where they differ. */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Throws unless `got` is the restriction's value; `flag` names the option that set it. The expected
 * value is never echoed: it is a credential.
 */
export function checkRestriction(
  restriction: RestrictedApi | undefined,
  got: string | undefined,
  what: string,
  flag: string,
): void {
  if (restriction && (got === undefined || !sameSecret(got, restriction.value)))
    throw new ForbiddenError(
      `the model repository API is restricted: it needs the ${what} '${restriction.header}' with the value the server was started with (${flag})`,
    );
}

/** Throws unless model control allows load and unload (Triton's --model-control-mode explicit). */
export function checkModelControl(mode: ModelControlMode): void {
  if (mode !== 'explicit')
    throw new ForbiddenError(
      `model control is off (--model-control-mode ${mode}): load and unload are refused; start the server with --model-control-mode explicit to allow them`,
    );
}
