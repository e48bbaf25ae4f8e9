/**
 * Spoken prompts shipped with the installation: 8 kHz mono WAV files under prompts/ (each with
 * its text beside it; scripts/prompts.sh regenerates them). Features read their prompts once at
 * start through here, so a missing or broken file stops the node at start with the path in the
 * message, never in the middle of a call.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseWav } from '../media/wav.js';

/** prompts/ of the installation: the folder beside package.json, from src/ or from dist/src/. */
export function defaultPromptsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'prompts');
    const up = dirname(dir);
    if (up === dir) throw new Error('prompts: no package.json above the installation, set the feature\'s promptsDir');
    dir = up;
  }
}

/** One prompt's samples; throws an Error naming the file (`what`: "voicemail prompt") and how to fix it. */
export function readPrompt(path: string, what: string, fix: string): Int16Array {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new Error(`${what} ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); ${fix}`, { cause: e });
  }
  try {
    const w = parseWav(bytes);
    if (w.sampleRate !== 8000 || w.channels !== 1) throw new Error(`8000 Hz mono expected, got ${w.sampleRate} Hz x${w.channels}`);
    if (w.samples.length === 0) throw new Error('no audio');
    return w.samples;
  } catch (e) {
    throw new Error(`${what} ${path} is not a usable WAV file: ${(e as Error).message}`, { cause: e });
  }
}

/** Every prompt of `names` from `dir` (`<name>.wav`), frozen. */
export function loadPromptSet<N extends string>(dir: string, names: readonly N[], what: string, fix: string): Readonly<Record<N, Int16Array>> {
  if (typeof dir !== 'string' || dir === '') throw new TypeError('dir: must be a non-empty string');
  const out = {} as Record<N, Int16Array>;
  for (const name of names) out[name] = readPrompt(resolve(dir, `${name}.wav`), what, fix);
  return Object.freeze(out);
}
