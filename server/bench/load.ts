import { execFile } from 'node:child_process';
import { Agent, request } from 'node:http';
import { promisify } from 'node:util';

/** Result of one load run; latencies in milliseconds. */
export interface LoadResult {
  readonly requests: number;
  readonly rps: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  /** Connection errors and timeouts. */
  readonly failed: number;
  /** Responses with a status other than 2xx. */
  readonly non2xx: number;
  readonly seconds: number;
  /** CPU seconds (user + system) the load generator itself used, when measured. */
  readonly clientCpuSeconds?: number;
}

export interface Target {
  readonly url: string;
  /** A file holding the request body (hey reads it once and sends it on every request). */
  readonly bodyFile: string;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * Closed-loop load with hey (`c` workers, each sending its next request when the last one is
 * answered): the equivalent of the recipe's `ab -n 10000 -c 200`. hey, not ab: ab is single
 * threaded and becomes the bottleneck with 600 KB bodies at c=200.
 */
export async function hey(
  target: Target,
  opts: { concurrency: number; requests?: number; duration?: string },
): Promise<LoadResult> {
  const args = ['-c', String(opts.concurrency), '-m', 'POST', '-t', '60', '-D', target.bodyFile];
  if (opts.duration) args.push('-z', opts.duration);
  else args.push('-n', String(opts.requests ?? 200));
  for (const [k, v] of Object.entries(target.headers)) {
    if (k.toLowerCase() === 'content-type') args.push('-T', v);
    else args.push('-H', `${k}: ${v}`);
  }
  args.push(target.url);
  // GNU time reports hey's own CPU use: it shares the cores with the server it measures.
  const { stdout, stderr } = await promisify(execFile)('/usr/bin/time', ['-f', 'cpu %U %S', 'hey', ...args], {
    maxBuffer: 64 * 1024 * 1024,
  });
  const cpu = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(stderr);
  return { ...parseHey(stdout), ...(cpu && { clientCpuSeconds: Number(cpu[1]) + Number(cpu[2]) }) };
}

/** Parses hey's text summary (latencies there are in seconds). */
export function parseHey(out: string): LoadResult {
  const num = (re: RegExp) => {
    const m = re.exec(out);
    return m ? Number(m[1]) : NaN;
  };
  const pct = (p: number) => num(new RegExp(`\\s${p}% in ([\\d.]+) secs`)) * 1000;
  let ok = 0;
  let non2xx = 0;
  for (const m of out.matchAll(/\[(\d{3})\]\s+(\d+) responses/g)) {
    if (m[1].startsWith('2')) ok += Number(m[2]);
    else non2xx += Number(m[2]);
  }
  let failed = 0;
  const errors = out.split('Error distribution:')[1] ?? '';
  for (const m of errors.matchAll(/^\s*\[(\d+)\]/gm)) failed += Number(m[1]);
  return {
    requests: ok + non2xx + failed,
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    p50: pct(50),
    p90: pct(90),
    p99: pct(99),
    failed,
    non2xx,
    seconds: num(/Total:\s+([\d.]+) secs/),
  };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/**
 * Open-loop load: request i is due at start + i/rate whatever happened to the others, and its
 * latency is measured from that due time, not from when it was actually sent. A stalled server
 * therefore shows up in the percentiles instead of silently slowing the client down (no
 * coordinated omission, as in wrk2 — which Debian does not package).
 */
export async function openLoop(
  target: { url: string; body: Uint8Array; headers: Readonly<Record<string, string>> },
  opts: { rate: number; seconds: number; timeoutMs?: number },
): Promise<LoadResult & { offeredRps: number }> {
  const url = new URL(target.url);
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  const total = Math.round(opts.rate * opts.seconds);
  const latencies: number[] = [];
  let failed = 0;
  let non2xx = 0;
  const start = performance.now() + 50;
  const cpuBefore = process.cpuUsage();
  const inflight: Promise<void>[] = [];
  const send = (due: number) =>
    new Promise<void>((resolve) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          agent,
          timeout: opts.timeoutMs ?? 30_000,
          headers: { ...target.headers, 'content-length': String(target.body.byteLength) },
        },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300) {
              latencies.push(performance.now() - due);
            } else {
              non2xx++;
            }
            resolve();
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => {
        failed++;
        resolve();
      });
      req.end(target.body);
    });
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / opts.rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    inflight.push(send(due));
  }
  await Promise.all(inflight);
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    requests: total,
    offeredRps: opts.rate,
    rps: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
    failed,
    non2xx,
    seconds,
    clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}
