/**
 * Pure TypeScript G.711 (ITU-T G.711, 1988) as the reference the native engine must equal bit
 * for bit. Written for clarity: segment search on the 14-bit (mu-law) or 13-bit (A-law) magnitude.
 */

/** Encodes one 16-bit linear sample to mu-law (uses the top 14 bits). */
export function ulawEncodeSample(pcm: number): number {
  const x = pcm | 0;
  let mag = (x < 0 ? ~x : x) >> 2; // 13-bit magnitude; one's complement keeps -1 and 0 symmetric
  mag += 33; // bias
  if (mag > 0x1fff) mag = 0x1fff;
  let seg = 1;
  for (let i = mag >> 6; i !== 0; i >>= 1) seg++;
  const code = ((8 - seg) << 4) | (0x0f - ((mag >> seg) & 0x0f));
  return x >= 0 ? code | 0x80 : code;
}

/** Decodes one mu-law code to a 16-bit linear sample. */
export function ulawDecodeSample(code: number): number {
  const c = ~code & 0xff;
  const exponent = (c >> 4) & 0x07;
  const mantissa = c & 0x0f;
  const magnitude = (((mantissa << 1) + 33) << exponent) - 33; // 14-bit scale
  return (code & 0x80 ? magnitude : -magnitude) * 4;
}

/** Encodes one 16-bit linear sample to A-law (uses the top 13 bits). */
export function alawEncodeSample(pcm: number): number {
  const x = pcm | 0;
  let ix = (x < 0 ? ~x : x) >> 4;
  if (ix > 15) {
    let exp = 1;
    while (ix > 31) {
      ix >>= 1;
      exp++;
    }
    ix = ix - 16 + (exp << 4);
  }
  if (x >= 0) ix |= 0x80;
  return ix ^ 0x55; // even bits inverted, per G.711
}

/** Decodes one A-law code to a 16-bit linear sample. */
export function alawDecodeSample(code: number): number {
  const ix = (code ^ 0x55) & 0x7f;
  const exp = ix >> 4;
  let mant = ix & 0x0f;
  if (exp > 0) mant += 16;
  mant = (mant << 4) + 8;
  if (exp > 1) mant <<= exp - 1;
  return code & 0x80 ? mant : -mant;
}

export function encodeUlaw(pcm: Int16Array): Uint8Array {
  const out = new Uint8Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = ulawEncodeSample(pcm[i]!);
  return out;
}

export function decodeUlaw(codes: Uint8Array): Int16Array {
  const out = new Int16Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = ulawDecodeSample(codes[i]!);
  return out;
}

export function encodeAlaw(pcm: Int16Array): Uint8Array {
  const out = new Uint8Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) out[i] = alawEncodeSample(pcm[i]!);
  return out;
}

export function decodeAlaw(codes: Uint8Array): Int16Array {
  const out = new Int16Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = alawDecodeSample(codes[i]!);
  return out;
}
