// G.711 codecs and the mix-minus kernel: the per-sample work shared by the frame loop and the
// test hooks, so the tests exercise the very code the media thread runs.
#pragma once
#include <cstdint>
#include <cstddef>
#include <algorithm>

namespace pbx {

// Algorithmic forms follow ITU-T G.711 (segment search on the 14-bit / 13-bit magnitude).
// The frame loop uses tables built from them once at load time.
inline uint8_t ulawEncodeSlow(int16_t pcm) {
  int absno = pcm < 0 ? ((~pcm) >> 2) + 33 : (pcm >> 2) + 33;
  if (absno > 0x1FFF) absno = 0x1FFF;
  int seg = 1;
  for (int i = absno >> 6; i != 0; i >>= 1) seg++;
  int high = 8 - seg;
  int low = 0x0F - ((absno >> seg) & 0x0F);
  int code = (high << 4) | low;
  if (pcm >= 0) code |= 0x80;
  return static_cast<uint8_t>(code);
}

inline int16_t ulawDecodeSlow(uint8_t code) {
  int sign = code < 0x80 ? -1 : 1;
  int m = (~code) & 0xFF;
  int exponent = (m >> 4) & 0x07;
  int step = 4 << (exponent + 1);
  int mant = m & 0x0F;
  return static_cast<int16_t>(sign * ((0x80 << exponent) + step * mant + step / 2 - 4 * 33));
}

inline uint8_t alawEncodeSlow(int16_t pcm) {
  int ix = pcm < 0 ? ((~pcm) >> 4) : (pcm >> 4);
  if (ix > 15) {
    int exp = 1;
    while (ix > 16 + 15) { ix >>= 1; exp++; }
    ix -= 16;
    ix += exp << 4;
  }
  if (pcm >= 0) ix |= 0x80;
  return static_cast<uint8_t>(ix ^ 0x55);
}

inline int16_t alawDecodeSlow(uint8_t code) {
  int ix = (code ^ 0x55) & 0x7F;
  int exp = ix >> 4;
  int mant = ix & 0x0F;
  if (exp > 0) mant += 16;
  mant = (mant << 4) + 8;
  if (exp > 1) mant <<= (exp - 1);
  return static_cast<int16_t>(code > 127 ? mant : -mant);
}

struct G711Tables {
  int16_t ulawDec[256];
  int16_t alawDec[256];
  uint8_t ulawEnc[16384];  // indexed by the 14-bit sample (pcm >> 2)
  uint8_t alawEnc[8192];   // indexed by the 13-bit sample (pcm >> 3)
  uint8_t u2a[256];
  uint8_t a2u[256];
  G711Tables() {
    for (int c = 0; c < 256; c++) {
      ulawDec[c] = ulawDecodeSlow(static_cast<uint8_t>(c));
      alawDec[c] = alawDecodeSlow(static_cast<uint8_t>(c));
    }
    // The encoders depend only on the top 14 (13) bits, so one entry per truncated value.
    for (int i = 0; i < 16384; i++) ulawEnc[i] = ulawEncodeSlow(static_cast<int16_t>((i - 8192) * 4));
    for (int i = 0; i < 8192; i++) alawEnc[i] = alawEncodeSlow(static_cast<int16_t>((i - 4096) * 8));
    for (int c = 0; c < 256; c++) {
      u2a[c] = alawEnc[(ulawDec[c] >> 3) + 4096];
      a2u[c] = ulawEnc[(alawDec[c] >> 2) + 8192];
    }
  }
};

extern const G711Tables g711;

inline uint8_t ulawEncode(int16_t s) { return g711.ulawEnc[(s >> 2) + 8192]; }
inline uint8_t alawEncode(int16_t s) { return g711.alawEnc[(s >> 3) + 4096]; }

// Payload types the engine speaks: 0 = PCMU, 8 = PCMA.
inline void encodeFrame(int pt, const int16_t* in, uint8_t* out, size_t n) {
  if (pt == 8) for (size_t i = 0; i < n; i++) out[i] = alawEncode(in[i]);
  else for (size_t i = 0; i < n; i++) out[i] = ulawEncode(in[i]);
}
inline void decodeFrame(int pt, const uint8_t* in, int16_t* out, size_t n) {
  const int16_t* t = pt == 8 ? g711.alawDec : g711.ulawDec;
  for (size_t i = 0; i < n; i++) out[i] = t[in[i]];
}

// Branch-free form so the compiler can vectorize the mix loops.
inline int16_t sat16(int32_t v) { return static_cast<int16_t>(std::min(32767, std::max(-32768, v))); }

// Mix-minus over n inputs of len samples: sum[] = sum of all inputs (int32), out[i] = sat(sum - in[i]).
// A null input counts as silence; a null output is skipped (e.g. a player has no output).
inline void mixMinus(const int16_t* const* in, int16_t* const* out, int n, int32_t* sum, size_t len) {
  for (size_t s = 0; s < len; s++) sum[s] = 0;
  for (int i = 0; i < n; i++) {
    const int16_t* x = in[i];
    if (!x) continue;
    for (size_t s = 0; s < len; s++) sum[s] += x[s];
  }
  for (int i = 0; i < n; i++) {
    int16_t* __restrict y = out[i];
    if (!y) continue;
    const int16_t* __restrict x = in[i];
    const int32_t* __restrict t = sum;
    if (x) for (size_t s = 0; s < len; s++) y[s] = sat16(t[s] - x[s]);
    else for (size_t s = 0; s < len; s++) y[s] = sat16(t[s]);
  }
}

// Gain in Q12 fixed point (4096 = unity), saturated: the same rule as the TS reference.
inline void applyGain(const int16_t* in, int16_t* out, size_t len, int32_t gainQ12) {
  if (gainQ12 == 4096) { for (size_t s = 0; s < len; s++) out[s] = in[s]; return; }
  for (size_t s = 0; s < len; s++) out[s] = sat16((in[s] * gainQ12) >> 12);
}

}  // namespace pbx
