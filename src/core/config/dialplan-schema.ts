/**
 * The dial plan: short codes (system, user rights, per user), ARS forms, incoming call routes,
 * time profiles and call classes (barring). The router (src/features/routing/) turns digits into
 * destinations with it. Code syntax is checked here so a bad code is reported with its path;
 * references between entries (forms, profiles, line groups, rights) are checked in
 * dialplan-checks.ts because they span sections.
 */
import { z } from 'zod';
import { need, int, name } from './fields.js';

const TIME_ERROR = 'must be a time "HH:MM" (00:00..24:00)';
const time = z
  .string({ error: need(TIME_ERROR) })
  .regex(/^(?:[01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$/, { error: TIME_ERROR });

export const SHORT_CODE_FEATURES = [
  'dial',
  'dialExtn',
  'busy',
  'forwardAll',
  'forwardBusy',
  'forwardNoAnswer',
  'forwardOff',
  'dndOn',
  'dndOff',
  'arsOutOfService',
  'arsInService',
  'meetMe',
  'voicemailCollect',
  'voicemailDeposit',
  'huntGroupLogin',
  'huntGroupLogout',
  'nightServiceOn',
  'nightServiceOff',
] as const;
export type ShortCodeFeature = (typeof SHORT_CODE_FEATURES)[number];

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

/**
 * Why `code` is not a valid short code, or undefined. Shared with the router, which compiles
 * codes and must refuse the same ones when it is built from something other than a config file.
 */
export function shortCodeProblem(code: string): string | undefined {
  if (typeof code !== 'string') return 'must be a string';
  const bare = code.replaceAll(';', '');
  if (bare === '') return 'must not be empty';
  if (bare.length > 32) return 'must be at most 32 characters';
  const bad = bare.match(/[^0-9*#NX?]/);
  if (bad) return `bad character ${JSON.stringify(bad[0])} (allowed: digits, *, #, N, X, ?, ;)`;
  if (bare.includes('?') && bare !== '?') return '"?" (default match) must be the whole code';
  if (bare.indexOf('N') !== bare.lastIndexOf('N')) return 'must have at most one N';
  return undefined;
}

const code = z.string({ error: need('must be a short code string (e.g. "9N")') }).superRefine((c, ctx) => {
  const problem = shortCodeProblem(c);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/**
 * Telephone-number characters: digits, * and # literal; N the digits the code's N and X matched;
 * E the caller's extension; U the caller's user name; S<digits> present that number; SS pass on
 * the incoming calling number; W withhold. Features that take a name (arsInService: a form name)
 * put it here too, so only the length is checked.
 */
const telephoneNumber = z
  .string({ error: need('must be a string') })
  .max(64, { error: 'must be at most 64 characters' })
  .default('');

export const ShortCodeSchema = z.strictObject({
  /** What is dialled: digits, * and # literal, N any digits, X one digit, ? default match, ; ignored. */
  code,
  /** What the code does (dial, dialExtn, busy, forwardAll, ..., meetMe, voicemailCollect). */
  feature: z.enum(SHORT_CODE_FEATURES, { error: need(`must be one of ${SHORT_CODE_FEATURES.join(', ')}`) }),
  /** The telephone number passed on (see the telephone-number characters above); "" for none. */
  number: telephoneNumber,
  /** dial: the line group (trunks) the number goes out on. Give this or ars. */
  lineGroup: int(0, 99_999).optional(),
  /** dial: the ARS form that chooses the line group. Give this or lineGroup. */
  ars: name.optional(),
});

export const ArsShortCodeSchema = z.strictObject({
  /** Matched against the number the sending short code output. Duplicate codes are alternative routes, tried in order. */
  code,
  /** dial: out on lineGroup; busy: the caller gets busy. */
  feature: z.enum(['dial', 'busy'], { error: need('must be dial or busy') }),
  /** The number sent to the line group (telephone-number characters, N from this code). */
  number: telephoneNumber,
  /** The line group of this route; required for dial. */
  lineGroup: int(0, 99_999).optional(),
});

export const ArsFormSchema = z.strictObject({
  /** Name of the form, unique; short codes send calls here with `ars: name`. */
  name,
  /** false: calls go to outOfServiceRoute (or get busy). Switched at run time by arsOutOfService / arsInService short codes. */
  inService: z.boolean({ error: need('must be true or false') }).default(true),
  /** Form used while this one is out of service; none: busy. */
  outOfServiceRoute: name.optional(),
  /** While this time profile is not active, calls go to outOfHoursRoute. None: always in hours. */
  timeProfile: name.optional(),
  /** Form used out of hours; none: busy. */
  outOfHoursRoute: name.optional(),
  /** Form used when every route of this one is busy; none: busy. */
  alternateRoute: name.optional(),
  /** Users with this priority or higher (1 is highest) go to alternateRoute at once; others wait first. */
  alternatePriority: int(1, 5).default(3),
  /** How long lower-priority callers wait (camp-on tone) for a route before alternateRoute (seconds). */
  alternateWaitSeconds: int(1, 60).default(30),
  /** The form's routes. */
  shortCodes: z.array(ArsShortCodeSchema, { error: 'must be a list of short codes' }).default(() => []),
});

export const TimeProfileSchema = z.strictObject({
  /** Name of the profile, unique; ARS forms and incoming call routes name it. */
  name,
  /** Weekly intervals; from > to spans midnight into the next day; to "24:00" is the end of the day. */
  weekly: z
    .array(
      z.strictObject({
        /** Days the interval starts on (mon..sun). */
        days: z.array(z.enum(WEEKDAYS, { error: need(`must be one of ${WEEKDAYS.join(', ')}`) })).min(1, { error: 'must name at least one day' }),
        /** Start, local time "HH:MM". */
        from: time,
        /** End, local time "HH:MM" (exclusive); equal to from: the whole day. */
        to: time,
      }),
      { error: 'must be a list of weekly intervals' },
    )
    .default(() => []),
  /** Calendar dates (holidays, special openings); without from/to the whole day. */
  dates: z
    .array(
      z.strictObject({
        /** Local date "YYYY-MM-DD". */
        date: z.string({ error: need('must be a date "YYYY-MM-DD"') }).regex(/^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])$/, { error: 'must be a date "YYYY-MM-DD"' }),
        /** Start, local time "HH:MM"; default 00:00. */
        from: time.optional(),
        /** End, local time "HH:MM"; default 24:00. */
        to: time.optional(),
      }),
      { error: 'must be a list of dates' },
    )
    .default(() => []),
});

export const UserRightsSchema = z.strictObject({
  /** Name of the rights, unique; users name it in `rights`. */
  name,
  /** Short codes of every user with these rights (below the user's own, above the system's). */
  shortCodes: z.array(ShortCodeSchema, { error: 'must be a list of short codes' }).default(() => []),
  /** Call classes these users may call; absent: every class. Extensions and unclassified numbers are always allowed. */
  classes: z.array(name, { error: 'must be a list of call class names' }).optional(),
  /** Priority for ARS alternate routes (1 highest); overrides the user's own priority. */
  priority: int(1, 5).optional(),
  /** Calls these users may have at once (made or answered by the server for them); absent: calls.maxCallsPerUser. */
  maxCalls: int(1, 10_000).optional(),
});

export const CallClassSchema = z.strictObject({
  /** Name of the class (e.g. international); userRights.classes name it. */
  name,
  /** Short-code style patterns (e.g. "00N"); the first class with a matching pattern is a number's class. */
  patterns: z.array(code, { error: 'must be a list of patterns' }).default(() => []),
});

const INCOMING_NUMBER_ERROR = 'must be digits and X, optionally after a leading "-" (left to right, exact length)';

export const IncomingCallRouteSchema = z.strictObject({
  /** Line group the call arrives on. */
  lineGroup: int(0, 99_999),
  /** Dialled (incoming) number: matched right to left against its end; "-" first: left to right at exact length; "" matches all. */
  incomingNumber: z
    .string({ error: need(INCOMING_NUMBER_ERROR) })
    .regex(/^-?[0-9X*#+]*$/, { error: INCOMING_NUMBER_ERROR })
    .default(''),
  /** Caller's number prefix; "!" withheld callers; "?" callers with no number; "" matches all. */
  callerId: z
    .string({ error: need('must be a number prefix, "!" or "?"') })
    .regex(/^(?:[0-9*#+]*|!|\?)$/, { error: 'must be a number prefix, "!" or "?"' })
    .default(''),
  /** Time-dependent destinations; the first whose profile is active now wins. */
  destinations: z
    .array(
      z.strictObject({
        /** Time profile during which this row applies. */
        timeProfile: name,
        /** Number the call goes to (an extension or anything the system short codes take). */
        destination: z.string({ error: need('must be a non-empty string') }).min(1, { error: 'must be a non-empty string' }),
        /** Where the call goes if the destination does not answer or is busy. */
        fallback: z.string({ error: need('must be a non-empty string') }).min(1, { error: 'must be a non-empty string' }).optional(),
      }),
      { error: 'must be a list of destinations' },
    )
    .default(() => []),
  /** Destination when no row's profile is active. */
  destination: z.string({ error: need('must be a non-empty string') }).min(1, { error: 'must be a non-empty string' }),
  /** Fallback of the default destination. */
  fallback: z.string({ error: need('must be a non-empty string') }).min(1, { error: 'must be a non-empty string' }).optional(),
});

function validTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

export const DialPlanSchema = z.strictObject({
  /** IANA time zone in which time profiles are read (e.g. "Europe/London"). */
  timeZone: z
    .string({ error: need('must be an IANA time zone (e.g. "Europe/London")') })
    .refine(validTimeZone, { error: 'must be an IANA time zone (e.g. "Europe/London")' })
    .default('UTC'),
  /** Named sets of weekly intervals and dates. */
  timeProfiles: z.array(TimeProfileSchema, { error: 'must be a list of time profiles' }).default(() => []),
  /**
   * System short codes: the lowest tier, for every caller (and for incoming numbers with no route).
   * Given here, the list replaces the defaults below (meet-me 80XX, voicemail *18, hunt groups *55*N..*58*N).
   */
  shortCodes: z
    .array(ShortCodeSchema, { error: 'must be a list of short codes' })
    // By default 8000..8099 are meet-me conferences (three phones dialling 8001 meet there) and
    // *55*N / *56*N log in to / out of hunt group N, *57*N / *58*N switch its night service on /
    // off; *18 reaches voicemail from any phone (it asks for the mailbox number, then the PIN).
    // A config that gives its own shortCodes replaces this whole list: copy the ones it needs.
    .default(() => [
      { code: '80XX', feature: 'meetMe' as const, number: '80N' },
      { code: '*18', feature: 'voicemailCollect' as const, number: '' },
      { code: '*55*N', feature: 'huntGroupLogin' as const, number: 'N' },
      { code: '*56*N', feature: 'huntGroupLogout' as const, number: 'N' },
      { code: '*57*N', feature: 'nightServiceOn' as const, number: 'N' },
      { code: '*58*N', feature: 'nightServiceOff' as const, number: 'N' },
    ]),
  /** Short codes, allowed call classes and priority shared by the users that name them. */
  userRights: z.array(UserRightsSchema, { error: 'must be a list of user rights' }).default(() => []),
  /** Automatic route selection: from a number to line groups, with failover, out of service and out of hours. */
  arsForms: z.array(ArsFormSchema, { error: 'must be a list of ARS forms' }).default(() => []),
  /** Where calls arriving on trunks go, by line group, incoming number, caller and time. */
  incomingCallRoutes: z.array(IncomingCallRouteSchema, { error: 'must be a list of incoming call routes' }).default(() => []),
  /**
   * Where a trunk call goes that no incoming call route takes and that is not an extension or
   * an internal system code (the operator: an extension or hunt group); null: refused (404).
   * Such calls never reach outside-line codes: only a route may send a caller out again.
   */
  incomingDefault: z.string({ error: need('must be a number of digits, or null') })
    .regex(/^[0-9*#]{1,32}$/, { error: 'must be a number of digits, or null' }).nullable().default(null),
  /** Ordered call classes for barring (e.g. premium, international, national, local). */
  callClasses: z.array(CallClassSchema, { error: 'must be a list of call classes' }).default(() => []),
});

export type DialPlanConfig = z.output<typeof DialPlanSchema>;
export type ShortCodeConfig = z.output<typeof ShortCodeSchema>;
export type ArsShortCodeConfig = z.output<typeof ArsShortCodeSchema>;
export type ArsFormConfig = z.output<typeof ArsFormSchema>;
export type TimeProfileConfig = z.output<typeof TimeProfileSchema>;
export type UserRightsConfig = z.output<typeof UserRightsSchema>;
export type CallClassConfig = z.output<typeof CallClassSchema>;
export type IncomingCallRouteConfig = z.output<typeof IncomingCallRouteSchema>;
