import type { Store } from '../../core/store.js';

/** The phone features of one user: configured, and switched by the user with feature codes. */
export interface PhoneSettings {
  /** Forward every call to this extension. */
  forwardAll: string | undefined;
  /** Forward when busy (on a call without call waiting, in do not disturb, or the phone says 486). */
  forwardBusy: string | undefined;
  /** Forward when not answered within noAnswerSeconds. */
  forwardNoAnswer: string | undefined;
  noAnswerSeconds: number;
  doNotDisturb: boolean;
  callWaiting: boolean;
  withholdCallerId: boolean;
}

const MIGRATIONS = [
  `CREATE TABLE phone_settings (extension TEXT PRIMARY KEY, data TEXT NOT NULL, updated_at INTEGER NOT NULL)`,
];

/**
 * Per-user phone settings: the configuration gives each user's starting point, and what the
 * user changes from the phone is kept in the store and wins over it after a restart.
 */
export class SettingsStore {
  readonly #configured: Map<string, PhoneSettings>;
  readonly #changed = new Map<string, Partial<PhoneSettings>>();
  readonly #store: Store | undefined;
  readonly #upsert;

  constructor(store: Store | undefined, configured: Map<string, PhoneSettings>) {
    this.#configured = configured;
    this.#store = store;
    if (store) {
      store.migrate('phone-settings', MIGRATIONS);
      this.#upsert = store.prepare('INSERT OR REPLACE INTO phone_settings (extension, data, updated_at) VALUES (?, ?, ?)');
      for (const row of store.prepare('SELECT extension, data FROM phone_settings').all() as { extension: string; data: string }[]) {
        if (!configured.has(row.extension)) continue;
        // "off" was stored as null (JSON has no undefined): read it back as undefined
        const data = JSON.parse(row.data) as Record<string, unknown>;
        for (const k of Object.keys(data)) if (data[k] === null) data[k] = undefined;
        this.#changed.set(row.extension, data as Partial<PhoneSettings>);
      }
    }
  }

  get(extension: string): PhoneSettings | undefined {
    const base = this.#configured.get(extension);
    if (!base) return undefined;
    const changed = this.#changed.get(extension);
    return changed ? { ...base, ...changed } : base;
  }

  /** Applies a change made from the phone and keeps it. */
  update(extension: string, patch: Partial<PhoneSettings>): PhoneSettings {
    const merged = { ...(this.#changed.get(extension) ?? {}), ...patch };
    // JSON drops undefined: store "off" as null so it survives a restart
    const stored = Object.fromEntries(Object.entries(merged).map(([k, v]) => [k, v === undefined ? null : v]));
    // stored first: a change the store refuses (a full disk) throws and changes nothing
    this.#upsert?.run(extension, JSON.stringify(stored), Date.now());
    this.#changed.set(extension, merged);
    return this.get(extension)!;
  }
}

/** A feature code dialled from a phone, and what it changes. */
export type FeatureCode =
  | { kind: 'set'; patch: Partial<PhoneSettings>; target?: string }
  | { kind: 'withheld-call'; number: string }
  /** Merge the user's answered calls (held or not) into an ad-hoc conference with this new call. */
  | { kind: 'conference' };

/**
 * Feature codes (a `*` then two digits, some followed by `*` and a number):
 *   *21*N forward all to N   *20 off      *67*N forward when busy to N   *66 off
 *   *61*N forward on no answer to N (*61*N*S: after S seconds)           *60 off
 *   *78 do not disturb on    *79 off      *43 call waiting on            *44 off
 *   *32 withhold my number   *33 show it  *31*N call N with my number withheld
 *   *47 conference: merge my calls (and this one) into an ad-hoc conference
 * Returns undefined when `dialled` is not a feature code.
 */
export function parseFeatureCode(dialled: string): FeatureCode | undefined {
  const m = /^\*(\d\d)(?:\*(\d{2,15})(?:\*(\d{1,3}))?)?$/.exec(dialled);
  if (!m) return undefined;
  const [, code, n, secs] = m;
  const onOff = (patch: Partial<PhoneSettings>): FeatureCode | undefined => (n === undefined ? { kind: 'set', patch } : undefined);
  switch (code) {
    case '21': return n ? { kind: 'set', patch: { forwardAll: n }, target: n } : undefined;
    case '20': return onOff({ forwardAll: undefined });
    case '67': return n ? { kind: 'set', patch: { forwardBusy: n }, target: n } : undefined;
    case '66': return onOff({ forwardBusy: undefined });
    case '61': {
      if (!n) return undefined;
      const patch: Partial<PhoneSettings> = { forwardNoAnswer: n };
      if (secs !== undefined) patch.noAnswerSeconds = Math.min(600, Math.max(5, Number(secs)));
      return { kind: 'set', patch, target: n };
    }
    case '60': return onOff({ forwardNoAnswer: undefined });
    case '78': return onOff({ doNotDisturb: true });
    case '79': return onOff({ doNotDisturb: false });
    case '43': return onOff({ callWaiting: true });
    case '44': return onOff({ callWaiting: false });
    case '32': return onOff({ withholdCallerId: true });
    case '33': return onOff({ withholdCallerId: false });
    case '31': return n ? { kind: 'withheld-call', number: n } : undefined;
    case '47': return n === undefined ? { kind: 'conference' } : undefined;
    default: return undefined;
  }
}
