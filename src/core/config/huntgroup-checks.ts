/**
 * Cross checks of the hunt groups: group numbers against each other and the users, members,
 * overflow groups, time profiles, announcement files and the solution limits. Like checks.ts
 * they read the raw document, so one broken group does not hide problems in the others; what
 * the schema reports (types, number syntax) is skipped here.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { SOLUTION_LIMITS } from '../profiles.js';
import { field, isRecord, list, type Raw } from './fields.js';

const EXTENSION = /^[0-9]{2,15}$/;

/** An extension the schema accepts, else undefined (the schema reports the bad one). */
function extensionOf(v: unknown): string | undefined {
  return typeof v === 'string' && EXTENSION.test(v) ? v : undefined;
}

/** A member entry's extension: "201" or { extension: "201", enabled }; undefined when malformed. */
function memberExtension(m: unknown): string | undefined {
  return extensionOf(typeof m === 'string' ? m : field(m, 'extension'));
}

function stringsOf(entries: unknown[], key: string): Set<string> {
  const out = new Set<string>();
  for (const e of entries) {
    const v = field(e, key);
    if (typeof v === 'string') out.add(v);
  }
  return out;
}

export function checkHuntGroups(doc: Raw): string[] {
  const problems: string[] = [];
  const groups = list(doc.huntGroups);
  const users = stringsOf(list(doc.users), 'extension');
  const profiles = stringsOf(list(field(doc.dialPlan, 'timeProfiles')), 'name');

  const seen = new Map<string, number>();
  groups.forEach((g, i) => {
    const ext = extensionOf(field(g, 'extension'));
    if (ext === undefined) return;
    const first = seen.get(ext);
    if (first !== undefined) problems.push(`huntGroups[${i}].extension: duplicate of huntGroups[${first}]`);
    else seen.set(ext, i);
    if (users.has(ext)) problems.push(`huntGroups[${i}].extension: ${ext} is a user's extension`);
  });

  let memberships = 0;
  groups.forEach((g, i) => {
    if (!isRecord(g)) return;
    const at = `huntGroups[${i}]`;
    const own = g.extension;
    const members = list(g.members);
    memberships += members.length;
    if (members.length > SOLUTION_LIMITS.membersPerHuntGroup) {
      problems.push(`${at}.members: ${members.length} members, the limit is ${SOLUTION_LIMITS.membersPerHuntGroup} per group`);
    }
    const firstOf = new Map<string, number>();
    members.forEach((m, j) => {
      const ext = memberExtension(m);
      if (ext === undefined) return;
      const first = firstOf.get(ext);
      if (first !== undefined) problems.push(`${at}.members[${j}]: ${ext} is already a member (members[${first}])`);
      else firstOf.set(ext, j);
      // hunt groups are not members of hunt groups: overflow is the way to chain them
      if (!users.has(ext)) problems.push(`${at}.members[${j}]: ${ext} is not a user's extension`);
    });

    const overflowTo = list(field(g.overflow, 'groups'));
    const named = new Set<string>();
    overflowTo.forEach((entry, j) => {
      const o = extensionOf(entry);
      if (o === undefined) return;
      const here = `${at}.overflow.groups[${j}]`;
      if (o === own) problems.push(`${here}: a group cannot overflow to itself`);
      else if (!seen.has(o)) problems.push(`${here}: ${o} is not a hunt group`);
      if (named.has(o)) problems.push(`${here}: ${o} is named twice`);
      named.add(o);
    });

    const profile = field(g.service, 'timeProfile');
    if (typeof profile === 'string' && !profiles.has(profile)) {
      problems.push(`${at}.service.timeProfile: unknown time profile ${JSON.stringify(profile)} (dialPlan.timeProfiles)`);
    }
    for (const key of ['nightFallback', 'outOfServiceFallback']) {
      // the fallback is dialled like any number; the group's own number would ring it again forever
      if (typeof own === 'string' && field(g.service, key) === own) problems.push(`${at}.service.${key}: must not be the group's own extension`);
    }
    for (const key of ['announcement', 'secondAnnouncement']) {
      const file = field(g.queue, key);
      if (typeof file === 'string' && file !== '' && !existsSync(resolve(file))) problems.push(`${at}.queue.${key}: file not found: ${resolve(file)}`);
    }
  });

  if (groups.length > SOLUTION_LIMITS.huntGroups) {
    problems.push(`huntGroups: ${groups.length} hunt groups, the solution limit is ${SOLUTION_LIMITS.huntGroups}`);
  }
  if (memberships > SOLUTION_LIMITS.huntGroupMemberships) {
    problems.push(`huntGroups: ${memberships} memberships in all, the limit is ${SOLUTION_LIMITS.huntGroupMemberships}`);
  }
  return problems;
}
