/**
 * The users a node serves, in the three shapes its parts read them: passwords (digest
 * authentication, the registrar), call users (the B2BUA) and configured phone settings. The
 * maps are handed to the parts once and changed in place, so a new configuration's users are
 * live without rebuilding anything (Server.reconfigure).
 */
import type { UserConfig } from './core/config/index.js';
import type { CallUser } from './features/calls/calls.js';
import type { PhoneSettings } from './features/calls/settings.js';

export class NodeUsers {
  /** Password by extension. */
  readonly passwords = new Map<string, string>();
  readonly calls = new Map<string, CallUser>();
  readonly settings = new Map<string, PhoneSettings>();

  constructor(users: readonly UserConfig[]) {
    for (const u of users) this.#set(u);
  }

  has(extension: string): boolean {
    return this.passwords.has(extension);
  }

  get extensions(): string[] {
    return [...this.passwords.keys()];
  }

  /** Makes `users` the node's users: the others removed, each of these added or updated. */
  replace(users: readonly UserConfig[]): void {
    const keep = new Set(users.map((u) => u.extension));
    for (const ext of this.extensions) {
      if (keep.has(ext)) continue;
      this.passwords.delete(ext);
      this.calls.delete(ext);
      this.settings.delete(ext);
    }
    for (const u of users) this.#set(u);
  }

  #set(u: UserConfig): void {
    this.passwords.set(u.extension, u.password);
    this.calls.set(u.extension, { extension: u.extension, name: u.name, media: u.media, voicemail: u.voicemail.enabled });
    this.settings.set(u.extension, {
      forwardAll: u.forward.all, forwardBusy: u.forward.busy, forwardNoAnswer: u.forward.noAnswer,
      noAnswerSeconds: u.forward.noAnswerSeconds, doNotDisturb: u.doNotDisturb, callWaiting: u.callWaiting,
      withholdCallerId: u.withholdCallerId,
    });
  }
}
