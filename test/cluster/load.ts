/**
 * Open-loop HTTP load for the closed-loop tests: requests arrive at a set rate whatever the servers'
 * latency (a closed loop like `ab -c` hides overload, see the recipe's notes), sent to the Service's
 * LoadBalancer address (or spread round-robin over several URLs). Bounded three ways so a broken server cannot run away with the
 * machine: only loopback (127.0.0.0/8) targets, at most `maxInFlight` outstanding (arrivals beyond it are counted
 * as shed, not sent), and at most `maxRequests` / `maxSeconds` in total.
 */

export interface LoadOptions {
  readonly urls: readonly string[];
  readonly body: string;
  /** @default 'application/json' */
  readonly contentType?: string;
  /** @default 64 */
  readonly maxInFlight?: number;
  /** @default 50000 */
  readonly maxRequests?: number;
  /** @default 600 */
  readonly maxSeconds?: number;
  /** Per-request timeout. @default 30000 */
  readonly timeoutMs?: number;
}

export interface LoadWindow {
  /** Arrivals per second asked for over the window. */
  readonly offered: number;
  readonly sent: number;
  readonly ok: number;
  readonly failed: number;
  readonly shed: number;
  readonly inFlight: number;
  /** Mean latency of the requests answered in the window, seconds (NaN if none). */
  readonly meanLatency: number;
  /** The status codes and errors of the failures, with counts. */
  readonly failures: Readonly<Record<string, number>>;
}

const TICK_MS = 20;

export class LoadDriver {
  private rate = 0;
  private credit = 0;
  private next = 0;
  private inFlight = 0;
  private total = 0;
  private readonly startedAt = Date.now();
  private lastTick = performance.now();
  private timer: NodeJS.Timeout | undefined;
  private pending = new Set<Promise<void>>();
  private window = this.emptyWindow();
  private windowStart = Date.now();
  private offeredSum = 0;

  constructor(private readonly options: LoadOptions) {
    if (options.urls.length === 0) throw new Error('LoadDriver: urls is empty');
    for (const url of options.urls) {
      const host = new URL(url).hostname;
      if (!/^127\.\d+\.\d+\.\d+$/.test(host)) {
        throw new Error(`LoadDriver: url ${url} is not in 127.0.0.0/8 (only loopback load is allowed)`);
      }
    }
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  private emptyWindow() {
    return { sent: 0, ok: 0, failed: 0, shed: 0, latencySum: 0, failures: {} as Record<string, number> };
  }

  /** Requests per second from now on. */
  setRate(perSecond: number): void {
    if (!(perSecond >= 0)) throw new Error(`LoadDriver.setRate: ${perSecond} is not a rate >= 0`);
    this.rate = perSecond;
  }

  private tick(): void {
    const now = performance.now();
    // Timers run late on a busy machine: arrivals follow the clock, not the number of ticks.
    const elapsed = Math.min(now - this.lastTick, 1000) / 1000;
    this.lastTick = now;
    const maxSeconds = this.options.maxSeconds ?? 600;
    if ((Date.now() - this.startedAt) / 1000 > maxSeconds) {
      this.rate = 0;
      return;
    }
    this.offeredSum += this.rate * elapsed;
    this.credit += this.rate * elapsed;
    while (this.credit >= 1) {
      this.credit -= 1;
      if (this.total >= (this.options.maxRequests ?? 50_000)) {
        this.window.shed++;
        continue;
      }
      if (this.inFlight >= (this.options.maxInFlight ?? 64)) {
        this.window.shed++;
        continue;
      }
      this.send();
    }
  }

  private send(): void {
    const url = this.options.urls[this.next++ % this.options.urls.length];
    this.inFlight++;
    this.total++;
    this.window.sent++;
    const started = performance.now();
    const request = fetch(url, {
      method: 'POST',
      headers: { 'content-type': this.options.contentType ?? 'application/json' },
      body: this.options.body,
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
    })
      .then(async (response) => {
        await response.arrayBuffer();
        if (response.ok) {
          this.window.ok++;
          this.window.latencySum += (performance.now() - started) / 1000;
        } else {
          this.fail(`HTTP ${response.status}`);
        }
      })
      .catch((error: Error) => this.fail(error.name === 'TimeoutError' ? 'timeout' : error.message))
      .finally(() => {
        this.inFlight--;
        this.pending.delete(request);
      });
    this.pending.add(request);
  }

  private fail(reason: string): void {
    this.window.failed++;
    this.window.failures[reason] = (this.window.failures[reason] ?? 0) + 1;
  }

  /** What happened since the last call. */
  takeWindow(): LoadWindow {
    const now = Date.now();
    const seconds = Math.max((now - this.windowStart) / 1000, 1e-3);
    const w = this.window;
    const out: LoadWindow = {
      offered: this.offeredSum / seconds,
      sent: w.sent,
      ok: w.ok,
      failed: w.failed,
      shed: w.shed,
      inFlight: this.inFlight,
      meanLatency: w.ok > 0 ? w.latencySum / w.ok : Number.NaN,
      failures: w.failures,
    };
    this.window = this.emptyWindow();
    this.windowStart = now;
    this.offeredSum = 0;
    return out;
  }

  /** Stop sending and wait for the requests in flight. */
  async stop(): Promise<void> {
    this.rate = 0;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.pending]);
  }
}
