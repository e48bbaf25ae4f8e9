/**
 * The routes of one outgoing call: the ARS form's routes in order (or one line group), the
 * trunk channel each attempt takes, failover to the next route when one fails, and the
 * alternate route (at once, or after camp-on) when every route is busy.
 */
import type { Target } from '../../sip/transport/types.js';

/** How the caller is presented (the short code's S, SS and W characters). */
export interface CallerIdOut {
  set?: string;
  pass?: boolean;
  withhold?: boolean;
}

/** A trunk as the B2BUA uses it (src/features/trunks fits). */
export interface RouteTrunk {
  readonly name: string;
  readonly lineGroup: number;
  readonly config: { readonly setupTimeoutSeconds: number; readonly allowTrunkToTrunk: boolean };
  readonly digest: { authorize(challenge: string, method: string, uri: string): string | undefined } | undefined;
  acquire(): boolean;
  release(): void;
  target(): Promise<Target>;
  requestUri(number: string): string;
  identity(caller: { number: string; name: string; withheld: boolean }): { from: string; headers: Record<string, string> };
}

/** The trunks of the node, by line group (src/features/trunks fits). */
export interface RoutePool {
  inGroup(lineGroup: number): RouteTrunk[];
  available(lineGroup: number): boolean;
}

export interface ArsRouteChoice {
  lineGroup: number;
  number: string;
  callerId: CallerIdOut;
  available: boolean;
  code: string;
}

/** The router's answer for one ARS form (src/features/routing fits). */
export type FormSelection =
  | { kind: 'routes'; form: string; routes: ArsRouteChoice[]; alternate: { form: string | undefined; immediate: boolean; waitMs: number } | undefined }
  | { kind: 'busy'; form: string; reason: string }
  | { kind: 'notFound'; form: string };

export type NextRoute =
  | { kind: 'trunk'; trunk: RouteTrunk; number: string; callerId: CallerIdOut; release: () => void }
  /** Every route busy: wait this long (camp-on), calling next() again when a channel frees. */
  | { kind: 'wait'; ms: number }
  | { kind: 'refused'; status: number; reason: string };

export interface OutboundRouteOptions {
  pool: RoutePool;
  /** Selects the routes of an ARS form for the number (the router, with the caller's priority). */
  select: (form: string, number: string) => FormSelection;
  /** An ARS form to start from, or a line group to use directly. */
  start: { form: string; number: string } | { lineGroup: number; number: string; callerId: CallerIdOut };
  /** Trunks that may carry this call (trunk-to-trunk policy); default: every trunk. */
  allowTrunk?: (t: RouteTrunk) => boolean;
}

/** Walks the routes of one call; each next() takes the next trunk channel to try. */
export class OutboundRoute {
  readonly #o: OutboundRouteOptions;
  #routes: ArsRouteChoice[] = [];
  #index = 0;
  #form: string | undefined;
  #number: string;
  #alternate: { form: string | undefined; immediate: boolean; waitMs: number } | undefined;
  /** A route was tried on this form (failover, not "all busy"). */
  #tried = false;
  #waited = false;
  #hops = 0;
  #refusal: { status: number; reason: string } | undefined;
  /** What the caller's trace would say: forms and trunks tried, for logs. */
  readonly steps: string[] = [];

  constructor(opts: OutboundRouteOptions) {
    this.#o = opts;
    this.#number = opts.start.number;
    if ('form' in opts.start) this.#enter(opts.start.form);
    else this.#routes = [{ lineGroup: opts.start.lineGroup, number: opts.start.number, callerId: opts.start.callerId, available: true, code: '' }];
  }

  /** The ARS form in use (undefined for a direct line group). */
  get form(): string | undefined {
    return this.#form;
  }

  #enter(form: string): void {
    this.#form = form;
    this.#index = 0;
    this.#tried = false;
    this.#waited = false;
    this.#routes = [];
    this.#alternate = undefined;
    if (++this.#hops > 8) {
      this.#refusal = { status: 486, reason: 'Busy Here (alternate routes loop)' };
      return;
    }
    const sel = this.#o.select(form, this.#number);
    this.steps.push(`ars ${form}: ${sel.kind === 'routes' ? sel.routes.map((r) => `group ${r.lineGroup}`).join(', ') || 'no route' : sel.kind}`);
    if (sel.kind === 'busy') this.#refusal = { status: 486, reason: `Busy Here (${sel.reason})` };
    else if (sel.kind === 'notFound') this.#refusal = { status: 404, reason: `Not Found (no route in ARS form ${form} for ${this.#number})` };
    else {
      this.#form = sel.form; // out of service / out of hours may have moved it
      this.#routes = sel.routes;
      this.#alternate = sel.alternate;
      this.#refusal = undefined;
    }
  }

  /**
   * The next route to try now. After a failure, the next route in order; when no route of the
   * form could even be tried (all busy), the alternate route at once or after the wait.
   */
  next(): NextRoute {
    for (;;) {
      if (this.#refusal) return { kind: 'refused', ...this.#refusal };
      const taken = this.#take();
      if (taken) return taken;
      if (this.#tried) return { kind: 'refused', status: 503, reason: 'Service Unavailable (every route failed)' };
      const alt = this.#alternate;
      if (alt && (alt.immediate || this.#waited) && alt.form !== undefined) {
        this.steps.push(`all routes busy: alternate route ${alt.form}${alt.immediate ? ' at once' : ' after waiting'}`);
        this.#enter(alt.form);
        continue;
      }
      if (alt && !alt.immediate && !this.#waited && alt.waitMs > 0) return { kind: 'wait', ms: alt.waitMs };
      return { kind: 'refused', status: 486, reason: 'Busy Here (all routes busy)' };
    }
  }

  /** The camp-on wait ran out: the next next() goes to the alternate route (or busy). */
  waitExpired(): void {
    this.#waited = true;
  }

  /** Takes a channel on the first route from the current position that has one. */
  #take(): NextRoute | undefined {
    const allow = this.#o.allowTrunk ?? (() => true);
    // During failover, the routes after the failed one; routes earlier in the list stay behind us.
    for (let i = this.#index; i < this.#routes.length; i++) {
      const r = this.#routes[i];
      for (const t of this.#o.pool.inGroup(r.lineGroup)) {
        if (!allow(t) || !t.acquire()) continue;
        this.#index = i + 1;
        this.#tried = true;
        this.steps.push(`route ${i + 1}: trunk ${t.name} (group ${r.lineGroup}) number ${r.number}`);
        let released = false;
        const release = () => {
          if (released) return;
          released = true;
          t.release();
        };
        return { kind: 'trunk', trunk: t, number: r.number, callerId: r.callerId, release };
      }
    }
    // camp-on: nothing tried yet, so look at every route again next time
    if (!this.#tried) this.#index = 0;
    return undefined;
  }
}
