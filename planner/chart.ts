/**
 * A hand-written SVG chart of one simulation: offered load against ready capacity, replicas, and
 * latency against the SLO, on one time axis. No dependencies; the output is plain SVG 1.1.
 */
import type { SecondSample, SimulationResult } from './sim/simulate.ts';

const WIDTH = 960;
const LEFT = 70;
const RIGHT = 34;
const PANEL = 170;
const GAP = 46;
const TOP = 74;
const PLOT_W = WIDTH - LEFT - RIGHT;
/** Time-axis tick spacings, seconds: whole minutes or hours. */
const TIME_STEPS = [10, 30, 60, 120, 300, 600, 900, 1800, 3600, 2 * 3600, 3 * 3600];

interface Panel {
  readonly title: string;
  readonly top: number;
  readonly y: (v: number) => number;
  readonly ticks: readonly { v: number; label: string }[];
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceStep(max: number, count: number): number {
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
}

function linearPanel(title: string, top: number, max: number, unit: string): Panel {
  const step = niceStep(Math.max(max, 1), 4);
  const top_ = Math.ceil(Math.max(max, 1) / step) * step;
  const ticks = [];
  for (let v = 0; v <= top_ + 1e-9; v += step) ticks.push({ v, label: `${+v.toFixed(3)}${unit}` });
  return { title, top, y: (v) => top + PANEL - (v / top_) * PANEL, ticks };
}

function logPanel(title: string, top: number, minS: number, maxS: number): Panel {
  const lo = Math.floor(Math.log10(minS));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(maxS)));
  const ticks = [];
  for (let e = lo; e <= hi; e++) {
    const v = 10 ** e;
    ticks.push({ v, label: v >= 1 ? `${v} s` : `${+(v * 1000).toFixed(3)} ms` });
  }
  return {
    title,
    top,
    y: (v) =>
      top + PANEL - ((Math.log10(Math.min(Math.max(v, 10 ** lo), 10 ** hi)) - lo) / (hi - lo)) * PANEL,
    ticks,
  };
}

/** At most `max` points: each bucket keeps the per-field maximum (peaks stay visible). */
function downsample(series: readonly SecondSample[], max: number): SecondSample[] {
  if (series.length <= max) return [...series];
  const size = Math.ceil(series.length / max);
  const out: SecondSample[] = [];
  for (let i = 0; i < series.length; i += size) {
    const bucket = series.slice(i, i + size);
    const pick = (f: (s: SecondSample) => number | null) => {
      const vs = bucket.map(f).filter((v): v is number => v !== null);
      return vs.length ? Math.max(...vs) : null;
    };
    out.push({
      ...bucket[0],
      offered: pick((s) => s.offered) ?? 0,
      capacity: pick((s) => s.capacity) ?? 0,
      dropped: pick((s) => s.dropped) ?? 0,
      pods: pick((s) => s.pods) ?? 0,
      ready: pick((s) => s.ready) ?? 0,
      desired: pick((s) => s.desired) ?? 0,
      p50: pick((s) => s.p50),
      p95: pick((s) => s.p95),
    });
  }
  return out;
}

function path(points: readonly [number, number | null][], step: boolean): string {
  let d = '';
  let pen = false;
  for (const [x, y] of points) {
    if (y === null) {
      pen = false;
      continue;
    }
    if (!pen) d += `M${x.toFixed(1)},${y.toFixed(1)}`;
    else if (step) d += `H${x.toFixed(1)}V${y.toFixed(1)}`;
    else d += `L${x.toFixed(1)},${y.toFixed(1)}`;
    pen = true;
  }
  return d;
}

function axes(p: Panel, x: (t: number) => number, duration: number): string {
  const parts = [`<text x="${LEFT}" y="${p.top - 8}" class="title">${esc(p.title)}</text>`];
  for (const tick of p.ticks) {
    const y = p.y(tick.v).toFixed(1);
    parts.push(`<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${y}" y2="${y}" class="grid"/>`);
    parts.push(`<text x="${LEFT - 6}" y="${y}" class="ylab">${esc(tick.label)}</text>`);
  }
  const hours = duration > 4 * 3600;
  const step = TIME_STEPS.find((s) => duration / s <= 10) ?? 6 * 3600;
  for (let t = 0; t <= duration; t += step) {
    const xx = x(t).toFixed(1);
    parts.push(`<line x1="${xx}" x2="${xx}" y1="${p.top}" y2="${p.top + PANEL}" class="grid"/>`);
    parts.push(
      `<text x="${xx}" y="${p.top + PANEL + 14}" class="xlab">${hours ? `${t / 3600} h` : `${t / 60} min`}</text>`,
    );
  }
  parts.push(`<rect x="${LEFT}" y="${p.top}" width="${PLOT_W}" height="${PANEL}" class="frame"/>`);
  return parts.join('\n');
}

