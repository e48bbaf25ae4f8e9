/**
 * Hunt groups: an extension number whose calls are offered to the available members (users),
 * in the group's ring mode, with a queue, overflow groups, a mailbox and service states.
 * References (members are users, overflow groups exist, time profiles exist) and the solution
 * limits are checked in huntgroup-checks.ts because they span sections.
 *
 * Timing of a call to a group (src/features/huntgroups/rules.ts encodes it):
 *   - each offer rings for noAnswerSeconds, then the next member (or the next pass) is tried;
 *   - queueing off: overflow after one pass over the available members, or earlier when
 *     overflow.seconds expire; queueing on: overflow when overflow.seconds expire (0: after
 *     one pass);
 *   - voicemailAnswerSeconds after the call arrived it goes to the group's mailbox, whatever
 *     the queue or the overflow is doing.
 */
import { z } from 'zod';
import { need, int, name, nonEmpty } from './fields.js';
import { MailboxSchema } from './voicemail-schema.js';

export const RING_MODES = ['collective', 'collectiveCallWaiting', 'sequential', 'rotary', 'longestWaiting'] as const;
export type RingMode = (typeof RING_MODES)[number];

export const SERVICE_STATES = ['in', 'night', 'out'] as const;
export type ServiceState = (typeof SERVICE_STATES)[number];

const EXTENSION_ERROR = 'must be a quoted string of 2..15 digits (e.g. "300")';
const extension = z.string({ error: need(EXTENSION_ERROR) }).regex(/^[0-9]{2,15}$/, { error: EXTENSION_ERROR });

const NUMBER_ERROR = 'must be a number of digits, * or # (1..32)';
/** A number the dial plan routes: an extension, another hunt group, a short code. */
const routedNumber = z.string({ error: need(NUMBER_ERROR) }).regex(/^[0-9*#]{1,32}$/, { error: NUMBER_ERROR });

const MEMBER_ERROR = 'must be an extension (quoted, e.g. "201") or { extension, enabled }';

const MemberObjectSchema = z.strictObject(
  {
    /** The member's (user's) extension. */
    extension,
    /** false: the membership stays configured but the member is never offered calls. */
    enabled: z.boolean({ error: need('must be true or false') }).default(true),
  },
  // unrecognized keys are reported by the loader with the key's path; this covers wrong types
  { error: (iss) => (iss.code === 'invalid_type' ? MEMBER_ERROR : undefined) },
);

/**
 * A member: a plain extension ("201"), or { extension: "201", enabled: false } for a disabled
 * membership. Both come out as { extension, enabled } so features read one shape.
 */
export const HuntMemberSchema = z.preprocess((v) => (typeof v === 'string' ? { extension: v } : v), MemberObjectSchema);

export const HuntQueueSchema = z.strictObject({
  /** Queue callers while no member is available (else: overflow, voicemail or busy at once). */
  enabled: z.boolean({ error: need('must be true or false') }).default(true),
  /** Callers queued at once; the next caller goes to the group's mailbox (if enabled) or gets busy. null: no limit. */
  maxLength: int(1, 10_000).nullable().default(null),
  /** A queued caller hears the first announcement this long after the call arrived (seconds); music before and after. */
  announcementSeconds: int(0, 3600).default(10),
  /** The second announcement follows this long after the first ended (seconds); null: no second announcement. */
  secondAnnouncementSeconds: int(1, 3600).nullable().default(null),
  /**
   * The last announcement (the second, or the first when there is no second) is repeated this
   * long after it ended, again and again (seconds); null: played once, then music only.
   */
  repeatSeconds: int(5, 3600).nullable().default(20),
  /** First announcement: a WAV file (8 kHz mono); absent: the built-in "all our agents are busy" prompt. */
  announcement: nonEmpty.optional(),
  /** Second announcement: a WAV file (8 kHz mono); absent: the built-in "please continue to hold" prompt. */
  secondAnnouncement: nonEmpty.optional(),
});

export const HuntOverflowSchema = z.strictObject({
  /**
   * Hunt groups (extensions) whose available members are offered the call, in this order, once
   * it overflows. Only their members are used: their own queue, overflow and service state are
   * not followed, so overflow never loops.
   */
  groups: z.array(extension, { error: 'must be a list of hunt group extensions' }).min(1, { error: 'must name at least one hunt group' }),
  /** Overflow time (seconds after the call arrived); 0: after one pass over the available members. */
  seconds: int(0, 3600).default(0),
});

export const HuntServiceSchema = z.strictObject({
  /**
   * Service state at the first start: in, night (night service) or out (out of service). Phones
   * change it with feature codes and the change survives restarts; editing this value here
   * applies it again at the next start.
   */
  state: z.enum(SERVICE_STATES, { error: need('must be one of in, night, out') }).default('in'),
  /** A dialPlan.timeProfiles name: outside it the group is in night service. */
  timeProfile: name.optional(),
  /** Where calls go in night service (a number the dial plan routes); none: the group's mailbox, else busy. */
  nightFallback: routedNumber.optional(),
  /** Where calls go out of service (a number the dial plan routes); none: the group's mailbox, else busy. */
  outOfServiceFallback: routedNumber.optional(),
});

export const HuntGroupSchema = z
  .strictObject({
    /** The group's number: 2..15 digits, quoted; unique, and not a user's extension. */
    extension,
    /** Display name (shown to answering members); defaults to the extension. */
    name: z.string({ error: need('must be a string') }).max(64, { error: 'must be at most 64 characters' }).optional(),
    /** Members (users' extensions) in hunt order; { extension, enabled: false } keeps a disabled membership. */
    members: z.array(HuntMemberSchema, { error: 'must be a list of member extensions' }).default(() => []),
    /**
     * collective: every available member at once; collectiveCallWaiting: also members on a call
     * with call waiting on; sequential: from the top of the list every time; rotary: from the
     * member after the one offered the previous call; longestWaiting: the member idle longest first.
     */
    ringMode: z.enum(RING_MODES, { error: need(`must be one of ${RING_MODES.join(', ')}`) }).default('collective'),
    /** How long one offer rings before the next member (or pass) is tried (seconds). */
    noAnswerSeconds: int(5, 600).default(15),
    /** Queueing of callers while no member is available, and their announcements. */
    queue: HuntQueueSchema.prefault({}),
    /** Overflow to other hunt groups; absent: no overflow. */
    overflow: HuntOverflowSchema.optional(),
    /**
     * Seconds after which an unanswered call goes to the group's mailbox, overriding queueing and
     * overflow (only when voicemail.enabled); null: never by time.
     */
    voicemailAnswerSeconds: int(1, 3600).nullable().default(45),
    /** The group's mailbox (voicemail-schema.ts): calls nobody takes, PIN, email. */
    voicemail: MailboxSchema.prefault({}),
    /** In service, night service, out of service, and where calls go in the last two. */
    service: HuntServiceSchema.prefault({}),
  })
  .transform((g) => ({ ...g, name: g.name ?? g.extension }));

export type HuntGroupConfig = z.output<typeof HuntGroupSchema>;
export type HuntMemberConfig = z.output<typeof HuntMemberSchema>;
export type HuntQueueConfig = z.output<typeof HuntQueueSchema>;
export type HuntOverflowConfig = z.output<typeof HuntOverflowSchema>;
export type HuntServiceConfig = z.output<typeof HuntServiceSchema>;
