/** The calls feature's public face: the B2BUA, and what other features plug into it. */
export { Calls } from './calls.js';
export type { CallSnapshot, CallPartySnapshot } from './snapshot.js';
export type { CallHuntGroups, CallLink, CallSolution, CallsOptions, CallTrunk, CallTrunks, CallUser, CallVoicemail, LinkRoute, MemberState, RegisteredContact } from './types.js';
export { encodeLinkRequest, LINK_HEADER, linkUser, type LinkRequest, type LinkService } from './link-messages.js';
export type { HuntCallee, HuntDriver, HuntStep } from './ring/strategy.js';
export type { LocalCall, LocalService } from './local.js';
export { SettingsStore, type PhoneSettings } from './settings.js';
export { musicOnHold } from './tones.js';