/** A legend on the panel's title line, right of the title. */
function legend(items: readonly [string, string][], y: number): string {
  let x = LEFT + 380;
  return items
    .map(([cls, label]) => {
      const s = `<line x1="${x}" x2="${x + 18}" y1="${y}" y2="${y}" class="${cls}"/><text x="${x + 22}" y="${y + 4}" class="leg">${esc(label)}</text>`;
      x += 34 + label.length * 6.4;
      return s;
    })
    .join('\n');
}

export function renderChart(result: SimulationResult, title?: string): string {
  const { series, summary } = result;
  const pts = downsample(series, PLOT_W);
  const duration = Math.max(1, series.length);
  const x = (t: number) => LEFT + (t / duration) * PLOT_W;
  const maxLoad = Math.max(...pts.map((s) => Math.max(s.offered, s.capacity)));
  const maxPods = Math.max(...pts.map((s) => Math.max(s.pods, s.desired)));
  const lat = pts.flatMap((s) => [s.p50, s.p95]).filter((v): v is number => v !== null);
  const load = linearPanel('Offered load vs ready capacity (req/s)', TOP, maxLoad, '');
  const reps = linearPanel('Replicas', TOP + PANEL + GAP, maxPods, '');
  const latency = logPanel(
    `Latency (log scale), SLO p95 <= ${summary.sloSeconds * 1000} ms`,
    TOP + 2 * (PANEL + GAP),
    Math.min(0.01, ...lat),
    Math.max(1, summary.sloSeconds * 2, ...lat),
  );
  const height = TOP + 3 * PANEL + 2 * GAP + 40;
  const line = (panel: Panel, f: (s: SecondSample) => number | null, cls: string, step = false) =>
    `<path d="${path(
      pts.map((s) => {
        const v = f(s);
        return [x(s.t), v === null ? null : panel.y(v)];
      }),
      step,
    )}" class="${cls}"/>`;
  const area = `<path d="M${x(0)},${load.y(0)}${pts.map((s) => `L${x(s.t).toFixed(1)},${load.y(s.offered).toFixed(1)}`).join('')}L${x(pts[pts.length - 1].t).toFixed(1)},${load.y(0)}Z" class="area"/>`;
  const heading = title ?? `${summary.hpa} on the ${summary.profile} profile`;
  const sub =
    `${summary.maxPods} pods max, ${Math.round(summary.podSeconds / 3600)} pod-hours, ${summary.secondsOverSlo} s over SLO, ` +
    `longest under capacity ${summary.timeToCapacitySeconds} s, ${summary.droppedRequests} requests dropped`;
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif">
<style>
.title{font-size:13px;font-weight:bold;fill:#222}.head{font-size:16px;font-weight:bold}.sub{font-size:12px;fill:#444}
.ylab{font-size:11px;text-anchor:end;dominant-baseline:middle;fill:#555}.xlab{font-size:11px;text-anchor:middle;fill:#555}.leg{font-size:11px;fill:#333}
.grid{stroke:#e4e4e4;stroke-width:1}.frame{fill:none;stroke:#999}
.area{fill:#9ecae1;fill-opacity:.55;stroke:none}.offered{stroke:#9ecae1;stroke-width:6}
.capacity{fill:none;stroke:#08519c;stroke-width:1.6}.drop{fill:none;stroke:#d62728;stroke-width:1.4}
.ready{fill:none;stroke:#2ca02c;stroke-width:2}.desired{fill:none;stroke:#ff7f0e;stroke-width:1.5;stroke-dasharray:5 3}.pods{fill:none;stroke:#7f7f7f;stroke-width:1}
.p95{fill:none;stroke:#d62728;stroke-width:1.5}.p50{fill:none;stroke:#9467bd;stroke-width:1.2}.slo{stroke:#000;stroke-width:1;stroke-dasharray:4 4}
</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="${LEFT}" y="24" class="head">${esc(heading)}</text>
<text x="${LEFT}" y="42" class="sub">${esc(sub)}</text>
${axes(load, x, duration)}
${area}
${line(load, (s) => s.capacity, 'capacity', true)}
${line(load, (s) => s.dropped, 'drop')}
${legend(
  [
    ['offered', 'offered load'],
    ['capacity', 'ready capacity'],
    ['drop', 'dropped req/s'],
  ],
  TOP - 12,
)}
${axes(reps, x, duration)}
${line(reps, (s) => s.pods, 'pods', true)}
${line(reps, (s) => s.desired, 'desired', true)}
${line(reps, (s) => s.ready, 'ready', true)}
${legend(
  [
    ['ready', 'ready'],
    ['desired', 'desired (HPA)'],
    ['pods', 'pods incl. starting'],
  ],
  TOP + PANEL + GAP - 12,
)}
${axes(latency, x, duration)}
<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${latency.y(summary.sloSeconds).toFixed(1)}" y2="${latency.y(summary.sloSeconds).toFixed(1)}" class="slo"/>
${line(latency, (s) => s.p50, 'p50')}
${line(latency, (s) => s.p95, 'p95')}
${legend(
  [
    ['p95', 'p95'],
    ['p50', 'p50'],
    ['slo', 'SLO'],
  ],
  TOP + 2 * (PANEL + GAP) - 12,
)}
</svg>
`;
}
