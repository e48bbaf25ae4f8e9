/** Writing audio that arrived from another node: whole or not at all, and durable once renamed. */
import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { fsyncDir } from './store-types.js';

/**
 * Writes `bytes` to `path` through `path.tmp` (flushed, then renamed over `path`, then the
 * folder flushed): a crash leaves the old file or the new one, and at most a .tmp the store
 * removes at its next start.
 */
export function writeFileDurably(path: string, bytes: Uint8Array): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', 0o640);
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  fsyncDir(dirname(path));
}
