/**
 * The node's router, built one way for live calls (server.ts) and for `pbx explain`: the dial
 * plan, the users with their rights, and the hunt groups' numbers dialled like extensions.
 */
import type { Config } from '../../core/config/index.js';
import { Router, type RouterOptions } from './router.js';

/**
 * The router's options from a configuration; `isExtension` (default: the configuration's users
 * and hunt groups) lets a running node look its numbers up live.
 */
export function routerOptions(config: Pick<Config, 'dialPlan' | 'users' | 'huntGroups'>, isExtension?: (n: string) => boolean): RouterOptions {
  if (!isExtension) {
    const numbers = new Set([...config.users.map((u) => u.extension), ...config.huntGroups.map((g) => g.extension)]);
    isExtension = (n) => numbers.has(n);
  }
  return { dialPlan: config.dialPlan, users: config.users, isExtension };
}

export function buildRouter(config: Pick<Config, 'dialPlan' | 'users' | 'huntGroups'>, isExtension?: (n: string) => boolean): Router {
  return new Router(routerOptions(config, isExtension));
}
