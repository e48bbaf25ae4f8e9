/**
 * The node's router, built one way for live calls (server.ts) and for `pbx explain`: the dial
 * plan, the users with their rights, and the hunt groups' numbers dialled like extensions.
 */
import type { Config } from '../../core/config/index.js';
import { Router } from './router.js';

export function buildRouter(config: Pick<Config, 'dialPlan' | 'users' | 'huntGroups'>): Router {
  const numbers = new Set([...config.users.map((u) => u.extension), ...config.huntGroups.map((g) => g.extension)]);
  return new Router({ dialPlan: config.dialPlan, users: config.users, isExtension: (n) => numbers.has(n) });
}
