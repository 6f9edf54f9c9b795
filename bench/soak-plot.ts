/**
 * bench/soak-plot.ts — the soak's plot: one self-contained SVG (no script, no external font or stylesheet) with a
 * panel per sampled series over the run's minutes, the warm-up shaded and, for the judged series, the fitted line.
 */
import { leastSquares, outsideHeapMb, type Sample } from './soak-judge.js';

const W = 440;
const H = 190;
const PAD = { left: 52, right: 12, top: 28, bottom: 26 };

interface Panel {
  title: string;
  unit: string;
  pick: (s: Sample) => number;
  fitted: boolean;
}

const PANELS: Panel[] = [
  { title: 'Resident memory', unit: 'MB', pick: (s) => s.rssMb, fitted: true },
  {
    title: 'Resident memory outside V8’s heap',
    unit: 'MB',
    pick: outsideHeapMb,
    fitted: true,
  },
  { title: 'Heap used', unit: 'MB', pick: (s) => s.heapMb, fitted: true },
  { title: 'Heap reserved by V8', unit: 'MB', pick: (s) => s.heapTotalMb, fitted: false },
  { title: 'External memory (Buffers)', unit: 'MB', pick: (s) => s.externalMb, fitted: true },
  { title: 'Open handles', unit: '', pick: (s) => s.handles, fitted: true },
  { title: 'Event-loop delay p99', unit: 'ms', pick: (s) => s.eventLoopP99Ms, fitted: false },
  { title: 'Client latency p99 (per window)', unit: 'ms', pick: (s) => s.p99Ms, fitted: false },
  { title: 'Database + WAL', unit: 'MB', pick: (s) => s.dbMb, fitted: true },
];

const esc = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (n: number) => (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(1));

function panel(p: Panel, samples: readonly Sample[], warmUpMs: number, x0: number, y0: number): string {
  const tMax = Math.max(1, ...samples.map((s) => s.t)) / 60_000;
  const ys = samples.map(p.pick);
  let lo = Math.min(...ys);
  let hi = Math.max(...ys);
  if (!Number.isFinite(lo)) lo = 0;
  if (!Number.isFinite(hi) || hi === lo) hi = lo + 1;
  const margin = (hi - lo) * 0.1;
  lo = Math.max(0, lo - margin);
  hi += margin;
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const x = (min: number) => x0 + PAD.left + (min / tMax) * iw;
  const y = (v: number) => y0 + PAD.top + ih - ((v - lo) / (hi - lo)) * ih;
  const points = samples.map((s) => `${x(s.t / 60_000).toFixed(1)},${y(p.pick(s)).toFixed(1)}`).join(' ');
  const parts = [
    `<rect x="${x0 + PAD.left}" y="${y0 + PAD.top}" width="${iw}" height="${ih}" fill="#fff" stroke="#999"/>`,
    `<rect x="${x0 + PAD.left}" y="${y0 + PAD.top}" width="${(x(warmUpMs / 60_000) - x0 - PAD.left).toFixed(1)}" height="${ih}" fill="#eee"/>`,
    `<text x="${x0 + PAD.left}" y="${y0 + 18}" font-size="13" font-weight="bold">${esc(p.title)}${p.unit === '' ? '' : ` (${p.unit})`}</text>`,
    `<text x="${x0 + PAD.left - 4}" y="${y(hi) + 4}" font-size="10" text-anchor="end">${fmt(hi)}</text>`,
    `<text x="${x0 + PAD.left - 4}" y="${y(lo)}" font-size="10" text-anchor="end">${fmt(lo)}</text>`,
    `<text x="${x0 + W - PAD.right}" y="${y0 + H - 8}" font-size="10" text-anchor="end">${fmt(tMax)} min</text>`,
    `<polyline fill="none" stroke="#1565c0" stroke-width="1.5" points="${points}"/>`,
  ];
  const judged = samples.filter((s) => s.t >= warmUpMs);
  if (p.fitted && judged.length >= 2) {
    const { slope, intercept } = leastSquares(
      judged.map((s) => s.t / 60_000),
      judged.map(p.pick),
    );
    const a = (judged[0] as Sample).t / 60_000;
    const b = (judged.at(-1) as Sample).t / 60_000;
    parts.push(
      `<line x1="${x(a).toFixed(1)}" y1="${y(intercept + slope * a).toFixed(1)}" x2="${x(b).toFixed(1)}" y2="${y(intercept + slope * b).toFixed(1)}" stroke="#c62828" stroke-dasharray="4 3"/>`,
      `<text x="${x0 + W - PAD.right}" y="${y0 + 18}" font-size="11" text-anchor="end" fill="#c62828">${fmt(slope * 60)} ${esc(p.unit || 'handles')}/h</text>`,
    );
  }
  return parts.join('\n');
}

/** The SVG of a run: `title` on top, the panels two by two. */
export function plotSvg(title: string, samples: readonly Sample[], warmUpMs: number): string {
  const cols = 2;
  const rows = Math.ceil(PANELS.length / cols);
  const width = cols * W;
  const height = rows * H + 30;
  const body = PANELS.map((p, i) =>
    panel(p, samples, warmUpMs, (i % cols) * W, 30 + Math.floor(i / cols) * H),
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#fafafa"/>`,
    `<text x="10" y="20" font-size="14">${esc(title)} — grey: warm-up, dashed: least-squares fit after it</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}
