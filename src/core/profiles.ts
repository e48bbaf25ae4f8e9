/**
 * Capacity profiles: the hardware each node stands for, and the limits of a whole solution.
 * Figures are the ones the product is sized to; configuration checks and features (admission
 * control, hunt groups, voicemail) read them from here, never from literals of their own.
 */

/** The hardware platforms a node can stand for. */
export const PROFILE_NAMES = ['DL360', 'DL120', 'IP500V2', 'ExpansionL'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

/**
 * Platform families: a secondary must be of its primary's family (it takes over the primary's
 * users, so it runs the same software); the Expansion (L) server is a Linux server that only
 * serves as an expansion.
 */
export type PlatformFamily = 'linux' | 'ip500';

export interface Profile {
  /** Platform name, as written in `node.profile`. */
  readonly name: ProfileName;
  /** Platform family (a secondary is of its primary's family). */
  readonly family: PlatformFamily;
  /** Roles a node of this profile may take. */
  readonly roles: readonly ('primary' | 'secondary' | 'expansion')[];
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
    family: 'linux',
    roles: ['primary', 'secondary', 'expansion'],
    users: 500,
    sipTrunkChannels: 256,
    conferenceChannels: 128,
    conferenceChannelsPerConference: 64,
    voicemailChannels: 100,
    busyHourCallAttempts: 14400,
  }),
  DL120: profile({
    name: 'DL120',
    family: 'linux',
    roles: ['primary', 'secondary', 'expansion'],
    users: 250,
    sipTrunkChannels: 128,
    conferenceChannels: 128,
    conferenceChannelsPerConference: 64,
    voicemailChannels: 40,
    busyHourCallAttempts: 10800,
  }),
  IP500V2: profile({
    name: 'IP500V2',
    family: 'ip500',
    roles: ['primary', 'secondary', 'expansion'],
    users: 384,
    sipTrunkChannels: 120,
    conferenceChannels: 128,
    conferenceChannelsPerConference: 64,
    voicemailChannels: 0,
    busyHourCallAttempts: 7200,
  }),
  // The expansion (L) server: a Linux expansion sized like the DL120 for its users; voicemail
  // stays on the primary, so it offers none of its own.
  ExpansionL: profile({
    name: 'ExpansionL',
    family: 'linux',
    roles: ['expansion'],
    users: 250,
    sipTrunkChannels: 128,
    conferenceChannels: 128,
    conferenceChannelsPerConference: 64,
    voicemailChannels: 0,
    busyHourCallAttempts: 10800,
  }),
});

/** Limits of a solution (all nodes together acting as one system). */
export interface SolutionLimits {
  readonly users: number;
  readonly nodes: number;
  /** Secondaries in a solution (the one that takes over from the primary). */
  readonly secondaries: number;
  readonly expansions: number;
  readonly huntGroups: number;
  readonly membersPerHuntGroup: number;
  /** Hunt group memberships summed over all hunt groups. */
  readonly huntGroupMemberships: number;
  readonly mailboxes: number;
}

export const SOLUTION_LIMITS: SolutionLimits = Object.freeze({
  users: 1000,
  nodes: 32,
  secondaries: 1,
  expansions: 30,
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
