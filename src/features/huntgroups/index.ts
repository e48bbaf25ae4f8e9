/** Hunt groups: member log-in, service states, the member choice of each pass, queues and timing rules. */
export { HuntGroups, type HuntGroupsOptions } from './hunt-groups.js';
export { HuntCalls, type HuntCallsOptions } from './hunt-calls.js';
export { loadAnnouncements, type Announcer } from './announcements.js';
export { HuntQueue, type HuntQueueOptions } from './queue.js';
export { huntRound, type OrderState } from './order.js';
export { mailboxOrBusy, nextAnnouncement, overflowDue, serviceFallback, voicemailDue, type OverflowState } from './rules.js';
export type {
  EnqueueResult,
  HuntGroupConfig,
  HuntGroupStatus,
  HuntMemberStatus,
  HuntRound,
  HuntTarget,
  MemberAvailability,
  RingMode,
  ServiceState,
  SkipReason,
} from './types.js';
