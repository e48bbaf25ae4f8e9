/** The router (dial plan): short codes, ARS, incoming call routes, time profiles, barring. */
export { Router, type RouterOptions } from './router.js';
export { buildRouter, routerOptions } from './build.js';
export { formatTrace, describeDestination } from './trace.js';
export { MAX_CHAIN } from './ars.js';
export type {
  ArsRoute,
  ArsSelection,
  Barring,
  CallerIdOut,
  Destination,
  IncomingCall,
  IncomingDecision,
  RouteContext,
  RouterUser,
  ShortCodeFeature,
  TraceLine,
} from './types.js';
export type { DialPlanConfig, ShortCodeConfig } from '../../core/config/dialplan-schema.js';
