/**
 * A node's voicemail, as the composition root builds it: mailboxes for every user and hunt group,
 * the voicemail ports of the profile, message waiting to phones (SUBSCRIBE and unsolicited
 * NOTIFY), email forwarding when SMTP is set. In a solution, voicemail runs on the primary for
 * every user of every node; expansions keep only message waiting for their users' phones, fed
 * with the counts the primary sends over the node links. The secondary keeps every mailbox too,
 * as the replica of the primary's (issue 17), and runs voicemail while it serves the primary's
 * users; until then its phones' lights follow the primary's counts like an expansion's.
 */
import { join } from 'node:path';
import type { Config } from './core/config/index.js';
import type { Lifecycle } from './core/lifecycle.js';
import type { Logger } from './core/logger.js';
import { getProfile } from './core/profiles.js';
import type { Alarms } from './core/alarms.js';
import type { Journal } from './core/journal.js';
import type { Authenticator } from './core/security/authenticator.js';
import type { Store } from './core/store.js';
import type { LocationStore } from './features/registrar/location.js';
import { EmailForwarder } from './features/voicemail/email.js';
import { MessageWaiting, type MailboxCounts } from './features/voicemail/mwi.js';
import { Voicemail } from './features/voicemail/voicemail.js';
import { mayWatchMailbox } from './features/voicemail/watch.js';
import { mailboxesOf } from './reconfigure.js';
import type { SipStack } from './sip/stack.js';
import type { SolutionNode } from './solution/node.js';

export interface VoicemailParts {
  /** Absent on a node of a solution other than the primary (its users' mailboxes are there). */
  voicemail: Voicemail | undefined;
  mwi: MessageWaiting;
  email: EmailForwarder | undefined;
}

export interface VoicemailContext {
  /** The configuration in force (a reconfiguration changes the hunt groups MWI looks at). */
  config: () => Config;
  life: Lifecycle;
  log: Logger;
  store: Store;
  stack: SipStack;
  location: LocationStore;
  auth: Authenticator;
  /** The node's alarms (voicemail PIN lockouts raise one). */
  alarms: Alarms;
  /** What the other core replays (voicemail changes are appended in their transaction). */
  journal: Journal;
  solution: SolutionNode | undefined;
}

/** The voicemail parts, added to the lifecycle; undefined when the node has none. */
export function buildVoicemail(x: VoicemailContext): VoicemailParts | undefined {
  const c = x.config();
  const channels = c.voicemail.channels ?? getProfile(c.node.profile).voicemailChannels;
  const central = x.solution !== undefined && c.node.role === 'expansion';
  if (channels === 0 || central) {
    if (x.solution) {
      x.log.info('voicemail: on the primary; message waiting for this node\'s phones only', { profile: c.node.profile });
      return { voicemail: undefined, mwi: messageWaiting(x, (mailbox) => x.solution!.mwi.counts(mailbox)), email: undefined };
    }
    x.log.info('voicemail: off (no voicemail channels on this node)', { profile: c.node.profile });
    return undefined;
  }
  const remote = x.solution ? mailboxesOf({ users: x.solution.remoteUsers(), huntGroups: [] }) : [];
  const smtp = c.voicemail.smtp;
  const email = smtp
    ? x.life.add('voicemail-email', new EmailForwarder({ store: x.store, smtp, dir: join(c.voicemail.dir, 'outbox'), logger: x.log }), { close: (e) => e.close() })
    : undefined;
  const vm = x.life.add('voicemail', new Voicemail({
    db: x.store, logger: x.log, config: c.voicemail, mailboxes: [...mailboxesOf(c), ...remote], channels, journal: x.journal, alarms: x.alarms,
    onMessage: (m, box) => {
      if (!email || !box.email) return;
      try {
        email.enqueue({ to: box.email, mailbox: box.id, mailboxName: box.name, caller: m.caller, callerName: m.callerName, receivedAt: m.receivedAt, durationMs: m.durationMs, wavPath: m.path });
      } catch (e) {
        // the message itself is kept; only its email copy could not be queued
        x.log.error(`voicemail ${box.id}: message ${m.id} not queued for email: ${(e as Error).message}`);
      }
    },
  }), { close: (v) => v.close() });
  // voicemail runs here now: always on the primary or alone, on the secondary while it serves the primary's users
  const runsHere = () => x.solution === undefined || x.solution.calls.voicemailNode === undefined;
  // a core answers from its own copy of a mailbox: where voicemail runs, the mailbox itself; on
  // the other core, the replica that replication keeps current (so the standby registrations of
  // the primary's users are told the truth, before a takeover and after the fail-back)
  const mwi = messageWaiting(x, (mailbox) => {
    if (vm.has(mailbox)) return vm.store.counts(mailbox);
    return runsHere() ? undefined : x.solution!.mwi.counts(mailbox);
  });
  vm.store.on('change', (mailbox) => {
    mwi.update(mailbox);
    if (runsHere()) x.solution?.mwi.changed(mailbox);
  });
  return { voicemail: vm, mwi, email };
}

function messageWaiting(x: VoicemailContext, counts: (mailbox: string) => MailboxCounts | undefined): MessageWaiting {
  const stack = x.stack;
  return x.life.add('message-waiting', new MessageWaiting({
    stack, auth: x.auth, logger: x.log, domain: x.config().sip.domain, maxPerUser: x.config().voicemail.maxSubscriptionsPerUser,
    locate: (user) => x.location.lookup(user),
    counts,
    // the hunt groups as the configuration in force has them (a reconfiguration changes them)
    mayWatch: (user, mailbox) => mayWatchMailbox(x.config().huntGroups)(user, mailbox),
    contact: (protocol) => {
      const l = stack.local(protocol);
      return `<sip:${l.address}:${l.port}${protocol === 'udp' ? '' : `;transport=${protocol}`}>`;
    },
  }), { close: (m) => m.close() });
}
