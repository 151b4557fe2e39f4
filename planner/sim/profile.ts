/**
 * Traffic profiles: offered load (req/s) over time, given as points and interpolated linearly.
 */

export interface ProfilePoint {
  /** Seconds from the start. */
  readonly t: number;
  /** Offered load, requests per second. */
  readonly rps: number;
}

export interface TrafficProfile {
  readonly name: string;
  readonly points: readonly ProfilePoint[];
  /** Length of the simulation, seconds. */
  readonly durationSeconds: number;
}

export class ProfileError extends Error {
  override readonly name = 'ProfileError';
}

/** Load at time t: linear between points, constant before the first and after the last. */
export function loadAt(profile: TrafficProfile, t: number): number {
  const p = profile.points;
  if (t <= p[0].t) return p[0].rps;
  for (let i = 1; i < p.length; i++) {
    if (t <= p[i].t) {
      const a = p[i - 1];
      const b = p[i];
      return b.t === a.t ? b.rps : a.rps + ((b.rps - a.rps) * (t - a.t)) / (b.t - a.t);
    }
  }
  return p[p.length - 1].rps;
}

/** Piecewise-constant phases: each holds its load for its duration (steps between phases). */
export function stepProfile(
  name: string,
  phases: readonly { rps: number; seconds: number }[],
): TrafficProfile {
  const points: ProfilePoint[] = [];
  let t = 0;
  for (const phase of phases) {
    points.push({ t, rps: phase.rps }, { t: t + phase.seconds - 1, rps: phase.rps });
    t += phase.seconds;
  }
  return { name, points, durationSeconds: t };
}

/**
 * The recipe's measured table (its ab -n 10000 -c 200 results): idle 50 req/s, medium 500, peak 900,
 * as a day's rush would pass through them, then back down to watch the scale-down.
 */
export const RECIPE_PROFILE: TrafficProfile = stepProfile('recipe', [
  { rps: 50, seconds: 300 },
  { rps: 500, seconds: 600 },
  { rps: 900, seconds: 600 },
  { rps: 500, seconds: 600 },
  { rps: 50, seconds: 900 },
]);

/**
 * A day: trough of 50 req/s at 03:00, peak of 900 req/s at 15:00 (a raised-cosine squared, so
 * the night is long and the afternoon peak sharp), one point per minute.
 */
export function diurnalProfile(minRps = 50, maxRps = 900): TrafficProfile {
  const points: ProfilePoint[] = [];
  for (let minute = 0; minute <= 24 * 60; minute++) {
    const hours = minute / 60;
    const shape = ((1 - Math.cos((2 * Math.PI * (hours - 3)) / 24)) / 2) ** 2;
    points.push({ t: minute * 60, rps: minRps + (maxRps - minRps) * shape });
  }
  return { name: 'diurnal', points, durationSeconds: 24 * 3600 };
}

/**
 * A CSV of `time,rps` rows: time in seconds from the start (increasing), load in req/s (>= 0).
 * `#` comments are allowed, and a header as the first row that is not a comment.
 */
export function parseProfileCsv(name: string, text: string): TrafficProfile {
  const points: ProfilePoint[] = [];
  const lines = text.split(/\r?\n/);
  let first = true;
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const cells = line.split(',').map((c) => c.trim());
    // Only the first row may be a header: a later non-numeric row is a bad data row, not skipped.
    const header = first && cells.some((c) => c !== '' && Number.isNaN(Number(c)));
    first = false;
    if (header) return;
    const where = `${name} line ${i + 1}`;
    if (cells.length !== 2)
      throw new ProfileError(`${where}: ${JSON.stringify(raw)} must have two columns: time,rps`);
    const [t, rps] = cells.map(Number);
    if (!Number.isFinite(t) || t < 0)
      throw new ProfileError(`${where}: time ${JSON.stringify(cells[0])} must be a number of seconds >= 0`);
    if (!Number.isFinite(rps) || rps < 0)
      throw new ProfileError(`${where}: rps ${JSON.stringify(cells[1])} must be a number >= 0`);
    const prev = points[points.length - 1];
    if (prev && t <= prev.t)
      throw new ProfileError(`${where}: time ${t} must be greater than the previous row's ${prev.t}`);
    points.push({ t, rps });
  });
  if (points.length === 0) throw new ProfileError(`${name}: no rows; expected lines of time,rps`);
  const last = points[points.length - 1].t;
  return { name, points, durationSeconds: Math.max(1, Math.floor(last) + 1) };
}
