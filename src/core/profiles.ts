/**
 * Capacity profiles: the hardware each node stands for, and the limits of a whole solution.
 * Figures are the ones the product is sized to; configuration checks and features (admission
 * control, hunt groups, voicemail) read them from here, never from literals of their own.
 */

/** The hardware platforms a node can stand for. */
export const PROFILE_NAMES = ['DL360', 'DL120', 'IP500V2'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

export interface Profile {
  /** Platform name, as written in `node.profile`. */
  readonly name: ProfileName;
  /** Users (extensions) the node can host. */
  readonly users: number;
  /** Simultaneous SIP trunk channels. */
  readonly sipTrunkChannels: number;
  /** Conference channels on the node, all conferences together. */
  readonly conferenceChannels: number;
  /** Participants in one conference. */
  readonly conferenceChannelsPerConference: number;
  /** Simultaneous voicemail channels (0: the node offers no voicemail). */
  readonly voicemailChannels: number;
  /** Busy hour call attempts the node is sized for. */
  readonly busyHourCallAttempts: number;
}

function profile(p: Profile): Profile {
  return Object.freeze(p);
}

export const PROFILES: Readonly<Record<ProfileName, Profile>> = Object.freeze({
  DL360: profile({
    name: 'DL360',
    users: 500,
    sipTrunkChannels: 256,
    conferenceChannels: 128,
    conferenceChannelsPerConference: 64,
    voicemailChannels: 100,
    busyHourCallAttempts: 14400,
  }),
  DL120: profile({
    name: 'DL120',
    users: 250,
    sipTrunkChannels: 128,
    conferenceChannels: 128,
    conferenceChannelsPerConference: 64,
    voicemailChannels: 40,
    busyHourCallAttempts: 10800,
  }),
  IP500V2: profile({
    name: 'IP500V2',
    users: 384,
    sipTrunkChannels: 120,
    conferenceChannels: 128,
    conferenceChannelsPerConference: 64,
    voicemailChannels: 0,
    busyHourCallAttempts: 7200,
  }),
});

/** Limits of a solution (all nodes together acting as one system). */
export interface SolutionLimits {
  readonly users: number;
  readonly nodes: number;
  readonly huntGroups: number;
  readonly membersPerHuntGroup: number;
  /** Hunt group memberships summed over all hunt groups. */
  readonly huntGroupMemberships: number;
  readonly mailboxes: number;
}

export const SOLUTION_LIMITS: SolutionLimits = Object.freeze({
  users: 1000,
  nodes: 32,
  huntGroups: 200,
  membersPerHuntGroup: 500,
  huntGroupMemberships: 2000,
  mailboxes: 1000,
});

/** The profile named `name`; throws a TypeError naming the field for an unknown name. */
export function getProfile(name: string): Profile {
  if (!Object.hasOwn(PROFILES, name)) {
    throw new TypeError(`profile: must be one of ${PROFILE_NAMES.join(', ')} (got ${JSON.stringify(name)})`);
  }
  return PROFILES[name as ProfileName];
}
