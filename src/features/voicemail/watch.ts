/** Who may watch a mailbox's message waiting (SUBSCRIBE message-summary): the voicemail feature's policy. */

/** A hunt group as the policy needs it (config.huntGroups fits). */
export interface WatchedGroup {
  readonly extension: string;
  readonly members: readonly { readonly extension: string }[];
}

/** A user watches their own mailbox and those of the hunt groups they belong to. */
export function mayWatchMailbox(groups: readonly WatchedGroup[]): (user: string, mailbox: string) => boolean {
  const members = new Map(groups.map((g) => [g.extension, new Set(g.members.map((m) => m.extension))]));
  return (user, mailbox) => user === mailbox || (members.get(mailbox)?.has(user) ?? false);
}
