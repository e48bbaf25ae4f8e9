/**
 * Test helper: test audio made with sox in a temp dir.
 *
 *   const dir = await tempDir('media-');
 *   const raw = await soxTone(dir, { freq: 1000, seconds: 10, format: 'ulaw-raw' }); // for sipp rtp_stream
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export function tempDir(prefix = 'pbx-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export type SoxFormat = 'ulaw-raw' | 'alaw-raw' | 'ulaw-wav' | 'alaw-wav' | 's16-wav';

/** Writes an 8 kHz mono sine (vol 0.5) and returns its path. */
export async function soxTone(dir: string, o: { freq: number; seconds: number; format: SoxFormat; name?: string }): Promise<string> {
  const ext = o.format.endsWith('raw') ? (o.format.startsWith('ulaw') ? 'ul' : 'al') : 'wav';
  const path = join(dir, o.name ?? `tone${o.freq}-${o.format}.${ext}`);
  const enc = o.format.startsWith('ulaw') ? ['-e', 'u-law', '-b', '8'] : o.format.startsWith('alaw') ? ['-e', 'a-law', '-b', '8'] : ['-e', 'signed', '-b', '16'];
  const type = ext === 'wav' ? [] : ['-t', ext];
  await run('sox', ['-n', '-r', '8000', '-c', '1', ...enc, ...type, path, 'synth', String(o.seconds), 'sine', String(o.freq), 'vol', '0.5']);
  return path;
}

/** A headerless mu-law file of silence (0xFF), for sipp rtp_stream when the audio does not matter. */
export function ulawSilence(dir: string, seconds = 2): string {
  const path = join(dir, `silence-${seconds}s.ulaw`);
  writeFileSync(path, Buffer.alloc(8000 * seconds, 0xff));
  return path;
}
