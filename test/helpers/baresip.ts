import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BaresipControl, type BaresipEvent } from './baresip-ctrl.js';
import { readWav } from './wav.js';

export type { BaresipEvent } from './baresip-ctrl.js';

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

/**
 * baresip 1.0.0's configuration for a headless phone: no sound card (ALSA null player), its
 * microphone a WAV file (aufile), every call recorded under `dir/rec` (sndfile: `*-dec.wav` what
 * it heard, `*-enc.wav` what it sent), controlled through ctrl_tcp (netstring JSON) on loopback.
 */
function baresipConfig(dir: string, o: BaresipOptions): string {
  const host = o.listen.slice(0, o.listen.lastIndexOf(':'));
  const settings: [string, string | number][] = [
    ['poll_method', 'epoll'], ['sip_listen', o.listen], ['call_local_timeout', 120], ['call_max_calls', 4],
    ['audio_path', '/usr/share/baresip'], ['audio_player', 'alsa,null'], ['audio_source', `aufile,${o.source}`],
    ['audio_alert', 'alsa,null'], ['ausrc_srate', 8000], ['auplay_srate', 8000], ['ausrc_channels', 1],
    ['auplay_channels', 1], ['audio_level', 'no'], ['ausrc_format', 's16'], ['auplay_format', 's16'],
    ['auenc_format', 's16'], ['audec_format', 's16'], ['audio_buffer', '20-160'], ['rtp_tos', 0],
    ['rtp_ports', '20000-20999'], ['rtcp_mux', 'no'], ['jitter_buffer_delay', '1-10'], ['rtp_stats', 'yes'],
    ['module_path', '/usr/lib/baresip/modules'],
    ...['g711', 'sndfile', 'alsa', 'aufile'].map((m): [string, string] => ['module', `${m}.so`]),
    ['module_tmp', 'uuid.so'], ['module_tmp', 'account.so'],
    ...['contact', 'debug_cmd', 'menu', 'ctrl_tcp'].map((m): [string, string] => ['module_app', `${m}.so`]),
    ['ctrl_tcp_listen', `127.0.0.1:${o.ctrlPort}`],
    // Without it the SDP would carry the machine's first interface, not the listen address.
    ['net_interface', host], ['statmode_default', 'off'], ['snd_path', join(dir, 'rec')],
  ];
  return `${[...settings.map(([k, v]) => `${k}\t\t${v}`), ...(o.extraConfig ?? [])].join('\n')}\n`;
}

/**
 * A headless baresip, driven through ctrl_tcp.
 * Every call it makes or takes is recorded under `dir/rec` (`*-dec.wav` = what it heard).
 */
export class Baresip {
  readonly dir: string;
  readonly events: BaresipEvent[] = [];
  #child: ChildProcess | undefined;
  readonly #ctrl = new BaresipControl(this.events);

  private constructor(dir: string) {
    this.dir = dir;
  }

  static async start(opts: BaresipOptions): Promise<Baresip> {
    const dir = mkdtempSync(join(tmpdir(), 'baresip-'));
    mkdirSync(join(dir, 'rec'));
    writeFileSync(join(dir, 'config'), baresipConfig(dir, opts));
    // baresip 1.0.0's mwi module has a start-up timer (1 ms) that re-subscribes every entry of its
    // list while appending to that same list: when the account's REGISTER 200 is handled before
    // that timer first runs (the process descheduled on a loaded machine, fds served before
    // timers), the list is not empty and the loop never ends: tens of thousands of SUBSCRIBEs,
    // and the phone never reads its socket again. So a phone with message waiting starts with no
    // account and gets it (uanew) once its event loop has run past that timer.
    const lateAccount = /;\s*mwi=yes/i.test(opts.account);
    writeFileSync(join(dir, 'accounts'), lateAccount ? '' : `${opts.account}\n`);
    writeFileSync(join(dir, 'contacts'), '');
    const b = new Baresip(dir);
    // No stdio module: baresip is driven through ctrl_tcp alone, so its stdin can be /dev/null
    // (the stdio module spins on EOF, which once needed a FIFO and a process holding it open).
    const log = openSync(join(dir, 'log'), 'w');
    b.#child = spawn('baresip', ['-f', dir], { stdio: ['ignore', log, log] });
    closeSync(log);
    try {
      await b.#ctrl.connect('127.0.0.1', opts.ctrlPort, 10_000, () => b.log());
      if (lateAccount) {
        // The kernel completes the TCP handshake before baresip's loop runs; an answer to a
        // command shows the loop running (after every module's init). From there, 20 ms on, the
        // loop's turn that takes uanew runs the (1 ms) timer before any REGISTER answer is read.
        b.command('reginfo');
        await b.#ctrl.waitEvent((e) => e.response === true, 10_000, () => b.log());
        await new Promise((r) => setTimeout(r, 20));
        b.command('uanew', opts.account);
      }
    } catch (e) {
      await b.stop();
      throw e;
    }
    return b;
  }

  /** Sends a ctrl_tcp command (`dial`, `hangup`, `sndcode`, `uanew`, ...). */
  command(command: string, params = ''): void {
    this.#ctrl.command(command, params);
  }

  /** Waits for an event matching `pred` (already received ones count). */
  waitEvent(pred: (e: BaresipEvent) => boolean, timeoutMs = 10_000): Promise<BaresipEvent> {
    return this.#ctrl.waitEvent(pred, timeoutMs, () => this.log().slice(-2000));
  }

  /** Waits until baresip's log matches `re` (events sent before ctrl_tcp connected are lost). */
  async waitLog(re: RegExp, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!re.test(this.log())) {
      if (Date.now() > deadline) throw new Error(`baresip: log did not show ${re} within ${timeoutMs} ms:\n${this.log().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Waits for the registration: the registrar's 200 as baresip logs it (`201@host: {0/UDP/v4}
   * 200 OK (pbx-core) [1 binding]`), so a registration before ctrl_tcp connected counts too.
   */
  waitRegistered(timeoutMs = 10_000): Promise<void> {
    return this.waitLog(/\} 200 [^\n]*\[\d+ bindings?\]/, timeoutMs);
  }

  log(): string {
    const f = join(this.dir, 'log');
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }

  /** Stops baresip: TERM (un-REGISTERs), TERM again after 2 s (forced), KILL after 5 s. */
  async stop(): Promise<void> {
    this.#ctrl.close();
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
