/**
 * What a benchmark measured, in a form the report reads (`npm run bench -- report`): headline
 * figures each with the reference measured in the same run, and cost-against-load series for
 * charts. Each bench keeps one recorder and saves it at its end to bench/results/<name>.json
 * (one file per bench, replaced by its next run; the folder is not committed).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './node.js';

export const RESULTS_DIR = join(ROOT, 'bench', 'results');

export interface Figure {
  label: string;
  value: number;
  unit: string;
  /** The reference measured in the same run (another implementation, a ceiling). */
  reference?: { label: string; value: number };
  /** What the issue asked for, as text ("≥ 200/s"). */
  goal?: string;
}

export interface Series {
  name: string;
  /** [load, cost] pairs in the order measured. */
  points: [number, number][];
  /** A reference series (drawn dashed). */
  reference?: boolean;
}

export interface Chart {
  id: string;
  title: string;
  x: string;
  y: string;
  series: Series[];
}

export interface BenchRun {
  name: string;
  /** quick: the bench's short smoke mode (BENCH_QUICK=1 / --quick); full: its real figures. */
  mode: 'quick' | 'full';
  at: string;
  commit: string;
  node: string;
  figures: Figure[];
  charts: Chart[];
}

export class BenchResults {
  readonly run: BenchRun;

  constructor(name: string, quick: boolean) {
    let commit = 'unknown';
    try {
      commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      // not a checkout: the report says unknown
    }
    this.run = { name, mode: quick ? 'quick' : 'full', at: new Date().toISOString(), commit, node: process.version, figures: [], charts: [] };
  }

  figure(f: Figure): void {
    if (Number.isFinite(f.value)) this.run.figures.push(f);
  }

  /** Declares a chart (once); points are added with point(). */
  chart(id: string, title: string, x: string, y: string): void {
    if (!this.run.charts.some((c) => c.id === id)) this.run.charts.push({ id, title, x, y, series: [] });
  }

  point(chart: string, series: string, x: number, y: number | undefined, reference = false): void {
    const c = this.run.charts.find((k) => k.id === chart);
    if (!c) throw new TypeError(`chart: ${chart} was not declared`);
    if (y === undefined || !Number.isFinite(y) || !Number.isFinite(x)) return;
    let s = c.series.find((k) => k.name === series);
    if (!s) c.series.push((s = { name: series, points: [], ...(reference ? { reference: true } : {}) }));
    s.points.push([x, y]);
  }

  save(): string {
    mkdirSync(RESULTS_DIR, { recursive: true });
    const path = join(RESULTS_DIR, `${this.run.name}.json`);
    writeFileSync(path, `${JSON.stringify(this.run, null, 2)}\n`);
    console.log(`  figures saved: ${path}`);
    return path;
  }
}
