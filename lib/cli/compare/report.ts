/** The compare table: text for stdout, Markdown, JSON, and an SVG bar chart (test accuracy and trainable % per method). */
import type { MethodResult } from './run_method';

export const COLUMNS = ['method', 'trainable params', 'trainable %', 'test accuracy', 'F1', 'train time', 'peak memory (RSS)', 'adapter size on disk'];

function bytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / 1024 / 1024).toFixed(2)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

export function rowCells(r: MethodResult): string[] {
  const pct = r.trainablePercent >= 1 ? r.trainablePercent.toFixed(1) : r.trainablePercent.toPrecision(2);
  return [r.method, r.trainableParams.toLocaleString('en-US'), `${pct}%`, (100 * r.testAccuracy).toFixed(1), r.testF1.toFixed(3),
    `${r.trainSeconds.toFixed(1)} s`, `${r.peakRssMiB.toFixed(0)} MiB`, bytes(r.adapterBytes)];
}

export function textTable(results: MethodResult[]): string {
  const rows = [COLUMNS, ...results.map(rowCells)];
  const widths = COLUMNS.map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ');
  return [line(COLUMNS), widths.map((w) => '-'.repeat(w)).join('  '), ...results.map((r) => line(rowCells(r)))].join('\n');
}

export function markdownTable(results: MethodResult[]): string {
  const head = `| ${COLUMNS.join(' | ')} |`;
  const sep = `|${COLUMNS.map((_, c) => (c === 0 ? ' --- ' : ' ---: ')).join('|')}|`;
  return [head, sep, ...results.map((r) => `| ${rowCells(r).join(' | ')} |`)].join('\n');
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * Two bar charts side by side, one row per method: test accuracy (0-100, the majority-class line dashed)
 * and trainable % on a log scale (0.001% .. 100%), since the methods span five orders of magnitude.
 */
export function compareSvg(results: MethodResult[], title: string): string {
  const rowH = 22, top = 50, left = 120, panelW = 260, gap = 60;
  const width = left + 2 * panelW + gap + 20, height = top + rowH * results.length + 40;
  const p: string[] = [];
  p.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`);
  p.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="white"/>`);
  p.push(`<text x="${width / 2}" y="18" text-anchor="middle" font-size="14">${esc(title)}</text>`);
  const x2 = left + panelW + gap;
  p.push(`<text x="${left + panelW / 2}" y="40" text-anchor="middle">test accuracy (%)</text>`);
  p.push(`<text x="${x2 + panelW / 2}" y="40" text-anchor="middle">trainable parameters (%, log scale)</text>`);
  const logX = (pct: number) => ((Math.log10(Math.max(pct, 1e-3)) + 3) / 5) * panelW;
  results.forEach((r, i) => {
    const y = top + i * rowH;
    p.push(`<text x="${left - 6}" y="${y + 14}" text-anchor="end">${esc(r.method)}</text>`);
    const a = Math.max(0, Math.min(1, r.testAccuracy)) * panelW;
    p.push(`<rect class="accuracy" x="${left}" y="${y + 3}" width="${a.toFixed(1)}" height="${rowH - 6}" fill="#1f77b4"><title>${esc(r.method)}: ${(100 * r.testAccuracy).toFixed(1)}%</title></rect>`);
    p.push(`<text x="${left + a + 3}" y="${y + 14}" font-size="10">${(100 * r.testAccuracy).toFixed(1)}</text>`);
    const t = logX(r.trainablePercent);
    p.push(`<rect class="trainable" x="${x2}" y="${y + 3}" width="${t.toFixed(1)}" height="${rowH - 6}" fill="#ff7f0e"><title>${esc(r.method)}: ${r.trainablePercent.toPrecision(3)}%</title></rect>`);
  });
  const bottom = top + rowH * results.length;
  if (results.length > 0) {
    const mx = left + results[0].majorityAccuracy * panelW;
    p.push(`<line x1="${mx.toFixed(1)}" y1="${top}" x2="${mx.toFixed(1)}" y2="${bottom}" stroke="black" stroke-dasharray="4 3"><title>majority class</title></line>`);
  }
  p.push(`<g stroke="black"><line x1="${left}" y1="${bottom}" x2="${left + panelW}" y2="${bottom}"/><line x1="${x2}" y1="${bottom}" x2="${x2 + panelW}" y2="${bottom}"/></g>`);
  for (const v of [0, 25, 50, 75, 100]) p.push(`<text x="${left + (v / 100) * panelW}" y="${bottom + 15}" text-anchor="middle" font-size="10">${v}</text>`);
  for (const v of [0.001, 0.01, 0.1, 1, 10, 100]) p.push(`<text x="${x2 + logX(v)}" y="${bottom + 15}" text-anchor="middle" font-size="10">${v}</text>`);
  p.push(`<text x="${left}" y="${bottom + 32}" font-size="10">dashed: majority class</text>`);
  p.push('</svg>');
  return p.join('\n') + '\n';
}
