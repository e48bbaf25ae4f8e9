import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync, openSync, readdirSync, readFileSync, closeSync, existsSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PEERS } from './sipp.js';
import { readWav } from './wav.js';

export interface BaresipOptions {
  /** SIP listen address:port of this baresip (e.g. 127.0.0.10:30610). */
  listen: string;
  /** ctrl_tcp port. */
  ctrlPort: number;
  /** 16-bit 8 kHz mono WAV it sends as its microphone (longer than any call). */
  source: string;
  /** accounts line, e.g. `<sip:201@127.0.0.1:5060>;auth_pass=demo201;regint=60` */
  account: string;
  /** Lines appended to the generated config (e.g. `module_app mwi.so`). */
  extraConfig?: string[];
}

export interface BaresipEvent {
  type?: string;
  class?: string;
  param?: string;
  [k: string]: unknown;
}

/**
 * A headless baresip (the tested recipe in ../shared/peers/baresip), driven through ctrl_tcp.
 * Every call it makes or takes is recorded under `dir/rec` (`*-dec.wav` = what it heard).
 */
export class Baresip {
  readonly dir: string;
  readonly events: BaresipEvent[] = [];
  #child: ChildProcess | undefined;
  #holder: ChildProcess | undefined;
  #ctrl: Socket | undefined;
  #buf = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  #token = 0;

  private constructor(dir: string) {
    this.dir = dir;
  }

  static async start(opts: BaresipOptions): Promise<Baresip> {
    const dir = mkdtempSync(join(tmpdir(), 'baresip-'));
    execFileSync('sh', [join(PEERS, 'baresip/mkcfg.sh'), dir, opts.listen, String(opts.ctrlPort), opts.source, opts.account]);
    if (opts.extraConfig?.length) appendFileSync(join(dir, 'config'), `${opts.extraConfig.join('\n')}\n`);
    const b = new Baresip(dir);
    const fifo = join(dir, 'in');
    execFileSync('mkfifo', [fifo]);
    // Keep the FIFO open so baresip's stdin never sees EOF (its stdio module spins on EOF).
    b.#holder = spawn('sh', ['-c', `sleep 100000 > '${fifo}'`], { stdio: 'ignore' });
    const stdin = openSync(fifo, 'r');
    const log = openSync(join(dir, 'log'), 'w');
    b.#child = spawn('baresip', ['-f', dir], { stdio: [stdin, log, log] });
    closeSync(stdin);
    closeSync(log);
    await b.#connect(opts.ctrlPort);
    return b;
  }

