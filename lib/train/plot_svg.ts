/**
 * A loss curve as a standalone SVG: train and eval loss against the step, with axes, ticks, labels and a
 * legend; one polyline per curve. No dependencies; the text is escaped so the file is well-formed XML.
 */

export interface CurvePoint {
  step: number;
  value: number;
}

export interface LossCurves {
  train: CurvePoint[];
  eval: CurvePoint[];
}

export interface PlotOptions {
  title?: string;
  width?: number;
  height?: number;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** About `count` round tick values covering [lo, hi] (1, 2 or 5 times a power of ten apart). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function label(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  return a >= 1e5 || a < 1e-3 ? v.toExponential(1) : String(Number(v.toPrecision(4)));
}

export function plotLossSvg(curves: LossCurves, opts: PlotOptions = {}): string {
  const width = opts.width ?? 640, height = opts.height ?? 400;
  const m = { left: 64, right: 20, top: 36, bottom: 48 };
  const pw = width - m.left - m.right, ph = height - m.top - m.bottom;
  const finite = (pts: CurvePoint[]) => pts.filter((p) => Number.isFinite(p.step) && Number.isFinite(p.value));
  const train = finite(curves.train), evals = finite(curves.eval);
  const all = [...train, ...evals];
  let x0 = Math.min(...all.map((p) => p.step), 0), x1 = Math.max(...all.map((p) => p.step), 1);
  let y0 = Math.min(...all.map((p) => p.value)), y1 = Math.max(...all.map((p) => p.value));
  if (all.length === 0) [y0, y1] = [0, 1];
  if (y1 - y0 < 1e-12) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  if (x1 <= x0) x1 = x0 + 1;
  const sx = (x: number) => m.left + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => m.top + ph - ((y - y0) / (y1 - y0)) * ph;
  const f = (v: number) => v.toFixed(2);
  const parts: string[] = [];
  parts.push('<?xml version="1.0" encoding="UTF-8"?>');
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="white"/>`);
  if (opts.title) parts.push(`<text x="${width / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(opts.title)}</text>`);
  // Axes, ticks and grid.
  parts.push(`<g stroke="black" stroke-width="1"><line x1="${m.left}" y1="${m.top + ph}" x2="${m.left + pw}" y2="${m.top + ph}"/><line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + ph}"/></g>`);
  for (const t of niceTicks(x0, x1)) {
    const x = f(sx(t));
    parts.push(`<line x1="${x}" y1="${m.top + ph}" x2="${x}" y2="${m.top + ph + 5}" stroke="black"/>`);
    parts.push(`<text x="${x}" y="${m.top + ph + 18}" text-anchor="middle">${escapeXml(label(t))}</text>`);
  }
  for (const t of niceTicks(y0, y1)) {
    const y = f(sy(t));
    parts.push(`<line x1="${m.left - 5}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="#ddd"/>`);
    parts.push(`<text x="${m.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeXml(label(t))}</text>`);
  }
  parts.push(`<text x="${m.left + pw / 2}" y="${height - 10}" text-anchor="middle">step</text>`);
  parts.push(`<text x="16" y="${m.top + ph / 2}" text-anchor="middle" transform="rotate(-90 16 ${m.top + ph / 2})">loss</text>`);
  // Curves.
  const series: [string, string, CurvePoint[]][] = [['train loss', '#1f77b4', train], ['eval loss', '#d62728', evals]];
  for (const [name, color, pts] of series) {
    if (pts.length === 0) continue;
    const points = pts.map((p) => `${f(sx(p.step))},${f(sy(p.value))}`).join(' ');
    parts.push(`<polyline class="${name === 'train loss' ? 'train' : 'eval'}" fill="none" stroke="${color}" stroke-width="1.5" points="${points}"><title>${escapeXml(name)}</title></polyline>`);
  }
  // Legend.
  series.forEach(([name, color], i) => {
    const y = m.top + 8 + i * 16;
    parts.push(`<line x1="${m.left + pw - 110}" y1="${y}" x2="${m.left + pw - 90}" y2="${y}" stroke="${color}" stroke-width="2"/>`);
    parts.push(`<text x="${m.left + pw - 84}" y="${y}" dominant-baseline="middle">${escapeXml(name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
