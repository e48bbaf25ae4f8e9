/**
 * Repair of the recordings the native engine writes: 16-bit PCM, 8 kHz, mono, with the canonical
 * 44-byte header. The engine appends data every 20 ms but rewrites the header sizes only twice a
 * second, so a process killed mid-recording leaves a file whose header understates its data.
 * The audio itself is intact; only the two size fields need to follow the file length.
 */
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, readSync, writeSync } from 'node:fs';
import { MediaError } from './errors.js';

/** Size of the canonical header: RIFF(12) + fmt chunk(8 + 16) + data chunk header(8). */
export const WAV_HEADER_BYTES = 44;
export const RECORDING_SAMPLE_RATE = 8000;
/** 16-bit mono at 8 kHz: 16 bytes per millisecond. */
export const RECORDING_BYTES_PER_MS = (RECORDING_SAMPLE_RATE * 2) / 1000;

// The RIFF size field is 32 bits and counts the 36 header bytes after it as well.
const MAX_DATA_BYTES = 0xffff_ffff - 36;

export interface RepairResult {
  /** 16-bit samples in the data chunk after the repair. */
  samples: number;
  /** Their duration, rounded to whole milliseconds (as the recorder's sample count is elsewhere). */
  durationMs: number;
}

/** The 44-byte header of a 16-bit PCM mono WAV whose data chunk holds `dataBytes`. */
export function pcm16WavHeader(dataBytes: number, sampleRate = RECORDING_SAMPLE_RATE): Buffer {
  if (!Number.isInteger(dataBytes) || dataBytes < 0 || dataBytes > MAX_DATA_BYTES) {
    throw new TypeError(`dataBytes: integer 0..${MAX_DATA_BYTES} expected, got ${String(dataBytes)}`);
  }
  if (!Number.isInteger(sampleRate) || sampleRate < 1 || sampleRate > 384_000) {
    throw new TypeError(`sampleRate: integer 1..384000 expected, got ${String(sampleRate)}`);
  }
  const h = Buffer.alloc(WAV_HEADER_BYTES);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVE', 8, 'latin1');
  h.write('fmt ', 12, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20); // PCM
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * 2, 28); // byte rate
  h.writeUInt16LE(2, 32); // block align
  h.writeUInt16LE(16, 34); // bits per sample
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/** Rewrites the RIFF and data chunk sizes of a canonical-header WAV open on `fd` (no fsync). */
export function writeWavHeaderSizes(fd: number, dataBytes: number): void {
  if (!Number.isInteger(dataBytes) || dataBytes < 0 || dataBytes > MAX_DATA_BYTES) {
    throw new TypeError(`dataBytes: integer 0..${MAX_DATA_BYTES} expected, got ${String(dataBytes)}`);
  }
  const b = Buffer.alloc(4);
  b.writeUInt32LE(36 + dataBytes, 0);
  writeSync(fd, b, 0, 4, 4);
  b.writeUInt32LE(dataBytes, 0);
  writeSync(fd, b, 0, 4, 40);
}

/** Why `header` is not the canonical header of a 16-bit 8 kHz mono WAV, or undefined if it is. */
function headerProblem(header: Buffer, size: number): string | undefined {
  if (size < WAV_HEADER_BYTES) return `shorter than the ${WAV_HEADER_BYTES}-byte header (${size} bytes)`;
  const tag = (o: number) => header.toString('latin1', o, o + 4);
  if (tag(0) !== 'RIFF' || tag(8) !== 'WAVE') return 'not a RIFF/WAVE file';
  if (tag(12) !== 'fmt ' || header.readUInt32LE(16) !== 16) return 'no 16-byte fmt chunk at offset 12';
  const format = header.readUInt16LE(20);
  const channels = header.readUInt16LE(22);
  const rate = header.readUInt32LE(24);
  const bits = header.readUInt16LE(34);
  if (format !== 1 || channels !== 1 || rate !== RECORDING_SAMPLE_RATE || bits !== 16) {
    return `format ${format}, ${channels} channel(s), ${rate} Hz, ${bits} bits; expected PCM mono 8000 Hz 16 bits`;
  }
  if (tag(36) !== 'data') return 'no data chunk at offset 36';
  return undefined;
}

/**
 * Makes a recording left by a crash consistent: drops a trailing odd byte (half a sample),
 * rewrites the RIFF and data sizes from the file length, and fsyncs. Idempotent, and cheap on a
 * file that was closed properly (so it also serves to measure and flush a finished recording).
 * Throws MediaError ENOTFOUND when the file is missing, EFORMAT (naming the path and the reason)
 * when it is not a 16-bit 8 kHz mono WAV with the canonical header.
 */
export function repairWav(path: string): RepairResult {
  if (typeof path !== 'string' || path === '') throw new TypeError('path: must be a non-empty string');
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'ENOTFOUND' : 'EIO';
    throw new MediaError(code, `${path}: cannot open for repair: ${(err as Error).message}`, { cause: err });
  }
  try {
    let size = fstatSync(fd).size;
    const header = Buffer.alloc(WAV_HEADER_BYTES);
    if (size >= WAV_HEADER_BYTES) readSync(fd, header, 0, WAV_HEADER_BYTES, 0);
    const problem = headerProblem(header, size);
    if (problem) throw new MediaError('EFORMAT', `${path}: not a 16-bit 8 kHz mono WAV: ${problem}`);
    if ((size - WAV_HEADER_BYTES) % 2 === 1) {
      // The last frame write was cut in the middle of a sample: that byte is not audio.
      size -= 1;
      ftruncateSync(fd, size);
    }
    const dataBytes = size - WAV_HEADER_BYTES;
    if (dataBytes > MAX_DATA_BYTES) throw new MediaError('EFORMAT', `${path}: data exceeds the 4 GB a WAV header can describe`);
    if (header.readUInt32LE(4) !== 36 + dataBytes || header.readUInt32LE(40) !== dataBytes) {
      writeWavHeaderSizes(fd, dataBytes);
    }
    // Always flush: the caller is about to tell someone the message is stored.
    fsyncSync(fd);
    const samples = dataBytes / 2;
    return { samples, durationMs: Math.round((samples * 1000) / RECORDING_SAMPLE_RATE) };
  } finally {
    closeSync(fd);
  }
}
