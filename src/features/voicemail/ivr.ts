/**
 * Prompts and digits with an answered caller, written as plain async steps: say() plays a
 * sequence of prompts (any digit cuts it short and is kept for the next read), digits() reads
 * an entry up to '#', key() one menu choice. When the caller hangs up every pending step
 * rejects with Gone, so a flow is one try/catch instead of a check after every await.
 */
import type { Endpoint, Player, ToneSegment } from '../../media/index.js';

/** The caller as a voicemail flow sees it: LocalCall fits. */
export interface IvrCall {
  readonly endpoint: Endpoint;
  readonly ended: boolean;
  on(event: 'dtmf', fn: (digit: string) => void): unknown;
  on(event: 'hangup', fn: () => void): unknown;
  off(event: 'dtmf', fn: (digit: string) => void): unknown;
  off(event: 'hangup', fn: () => void): unknown;
}

/** The caller hung up (or the call was ended): the flow stops. */
export class Gone extends Error {
  constructor() {
    super('caller gone');
  }
}

export type Sound = Int16Array | { tones: readonly ToneSegment[] };

export class Ivr {
  readonly call: IvrCall;
  /** Digits typed ahead (during a prompt, or before a read). */
  #typed: string[] = [];
  #waiter: (() => void) | undefined;
  #player: Player | undefined;
  #gone = false;
  readonly #onDtmf = (d: string) => {
    this.#typed.push(d);
    if (this.#bargeIn) this.#player?.close();
    this.#wake();
  };
  readonly #onHangup = () => {
    this.#gone = true;
    this.#player?.close();
    this.#wake();
  };
  #bargeIn = false;

  constructor(call: IvrCall) {
    this.call = call;
    call.on('dtmf', this.#onDtmf);
    call.on('hangup', this.#onHangup);
    call.endpoint.on('close', this.#onHangup);
    if (call.ended || call.endpoint.closed) this.#gone = true;
  }

  get gone(): boolean {
    return this.#gone || this.call.ended || this.call.endpoint.closed;
  }

  /** Stops listening to the call (the flow is over). */
  dispose(): void {
    this.call.off('dtmf', this.#onDtmf);
    this.call.off('hangup', this.#onHangup);
    this.call.endpoint.off('close', this.#onHangup);
    this.#player?.close();
    this.#wake();
  }

  /** Forgets digits typed ahead. */
  flush(): void {
    this.#typed = [];
  }

  /** Next typed digit, or undefined when none was typed before `timeoutMs`. Throws Gone. */
  async digit(timeoutMs: number): Promise<string | undefined> {
    this.#check();
    if (this.#typed.length) return this.#typed.shift();
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => this.#wake(), timeoutMs);
      this.#waiter = () => {
        clearTimeout(t);
        resolve();
      };
    });
    this.#check();
    return this.#typed.shift();
  }

  /**
   * Plays `parts` one after another. With bargeIn (default) a digit stops the rest and stays
   * typed ahead; without it digits are kept and the prompt plays out. Resolves true when it
   * played to the end. Throws Gone.
   */
  async say(parts: Sound | readonly Sound[], opts: { bargeIn?: boolean } = {}): Promise<boolean> {
    const list = joined(Array.isArray(parts) ? (parts as readonly Sound[]) : [parts as Sound]);
    this.#bargeIn = opts.bargeIn !== false;
    for (const part of list) {
      this.#check();
      if (this.#bargeIn && this.#typed.length) return false;
      const player = this.call.endpoint.play(part instanceof Int16Array ? { pcm: part } : part);
      this.#player = player;
      const completed = await new Promise<boolean>((resolve) => player.once('end', (e) => resolve(e.completed)));
      this.#player = undefined;
      this.#check();
      if (!completed) return false;
    }
    return true;
  }

  /**
   * Reads digits up to '#' (not included) or `max` digits; '*' starts the entry over.
   * Undefined when nothing complete came within `timeoutMs` of the last digit. Throws Gone.
   */
  async entry(opts: { max: number; timeoutMs: number }): Promise<string | undefined> {
    let got = '';
    for (;;) {
      const d = await this.digit(opts.timeoutMs);
      if (d === undefined) return got.length ? got : undefined;
      if (d === '#') return got;
      if (d === '*') {
        got = '';
        continue;
      }
      if (!/^[0-9]$/.test(d)) continue;
      got += d;
      if (got.length >= opts.max) return got;
    }
  }

  /** A menu: plays `prompt` until a digit in `valid` comes (up to `tries` times); undefined: none came. */
  async choose(prompt: Sound | readonly Sound[], valid: string, invalid: Sound, opts: { tries?: number; timeoutMs?: number } = {}): Promise<string | undefined> {
    const tries = opts.tries ?? 3;
    for (let i = 0; i < tries; i++) {
      await this.say(prompt);
      const d = await this.digit(opts.timeoutMs ?? 6000);
      if (d === undefined) continue;
      if (valid.includes(d)) return d;
      this.flush();
      await this.say(invalid);
    }
    return undefined;
  }

  /**
   * Waits until the caller hangs up, `ms` pass, a digit satisfies `until`, or `stop()` turns
   * true (checked whenever interrupt() is called).
   */
  async wait(ms: number, until?: (digit: string) => boolean, stop?: () => boolean): Promise<'gone' | 'time' | 'digit' | 'stopped'> {
    const end = Date.now() + ms;
    for (;;) {
      if (this.gone) return 'gone';
      if (stop?.()) return 'stopped';
      const left = end - Date.now();
      if (left <= 0) return 'time';
      let d: string | undefined;
      try {
        d = await this.digit(left);
      } catch {
        return 'gone';
      }
      if (d !== undefined && until?.(d)) return 'digit';
    }
  }

  /** Wakes a pending digit() (a digit came, the caller left, or an outside event). */
  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  /** Lets an outside event (the recorder stopping) end a pending wait. */
  interrupt(): void {
    this.#wake();
  }

  #check(): void {
    if (this.gone) throw new Gone();
  }
}

/**
 * Neighbouring recorded parts as one buffer: one player per sentence, so "extension 2 0 1 is not
 * available" plays without a round trip through JavaScript between words (which drifts under load).
 */
function joined(parts: readonly Sound[]): Sound[] {
  const out: Sound[] = [];
  let run: Int16Array[] = [];
  const flush = () => {
    if (run.length === 1) out.push(run[0]!);
    else if (run.length > 1) {
      const all = new Int16Array(run.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of run) {
        all.set(p, at);
        at += p.length;
      }
      out.push(all);
    }
    run = [];
  };
  for (const p of parts) {
    if (p instanceof Int16Array) run.push(p);
    else {
      flush();
      out.push(p);
    }
  }
  flush();
  return out;
}
