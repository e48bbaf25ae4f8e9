/**
 * Number forms between the dial plan and a carrier, and how a caller is presented to it.
 * The dial plan works in the local dialling form (0NSN, 00CC...); carriers may want E.164.
 */
import type { NumberingConfig, TrunkConfig } from '../../core/config/index.js';
import { quote } from '../../sip/message/grammar.js';

/**
 * Caller numbers of at most this many digits are extensions and get the trunk's
 * callerIdPrefix; longer ones (and any with '+') are full numbers already.
 */
export const MAX_EXTENSION_DIGITS = 6;
/**
 * A number without '+' is read as E.164 only when it starts with our own country code and is
 * at least this long: shorter ones are too likely to be local numbers that happen to start
 * with the same digits (a 6-digit local number beginning "44" in the UK).
 */
export const MIN_E164_DIGITS = 10;

const DIGITS = /^[0-9]+$/;

/** The number as the carrier wants it ('e164': 00CC... -> +CC..., 0NSN -> +<countryCode>NSN). */
export function outgoingNumber(n: NumberingConfig, number: string): string {
  if (n.outgoing !== 'e164' || number.startsWith('+') || !DIGITS.test(number)) return number;
  if (n.internationalPrefix !== '' && number.startsWith(n.internationalPrefix)) {
    const rest = number.slice(n.internationalPrefix.length);
    if (rest !== '') return `+${rest}`;
  }
  // Checked after the international prefix, which usually starts with the national one ("00", "0").
  if (n.countryCode !== '' && n.nationalPrefix !== '' && number.startsWith(n.nationalPrefix)) {
    const nsn = number.slice(n.nationalPrefix.length);
    if (nsn !== '') return `+${n.countryCode}${nsn}`;
  }
  // Short codes, emergency numbers and local numbers without a prefix: as dialled.
  return number;
}

/**
 * An incoming E.164 number in the local dialling form. Without a countryCode the numbering
 * does not say which country is "own", so numbers are left exactly as they came.
 */
export function incomingNumber(n: NumberingConfig, number: string): string {
  if (n.countryCode === '') return number;
  let e164: string;
  if (number.startsWith('+')) {
    e164 = number.slice(1);
    if (!DIGITS.test(e164)) return number;
  } else if (DIGITS.test(number) && number.length >= MIN_E164_DIGITS && number.startsWith(n.countryCode) &&
    (n.nationalPrefix === '' || !number.startsWith(n.nationalPrefix)) &&
    (n.internationalPrefix === '' || !number.startsWith(n.internationalPrefix))) {
    e164 = number;
  } else {
    return number;
  }
  if (e164.startsWith(n.countryCode)) return n.nationalPrefix + e164.slice(n.countryCode.length);
  // Only a '+' number can be foreign: an unprefixed one was taken as E.164 for being ours.
  return n.internationalPrefix === '' ? number : n.internationalPrefix + e164;
}

export interface Caller {
  number: string;
  name: string;
  withheld: boolean;
}

export interface Identity {
  /** From header value, with a fresh tag. */
  from: string;
  /** Extra headers for the request (P-Asserted-Identity, Privacy). */
  headers: Record<string, string>;
}

/**
 * The number presented to the carrier for a caller: an extension (all digits, at most
 * MAX_EXTENSION_DIGITS) gets callerIdPrefix in front and is sent as it then reads (the prefix
 * is written in the carrier's form); a full number goes through the trunk's numbering, so a
 * caller that arrived on another trunk (kept in local dialling form) still reads right.
 */
export function presentedNumber(cfg: TrunkConfig, number: string): string {
  if (DIGITS.test(number) && number.length <= MAX_EXTENSION_DIGITS) return cfg.callerIdPrefix + number;
  return outgoingNumber(cfg.numbering, number);
}

function nameAddr(name: string, uri: string): string {
  return name !== '' ? `${quote(name)} <${uri}>` : `<${uri}>`;
}

/** From and identity headers for a call to the carrier, per the trunk's callerId mode. */
export function callerIdentity(cfg: TrunkConfig, domain: string, caller: Caller, tag: string): Identity {
  const account = `sip:${cfg.username ?? presentedNumber(cfg, caller.number)}@${domain}`;
  const headers: Record<string, string> = {};
  if (cfg.callerId === 'withheld' || caller.withheld) {
    headers['Privacy'] = 'id';
    // The carrier still learns who pays for the call (and whom emergency services ring back).
    if (cfg.callerId === 'pai') headers['P-Asserted-Identity'] = `<${account}>`;
    return { from: `"Anonymous" <sip:anonymous@anonymous.invalid>;tag=${tag}`, headers };
  }
  const callerUri = `sip:${presentedNumber(cfg, caller.number)}@${domain}`;
  if (cfg.callerId === 'pai') {
    headers['P-Asserted-Identity'] = nameAddr(caller.name, callerUri);
    return { from: `${nameAddr(caller.name, account)};tag=${tag}`, headers };
  }
  return { from: `${nameAddr(caller.name, callerUri)};tag=${tag}`, headers };
}
