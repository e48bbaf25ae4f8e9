/**
 * `npm run bench -- report`: turns the figures every benchmark saved (bench/results/*.json)
 * into docs/benchmarks.md, with an SVG chart per cost-against-load series (docs/bench/), and keeps
 * the data it was made from beside them (docs/bench/results.json). It runs no benchmark: run
 * the ones to include first (`npm run bench -- sip calls`, or quick: `BENCH_QUICK=1 npm run bench`).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './node.js';
import { RESULTS_DIR, type BenchRun, type Figure } from './results.js';
import { lineChart } from './svg.js';

const DOCS = join(ROOT, 'docs');
const CHARTS = join(DOCS, 'bench');

const num = (v: number) => (Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en') : String(Number(v.toPrecision(3))));

function figureRow(f: Figure): string {
  const ref = f.reference ? `${f.reference.label}: ${num(f.reference.value)} ${f.unit}` : '';
  const ratio = f.reference && f.reference.value !== 0 ? `${(f.value / f.reference.value).toFixed(2)}×` : '';
  return `| ${f.label} | ${num(f.value)} ${f.unit} | ${ref} | ${ratio} | ${f.goal ?? ''} |`;
}

function main(): void {
  const benches = readdirSync(join(ROOT, 'bench')).filter((f) => f.endsWith('.bench.ts')).map((f) => f.slice(0, -9)).sort();
  let files: string[] = [];
  try {
    files = readdirSync(RESULTS_DIR).filter((f) => f.endsWith('.json'));
  } catch {
    // no bench has run yet
  }
  const runs = files.map((f) => JSON.parse(readFileSync(join(RESULTS_DIR, f), 'utf8')) as BenchRun).sort((a, b) => a.name.localeCompare(b.name));
  rmSync(CHARTS, { recursive: true, force: true });
  mkdirSync(CHARTS, { recursive: true });
  const md: string[] = [
    '# Benchmarks',
    '',
    'Made by `npm run bench -- report` from the figures each benchmark saved on its last run (see each section for the run: its mode, date and commit).',
    'A *quick* run is the bench\'s short smoke mode (`BENCH_QUICK=1`): it shows the shape of the curves and the ratios to the same-run references, not the limits; the limits come from *full* runs.',
    'Every figure stands beside the reference measured in the same run, so a slower or busier machine moves both.',
    '',
    '| benchmark | run | figures | charts |',
    '|---|---|---|---|',
  ];
  for (const b of benches) {
    const r = runs.find((x) => x.name === b);
    md.push(r ? `| [${b}](#${b}) | ${r.mode}, ${r.at.slice(0, 10)}, ${r.commit} | ${r.figures.length} | ${r.charts.length} |` : `| ${b} | not run (or saves no figures yet) | | |`);
  }
  for (const r of runs) {
    md.push('', `## ${r.name}`, '', `${r.mode === 'quick' ? 'Quick' : 'Full'} run of ${r.at.replace('T', ' ').slice(0, 16)} UTC, commit ${r.commit}, node ${r.node}.`, '');
    if (r.figures.length) {
      md.push('| figure | value | reference in the same run | ratio | goal |', '|---|---|---|---|---|', ...r.figures.map(figureRow));
    }
    for (const c of r.charts) {
      if (!c.series.some((s) => s.points.length > 0)) continue;
      const file = `${r.name}-${c.id}.svg`;
      writeFileSync(join(CHARTS, file), lineChart(c));
      md.push('', `![${c.title}](bench/${file})`);
    }
  }
  md.push('');
  writeFileSync(join(DOCS, 'benchmarks.md'), md.join('\n'));
  writeFileSync(join(CHARTS, 'results.json'), `${JSON.stringify(runs, null, 2)}\n`);
  console.log(`report: docs/benchmarks.md from ${runs.length} benchmark run(s); no figures from: ${benches.filter((b) => !runs.some((r) => r.name === b)).join(', ') || 'none'}`);
}

main();
