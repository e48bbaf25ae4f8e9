/**
 * Raises and clears the node's alarms from what its parts report: trunks out of service, disk
 * space low where messages and the store are written, channel limits hit (calls refused for want
 * of a channel, every conference channel or voicemail port in use), admin lockouts. (SIP
 * lockouts are raised by the authenticator itself, one alarm per locked pair, address or user.)
 * Checked every few seconds (trunk state changes at once); a condition that was only momentary
 * (a refusal, a lockout) stays up for a while after its last occurrence so a person sees it.
 */
import { statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { PbxNode } from '../node.js';
import type { LoginGuard } from './login-guard.js';

const EVERY_MS = 5000;
/** A refusal or lockout keeps its alarm up this long after it last happened. */
const HOLD_MS = 5 * 60_000;

export class AlarmWatch {
  readonly #n: PbxNode;
  readonly #guard: LoginGuard;
  #timer: NodeJS.Timeout | undefined;
  #refused = 0;
  #refusedAt = 0;
  readonly #onTrunk = () => this.#trunks();

  constructor(n: PbxNode, guard: LoginGuard) {
    this.#n = n;
    this.#guard = guard;
  }

  start(): void {
    this.#refused = this.#n.calls.stats.refusedLimit;
    this.#n.trunks.on('state', this.#onTrunk);
    this.check();
    this.#timer = setInterval(() => this.check(), EVERY_MS);
    this.#timer.unref();
  }

  /** One round of checks (also for tests). */
  check(now = Date.now()): void {
    this.#trunks();
    this.#disk();
    this.#channels(now);
    this.#lockouts();
  }

  close(): void {
    clearInterval(this.#timer);
    this.#n.trunks.off('state', this.#onTrunk);
  }

  #trunks(): void {
    const alarms = this.#n.alarms;
    for (const t of this.#n.trunks.status()) {
      if (t.state === 'out-of-service') {
        if (!alarms.isUp('trunk-down', t.name)) alarms.raise('trunk-down', { key: t.name, severity: 'major', message: `trunk ${t.name} (line group ${t.lineGroup}) is out of service${t.lastError ? `: ${t.lastError}` : ''}` });
      } else {
        alarms.clear('trunk-down', t.name);
      }
    }
  }

  #disk(): void {
    const c = this.#n.config;
    const floor = c.voicemail.minFreeMegabytes * 1024 * 1024;
    const places = new Set([resolve(c.voicemail.dir)]);
    if (c.storage.path !== ':memory:') places.add(dirname(resolve(c.storage.path)));
    for (const dir of places) {
      let free: number;
      try {
        const s = statfsSync(dir);
        free = s.bavail * s.bsize;
      } catch {
        continue; // not made yet: nothing written there
      }
      // twice the floor: warn before voicemail starts refusing messages
      if (free < 2 * floor) this.#n.alarms.raise('disk-low', { key: dir, severity: free < floor ? 'critical' : 'major', message: `${Math.floor(free / 1048576)} MB free under ${dir} (messages are refused below ${c.voicemail.minFreeMegabytes} MB)` });
      else this.#n.alarms.clear('disk-low', dir);
    }
  }

  #channels(now: number): void {
    const n = this.#n;
    const alarms = n.alarms;
    const refused = n.calls.stats.refusedLimit;
    if (refused > this.#refused) {
      alarms.raise('channels-exhausted', { severity: 'major', message: `${refused - this.#refused} call(s) refused: all ${n.maxCalls} channels of the node in use` });
      this.#refused = refused;
      this.#refusedAt = now;
    } else if (now - this.#refusedAt > HOLD_MS) {
      alarms.clear('channels-exhausted');
    }
    const conf = n.conferences.status();
    if (conf.channels > 0 && conf.channelsInUse >= conf.channels) alarms.raise('conference-channels-full', { severity: 'minor', message: `all ${conf.channels} conference channels in use` });
    else alarms.clear('conference-channels-full');
    const vm = n.voicemail?.status();
    if (vm && vm.ports > 0 && vm.inUse >= vm.ports) alarms.raise('voicemail-ports-full', { severity: 'minor', message: `all ${vm.ports} voicemail ports in use` });
    else alarms.clear('voicemail-ports-full');
  }

  #lockouts(): void {
    const n = this.#n;
    const locked = new Set(this.#guard.locked().map((l) => l.what));
    for (const a of n.alarms.list()) if (a.code === 'admin-lockout' && !locked.has(a.key)) n.alarms.clear('admin-lockout', a.key);
  }
}
