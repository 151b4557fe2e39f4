/**
 * Kubernetes quantities (k8s.io/apimachinery/pkg/api/resource): the grammar, their value as a float
 * and in milli-units, and how a construct writes a number as one. The constructs validate resource
 * requests with it, the planner reads metric targets, tolerances and requests with it.
 *
 * Grammar (quantity.go):
 *   <quantity> ::= <signedNumber><suffix>; <number> ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
 *   <suffix>   ::= <binarySI> (Ki..Ei) | <decimalExponent> (e|E<signedNumber>) | <decimalSI> (n u m "" k M G T P E)
 */

/** A quantity as a manifest holds it: "250m", "2", "1.5k", "512Mi", or a plain number. */
export type Quantity = string | number;

const SUFFIX: Readonly<Record<string, number>> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
  Pi: 1024 ** 5,
  Ei: 1024 ** 6,
};

/** One suffix at most: an exponent ("1e3") or an SI suffix ("1k", "1Ki"); "1E" is one exa. */
const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E))?$/;

/** Examples named in error messages. */
export const QUANTITY_EXAMPLES = '"250m", "2", "1.5k", "512Mi"';

/**
 * The value of a quantity string as a float (Quantity.AsApproximateFloat64()), or undefined when
 * `text` does not follow the grammar. No whitespace is trimmed: callers decoding JSON trim first, as
 * Quantity.UnmarshalJSON does.
 */
export function parseQuantity(text: string): number | undefined {
  const m = QUANTITY.exec(text);
  if (!m) return undefined;
  return Number(m[1] + (m[2] ?? '')) * SUFFIX[m[3] ?? ''];
}

/**
 * Quantity.MilliValue() of a value: milli-units rounded up, without letting float noise
 * (0.1 * 1000) add a unit.
 */
export function milliOf(value: number): number {
  return Math.ceil(value * 1000 - 1e-9);
}

/** A number as a quantity: integers as is, fractions in milli-units ("50m" for 0.05). */
export function toQuantity(value: number): string {
  return Number.isInteger(value) ? String(value) : `${Math.round(value * 1000)}m`;
}
