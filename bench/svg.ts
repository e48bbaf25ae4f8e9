/**
 * A plain SVG line chart for the benchmark report: cost against load, one line per series
 * (references dashed), axes with round ticks, a legend. No library: the report must render on
 * GitHub and in any browser as a static file.
 */
import type { Chart } from './results.js';

const W = 640;
const H = 320;
const M = { left: 64, right: 16, top: 34, bottom: 46 };
const COLORS = ['#1f5fbf', '#c2410c', '#15803d', '#7e22ce', '#0e7490', '#b91c1c'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** About 5 round tick values from 0 to at least `max`. */
function ticks(max: number): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((k) => k * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = 0; v < max + step * 0.999; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

const fmt = (v: number) => (Math.abs(v) >= 1000 ? v.toLocaleString('en') : String(Number(v.toPrecision(4))));

export function lineChart(c: Chart): string {
  const pts = c.series.flatMap((s) => s.points);
  const xt = ticks(Math.max(...pts.map((p) => p[0]), 1));
  const yt = ticks(Math.max(...pts.map((p) => p[1]), 0) * 1.05);
  const xmax = xt[xt.length - 1]!;
  const ymax = yt[yt.length - 1]!;
  const px = (x: number) => M.left + (x / xmax) * (W - M.left - M.right);
  const py = (y: number) => H - M.bottom - (y / ymax) * (H - M.top - M.bottom);
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  out.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${esc(c.title)}</text>`);
  for (const v of yt) out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${py(v)}" y2="${py(v)}" stroke="#e5e7eb"/><text x="${M.left - 6}" y="${py(v) + 4}" text-anchor="end">${fmt(v)}</text>`);
  for (const v of xt) out.push(`<line x1="${px(v)}" x2="${px(v)}" y1="${H - M.bottom}" y2="${H - M.bottom + 4}" stroke="#6b7280"/><text x="${px(v)}" y="${H - M.bottom + 16}" text-anchor="middle">${fmt(v)}</text>`);
  out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${H - M.bottom}" y2="${H - M.bottom}" stroke="#6b7280"/><line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${H - M.bottom}" stroke="#6b7280"/>`);
  out.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 8}" text-anchor="middle">${esc(c.x)}</text>`);
  out.push(`<text transform="translate(14 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">${esc(c.y)}</text>`);
  c.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const d = s.points.map(([x, y], j) => `${j ? 'L' : 'M'}${px(x).toFixed(1)} ${py(y).toFixed(1)}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${s.reference ? ' stroke-dasharray="6 4"' : ''}/>`);
    for (const [x, y] of s.points) out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${color}"/>`);
    const ly = M.top + 4 + i * 15;
    out.push(`<line x1="${M.left + 10}" x2="${M.left + 30}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${s.reference ? ' stroke-dasharray="6 4"' : ''}/><text x="${M.left + 36}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
