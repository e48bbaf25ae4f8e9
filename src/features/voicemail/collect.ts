/**
 * Collecting messages. From the owner's phone the mailbox is known; from elsewhere the caller
 * gives the mailbox number. Then the PIN (a wrong one `pin.attempts` times ends the call; a
 * starting PIN, or none yet from the owner's phone, must be replaced first), the count of new
 * and saved messages, and the menus:
 *   main:     1 listen (new, then saved)  3 greeting  4 change PIN  * hang up
 *   message:  1 again  2 save  3 delete  # next  * main menu (digits work while it plays);
 *             a new message that has been played counts as read (saved), and MWI follows
 *   greeting: 1 hear it  2 record a new one  3 back to the standard greeting  * main menu
 */
import { readFileSync } from 'node:fs';
import type { VoicemailConfig } from '../../core/config/voicemail-schema.js';
import type { Logger } from '../../core/logger.js';
import { parseWav, type Recorder } from '../../media/index.js';
import type { LocalCall } from '../calls/index.js';
import { greetingOf } from './deposit.js';
import { Gone, Ivr, type Sound } from './ivr.js';
import { BEEP, digitsOf, type VoicemailPrompts } from './prompts.js';
import type { MailboxStore, MessageInfo } from './store.js';
import type { PinGuard } from './pin-guard.js';

export interface CollectContext {
  store: MailboxStore;
  prompts: VoicemailPrompts;
  config: VoicemailConfig;
  log: Logger;
  /** Wrong PINs across calls (lockout and delays); none: per call only. */
  guard?: PinGuard;
}

const ENTRY = { max: 15, timeoutMs: 10_000 };
const MAX_GREETING_MS = 60_000;

/** `own`: the caller's own mailbox (dialled from the owner's phone); else undefined: ask for it. */
export async function collectMessages(call: LocalCall, own: string | undefined, ctx: CollectContext): Promise<void> {
  const { prompts: p, log } = ctx;
  call.answer();
  const ivr = new Ivr(call);
  try {
    const mailbox = own ?? (await askMailbox(ivr, ctx));
    if (mailbox === undefined || !(await login(ivr, mailbox, own !== undefined, call.info.caller, ctx))) {
      await ivr.say(p.goodbye, { bargeIn: false });
      return call.hangup();
    }
    log.info(`voicemail ${mailbox}: collecting messages from ${call.info.caller}`, { call: call.info.id });
    await ivr.say(summary(ctx, mailbox));
    for (;;) {
      const d = await ivr.choose(p['main-menu'], '134*', p.invalid);
      if (d === undefined || d === '*') break;
      if (d === '1') await listen(ivr, mailbox, ctx);
      else if (d === '3') await greetingMenu(ivr, mailbox, ctx);
      else if (d === '4') await changePin(ivr, mailbox, ctx);
    }
    await ivr.say(p.goodbye, { bargeIn: false });
    call.hangup();
  } catch (e) {
    if (!(e instanceof Gone)) {
      log.error(`voicemail collect: ${(e as Error).message}`, { call: call.info.id });
      call.hangup();
    }
  } finally {
    ivr.dispose();
  }
}

async function askMailbox(ivr: Ivr, ctx: CollectContext): Promise<string | undefined> {
  for (let i = 0; i < ctx.config.pin.attempts; i++) {
    await ivr.say(ctx.prompts['mailbox-number']);
    const n = await ivr.entry(ENTRY);
    if (n !== undefined && ctx.store.mailbox(n)) return n;
    // an unknown mailbox sounds like a wrong PIN: callers cannot probe which numbers exist
    if (n !== undefined) await ivr.say(ctx.prompts['enter-pin']).then(() => ivr.entry(ENTRY));
    await ivr.say(ctx.prompts['wrong-pin']);
  }
  return undefined;
}

/** PIN check, and the forced change; false: the caller is not let in. */
async function login(ivr: Ivr, mailbox: string, ownPhone: boolean, caller: string, ctx: CollectContext): Promise<boolean> {
  const { store, prompts: p, log } = ctx;
  const state = store.pinState(mailbox);
  if (!state.set) {
    // No PIN yet: only the owner's own phone may choose the first one.
    if (!ownPhone) return false;
    return changePin(ivr, mailbox, ctx);
  }
  let ok = false;
  for (let i = 0; i < ctx.config.pin.attempts && !ok; i++) {
    await ivr.say(p['enter-pin']);
    const pin = await ivr.entry(ENTRY);
    // a locked mailbox refuses every PIN alike: a guess cannot tell the lock from a wrong PIN
    const refused = ctx.guard?.refused(mailbox, caller, ownPhone) ?? false;
    if (refused && pin !== undefined) log.info(`voicemail ${mailbox}: PIN from ${caller} refused unchecked (PIN guessing lockout)`);
    ok = pin !== undefined && !refused && store.checkPin(mailbox, pin);
    if (ok) ctx.guard?.succeed(mailbox, caller);
    if (!ok) {
      const wait = pin !== undefined ? ctx.guard?.fail(mailbox, caller) ?? 0 : 0;
      ivr.flush();
      await ivr.say(p['wrong-pin']);
      if (wait > 0 && (await ivr.wait(wait)) === 'gone') throw new Gone();
      ivr.flush();
    }
  }
  if (!ok) {
    log.warn(`security: voicemail ${mailbox}: ${ctx.config.pin.attempts} wrong PINs from ${caller}`);
    return false;
  }
  if (state.mustChange) return changePin(ivr, mailbox, ctx);
  return true;
}

