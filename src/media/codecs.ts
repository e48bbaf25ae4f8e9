/** Native codec and mix kernels (the very code the frame loop runs), for tests and tools. */
import { native } from './native.js';

export const nativeCodecs = {
  encodeUlaw: (pcm: Int16Array): Uint8Array => native().encodeUlaw(pcm),
  encodeAlaw: (pcm: Int16Array): Uint8Array => native().encodeAlaw(pcm),
  decodeUlaw: (codes: Uint8Array): Int16Array => native().decodeUlaw(codes),
  decodeAlaw: (codes: Uint8Array): Int16Array => native().decodeAlaw(codes),
  /** PCMU -> PCMA (toAlaw) or PCMA -> PCMU, as a bridge transcodes. */
  transcode: (codes: Uint8Array, toAlaw: boolean): Uint8Array => native().transcode(codes, toAlaw),
  mixMinus: (frames: Int16Array[]): Int16Array[] => native().mixMinus(frames),
};
