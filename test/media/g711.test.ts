/**
 * G.711 and mix-minus: the TS reference against the standard's values, and the native kernels
 * (the code the frame loop runs) against the reference, bit for bit.
 */
import test from 'ava';
import { nativeCodecs } from '../../src/media/codecs.js';
import * as ref from '../../src/media/reference/g711.js';
import { mixMinus, saturate16 } from '../../src/media/reference/mix.js';

// Decoders written straight from G.711's tables as formulas (independent of reference/g711.ts):
// mu-law: |y| = ((2m + 33) << e) - 33 on the 14-bit scale; A-law: |y| = 2m+1 (e=0) or (2m+33) << (e-1)
// on the 13-bit scale. Sign bit set = positive; A-law has its even bits inverted on the line.
function ulawFormula(code: number): number {
  const c = ~code & 0xff;
  const e = (c >> 4) & 7;
  const m = c & 15;
  const mag = ((2 * m + 33) << e) - 33;
  return (code & 0x80 ? mag : -mag) * 4;
}
function alawFormula(code: number): number {
  const c = code ^ 0x55;
  const e = (c >> 4) & 7;
  const m = c & 15;
  const mag = e === 0 ? 2 * m + 1 : (2 * m + 33) << (e - 1);
  return (c & 0x80 ? mag : -mag) * 8;
}

const allCodes = Uint8Array.from({ length: 256 }, (_, i) => i);
const allSamples = Int16Array.from({ length: 65536 }, (_, i) => i - 32768);

test('known values from the standard', (t) => {
  t.is(ref.ulawEncodeSample(0), 0xff);
  t.is(ref.alawEncodeSample(0), 0xd5);
  t.is(ref.ulawEncodeSample(-1), 0x7f);
  t.is(ref.ulawEncodeSample(32767), 0x80);
  t.is(ref.ulawEncodeSample(-32768), 0x00);
  t.is(ref.alawEncodeSample(32767), 0xaa);
  t.is(ref.alawEncodeSample(-32768), 0x2a);
  t.is(ref.ulawDecodeSample(0x00), -32124);
  t.is(ref.ulawDecodeSample(0x80), 32124);
  t.is(ref.ulawDecodeSample(0xff), 0);
  t.is(ref.alawDecodeSample(0xd5), 8);
  t.is(ref.alawDecodeSample(0x55), -8);
  t.is(ref.alawDecodeSample(0xaa), 32256);
  t.is(ref.alawDecodeSample(0x2a), -32256);
});

test('reference decoders match the standard formula for all 256 codes', (t) => {
  for (let c = 0; c < 256; c++) {
    t.is(ref.ulawDecodeSample(c), ulawFormula(c), `mu-law ${c}`);
    t.is(ref.alawDecodeSample(c), alawFormula(c), `A-law ${c}`);
  }
});

test('reference encoders invert the decoders (re-encoding every code yields it back)', (t) => {
  for (let c = 0; c < 256; c++) {
    const u = ref.ulawEncodeSample(ref.ulawDecodeSample(c));
    t.is(u, c === 0x7f ? 0xff : c, `mu-law ${c}`); // 0x7f is "negative zero", encodes as +0
    t.is(ref.alawEncodeSample(ref.alawDecodeSample(c)), c, `A-law ${c}`);
  }
});

test('reference encoder picks the nearest decision level (quantization error bounded by half a step)', (t) => {
  for (let x = -32768; x < 32768; x += 7) {
    const yu = ref.ulawDecodeSample(ref.ulawEncodeSample(x));
    const ya = ref.alawDecodeSample(ref.alawEncodeSample(x));
    // largest step: mu-law 1024 (segment 7), A-law 1024 (segment 7) on the 16-bit scale
    t.true(Math.abs(yu - x) <= 1024 / 2 + 4 * 33 || Math.abs(x) > 32124, `mu-law ${x} -> ${yu}`);
    t.true(Math.abs(ya - x) <= 512 + 8 || Math.abs(x) > 32256, `A-law ${x} -> ${ya}`);
  }
});

test('native encoders equal the reference for every 16-bit input', (t) => {
  const nu = nativeCodecs.encodeUlaw(allSamples);
  const na = nativeCodecs.encodeAlaw(allSamples);
  const ru = ref.encodeUlaw(allSamples);
  const ra = ref.encodeAlaw(allSamples);
  t.deepEqual(Buffer.from(nu), Buffer.from(ru));
  t.deepEqual(Buffer.from(na), Buffer.from(ra));
});

test('native decoders equal the reference for every code', (t) => {
  t.deepEqual(Array.from(nativeCodecs.decodeUlaw(allCodes)), Array.from(ref.decodeUlaw(allCodes)));
  t.deepEqual(Array.from(nativeCodecs.decodeAlaw(allCodes)), Array.from(ref.decodeAlaw(allCodes)));
});

test('native transcoding equals decode-then-encode with the reference', (t) => {
  const u2a = nativeCodecs.transcode(allCodes, true);
  const a2u = nativeCodecs.transcode(allCodes, false);
  t.deepEqual(Array.from(u2a), Array.from(ref.encodeAlaw(ref.decodeUlaw(allCodes))));
  t.deepEqual(Array.from(a2u), Array.from(ref.encodeUlaw(ref.decodeAlaw(allCodes))));
});

function randomFrames(n: number, len: number, amp: number, seed: number): Int16Array[] {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff) * 2 - 1;
  return Array.from({ length: n }, () => Int16Array.from({ length: len }, () => Math.round(rnd() * amp)));
}

test('native mix-minus equals the reference, including saturation', (t) => {
  for (const [n, amp] of [[2, 8000], [3, 30000], [10, 20000], [64, 32767]] as const) {
    const frames = randomFrames(n, 160, amp, n * 7919);
    const nat = nativeCodecs.mixMinus(frames);
    const r = mixMinus(frames);
    for (let i = 0; i < n; i++) t.deepEqual(Array.from(nat[i]!), Array.from(r[i]!), `n=${n} participant ${i}`);
  }
  // saturation actually happened in the loud case
  const loud = mixMinus(randomFrames(64, 160, 32767, 64 * 7919));
  t.true(loud.some((f) => f.some((v) => v === 32767 || v === -32768)));
  t.is(saturate16(40000), 32767);
});

test('mix-minus: each participant hears the others, not itself', (t) => {
  const a = new Int16Array(160).fill(100);
  const b = new Int16Array(160).fill(20);
  const c = new Int16Array(160).fill(3);
  const [oa, ob, oc] = nativeCodecs.mixMinus([a, b, c]);
  t.is(oa![0], 23);
  t.is(ob![0], 103);
  t.is(oc![0], 120);
});
