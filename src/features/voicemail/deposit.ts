/**
 * Leaving a message: the mailbox's greeting (the owner's own recording, else "extension N is not
 * available..."), a tone, then the caller's audio recorded to a WAV file until the caller hangs
 * up, presses #, goes silent, or reaches the maximum length (or what is left of the quota).
 * The message row exists before the first byte is written, so a message being recorded when the
 * process dies is found and kept at the next start (MailboxStore recovers it).
 */
import { readFileSync } from 'node:fs';
import type { VoicemailConfig } from '../../core/config/voicemail-schema.js';
import type { Logger } from '../../core/logger.js';
import { isDiskError } from '../../core/store.js';
import { parseWav, type Recorder } from '../../media/index.js';
import type { LocalCall } from '../calls/index.js';
import { Gone, Ivr, type Sound } from './ivr.js';
import { BEEP, digitsOf, type VoicemailPrompts } from './prompts.js';
import { MailboxError, type MailboxStore, type MessageInfo } from './store.js';

export interface DepositContext {
  store: MailboxStore;
  prompts: VoicemailPrompts;
  config: VoicemailConfig;
  log: Logger;
  /** A message was kept (it is 'new' in the store). */
  onMessage(m: MessageInfo): void;
}

/** The greeting callers hear: the owner's recording when there is a usable one. */
export function greetingOf(ctx: Pick<DepositContext, 'store' | 'prompts' | 'log'>, mailbox: string): Sound[] {
  const path = ctx.store.greetingPath(mailbox);
  if (path) {
    try {
      const w = parseWav(readFileSync(path));
      if (w.sampleRate === 8000 && w.channels === 1 && w.samples.length) return [w.samples];
    } catch (e) {
      ctx.log.warn(`voicemail ${mailbox}: greeting ${path} unusable, playing the standard one: ${(e as Error).message}`);
    }
  }
  const p = ctx.prompts;
  return [p.extension, ...digitsOf(p, mailbox), p['not-available']];
}

/** Runs the whole deposit for an answered-or-not caller; ends the call when done. */
export async function leaveMessage(call: LocalCall, mailbox: string, ctx: DepositContext): Promise<void> {
  const { store, prompts, config, log } = ctx;
  const room = store.canRecord(mailbox);
  if (!room.ok && room.reason === 'no-mailbox') return call.reject(404, `Not Found (no mailbox ${mailbox})`);
  call.answer();
  const ivr = new Ivr(call);
  try {
    if (!room.ok) {
      log.info(`voicemail ${mailbox}: message refused (${room.reason})`, { call: call.info.id });
      await ivr.say(room.reason === 'mailbox-full' ? prompts['mailbox-full'] : prompts['no-space'], { bargeIn: false });
      return call.hangup();
    }
    await ivr.say(greetingOf(ctx, mailbox));
    ivr.flush();
    await ivr.say({ tones: BEEP }, { bargeIn: false });
    ivr.flush();
    const kept = await record(call, mailbox, Math.min(config.maxMessageSeconds * 1000, room.maxMs), ctx);
    if (kept === 'mailbox-full') await ivr.say(prompts['mailbox-full'], { bargeIn: false });
    else if (kept === 'no-space') await ivr.say(prompts['no-space'], { bargeIn: false });
    else await ivr.say(prompts.goodbye, { bargeIn: false });
    call.hangup();
  } catch (e) {
    if (!(e instanceof Gone)) {
      log.error(`voicemail ${mailbox}: ${(e as Error).message}`, { call: call.info.id });
      call.hangup();
    }
  } finally {
    ivr.dispose();
  }
}

/** Records until a stop condition; returns whether the message was kept. */
async function record(call: LocalCall, mailbox: string, maxMs: number, ctx: DepositContext): Promise<'kept' | 'discarded' | 'no-space' | 'mailbox-full'> {
  const { store, config, log } = ctx;
  let msg: { id: number; path: string; maxMs: number };
  try {
    msg = store.begin(mailbox, call.info.caller, call.info.callerName, maxMs);
  } catch (e) {
    // the index cannot take the message (a full disk): the caller hears so, nothing is half-kept
    if (isDiskError(e)) {
      log.error(`voicemail ${mailbox}: message refused, the store cannot write: ${(e as Error).message}`, { call: call.info.id });
      return 'no-space';
    }
    // another message took the space while the greeting played
    if (!(e instanceof MailboxError)) throw e;
    log.info(`voicemail ${mailbox}: message refused (${e.reason})`, { call: call.info.id });
    return e.reason === 'mailbox-full' ? 'mailbox-full' : 'no-space';
  }
  let rec: Recorder;
  try {
    rec = call.endpoint.record(msg.path, { silenceMs: config.silenceSeconds * 1000, maxMs: msg.maxMs });
  } catch (e) {
    log.error(`voicemail ${mailbox}: cannot record ${msg.path}: ${(e as Error).message}`, { call: call.info.id });
    store.finish(msg.id, 0, false);
    return 'no-space';
  }
  log.info(`voicemail ${mailbox}: recording message ${msg.id} from ${call.info.caller}`, { call: call.info.id });
  let samples = 0;
  rec.on('end', (e) => {
    samples = e.samples;
  });
  const why = await new Promise<string>((resolve) => {
    const onDtmf = (d: string) => d === '#' && done('caller pressed #');
    const onHangup = () => done('caller hung up');
    const guard = setTimeout(() => done('maximum length'), msg.maxMs + 2000);
    const done = (w: string) => {
      clearTimeout(guard);
      call.off('dtmf', onDtmf);
      call.off('hangup', onHangup);
      call.endpoint.off('close', onHangup);
      call.endpoint.off('timeout', onTimeout);
      resolve(w);
    };
    call.on('dtmf', onDtmf);
    call.on('hangup', onHangup);
    call.endpoint.on('close', onHangup);
    // a phone that stops sending RTP (voice activity detection) records nothing: no 'silence'
    const onTimeout = () => done('no audio from the caller');
    call.endpoint.once('timeout', onTimeout);
    call.endpoint.update({ timeoutMs: config.silenceSeconds * 1000 });
    rec.once('silence', () => done('silence'));
    rec.once('full', () => done('maximum length'));
    rec.once('error', (e) => done(`write error ${e.message}`));
    rec.once('end', () => done('recorder ended'));
    if (call.ended) done('caller hung up');
  });
  if (!rec.closed) rec.close();
  await rec.done;
  let ms = Math.round(samples / 8);
  // what counts is what the caller said: not the silence that ended the recording
  const spoken = why === 'silence' ? ms - config.silenceSeconds * 1000 : ms;
  const keep = spoken >= config.minMessageSeconds * 1000 && ms > 0;
  if (!keep) ms = 0;
  let info: MessageInfo | undefined;
  try {
    info = store.finish(msg.id, ms, keep);
  } catch (e) {
    if (!isDiskError(e)) throw e;
    // the row stays 'recording': the next start keeps the audio as a new message (crash recovery)
    log.error(`voicemail ${mailbox}: message ${msg.id} not indexed yet (${(e as Error).message}); kept on disk for recovery`, { call: call.info.id });
    return 'no-space';
  }
  log.info(`voicemail ${mailbox}: message ${msg.id} ${keep ? `kept (${(ms / 1000).toFixed(1)} s)` : 'discarded (too short)'}: ${why}`, { call: call.info.id });
  if (info) ctx.onMessage(info);
  if (why.startsWith('write error')) return 'no-space';
  return keep ? 'kept' : 'discarded';
}