  async #connect(port: number): Promise<void> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        this.#ctrl = await new Promise<Socket>((resolve, reject) => {
          const s = connect(port, '127.0.0.1', () => resolve(s));
          s.once('error', reject);
        });
        break;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`baresip ctrl_tcp did not open on ${port}: ${(e as Error).message}\n${this.log()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    this.#ctrl.on('data', (d: Buffer) => this.#onData(d));
    this.#ctrl.on('error', () => undefined);
  }

  #onData(d: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, d]);
    for (;;) {
      const colon = this.#buf.indexOf(58);
      if (colon < 0) return;
      const len = Number(this.#buf.subarray(0, colon).toString());
      if (this.#buf.length < colon + 1 + len + 1) return;
      try {
        this.events.push(JSON.parse(this.#buf.subarray(colon + 1, colon + 1 + len).toString()) as BaresipEvent);
      } catch {
        // not JSON: ignore
      }
      this.#buf = this.#buf.subarray(colon + 2 + len);
      for (const w of this.#waiters.splice(0)) w();
    }
  }

  /** Sends a ctrl_tcp command (`dial`, `hangup`, `sndcode`, `uareg`, ...). */
  command(command: string, params = ''): void {
    const p = Buffer.from(JSON.stringify({ command, params, token: String(++this.#token) }));
    this.#ctrl?.write(Buffer.concat([Buffer.from(`${p.length}:`), p, Buffer.from(',')]));
  }

  /** Waits for an event matching `pred` (already received ones count). */
  async waitEvent(pred: (e: BaresipEvent) => boolean, timeoutMs = 10_000): Promise<BaresipEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const e = this.events.find(pred);
      if (e) return e;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`baresip: event not seen within ${timeoutMs} ms; events: ${JSON.stringify(this.events.map((x) => x.type))}\n${this.log().slice(-2000)}`);
      await new Promise<void>((res) => {
        const t = setTimeout(res, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
  }

  /** Waits until baresip's log matches `re` (events sent before ctrl_tcp connected are lost). */
  async waitLog(re: RegExp, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!re.test(this.log())) {
      if (Date.now() > deadline) throw new Error(`baresip: log did not show ${re} within ${timeoutMs} ms:\n${this.log().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Waits for the registration (in the log, so a REGISTER_OK before ctrl_tcp connected counts). */
  waitRegistered(timeoutMs = 10_000): Promise<void> {
    return this.waitLog(/registered successfully/, timeoutMs);
  }

  log(): string {
    const f = join(this.dir, 'log');
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  /** Stops baresip (TERM, then TERM again), then the FIFO holder. */
  async stop(): Promise<void> {
    this.#ctrl?.destroy();
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((res) => child.once('exit', () => res()));
      child.kill('SIGTERM');
      const t1 = setTimeout(() => child.kill('SIGTERM'), 2000);
      const t2 = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t1);
      clearTimeout(t2);
    }
    this.#holder?.kill('SIGKILL');
  }
}

/** Writes test audio with sox: a sine of `freq` Hz, `seconds` long, 16-bit 8 kHz mono WAV. */
export function makeToneWav(path: string, freq: number, seconds: number): string {
  execFileSync('sox', ['-n', '-r', '8000', '-c', '1', '-b', '16', '-e', 'signed', path, 'synth', String(seconds), 'sine', String(freq), 'vol', '0.5']);
  return path;
}

export interface PhoneOptions {
  /** Folder for the tone the phone sends. */
  dir: string;
  ext: string;
  /** SIP listen address:port of the phone. */
  listen: string;
  ctrlPort: number;
  /** The tone it sends as its microphone (Hz). */
  freq: number;
  /** The server's SIP address:port it registers with. */
  server: string;
  /** baresip audio_codecs (default PCMU). */
  codecs?: string;
  /** answermode (default manual: the phone rings until told to answer). */
  answer?: 'auto' | 'manual';
  /** Subscribe to message waiting (baresip's mwi module). */
  mwi?: boolean;
}

/** A registered baresip phone (password demo<ext>) sending its tone; stopped again if it cannot register. */
export async function startPhone(o: PhoneOptions): Promise<Baresip> {
  const bs = await Baresip.start({
    listen: o.listen,
    ctrlPort: o.ctrlPort,
    source: makeToneWav(join(o.dir, `tone-${o.ext}-${o.freq}.wav`), o.freq, 120),
    account: `<sip:${o.ext}@${o.server}>;auth_pass=demo${o.ext};regint=600;answermode=${o.answer ?? 'manual'};audio_codecs=${o.codecs ?? 'PCMU'}${o.mwi ? ';mwi=yes' : ''}`,
    extraConfig: o.mwi ? ['module_app\t\tmwi.so'] : [],
  });
  try {
    await bs.waitRegistered();
  } catch (e) {
    await bs.stop();
    throw e;
  }
  return bs;
}

/** What the phone heard on its latest call (baresip's `*-dec.wav` recording). */
export async function lastHeard(bs: Baresip): Promise<Int16Array> {
  const dir = join(bs.dir, 'rec');
  const files = readdirSync(dir).filter((f) => f.endsWith('-dec.wav')).sort();
  if (!files.length) throw new Error(`no recording in ${dir}`);
  return (await readWav(join(dir, files[files.length - 1]!))).samples;
}