/** New PIN twice, within the policy; true when changed. */
async function changePin(ivr: Ivr, mailbox: string, ctx: CollectContext): Promise<boolean> {
  const { store, prompts: p, config } = ctx;
  for (let i = 0; i < 3; i++) {
    await ivr.say(p['new-pin']);
    const first = await ivr.entry(ENTRY);
    if (first === undefined) continue;
    await ivr.say(p['new-pin-again']);
    const second = await ivr.entry(ENTRY);
    if (second !== first) {
      ivr.flush();
      await ivr.say(p['pin-mismatch']);
      continue;
    }
    const refused = store.setPin(mailbox, first, { minLength: config.pin.minLength, complexity: config.pin.complexity });
    if (refused) {
      ctx.log.info(`voicemail ${mailbox}: new PIN refused (${refused})`);
      ivr.flush();
      await ivr.say(p['pin-rejected']);
      continue;
    }
    ctx.log.info(`voicemail ${mailbox}: PIN changed`);
    await ivr.say(p['pin-changed']);
    return true;
  }
  return false;
}

function count(p: VoicemailPrompts, n: number): Sound[] {
  return digitsOf(p, String(n));
}

function summary(ctx: CollectContext, mailbox: string): Sound[] {
  const p = ctx.prompts;
  const c = ctx.store.counts(mailbox);
  if (c.new === 0 && c.saved === 0) return [p['no-messages']];
  const out: Sound[] = [p['you-have']];
  if (c.new) out.push(...count(p, c.new), p['new-messages']);
  if (c.new && c.saved) out.push(p.and);
  if (c.saved) out.push(...count(p, c.saved), p['saved-messages']);
  return out;
}

function audioOf(m: MessageInfo): Int16Array | undefined {
  try {
    return parseWav(readFileSync(m.path)).samples;
  } catch {
    return undefined;
  }
}

/** New messages, then saved ones, each with its menu. */
async function listen(ivr: Ivr, mailbox: string, ctx: CollectContext): Promise<void> {
  const { store, prompts: p, log } = ctx;
  const list = store.messages(mailbox);
  const read = new Set<number>();
  for (let i = 0; i < list.length; ) {
    const m = list[i]!;
    const audio = audioOf(m);
    const intro: Sound[] = [m.state === 'new' ? p['new-message'] : p['saved-message']];
    if (/^[0-9]{1,15}$/.test(m.caller)) intro.push(p.from, ...digitsOf(p, m.caller));
    await ivr.say(audio ? [...intro, audio] : intro);
    // heard (in part or whole): a new message is read now, and the lamp follows
    if (m.state === 'new' && !read.has(m.id)) {
      read.add(m.id);
      store.markSaved(m.id);
      log.info(`voicemail ${mailbox}: message ${m.id} read`);
    }
    const d = await ivr.choose(p['message-menu'], '123#*', p.invalid);
    if (d === undefined || d === '*') return;
    if (d === '1') {
      ivr.flush();
      continue;
    }
    if (d === '2') {
      store.markSaved(m.id);
      log.info(`voicemail ${mailbox}: message ${m.id} saved`);
      await ivr.say(p['message-saved']);
    } else if (d === '3') {
      store.delete(m.id);
      log.info(`voicemail ${mailbox}: message ${m.id} deleted`);
      await ivr.say(p['message-deleted']);
    }
    i++;
  }
  await ivr.say(list.length ? p['no-more-messages'] : p['no-messages']);
}

async function greetingMenu(ivr: Ivr, mailbox: string, ctx: CollectContext): Promise<void> {
  const { store, prompts: p, log } = ctx;
  for (;;) {
    const d = await ivr.choose(p['greeting-menu'], '123*', p.invalid);
    if (d === undefined || d === '*') return;
    if (d === '1') {
      await ivr.say(store.greetingPath(mailbox) ? greetingOf(ctx, mailbox) : [p['no-greeting']]);
    } else if (d === '2') {
      if (await recordGreeting(ivr, mailbox, ctx)) await ivr.say(p['greeting-saved']);
    } else {
      store.removeGreeting(mailbox);
      log.info(`voicemail ${mailbox}: back to the standard greeting`);
      await ivr.say(p['greeting-standard']);
    }
  }
}

async function recordGreeting(ivr: Ivr, mailbox: string, ctx: CollectContext): Promise<boolean> {
  const { store, prompts: p, config, log } = ctx;
  await ivr.say(p['record-greeting']);
  ivr.flush();
  await ivr.say({ tones: BEEP }, { bargeIn: false });
  ivr.flush();
  const path = store.greetingTempPath(mailbox);
  const rec: Recorder = ivr.call.endpoint.record(path, { silenceMs: config.silenceSeconds * 1000, maxMs: MAX_GREETING_MS });
  let samples = 0;
  let stopped = false;
  rec.on('end', (e) => {
    samples = e.samples;
    stopped = true;
    ivr.interrupt();
  });
  const stop = (): boolean => stopped;
  rec.once('silence', () => { stopped = true; ivr.interrupt(); });
  rec.once('full', () => { stopped = true; ivr.interrupt(); });
  rec.once('error', () => { stopped = true; ivr.interrupt(); });
  const how = await ivr.wait(MAX_GREETING_MS + 2000, (d) => d === '#', stop);
  if (!rec.closed) rec.close();
  await rec.done;
  if (how === 'gone') throw new Gone();
  if (samples < 8000) {
    log.info(`voicemail ${mailbox}: greeting too short, not kept`);
    return false;
  }
  store.commitGreeting(mailbox);
  log.info(`voicemail ${mailbox}: new greeting (${(samples / 8000).toFixed(1)} s)`);
  return true;
}
