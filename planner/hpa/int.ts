/**
 * Go integer arithmetic on JavaScript numbers. The HPA truncates to integers before it divides
 * (int64 milli-values, int32 replica counts), and the conformance cases depend on exactly that.
 */

/** Go's `a / b` for int64: the quotient truncated toward zero. Exact for |a|, |b| < 2^53. */
export function goDiv(a: number, b: number): number {
  if (b === 0) throw new RangeError(`integer division by zero (${a} / 0)`);
  const negative = a < 0 !== b < 0;
  const x = Math.abs(a);
  const y = Math.abs(b);
  let q = Math.floor(x / y);
  // The float quotient can round across an integer for large operands; correct it exactly.
  if (q * y > x) q -= 1;
  else if ((q + 1) * y <= x) q += 1;
  return negative ? -q : q;
}

/** Go's `int32(f)` / `int64(f)` conversion of a float: truncation toward zero. */
export function goTrunc(f: number): number {
  return Math.trunc(f);
}
