/** `pbx check` of a solution: the nodes, their roles and how full each is. */
import type { Config } from '../core/config/index.js';
import { getProfile, SOLUTION_LIMITS } from '../core/profiles.js';
import { homeOf } from './document.js';

export function solutionSummary(c: Config): string {
  const count = (role: string) => c.nodes.filter((n) => n.role === role).length;
  const lines = [
    `solution: ${c.nodes.length}/${SOLUTION_LIMITS.nodes} nodes (1 primary, ${count('secondary')} secondary, ${count('expansion')} expansions), ` +
      `${c.users.length}/${SOLUTION_LIMITS.users} users, ${c.huntGroups.length}/${SOLUTION_LIMITS.huntGroups} hunt groups`,
  ];
  for (const n of c.nodes) {
    const p = getProfile(n.profile);
    const users = c.users.filter((u) => homeOf(c, u) === n.name).length;
    const trunks = c.trunks.filter((t) => homeOf(c, t) === n.name).length;
    lines.push(`  ${n.name}: ${n.role}, ${n.profile}, ${n.address}, ${users}/${p.users} users, ${trunks} trunks`);
  }
  return lines.join('\n');
}
