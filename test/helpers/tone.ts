/**
 * Test helper: tone detection by band energy (Goertzel), for asserting that audio contains a tone
 * AND that it does not contain another (no echo of one's own voice, no wrong codec).
 *
 *   toneRatio(samples, 1000) -> ~1 for a pure 1 kHz sine, ~0.5 for each of two equal tones,
 *                               ~0 when the frequency is absent.
 *   assert hasTone(s, 440) && !hasTone(s, 1000)
 */

/** Power of `freq` in samples[from, to) (Goertzel, evaluated exactly at freq). */
export function goertzelPower(samples: ArrayLike<number>, freq: number, sampleRate = 8000, from = 0, to = samples.length): number {
  const w = (2 * Math.PI * freq) / sampleRate;
  const c = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  for (let i = from; i < to; i++) {
    const s0 = samples[i]! + c * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  return s1 * s1 + s2 * s2 - c * s1 * s2;
}

export interface ToneOptions {
  sampleRate?: number;
  /** Samples skipped at the start (ramp-up, jitter-buffer fill); default 0. */
  skip?: number;
  /** Block length for the analysis; default 800 (100 ms at 8 kHz). */
  block?: number;
}

/**
 * Fraction of the signal's power at `freq` (0..1), averaged over blocks. Normalized so that a
 * pure sine on its own gives ~1. Silence gives 0.
 */
export function toneRatio(samples: ArrayLike<number>, freq: number, o: ToneOptions = {}): number {
  const rate = o.sampleRate ?? 8000;
  const block = o.block ?? 800;
  let tone = 0;
  let total = 0;
  for (let start = o.skip ?? 0; start + block <= samples.length; start += block) {
    tone += (2 * goertzelPower(samples, freq, rate, start, start + block)) / block;
    for (let i = start; i < start + block; i++) total += samples[i]! * samples[i]!;
  }
  return total === 0 ? 0 : tone / total;
}

/** RMS level of samples[skip..]. */
export function rms(samples: ArrayLike<number>, skip = 0): number {
  let e = 0;
  for (let i = skip; i < samples.length; i++) e += samples[i]! * samples[i]!;
  return samples.length > skip ? Math.sqrt(e / (samples.length - skip)) : 0;
}

/** A tone is present when it holds at least minRatio of the power and the signal is not silence. */
export function hasTone(samples: ArrayLike<number>, freq: number, minRatio = 0.15, o: ToneOptions = {}): boolean {
  return rms(samples, o.skip ?? 0) > 100 && toneRatio(samples, freq, o) >= minRatio;
}

/** A tone is absent when it holds less than maxRatio of the power. */
export function lacksTone(samples: ArrayLike<number>, freq: number, maxRatio = 0.02, o: ToneOptions = {}): boolean {
  return toneRatio(samples, freq, o) < maxRatio;
}

/**
 * The first offset (a multiple of `step`, from `from`) where a window of `length` samples passes
 * `test`, or -1. For recordings whose timeline cannot be pinned to the wall clock: a phone's
 * recorder starts when its call does and drops what arrives late on a loaded machine, so "the
 * 2.5 s after everyone joined" is found by what is heard, not computed from Date.now().
 */
export function findWindow(samples: Int16Array, length: number, test: (w: Int16Array) => boolean, o: { from?: number; step?: number } = {}): number {
  const step = o.step ?? 800;
  for (let at = Math.max(0, o.from ?? 0); at + length <= samples.length; at += step) {
    if (test(samples.subarray(at, at + length))) return at;
  }
  return -1;
}

/** The highest toneRatio of `freq` over windows of `length` samples (every 0.1 s): for messages. */
export function bestRatio(samples: Int16Array, freq: number, length: number, step = 800): number {
  let best = 0;
  for (let at = 0; at + length <= samples.length; at += step) best = Math.max(best, toneRatio(samples.subarray(at, at + length), freq));
  return best;
}
