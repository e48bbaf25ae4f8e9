/**
 * Test helper: run sipp and wait for it. Always adds `-nostdin -timeout N -timeout_error`
 * (sipp does not stop by itself on hung calls otherwise) and kills it after timeoutMs as a last
 * resort. Resolves with the exit code (0 = all calls ok, 1 = some failed, 255 = fatal/timeout).
 *
 *   const r = await runSipp(['127.0.0.1:5080', '-sf', scenario, '-m', '1'], { timeoutMs: 30_000 });
 *   const uas = startSipp([...]);  ...;  await uas.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { scenario } from './peers.js';

export { SCENARIOS, scenario } from './peers.js';

export interface SippResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Every message sent and received, when `trace` was asked for. */
  messages: string;
}

export interface SippOptions {
  /** Overall limit; sipp gets -timeout of this (in s) and is SIGKILLed 5 s later. Default 30 s. */
  timeoutMs?: number;
  cwd?: string;
  /** Trace every message (-trace_msg) and return the trace as `messages`. */
  trace?: boolean;
}

export interface SippRun {
  proc: ChildProcess;
  done: Promise<SippResult>;
  /** Ends sipp (SIGTERM) and waits for it. */
  stop(): Promise<SippResult>;
}

export function startSipp(args: string[], o: SippOptions = {}): SippRun {
  const timeoutMs = o.timeoutMs ?? 30_000;
  const cwd = o.cwd ?? mkdtempSync(join(tmpdir(), 'sipp-'));
  const msgFile = join(cwd, 'messages.log');
  const all = [...args, '-nostdin', '-timeout', `${Math.ceil(timeoutMs / 1000)}s`, '-timeout_error'];
  if (o.trace) all.push('-trace_msg', '-message_file', msgFile);
  const proc = spawn('sipp', all, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const messages = () => {
    try {
      return o.trace ? readFileSync(msgFile, 'utf8') : '';
    } catch {
      return '';
    }
  };
  const done = new Promise<SippResult>((resolve) => {
    const killer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs + 5000);
    proc.on('error', (e) => {
      clearTimeout(killer);
      resolve({ code: -1, signal: null, stdout, stderr: `${stderr}sipp could not start (is sip-tester installed?): ${String(e)}`, messages: '' });
    });
    proc.on('close', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr, messages: messages() });
    });
  });
  return {
    proc,
    done,
    stop: () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      return done;
    },
  };
}

export function runSipp(args: string[], o: SippOptions = {}): Promise<SippResult> {
  return startSipp(args, o).done;
}

/**
 * A copy of the UAS scenario test/peers/sipp/uas_status.xml answering `status reason` (sipp
 * cannot take a response code from -key), written into `dir`.
 */
export function uasStatusScenario(dir: string, status: number, reason: string): string {
  const template = readFileSync(scenario('uas_status.xml'), 'utf8');
  const path = join(dir, `uas_${status}.xml`);
  writeFileSync(path, template.replace('SIP/2.0 [status] [reason]', `SIP/2.0 ${status} ${reason}`));
  return path;
}

/** A message of a sipp -trace_msg file. */
export interface Traced {
  /** When sipp logged it (ms since the epoch). */
  at: number;
  received: boolean;
  text: string;
}

/** The messages of a sipp -trace_msg file, in order, with their times. */
export function traced(trace: string): Traced[] {
  const out: Traced[] = [];
  // sipp writes local time: "----- 2026-11-25 02:03:00.283215\nUDP message received [724] bytes :\n\n<message>"
  const re = /^-{10,} (\d{4}-\d\d-\d\d)[ \t](\d\d:\d\d:\d\d\.\d+)\n(?:UDP|TCP) message (received|sent)[^\n]*\n\n([\s\S]*?)(?=^-{10,} \d{4}-|(?![\s\S]))/gm;
  for (const m of trace.matchAll(re)) {
    out.push({ at: new Date(`${m[1]}T${m[2]!.slice(0, 12)}`).getTime(), received: m[3] === 'received', text: m[4]! });
  }
  return out;
}

/** The Call-ID of a traced message's text. */
export const callIdOf = (text: string): string => /^Call-ID:\s*(.+)$/im.exec(text)?.[1]?.trim() ?? '';
