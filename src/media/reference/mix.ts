/**
 * Reference mix-minus: every participant hears the sum of all inputs minus its own, summed in
 * 32-bit and saturated to 16 bits. Gain is Q12 fixed point (4096 = unity), saturated, so that the
 * native frame loop and this reference agree exactly.
 */

export function saturate16(v: number): number {
  return v > 32767 ? 32767 : v < -32768 ? -32768 : v;
}

/** Applies a gain (linear factor) the way the engine does: Q12, truncating shift, saturation. */
export function applyGain(frame: Int16Array, gain: number): Int16Array {
  const q = Math.floor(gain * 4096 + 0.5);
  const out = new Int16Array(frame.length);
  for (let i = 0; i < frame.length; i++) out[i] = saturate16((frame[i]! * q) >> 12);
  return out;
}

/** Frames must have equal lengths; `null` is a silent input. Returns one output per input. */
export function mixMinus(frames: ReadonlyArray<Int16Array | null>, len = frames[0]?.length ?? 0): Int16Array[] {
  const sum = new Int32Array(len);
  for (const f of frames) {
    if (!f) continue;
    for (let s = 0; s < len; s++) sum[s]! += f[s]!;
  }
  return frames.map((f) => {
    const out = new Int16Array(len);
    for (let s = 0; s < len; s++) out[s] = saturate16(sum[s]! - (f ? f[s]! : 0));
    return out;
  });
}
