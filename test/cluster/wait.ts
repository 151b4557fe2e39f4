/**
 * Polls `probe` until it returns a value that is not `{ pending }`; fails with what was last
 * pending when the time runs out (so a test never passes by returning early).
 */
export async function waitUntil<T>(
  what: string,
  timeoutMs: number,
  probe: () => T | { pending: string } | Promise<T | { pending: string }>,
  everyMs = 1000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: string;
  for (;;) {
    try {
      const r = await probe();
      if (!(typeof r === 'object' && r !== null && 'pending' in r)) return r as T;
      last = r.pending;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting until ${what}: ${last}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
