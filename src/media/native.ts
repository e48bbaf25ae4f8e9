/**
 * Loads the native media engine (build/Release/pbx_media.node or a prebuild) through
 * node-gyp-build. The repository root is found by walking up from this file to the directory that
 * holds binding.gyp, so it works from src/ (tsx) and from dist/src/ (compiled).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeEndpointOptions {
  pt?: number;
  tePt?: number;
  timeoutMs?: number;
  rtcpMux?: boolean;
  latching?: boolean;
}

export interface NativeEndpointUpdate extends NativeEndpointOptions {
  remoteAddress?: string;
  remotePort?: number;
  remoteRtcpPort?: number;
}

export interface NativeEngineStats {
  ticks: number;
  rxPackets: number;
  txPackets: number;
  rxRtcp: number;
  txRtcp: number;
  lostTicks: number;
  lateMaxNs: number;
  mediaTid: number;
  /** The media thread runs SCHED_FIFO (realtimePriority was granted). */
  realtime: boolean;
  /** Frame-clock lateness histogram: bucket i counts ticks late by [i*100us, (i+1)*100us); 63 = more. */
  lateHist100us: number[];
}

export interface NativeEndpointStats {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  dropped: number;
  rtcpIn: number;
  rtcpOut: number;
  jitterMs: number;
  lost: number;
  jbLate: number;
  jbConcealed: number;
  remote: string | null;
}

export type NativeEventHandler = (type: string, id: number, a: number, b: number, data?: Buffer) => void;

export interface NativeEngine {
  createEndpoint(o: NativeEndpointOptions): [id: number, port: number];
  updateEndpoint(id: number, o: NativeEndpointUpdate): void;
  closeEndpoint(id: number): void;
  bridge(a: number, b: number): void;
  unbridge(a: number): void;
  createConference(o: { jitterMaxMs?: number; talkerThreshold?: number }): number;
  confAdd(conf: number, ep: number, gain: number, muted: boolean): void;
  confSet(ep: number, gain: number, muted: boolean): void;
  confRemove(ep: number): void;
  closeConference(id: number): void;
  createPlayer(kind: 0 | 1, target: number, samples: Int16Array, loop: boolean): number;
  closePlayer(id: number): void;
  createRecorder(kind: 0 | 1, target: number, path: string, o?: { silenceMs?: number; silenceThreshold?: number; maxMs?: number }): number;
  closeRecorder(id: number): void;
  sendDigits(ep: number, digits: string, durationMs: number): void;
  stats(): NativeEngineStats;
  endpointStats(id: number): NativeEndpointStats | null;
  resetStats(): void;
  close(): void;
}

export interface NativeGenerator {
  readonly port: number;
  start(ports: number[], pt: number, payload: Uint8Array, groups: number, rtPriority?: number): void;
  pause(): void;
  stop(): void;
  stats(): { sent: number; received: number; errors: number };
}

export interface NativeBinding {
  Engine: new (
    o: { address: string; portMin: number; portMax: number; rtcpIntervalMs?: number; realtimePriority?: number },
    onEvent: NativeEventHandler,
  ) => NativeEngine;
  Generator: new (address: string) => NativeGenerator;
  encodeUlaw(pcm: Int16Array): Uint8Array;
  encodeAlaw(pcm: Int16Array): Uint8Array;
  decodeUlaw(codes: Uint8Array): Int16Array;
  decodeAlaw(codes: Uint8Array): Int16Array;
  transcode(codes: Uint8Array, toAlaw: boolean): Uint8Array;
  mixMinus(frames: Int16Array[]): Int16Array[];
  benchMix(participants: number, frames: number): number;
}

/** Walks up from `start` to the first directory holding binding.gyp (the repository root). */
export function findRoot(start = dirname(fileURLToPath(import.meta.url))): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'binding.gyp'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`binding.gyp not found above ${start}`);
    dir = up;
  }
}

let cached: NativeBinding | undefined;

/** The native binding, loaded once. */
export function native(): NativeBinding {
  if (!cached) {
    const require = createRequire(import.meta.url);
    const load = require('node-gyp-build') as (dir: string) => NativeBinding;
    cached = load(findRoot());
  }
  return cached;
}
