/**
 * What the benchmarks share: the repository root (from src or dist), a node on loopback built
 * from one config text, and a process's CPU ticks. Every bench node keeps its database and
 * voicemail in its own temporary folder, never in the working directory.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../src/core/config/index.js';
import { createLogger } from '../src/core/logger.js';
import { Server } from '../src/server.js';

const here = new URL('../', import.meta.url).pathname;
/** The repository (bench/ runs compiled from dist/bench/). */
export const ROOT = here.endsWith('dist/') ? here.slice(0, -5) : here;

export interface BenchNodeOptions {
  /** Folder for the database and voicemail. */
  dir: string;
  /** UDP SIP port on 127.0.0.1. */
  port: number;
  /** The engine's RTP range (default 50000-59999). */
  media?: { min: number; max: number };
  /** Settings of the voicemail section beside its dir (e.g. `channels: 200`). */
  voicemail?: string;
  /** The rest of the document (users, dial plan, ...). */
  yaml: string;
}

/** A started node: warn-level JSON logs (BENCH_LOG overrides), lockout out of the way of load. */
export async function startBenchNode(o: BenchNodeOptions): Promise<Server> {
  const media = o.media ?? { min: 50000, max: 59999 };
  const config = parseConfig(`log: { level: ${process.env.BENCH_LOG ?? 'warn'}, format: json }
sip:
  listen:
    - { transport: udp, address: 127.0.0.1, port: ${o.port} }
storage: { path: ${JSON.stringify(join(o.dir, 'pbx.sqlite'))} }
voicemail: { dir: ${JSON.stringify(join(o.dir, 'voicemail'))}${o.voicemail ? `, ${o.voicemail}` : ''} }
media: { portMin: ${media.min}, portMax: ${media.max} }
security: { lockout: { maxFailures: 10000 }, sourceLimit: { maxFailures: 100000 }, userLimit: { maxFailures: 100000 } }
admin: { enabled: false }
${o.yaml}
`, 'bench');
  const server = new Server(config, createLogger(config.log));
  await server.start();
  return server;
}

/** utime + stime of a process or thread (/proc/.../stat), in clock ticks (100/s); 0 when gone. */
export function procTicks(path: string): number {
  try {
    const f = readFileSync(path, 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}
