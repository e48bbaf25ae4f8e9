/** Who may watch a mailbox's message waiting (SUBSCRIBE message-summary): the voicemail feature's policy. */

/** A hunt group as the policy needs it (config.huntGroups fits). */
export interface WatchedGroup {
  readonly extension: string;
  readonly members: readonly { readonly extension: string }[];
}

const policies = new WeakMap<readonly WatchedGroup[], (user: string, mailbox: string) => boolean>();

/**
 * A user watches their own mailbox and those of the hunt groups they belong to. The policy is
 * built once per list of groups (a reconfiguration brings a new list).
 */
export function mayWatchMailbox(groups: readonly WatchedGroup[]): (user: string, mailbox: string) => boolean {
  let policy = policies.get(groups);
  if (!policy) {
    const members = new Map(groups.map((g) => [g.extension, new Set(g.members.map((m) => m.extension))]));
    policy = (user, mailbox) => user === mailbox || (members.get(mailbox)?.has(user) ?? false);
    policies.set(groups, policy);
  }
  return policy;
}
