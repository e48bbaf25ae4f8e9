import type { Journal } from '../../core/journal.js';
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

/** A user's changes as stored and replicated: "off" is null (JSON has no undefined). */
type StoredChanges = Record<string, string | number | boolean | null>;

const KEYS: readonly (keyof PhoneSettings)[] = ['forwardAll', 'forwardBusy', 'forwardNoAnswer', 'noAnswerSeconds', 'doNotDisturb', 'callWaiting', 'withholdCallerId'];

/** Changes read back from their stored form: only known keys of the right type, null as off. */
function readChanges(data: unknown): Partial<PhoneSettings> {
  const out: Record<string, unknown> = {};
  if (typeof data !== 'object' || data === null) return out;
  for (const k of KEYS) {
    if (!(k in data)) continue;
    const v = (data as Record<string, unknown>)[k];
    if (v === null) out[k] = undefined;
    else if (typeof v === (k === 'noAnswerSeconds' ? 'number' : k.startsWith('forward') ? 'string' : 'boolean')) out[k] = v;
  }
  return out as Partial<PhoneSettings>;
}

/**
 * Per-user phone settings: the configuration gives each user's starting point, and what the
 * user changes from the phone is kept in the store and wins over it after a restart. Changes
 * are journalled for the node that serves the user while this one is down, and that node's
 * changes come back through applyCopy(); a node keeps the changes of users it does not serve
 * (yet), so they are in force the moment it does.
 */
export class SettingsStore {
  readonly #configured: Map<string, PhoneSettings>;
  readonly #changed = new Map<string, Partial<PhoneSettings>>();
  readonly #store: Store | undefined;
  readonly #journal: Journal | undefined;
  readonly #upsert;

  constructor(store: Store | undefined, configured: Map<string, PhoneSettings>, journal?: Journal) {
    this.#configured = configured;
    this.#store = store;
    this.#journal = journal;
    if (store) {
      store.migrate('phone-settings', MIGRATIONS);
      this.#upsert = store.prepare('INSERT OR REPLACE INTO phone_settings (extension, data, updated_at) VALUES (?, ?, ?)');
      for (const row of store.prepare('SELECT extension, data FROM phone_settings').all() as { extension: string; data: string }[]) {
        this.#changed.set(row.extension, readChanges(JSON.parse(row.data)));
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
    const stored: StoredChanges = Object.fromEntries(Object.entries(merged).map(([k, v]) => [k, v === undefined ? null : v]));
    // stored first (with its journal entry): a change the store refuses (a full disk) throws and changes nothing
    const keep = () => {
      this.#upsert?.run(extension, JSON.stringify(stored), Date.now());
      this.#journal?.append('settings', { extension, changes: stored });
    };
    if (this.#store) this.#store.transaction(keep)();
    else keep();
    this.#changed.set(extension, merged);
    return this.get(extension)!;
  }

  /**
   * The user's changes as another node has them now (it served the user): they replace this
   * node's. Kept whether or not the user is configured here. Journals nothing (no echo).
   */
  applyCopy(extension: string, changes: unknown): void {
    if (typeof extension !== 'string' || !/^[0-9]{2,15}$/.test(extension)) throw new TypeError('extension: must be an extension');
    const read = readChanges(changes);
    this.#changed.set(extension, read);
    const stored = Object.fromEntries(Object.entries(read).map(([k, v]) => [k, v === undefined ? null : v]));
    this.#upsert?.run(extension, JSON.stringify(stored), Date.now());
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
