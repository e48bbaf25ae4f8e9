/**
 * The dialogs the B2BUA holds, by dialog key (Call-ID, our tag, their tag), each with the call
 * or local call it belongs to: in-dialog requests, ACKs and Replaces (RFC 3891) find their leg
 * here. An ended call's dialogs linger 32 s (64*T1) so late BYE and ACK retransmissions are
 * still answered; the registry owns those timers.
 */
import { Dialog } from '../../sip/dialog/dialog.js';
import type { Leg } from './leg.js';
import type { CallTimers } from './timers.js';

/** How long an ended dialog still answers retransmissions (64*T1 with the default T1). */
export const LINGER_MS = 32_000;

export class LegRegistry<Owner> {
  readonly #byKey = new Map<string, { leg: Leg; owner: Owner | undefined }>();
  readonly #keys = new Map<Leg, string>();
  readonly #owners = new Map<Leg, Owner | undefined>();
  readonly #timers: CallTimers;

  constructor(timers: CallTimers) {
    this.#timers = timers;
  }

  /** Records `leg` (with its dialog's current key) as `owner`'s; again later when it moves or its dialog is confirmed. */
  register(leg: Leg, owner?: Owner): void {
    if (owner !== undefined || !this.#owners.has(leg)) this.#owners.set(leg, owner);
    const d = leg.dialog;
    if (!d) return;
    const key = Dialog.key(d.callId, d.localTag, d.remoteTag);
    const old = this.#keys.get(leg);
    if (old !== undefined && old !== key) this.#byKey.delete(old);
    this.#keys.set(leg, key);
    this.#byKey.set(key, { leg, owner: this.#owners.get(leg) });
  }

  get(key: string): { leg: Leg; owner: Owner | undefined } | undefined {
    const e = this.#byKey.get(key);
    return e ? { leg: e.leg, owner: this.#owners.get(e.leg) } : undefined;
  }

  /** The leg of an in-dialog message: To tag ours for requests to us. */
  byDialog(callId: string, localTag: string, remoteTag: string): Leg | undefined {
    return this.#byKey.get(Dialog.key(callId, localTag, remoteTag))?.leg;
  }

  /** The legs registered to `owner`. */
  legsOf(owner: Owner): Leg[] {
    return [...this.#owners].filter(([, o]) => o === owner).map(([l]) => l);
  }

  /** The live legs of a party (an extension): the dialogs its phone would name in Replaces. */
  dialogsOf(party: string): { callId: string; localTag: string; remoteTag: string }[] {
    const out: { callId: string; localTag: string; remoteTag: string }[] = [];
    for (const { leg } of this.#byKey.values()) {
      const d = leg.dialog;
      if (leg.party === party && !leg.ended && d) out.push({ callId: d.callId, localTag: d.localTag, remoteTag: d.remoteTag });
    }
    return out;
  }

  forget(leg: Leg): void {
    const key = this.#keys.get(leg);
    if (key !== undefined && this.#byKey.get(key)?.leg === leg) this.#byKey.delete(key);
    this.#keys.delete(leg);
    this.#owners.delete(leg);
  }

  /** Forgets `leg` after LINGER_MS, unless it belongs to another owner by then. */
  linger(leg: Leg, owner: Owner): void {
    this.#timers.add('linger', LINGER_MS, () => {
      if (this.#owners.get(leg) === owner) this.forget(leg);
    });
  }

  get size(): number {
    return this.#byKey.size;
  }

  clear(): void {
    this.#byKey.clear();
    this.#keys.clear();
    this.#owners.clear();
  }
}
