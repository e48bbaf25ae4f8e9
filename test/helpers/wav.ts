/**
 * Test helper: read a WAV file (mu-law, A-law or 16-bit PCM) into 16-bit linear samples.
 * Decoding uses the pure TS reference codecs, never the native engine, so a test that checks the
 * engine's output does not trust the engine to read it.
 *
 *   const { samples, sampleRate } = await readWav('/tmp/x.wav');
 */
import { readFile } from 'node:fs/promises';
import { parseWav, type Wav } from '../../src/media/wav.js';

export type { Wav };

export async function readWav(path: string): Promise<Wav> {
  return parseWav(await readFile(path));
}

/** Checks a WAV header against the file: RIFF size and data size consistent and not beyond EOF. */
export function wavHeaderValid(buf: Uint8Array): { ok: boolean; riffSize: number; dataSize: number; fileSize: number } {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const riffSize = buf.length >= 8 ? dv.getUint32(4, true) : -1;
  const w = parseWav(buf);
  const ok = riffSize === 36 + w.declaredDataBytes && w.declaredDataBytes <= w.dataBytes && riffSize + 8 <= buf.length;
  return { ok, riffSize, dataSize: w.declaredDataBytes, fileSize: buf.length };
}
