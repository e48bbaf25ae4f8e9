/**
 * Asking an answered caller for a conference PIN. Digits come from the party's 'dtmf' event
 * (RFC 4733 and SIP INFO merged by LocalCall); # ends an entry, * starts it over. Any digit cuts
 * the prompt short, so a caller who knows the PIN need not listen. A wrong entry, too many digits
 * or no # in time costs one try; after the last try the caller hears "not right", "goodbye".
 */
import type { Prompts, PromptName } from './prompts.js';
import type { Party } from './room.js';
import type { Player } from '../../media/index.js';

export interface PinOptions {
  /** Participants' PIN; undefined: participants just press # (the room only has a moderator PIN). */
  pin: string | undefined;
  moderatorPin: string | undefined;
  attempts: number;
  /** Time for one entry, from its prompt to #. */
  timeoutMs: number;
  prompts: Prompts;
}

/** participant / moderator: joins as that; failed: tries used up (goodbye played); gone: the caller hung up. */
export type PinResult = 'participant' | 'moderator' | 'failed' | 'gone';

export const MAX_PIN_DIGITS = 30;

export function askPin(party: Party, o: PinOptions): Promise<PinResult> {
  return new Promise((resolve) => {
    let entry = '';
    let tooLong = false;
    let tries = 0;
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    let player: Player | undefined;
    let sequence = 0; // a newer sequence (or a digit) cancels the rest of an older one

    const finish = (r: PinResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      party.off('dtmf', onDtmf);
      party.off('hangup', onHangup);
      party.endpoint.off('close', onHangup);
      resolve(r);
    };
    const play = (names: PromptName[], then?: () => void) => {
      const seq = ++sequence;
      const next = (i: number) => {
        if (seq !== sequence || done) return;
        if (i >= names.length || party.endpoint.closed) return then?.();
        player = party.endpoint.play({ pcm: o.prompts[names[i]!] });
        player.once('end', (e) => {
          if (e.completed) next(i + 1);
          else if (party.endpoint.closed) finish('gone');
        });
      };
      next(0);
    };
    const startEntry = () => {
      entry = '';
      tooLong = false;
      clearTimeout(timer);
      timer = setTimeout(() => wrong(), o.timeoutMs).unref();
    };
    const wrong = () => {
      tries++;
      if (tries >= o.attempts) {
        clearTimeout(timer);
        party.off('dtmf', onDtmf); // the caller is being told goodbye: digits no longer count
        play(['wrong-pin', 'goodbye'], () => finish('failed'));
        return;
      }
      play(['wrong-pin', 'enter-pin']);
      startEntry();
    };
    const onDtmf = (digit: string) => {
      if (done) return;
      // barge-in: stop the prompt that is playing, and whatever was queued after it
      sequence++;
      player?.close();
      if (digit === '#') {
        if (!tooLong && o.moderatorPin !== undefined && entry === o.moderatorPin) return finish('moderator');
        if (!tooLong && entry === (o.pin ?? '')) return finish('participant');
        return wrong();
      }
      if (digit === '*') return startEntry();
      if (!/^[0-9]$/.test(digit)) return;
      if (entry.length >= MAX_PIN_DIGITS) tooLong = true;
      else entry += digit;
    };
    const onHangup = () => finish('gone');

    party.on('dtmf', onDtmf);
    party.on('hangup', onHangup);
    // ended from our side (the node closing) there is no hang-up event, but the media closes
    party.endpoint.on('close', onHangup);
    if (party.endpoint.closed) return finish('gone');
    play(['enter-pin']);
    startEntry();
  });
}
