export * from './types.js';
export { TransportManager } from './manager.js';
export { StreamFramer, FramingError, PING } from './framing.js';
