export { Trunk, type TrunkState, type TrunkStatus } from './trunk.js';
export { Trunks, type TrunksOptions, PEER_REFRESH_MS } from './trunks.js';
export { outgoingNumber, incomingNumber, presentedNumber, MAX_EXTENSION_DIGITS, MIN_E164_DIGITS, type Caller, type Identity } from './numbering.js';
export { AddressBlock, addressBytes } from './cidr.js';
