/** Tone sequences (dial tone, busy, beeps) rendered to 8 kHz 16-bit linear for a Player. */
import { checkInt, checkNumber } from './errors.js';

export interface ToneSegment {
  /** Frequencies in Hz summed in this segment; empty for silence. */
  freqs: number[];
  /** Duration in milliseconds. */
  ms: number;
  /** Level of each frequency in dBFS (default -13). */
  level?: number;
}

export function renderTones(tones: readonly ToneSegment[], sampleRate = 8000): Int16Array {
  if (!Array.isArray(tones) || tones.length === 0) throw new TypeError('tones: non-empty array expected');
  let total = 0;
  tones.forEach((t, i) => {
    if (!Array.isArray(t?.freqs)) throw new TypeError(`tones[${i}].freqs: array expected`);
    t.freqs.forEach((f: unknown, j: number) => checkNumber(`tones[${i}].freqs[${j}]`, f, 1, sampleRate / 2 - 1));
    checkInt(`tones[${i}].ms`, t.ms, 1, 3_600_000);
    if (t.level !== undefined) checkNumber(`tones[${i}].level`, t.level, -90, 0);
    total += Math.round((t.ms * sampleRate) / 1000);
  });
  const out = new Int16Array(total);
  let pos = 0;
  let n0 = 0; // phase continues across segments of the same frequency set
  for (const t of tones) {
    const n = Math.round((t.ms * sampleRate) / 1000);
    const amp = 32767 * 10 ** ((t.level ?? -13) / 20);
    for (let i = 0; i < n; i++) {
      let v = 0;
      for (const f of t.freqs) v += amp * Math.sin((2 * Math.PI * f * (n0 + i)) / sampleRate);
      out[pos + i] = Math.max(-32768, Math.min(32767, Math.round(v)));
    }
    pos += n;
    n0 += n;
  }
  return out;
}
