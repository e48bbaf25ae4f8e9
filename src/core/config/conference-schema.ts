/**
 * Conferences: meet-me rooms by ID and ad-hoc conferences built from calls. A meet-me room is
 * either configured (with a PIN, a moderator PIN) or open: any ID in `openRooms` is a room
 * without a PIN, created when its first caller arrives.
 */
import { z } from 'zod';
import { need, int } from './fields.js';

/** A conference ID: what a caller dials (after the dial plan's short code) to join. */
const conferenceId = z
  .string({ error: need('must be a conference ID of 1..15 digits') })
  .regex(/^[0-9]{1,15}$/, { error: 'must be a conference ID of 1..15 digits' });

const pin = z
  .string({ error: need('must be a PIN of 1..30 digits') })
  .regex(/^[0-9]{1,30}$/, { error: 'must be a PIN of 1..30 digits' });

export const ConferenceRoomSchema = z
  .strictObject({
    /** The room's ID (e.g. "8123"); unique among rooms. */
    id: conferenceId,
    /** Participants enter this PIN (then #) to join; none: anyone who dials the ID joins. */
    pin: pin.optional(),
    /**
     * Entering this instead of the PIN joins as moderator (may mute all others with *7). A room
     * with a moderator PIN and no PIN asks every caller for a PIN; participants just press #.
     */
    moderatorPin: pin.optional(),
    /** Parties at once in this room; default (and at most) the node profile's per-conference figure. */
    maxParties: int(2, 1024).optional(),
  })
  .refine((r) => r.pin === undefined || r.pin !== r.moderatorPin, {
    error: 'moderatorPin must differ from pin',
    path: ['moderatorPin'],
  });

/** A block of IDs that are open meet-me rooms (no PIN); first and last have the same number of digits. */
export const OpenRoomsSchema = z
  .strictObject({
    first: conferenceId,
    last: conferenceId,
  })
  .refine((r) => r.first.length === r.last.length && r.first <= r.last, {
    error: 'first and last must have the same number of digits, first <= last',
    path: ['last'],
  });

export const ConferenceSchema = z
  .strictObject({
    /** IDs that are open meet-me rooms without a PIN (default 8000..8099); null: only configured rooms. */
    openRooms: OpenRoomsSchema.nullable().default({ first: '8000', last: '8099' }),
    /** Configured meet-me rooms (PINs, moderator PINs); they take precedence over openRooms. */
    rooms: z.array(ConferenceRoomSchema, { error: 'must be a list of rooms' }).default(() => []),
    /** Tries at the PIN before the caller is told goodbye and hung up. */
    pinAttempts: int(1, 10).default(3),
    /** Time to enter one PIN (from the prompt to #), s; running out counts as a wrong try. */
    pinTimeoutSeconds: int(3, 120).default(15),
    /** Tones into the mix when someone joins or leaves (the others hear them). */
    entryExitTones: z.boolean({ error: need('must be true or false') }).default(true),
    /** A lone participant hears "you are the only person..." on joining and again this often, s; 0: only once. */
    aloneRepeatSeconds: int(0, 3600).default(30),
    /**
     * Conference channels of the node, all conferences together; default: the node profile's
     * (128). Set it to hold a node below its profile, or for a lab node above it (a node of a
     * solution stays within its profile: solution-checks.ts).
     */
    maxChannels: int(1, 100_000).optional(),
    /** Parties in one conference; default: the node profile's (64). */
    maxParties: int(2, 1024).optional(),
    /** Folder of the prompt WAV files; default: prompts/ of the installation. */
    promptsDir: z.string({ error: need('must be a folder path') }).min(1, { error: 'must be a folder path' }).optional(),
  })
  .refine((c) => new Set(c.rooms.map((r) => r.id)).size === c.rooms.length, {
    error: 'room IDs must be unique',
    path: ['rooms'],
  });

export type ConferenceConfig = z.output<typeof ConferenceSchema>;
export type ConferenceRoomConfig = z.output<typeof ConferenceRoomSchema>;
