/**
 * Router benchmark (issue: router / dial plan). Prints, measured in this run:
 *  1. decisions/s of dial() (with its trace) plus selectRoutes() for ARS destinations, on a dial
 *     plan of 10,000 short codes (system, user-rights and user tiers) and 10 ARS forms of 100
 *     codes, over random dialled numbers;
 *  2. the same without traces ({ trace: false });
 *  3. a naive reference in this file (a plain backtracking matcher, every code checked per
 *     decision) on the same inputs, its rate and the ratio; both must agree on a sample.
 * BENCH_QUICK=1 shortens the runs (for a smoke run, not for figures).
 */
import { DialPlanSchema, type DialPlanConfig, type ShortCodeConfig } from '../src/core/config/dialplan-schema.js';
import { Router, type Destination } from '../src/features/routing/index.js';

import { BenchResults } from './results.js';

const QUICK = process.env.BENCH_QUICK === '1';
const DURATION_MS = QUICK ? 1000 : 5000;
const NAIVE_MS = QUICK ? 500 : 2000;

// A small deterministic generator, so that every run measures the same dial plan.
let seed = 12345;
function rand(n: number): number {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return (seed >>> 8) % n;
}
function digits(n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += String(rand(10));
  return s;
}

const FORMS = 10;
const USERS = 100;

function buildPlan(): { plan: DialPlanConfig; users: { extension: string; name: string; rights: string; priority: number; shortCodes: ShortCodeConfig[] }[] } {
  const seen = new Set<string>();
  const unique = (make: () => string) => {
    for (;;) {
      const c = make();
      if (!seen.has(c)) {
        seen.add(c);
        return c;
      }
    }
  };
  // Outgoing prefixes like a carrier's tariff table: "9" + 2..6 digits, then N or some X.
  const outgoing = (): ShortCodeConfig => {
    const code = unique(() => `9${digits(2 + rand(5))}${rand(2) === 0 ? 'N' : 'X'.repeat(3 + rand(4))}`);
    return { code, feature: 'dial', number: `0${code.replace(/^9/, '').replace(/[NX]+$/, '')}N`, ars: `f${rand(FORMS)}` };
  };
  const direct = (): ShortCodeConfig => {
    const code = unique(() => `${1 + rand(8)}${digits(1 + rand(4))}${'X'.repeat(2 + rand(3))}`);
    return { code, feature: 'dial', number: 'N', lineGroup: 1 + rand(4) };
  };
  const feature = (): ShortCodeFeature => (['meetMe', 'forwardAll', 'dndOn', 'voicemailCollect'] as const)[rand(4)]!;
  type ShortCodeFeature = ShortCodeConfig['feature'];
  const star = (): ShortCodeConfig => ({ code: unique(() => `*${digits(2 + rand(3))}${rand(2) ? '*N' : ''}`), feature: feature(), number: 'N' });
  const make = (): ShortCodeConfig => {
    const k = rand(10);
    return k < 6 ? outgoing() : k < 9 ? direct() : star();
  };
  const system = Array.from({ length: 6000 }, make);
  const userRights = Array.from({ length: 3 }, (_, i) => ({ name: `r${i}`, shortCodes: Array.from({ length: 1000 }, make), priority: 1 + i }));
  const users = Array.from({ length: USERS }, (_, i) => ({
    extension: String(2000 + i),
    name: `user${i}`,
    rights: `r${i % 3}`,
    priority: 5,
    shortCodes: Array.from({ length: 10 }, make),
  }));
  const arsForms = Array.from({ length: FORMS }, (_, f) => {
    const codes: { code: string; feature: 'dial'; number: string; lineGroup: number }[] = [];
    while (codes.length < 100) {
      const code = `0${digits(1 + rand(4))}N`;
      // Two or three routes per code: failover between line groups.
      for (let r = 0, n = 2 + rand(2); r < n && codes.length < 100; r++) codes.push({ code, feature: 'dial', number: r === 0 ? 'N' : `9N`, lineGroup: 1 + rand(4) });
    }
    codes.push({ code: 'N', feature: 'dial', number: 'N', lineGroup: 1 });
    return { name: `f${f}`, alternateRoute: `f${(f + 1) % FORMS}`, shortCodes: codes };
  });
  const callClasses = [
    { name: 'premium', patterns: ['09N'] },
    { name: 'international', patterns: ['00N'] },
    { name: 'national', patterns: ['0N'] },
  ];
  const plan = DialPlanSchema.parse({ shortCodes: system, userRights, arsForms, callClasses });
  return { plan, users };
}

