/**
 * The shape of src/: no import cycle anywhere (type-only imports count too: a reader follows
 * them the same way), and imports only point down the layers of docs/architecture.md.
 */
import test from 'ava';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Relative imports of a file (static, re-exports and dynamic), as absolute .ts paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s*'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/g)) {
    const spec = m[1] ?? m[2];
    out.push(resolve(dirname(file), spec.replace(/\.js$/, '.ts')));
  }
  return out;
}

const graph = new Map(files(SRC).map((f) => [f, importsOf(f)]));
const rel = (f: string) => relative(SRC, f);

test('every relative import names a file that exists', (t) => {
  const missing = [...graph].flatMap(([f, deps]) => deps.filter((d) => !graph.has(d)).map((d) => `${rel(f)} -> ${rel(d)}`));
  t.deepEqual(missing, []);
});

test('no import cycle in src/', (t) => {
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 'open');
    path.push(f);
    for (const d of graph.get(f) ?? []) {
      if (state.get(d) === 'open') cycles.push([...path.slice(path.indexOf(d)), d].map(rel).join(' -> '));
      else if (!state.has(d) && graph.has(d)) visit(d);
    }
    path.pop();
    state.set(f, 'done');
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  t.deepEqual(cycles, [], cycles.join('\n'));
});

test('layers: sip and media import nothing above them; a feature imports no other feature but the router and the calls feature\'s public face', (t) => {
  const wrong: string[] = [];
  for (const [f, deps] of graph) {
    const from = rel(f);
    for (const d of deps.map(rel)) {
      if ((from.startsWith('sip/') || from.startsWith('media/')) && !d.startsWith(from.split('/')[0] + '/')) wrong.push(`${from} -> ${d}`);
      const feature = /^features\/([^/]+)\//.exec(from)?.[1];
      const target = /^features\/([^/]+)\/(.+)$/.exec(d);
      if (feature && target && target[1] !== feature && target[1] !== 'routing' && d !== 'features/calls/index.ts') wrong.push(`${from} -> ${d}`);
    }
  }
  t.deepEqual(wrong, [], wrong.join('\n'));
});
