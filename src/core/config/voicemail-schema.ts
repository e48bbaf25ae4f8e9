/**
 * Voicemail: the node's voicemail ports and message store, and each mailbox's settings (under a
 * user's or a hunt group's `voicemail:`). Every user and every hunt group has a mailbox; whether
 * unanswered calls go there is the mailbox's `enabled`.
 */
import { z } from 'zod';
import { need, int, nonEmpty } from './fields.js';

const PIN_ERROR = 'must be a PIN of 1..15 digits, quoted (e.g. "2580")';
export const VoicemailPin = z.string({ error: need(PIN_ERROR) }).regex(/^[0-9]{1,15}$/, { error: PIN_ERROR });

const EMAIL_ERROR = 'must be an email address (name@domain)';
export const EmailAddress = z.string({ error: need(EMAIL_ERROR) }).regex(/^[^\s@<>]+@[^\s@<>]+$/, { error: EMAIL_ERROR });

/** One mailbox's settings: a user's `voicemail:` or a hunt group's. */
export const MailboxSchema = z.strictObject({
  /**
   * Calls go to the mailbox when nobody answers in the no-answer time, when busy (without
   * forward-on-busy), in do not disturb, or when no phone is registered.
   */
  enabled: z.boolean({ error: need('must be true or false') }).default(true),
  /**
   * The starting PIN. It must be changed on first use; without one, the owner chooses a PIN from
   * their own phone the first time they dial the collect code.
   */
  pin: VoicemailPin.optional(),
  /** Send each new message to this address as a WAV attachment (needs voicemail.smtp). */
  email: EmailAddress.optional(),
  /** This mailbox's quota in minutes of audio (1 MB a minute); default voicemail.mailboxQuotaMinutes. */
  quotaMinutes: int(1, 60_000).optional(),
});

export const SmtpSchema = z.strictObject({
  /** SMTP server that takes the messages (a relay on the LAN, usually). */
  host: nonEmpty,
  /** Its port (25, or 587 for submission). */
  port: int(1, 65535).default(25),
  /** Upgrade with STARTTLS when the server offers it. Off for a relay on loopback. */
  starttls: z.boolean({ error: need('must be true or false') }).default(true),
  /** Envelope and header sender. */
  from: EmailAddress.default('voicemail@localhost'),
  /** First retry after a failed delivery (seconds); doubles each time up to retryMaxSeconds. */
  retrySeconds: int(1, 3600).default(30),
  retryMaxSeconds: int(1, 86_400).default(900),
});

export const VoicemailSchema = z.strictObject({
  /** Folder of message audio and greetings; relative to the working directory. */
  dir: nonEmpty.default('var/voicemail'),
  /** Messages recorded or played at once; null: the node profile's voicemail channels (100 DL360, 40 DL120, 0 IP500V2). */
  channels: int(0, 10_000).nullable().default(null),
  /** Where callers go when every voicemail channel is busy (a number the dial plan routes); none: busy. */
  busyFallback: z.string({ error: need('must be a number of digits') }).regex(/^[0-9*#]{1,32}$/, { error: 'must be a number of digits' }).optional(),
  /** Feature code that collects messages (own phone: own mailbox; another phone: mailbox number, then PIN). */
  collectCode: z.string({ error: need('must be a feature code like "*17"') }).regex(/^\*[0-9]{1,4}$/, { error: 'must be a feature code like "*17"' }).default('*17'),
  /** Longest message (seconds); the recording stops there. */
  maxMessageSeconds: int(5, 3600).default(120),
  /** Messages shorter than this (seconds) are discarded (a caller who hung up at the tone). */
  minMessageSeconds: int(0, 60).default(2),
  /** Recording stops after this much silence (seconds). */
  silenceSeconds: int(1, 300).default(10),
  /** Quota of a mailbox (minutes of audio, 1 MB each). */
  mailboxQuotaMinutes: int(1, 60_000).default(60),
  /** Quota of all mailboxes on the node (minutes; 60000 = 1000 hours). */
  nodeQuotaMinutes: int(1, 6_000_000).default(60_000),
  /** New messages are refused while the disk holding `dir` has less free space than this (MB). */
  minFreeMegabytes: int(0, 1_000_000).default(64),
  /** PIN policy. */
  pin: z
    .strictObject({
      /** Shortest PIN a user may choose (1..15). */
      minLength: int(1, 15).default(4),
      /** Refuse PINs of one repeated digit, straight runs (1234, 9876) and the mailbox's own number. */
      complexity: z.boolean({ error: need('must be true or false') }).default(true),
      /** Wrong PINs before the call is ended. */
      attempts: int(1, 10).default(3),
      /**
       * Wrong PINs for one mailbox across calls, within the window, that lock it for lockoutSeconds
       * (every PIN is then refused, from anywhere but the owner's own phone); each wrong PIN from a
       * caller also makes that caller wait longer before the next try.
       */
      lockout: z
        .strictObject({
          maxFailures: int(1, 1000).default(10),
          windowSeconds: int(1, 86_400).default(3600),
          lockoutSeconds: int(1, 604_800).default(1800),
        })
        .prefault({}),
    })
    .prefault({}),
  /** Message-waiting subscriptions (RFC 3842) one user may hold at once; more are refused (403). */
  maxSubscriptionsPerUser: int(1, 1000).default(20),
  /** Email forwarding of new messages; none: off. */
  smtp: SmtpSchema.optional(),
  /** Folder of the voicemail prompts (8 kHz WAV); default the installation's prompts/. */
  promptsDir: nonEmpty.optional(),
});

export type VoicemailConfig = z.output<typeof VoicemailSchema>;
export type MailboxConfig = z.output<typeof MailboxSchema>;
export type SmtpConfig = z.output<typeof SmtpSchema>;