/** A number that `code` matches (N: 0..6 digits), or noise. */
function numberFor(code: string): string {
  let out = '';
  for (const ch of code) out += ch === 'N' ? digits(rand(7)) : ch === 'X' ? digits(1) : ch;
  return out;
}

// ---- naive reference: every code of a tier checked, by a plain character walk ----

interface NaiveCode {
  bare: string;
  literals: number;
  fixedLen: number;
  hasN: boolean;
  order: number;
  sc: { code: string; feature: string; number: string; ars?: string; lineGroup?: number };
}

/** The digits N and X matched, or undefined; N tries every length (backtracking). */
function naiveMatch(p: string, d: string, pi = 0, di = 0, got = ''): string | undefined {
  if (pi === p.length) return di === d.length ? got : undefined;
  const c = p[pi]!;
  if (c === 'N') {
    for (let k = di; k <= d.length; k++) {
      if (k > di && !/[0-9]/.test(d[k - 1]!)) break;
      const r = naiveMatch(p, d, pi + 1, k, got + d.slice(di, k));
      if (r !== undefined) return r;
    }
    return undefined;
  }
  if (di >= d.length) return undefined;
  if (c === 'X') return /[0-9]/.test(d[di]!) ? naiveMatch(p, d, pi + 1, di + 1, got + d[di]) : undefined;
  return c === d[di] ? naiveMatch(p, d, pi + 1, di + 1, got) : undefined;
}

