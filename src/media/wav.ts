/**
 * WAV (RIFF) parsing for prompts and tests: mu-law (format 7), A-law (6) and 16-bit PCM (1),
 * decoded to 16-bit linear with the pure TS reference codecs (so it depends on nothing native).
 */
import { MediaError } from './errors.js';
import { decodeAlaw, decodeUlaw } from './reference/g711.js';

export type WavEncoding = 'ulaw' | 'alaw' | 'pcm16';

export interface Wav {
  encoding: WavEncoding;
  sampleRate: number;
  channels: number;
  /** Decoded samples (interleaved when channels > 1). */
  samples: Int16Array;
  /** Data chunk length declared by the header (may exceed the file for a truncated file). */
  declaredDataBytes: number;
  /** Data bytes actually present. */
  dataBytes: number;
}

export function parseWav(buf: Uint8Array): Wav {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const tag = (o: number) => String.fromCharCode(buf[o]!, buf[o + 1]!, buf[o + 2]!, buf[o + 3]!);
  if (buf.length < 12 || tag(0) !== 'RIFF' || tag(8) !== 'WAVE') throw new MediaError('EFORMAT', 'not a RIFF/WAVE file');
  let off = 12;
  let fmt: { code: number; channels: number; rate: number; bits: number } | undefined;
  while (off + 8 <= buf.length) {
    const id = tag(off);
    const size = dv.getUint32(off + 4, true);
    const body = off + 8;
    if (id === 'fmt ') {
      if (size < 16) throw new MediaError('EFORMAT', 'fmt chunk too short');
      let code = dv.getUint16(body, true);
      if (code === 0xfffe && size >= 40) code = dv.getUint16(body + 24, true); // WAVE_FORMAT_EXTENSIBLE
      fmt = { code, channels: dv.getUint16(body + 2, true), rate: dv.getUint32(body + 4, true), bits: dv.getUint16(body + 14, true) };
    } else if (id === 'data') {
      if (!fmt) throw new MediaError('EFORMAT', 'data chunk before fmt chunk');
      const avail = Math.min(size, buf.length - body);
      const data = buf.subarray(body, body + avail);
      let encoding: WavEncoding;
      let samples: Int16Array;
      if (fmt.code === 7 && fmt.bits === 8) {
        encoding = 'ulaw';
        samples = decodeUlaw(data);
      } else if (fmt.code === 6 && fmt.bits === 8) {
        encoding = 'alaw';
        samples = decodeAlaw(data);
      } else if (fmt.code === 1 && fmt.bits === 16) {
        encoding = 'pcm16';
        samples = new Int16Array(avail >> 1);
        for (let i = 0; i < samples.length; i++) samples[i] = dv.getInt16(body + 2 * i, true);
      } else {
        throw new MediaError('EFORMAT', `unsupported WAV format ${fmt.code}/${fmt.bits} bits`);
      }
      return { encoding, sampleRate: fmt.rate, channels: fmt.channels, samples, declaredDataBytes: size, dataBytes: avail };
    }
    off = body + size + (size & 1);
  }
  throw new MediaError('EFORMAT', 'no data chunk');
}