function naiveCompile(codes: readonly NaiveCode['sc'][]): NaiveCode[] {
  return codes.map((sc, order) => {
    const bare = sc.code.replaceAll(';', '');
    return { bare, literals: [...bare].filter((c) => /[0-9*#]/.test(c)).length, fixedLen: bare.replace('N', '').length, hasN: bare.includes('N'), order, sc };
  });
}

function naiveBest(codes: NaiveCode[], d: string): { c: NaiveCode; captured: string } | undefined {
  let best: { c: NaiveCode; captured: string; key: number[] } | undefined;
  for (const c of codes) {
    const captured = naiveMatch(c.bare, d);
    if (captured === undefined) continue;
    const key = [-c.literals, c.hasN ? (d.length - c.fixedLen) * 2 + 1 : 0, c.order];
    if (!best || key[0]! < best.key[0]! || (key[0] === best.key[0] && (key[1]! < best.key[1]! || (key[1] === best.key[1] && key[2]! < best.key[2]!)))) {
      best = { c, captured, key };
    }
  }
  return best && { c: best.c, captured: best.captured };
}

function main(): void {
  const t0 = performance.now();
  const { plan, users } = buildPlan();
  const router = new Router({ dialPlan: plan, users });
  const buildMs = performance.now() - t0;
  const total = plan.shortCodes.length + plan.userRights.reduce((n, r) => n + r.shortCodes.length, 0) + users.reduce((n, u) => n + u.shortCodes.length, 0);
  const arsTotal = plan.arsForms.reduce((n, f) => n + f.shortCodes.length, 0);

  const allCodes = [...plan.shortCodes, ...plan.userRights.flatMap((r) => r.shortCodes), ...users.flatMap((u) => u.shortCodes)];
  const inputs: { number: string; user: string }[] = [];
  for (let i = 0; i < 20_000; i++) {
    const user = users[rand(USERS)]!.extension;
    inputs.push({ number: rand(10) === 0 ? digits(3 + rand(10)) : numberFor(allCodes[rand(allCodes.length)]!.code), user });
  }
  const available = (g: number) => g !== 2;

  let arsDecisions = 0;
  const decide = (i: number, trace: boolean): Destination => {
    const { number, user } = inputs[i % inputs.length]!;
    const { destination } = router.dial(number, { user, trace });
    if (destination.kind === 'ars' && destination.barring.allowed) {
      arsDecisions++;
      router.selectRoutes(destination.form, destination.number, { user, trace }, available);
    }
    return destination;
  };

  const rate = (fn: (i: number) => unknown, ms: number, batch = 1000): number => {
    for (let i = 0; i < 2 * batch; i++) fn(i);
    let n = 0;
    const start = performance.now();
    let now = start;
    while (now - start < ms) {
      for (let i = 0; i < batch; i++) fn(n + i);
      n += batch;
      now = performance.now();
    }
    return (n / (now - start)) * 1000;
  };

  // The naive reference, same tiers and precedence.
  const naiveSystem = naiveCompile(plan.shortCodes);
  const naiveRights = new Map(plan.userRights.map((r) => [r.name, naiveCompile(r.shortCodes)]));
  const naiveUsers = new Map(users.map((u) => [u.extension, naiveCompile(u.shortCodes)]));
  const naiveForms = new Map(plan.arsForms.map((f) => [f.name, naiveCompile(f.shortCodes)]));
  const extensions = new Set(users.map((u) => u.extension));
  const naive = (i: number): string => {
    const { number, user } = inputs[i % inputs.length]!;
    if (extensions.has(number)) return `extension ${number}`;
    const u = users.find((x) => x.extension === user)!;
    for (const tier of [naiveUsers.get(user)!, naiveRights.get(u.rights)!, naiveSystem]) {
      const m = naiveBest(tier, number);
      if (!m) continue;
      const out = m.c.sc.number.replace('N', m.captured);
      if (m.c.sc.feature === 'meetMe' && !/^[0-9]{1,15}$/.test(out)) return 'none'; // a conference needs an ID
      if (m.c.sc.feature !== 'dial') return `${m.c.sc.feature} ${out}`;
      if (m.c.sc.ars === undefined) return `lineGroup ${m.c.sc.lineGroup} ${out}`;
      const form = naiveForms.get(m.c.sc.ars)!;
      const r = naiveBest(form, out);
      if (!r) return `ars ${m.c.sc.ars} ${out} none`;
      const dups = form.filter((c) => c.sc.code === r.c.sc.code && naiveMatch(c.bare, out) !== undefined);
      const first = dups.find((c) => available(c.sc.lineGroup!)) ?? dups[0]!;
      return `ars ${m.c.sc.ars} ${out} ${first.sc.lineGroup} ${first.sc.number.replace('N', r.captured)}`;
    }
    return 'none';
  };
  const ours = (i: number): string => {
    const { number, user } = inputs[i % inputs.length]!;
    const { destination: d } = router.dial(number, { user });
    switch (d.kind) {
      case 'extension':
        return `extension ${d.extension}`;
      case 'feature':
        return `${d.feature} ${d.number}`;
      case 'lineGroup':
        return `lineGroup ${d.lineGroup} ${d.number}`;
      case 'ars': {
        const s = router.selectRoutes(d.form, d.number, { user }, available);
        if (s.kind !== 'routes') return `ars ${d.form} ${d.number} none`;
        return `ars ${d.form} ${d.number} ${s.routes[0]!.lineGroup} ${s.routes[0]!.number}`;
      }
      default:
        return 'none';
    }
  };
  let disagree = 0;
  const SAMPLE = 2000;
  for (let i = 0; i < SAMPLE; i++) {
    const a = ours(i);
    const b = naive(i);
    if (a !== b) {
      if (disagree < 5) console.error(`disagree on ${inputs[i]!.number} from ${inputs[i]!.user}: router "${a}", naive "${b}"`);
      disagree++;
    }
  }
  const kinds = new Map<string, number>();
  for (let i = 0; i < SAMPLE; i++) {
    const k = decide(i, false).kind;
    kinds.set(k, (kinds.get(k) ?? 0) + 1);
  }

  arsDecisions = 0;
  const traced = rate((i) => decide(i, true), DURATION_MS);
  const untraced = rate((i) => decide(i, false), DURATION_MS);
  const naiveRate = rate(naive, NAIVE_MS, 20);

  console.log(`routing: dial plan of ${total.toLocaleString('en')} short codes (${plan.shortCodes.length} system, ${total - plan.shortCodes.length - users.length * 10} user rights, ${users.length * 10} user) and ${arsTotal.toLocaleString('en')} ARS codes in ${FORMS} forms, built in ${buildMs.toFixed(0)} ms`);
  console.log(`routing: sample of ${SAMPLE} decisions: ${[...kinds].map(([k, n]) => `${k} ${n}`).join(', ')}; router and naive reference agree on ${SAMPLE - disagree}/${SAMPLE}`);
  console.log(`routing: dial() + selectRoutes() with trace: ${Math.round(traced).toLocaleString('en')} decisions/s; without trace: ${Math.round(untraced).toLocaleString('en')} decisions/s`);
  console.log(`routing: naive linear scan in the same process: ${Math.round(naiveRate).toLocaleString('en')} decisions/s; ratio ${(traced / naiveRate).toFixed(0)}x (goal >= 100,000/s)`);
  const figures = new BenchResults('routing', QUICK);
  figures.figure({ label: 'dial plan decisions/s (dial + ARS, with trace)', value: traced, unit: '/s', reference: { label: 'naive linear scan', value: naiveRate }, goal: '≥ 100,000/s' });
  figures.figure({ label: 'decisions/s without trace', value: untraced, unit: '/s' });
  figures.save();
  if (disagree > 0) process.exitCode = 1;
}

main();
