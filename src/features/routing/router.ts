/**
 * The router: the one place that turns digits and numbers into destinations. Pure and
 * synchronous: everything is compiled in the constructor, and a decision walks a few small
 * indexes. The only run-time state is which ARS forms are switched out of service.
 */
import type { DialPlanConfig, ShortCodeConfig } from '../../core/config/dialplan-schema.js';
import { selectArsRoutes, type ArsEntry, type ArsState, type CompiledForm } from './ars.js';
import { CodeIndex, type IndexedCode } from './code-index.js';
import { compileIncoming, decideIncoming, type CompiledIncoming } from './incoming.js';
import { compileCode, compileNumber, matchCode, renderCallerId, renderNumber, type CompiledCode, type CompiledNumber } from './pattern.js';
import { TimeProfiles } from './time.js';
import { describeDestination } from './trace.js';
import type { ArsSelection, Barring, Destination, IncomingCall, IncomingDecision, RouteContext, RouterUser, TraceLine } from './types.js';

export type { ArsEntry, CompiledForm } from './ars.js';

export interface ShortCodeEntry {
  readonly sc: ShortCodeConfig;
  readonly number: CompiledNumber;
  /** Where it is configured, for traces (e.g. "system shortCodes[3]"). */
  readonly where: string;
}

interface CompiledRights {
  readonly name: string;
  readonly codes: CodeIndex<ShortCodeEntry>;
  readonly classes: ReadonlySet<string> | undefined;
  readonly priority: number | undefined;
}

export interface CompiledUser {
  readonly extension: string;
  readonly name: string;
  readonly priority: number;
  readonly rights: CompiledRights | undefined;
  readonly codes: CodeIndex<ShortCodeEntry>;
}

export interface RouterOptions {
  /** The validated dial plan (config.dialPlan). */
  dialPlan: DialPlanConfig;
  /** The users (config.users fits): their own short codes, rights and priority. */
  users: ReadonlyArray<RouterUser>;
  /** Whether a number is an extension (exact match); default: one of the users' extensions. */
  isExtension?: (n: string) => boolean;
}

/** Features whose number is a name, not a telephone number. */
const NAMED = new Set(['arsOutOfService', 'arsInService']);
const NO_TRACE: TraceLine[] = [];
const NO_CODES = new CodeIndex<ShortCodeEntry>();

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkContext(ctx: unknown): RouteContext {
  if (ctx === undefined) return {};
  if (!isRecord(ctx)) throw new TypeError('ctx: must be an object');
  if (ctx.user !== undefined && typeof ctx.user !== 'string') throw new TypeError('ctx.user: must be an extension string');
  if (ctx.at !== undefined && !(ctx.at instanceof Date && !Number.isNaN(ctx.at.getTime()))) throw new TypeError('ctx.at: must be a valid Date');
  if (ctx.callerNumber !== undefined && typeof ctx.callerNumber !== 'string') throw new TypeError('ctx.callerNumber: must be a string');
  if (ctx.line !== undefined && (!isRecord(ctx.line) || typeof ctx.line.name !== 'string' || (ctx.line.rights !== undefined && typeof ctx.line.rights !== 'string'))) {
    throw new TypeError('ctx.line: must be { name: string, rights?: string }');
  }
  return ctx as RouteContext;
}

function checkNumber(number: unknown, field = 'number'): string {
  if (typeof number !== 'string' || number.length > 64) throw new TypeError(`${field}: must be a string of at most 64 characters`);
  return number;
}

export class Router {
  // Not readonly: reload() swaps in a whole newly compiled plan at once.
  #system = new CodeIndex<ShortCodeEntry>();
  #users = new Map<string, CompiledUser>();
  #forms = new Map<string, CompiledForm>();
  #outOfService = new Set<string>();
  #classes: { name: string; patterns: CompiledCode[] }[] = [];
  #incoming: CompiledIncoming;
  #time: TimeProfiles;
  #isExtension: (n: string) => boolean;
  #rights = new Map<string, CompiledRights>();
  #incomingDefault: string | undefined;
  #formRefs: { form: string; field: string }[] = [];
  #ars: ArsState = {
    forms: this.#forms,
    inService: (f) => !this.#outOfService.has(f),
    profileActive: (p, at) => this.#time.active(p, at) === true,
  };

  constructor(opts: RouterOptions) {
    if (!isRecord(opts)) throw new TypeError('opts: must be an object');
    const plan = opts.dialPlan;
    if (!isRecord(plan)) throw new TypeError('opts.dialPlan: must be a dial plan object (config.dialPlan)');
    if (!Array.isArray(opts.users)) throw new TypeError('opts.users: must be an array of users');
    if (opts.isExtension !== undefined && typeof opts.isExtension !== 'function') throw new TypeError('opts.isExtension: must be a function');
    this.#time = new TimeProfiles(plan.timeZone, plan.timeProfiles);
    plan.shortCodes.forEach((sc, i) => this.#addShortCode(this.#system, sc, `dialPlan.shortCodes[${i}]`, 'system'));
    const rights = this.#rights;
    this.#incomingDefault = plan.incomingDefault ?? undefined;
    plan.userRights.forEach((r, i) => {
      const codes = new CodeIndex<ShortCodeEntry>();
      r.shortCodes.forEach((sc, j) => this.#addShortCode(codes, sc, `dialPlan.userRights[${i}].shortCodes[${j}]`, `rights ${r.name}`));
      rights.set(r.name, { name: r.name, codes, classes: r.classes ? new Set(r.classes) : undefined, priority: r.priority });
    });
    opts.users.forEach((u: RouterUser, i) => {
      if (typeof u !== 'object' || u === null || typeof u.extension !== 'string') throw new TypeError(`opts.users[${i}].extension: must be a string`);
      if (u.shortCodes !== undefined && !Array.isArray(u.shortCodes)) throw new TypeError(`opts.users[${i}].shortCodes: must be an array`);
      const r = u.rights === undefined ? undefined : rights.get(u.rights);
      if (u.rights !== undefined && r === undefined) throw new TypeError(`opts.users[${i}].rights: unknown user rights ${JSON.stringify(u.rights)}`);
      const codes = new CodeIndex<ShortCodeEntry>();
      (u.shortCodes ?? []).forEach((sc, j) => this.#addShortCode(codes, sc, `opts.users[${i}].shortCodes[${j}]`, `user ${u.extension}`));
      this.#users.set(u.extension, { extension: u.extension, name: u.name ?? u.extension, priority: u.priority ?? 5, rights: r, codes });
    });
    plan.arsForms.forEach((f, i) => {
      const codes = new CodeIndex<ArsEntry>();
      f.shortCodes.forEach((sc, j) => {
        const field = `dialPlan.arsForms[${i}].shortCodes[${j}]`;
        if (sc.feature === 'dial' && sc.lineGroup === undefined) throw new TypeError(`${field}.lineGroup: required for dial`);
        codes.add(compileCode(sc.code, `${field}.code`), { sc, number: compileNumber(sc.number) });
      });
      this.#forms.set(f.name, { cfg: f, codes });
      if (!f.inService) this.#outOfService.add(f.name);
    });
    plan.arsForms.forEach((f, i) => {
      for (const key of ['outOfServiceRoute', 'outOfHoursRoute', 'alternateRoute'] as const) {
        const to = f[key];
        if (to !== undefined) this.#formRefs.push({ form: to, field: `dialPlan.arsForms[${i}].${key}` });
      }
      if (f.timeProfile !== undefined && !this.#time.has(f.timeProfile)) {
        throw new TypeError(`dialPlan.arsForms[${i}].timeProfile: unknown time profile ${JSON.stringify(f.timeProfile)}`);
      }
    });
    for (const { form, field } of this.#formRefs) {
      if (!this.#forms.has(form)) throw new TypeError(`${field}: unknown ARS form ${JSON.stringify(form)}`);
    }
    this.#formRefs = [];
    plan.callClasses.forEach((c, i) => {
      this.#classes.push({ name: c.name, patterns: c.patterns.map((p, j) => compileCode(p, `dialPlan.callClasses[${i}].patterns[${j}]`)) });
    });
    this.#incoming = compileIncoming(plan.incomingCallRoutes, (p) => this.#time.has(p));
    const extensions = new Set(this.#users.keys());
    this.#isExtension = opts.isExtension ?? ((n) => extensions.has(n));
  }

  /**
   * Swaps in a new dial plan and users (a live reconfiguration). The new plan is compiled first,
   * so one that does not compile throws and changes nothing; decisions already made are not
   * affected. A form switched out of service by short code stays out while its configured
   * inService is unchanged.
   */
  reload(opts: RouterOptions): void {
    const next = new Router(opts);
    for (const [form, f] of next.#forms) {
      const was = this.#forms.get(form);
      if (was === undefined || was.cfg.inService !== f.cfg.inService) continue;
      if (this.#outOfService.has(form)) next.#outOfService.add(form);
      else next.#outOfService.delete(form);
    }
    this.#system = next.#system;
    this.#users = next.#users;
    this.#forms = next.#forms;
    this.#outOfService = next.#outOfService;
    this.#classes = next.#classes;
    this.#incoming = next.#incoming;
    this.#time = next.#time;
    this.#isExtension = next.#isExtension;
    this.#rights = next.#rights;
    this.#incomingDefault = next.#incomingDefault;
    // the ARS state reads next's (now this one's) maps through its own closures
    this.#ars = next.#ars;
  }

  #addShortCode(index: CodeIndex<ShortCodeEntry>, sc: ShortCodeConfig, field: string, tier: string): void {
    if (sc.feature === 'dial' && (sc.ars === undefined) === (sc.lineGroup === undefined)) {
      throw new TypeError(`${field}: dial needs exactly one of lineGroup and ars`);
    }
    // Forms are compiled after short codes: the reference is checked once they all exist.
    if (sc.ars !== undefined) this.#formRefs.push({ form: sc.ars, field: `${field}.ars` });
    index.add(compileCode(sc.code, `${field}.code`), { sc, number: compileNumber(sc.number, NAMED.has(sc.feature)), where: `${tier} ${sc.code}` });
  }

  /** Routes dialled digits: extension, then the user's codes, the user's rights codes, the system codes. */
  dial(number: string, ctx?: RouteContext): { destination: Destination; trace: TraceLine[] } {
    checkNumber(number);
    const c = checkContext(ctx);
    const user = this.#user(c.user, 'ctx.user') ?? this.#lineUser(c.line);
    const trace: TraceLine[] = c.trace === false ? NO_TRACE : [];
    const tracing = trace !== NO_TRACE;
    const destination = this.#dial(number, user, c, trace, tracing);
    if (tracing) trace.push({ step: 'result', text: describeDestination(destination) });
    return { destination, trace };
  }

  #dial(number: string, user: CompiledUser | undefined, ctx: RouteContext, trace: TraceLine[], tracing: boolean): Destination {
    if (this.#isExtension(number)) {
      if (tracing) trace.push({ step: 'extension', text: `${number} is an extension` });
      return { kind: 'extension', extension: number };
    }
    const tiers = [user?.codes, user?.rights?.codes, this.#system];
    for (const index of tiers) {
      if (index === undefined || index.size === 0) continue;
      const r = index.lookup(number);
      if (r !== undefined) return this.#apply(r.entry.value, r.captured, number, user, ctx, trace, tracing);
    }
    let partial: IndexedCode<ShortCodeEntry> | undefined;
    for (const index of tiers) if (partial === undefined && index !== undefined) partial = index.partial(number);
    if (partial !== undefined) {
      if (tracing) trace.push({ step: 'shortcode', text: `${number} matches no code fully but could match ${partial.value.where} with more digits` });
      return { kind: 'incomplete' };
    }
    if (tracing) trace.push({ step: 'shortcode', text: `${number} matches no extension and no short code${user ? ` of ${user.extension}` : ' (system)'}` });
    return { kind: 'notFound' };
  }

  #apply(e: ShortCodeEntry, captured: string, dialled: string, user: CompiledUser | undefined, ctx: RouteContext, trace: TraceLine[], tracing: boolean): Destination {
    const sc = e.sc;
    const out = renderNumber(e.number, captured, user);
    if (tracing) trace.push({ step: 'shortcode', text: `${dialled} matched ${e.where} (${sc.feature}${sc.number === '' ? '' : ` ${sc.number}`}) -> ${out === '' ? '(no number)' : out}` });
    switch (sc.feature) {
      case 'dial': {
        const barring = this.#bar(user, out);
        if (tracing) trace.push({ step: 'barring', text: barring.reason });
        const callerId = renderCallerId(e.number, ctx.callerNumber);
        return sc.ars !== undefined
          ? { kind: 'ars', form: sc.ars, number: out, callerId, barring }
          : { kind: 'lineGroup', lineGroup: sc.lineGroup!, number: out, callerId, barring };
      }
      case 'dialExtn':
        if (this.#isExtension(out)) return { kind: 'extension', extension: out };
        if (tracing) trace.push({ step: 'shortcode', text: `dialExtn: ${out} is not an extension` });
        return { kind: 'notFound' };
      case 'busy':
        return { kind: 'busy', reason: `short code ${sc.code} gives busy` };
      case 'meetMe':
        if (!/^[0-9]{1,15}$/.test(out)) {
          if (tracing) trace.push({ step: 'shortcode', text: `meetMe: conference ID ${JSON.stringify(out)} is not 1..15 digits` });
          return { kind: 'notFound' };
        }
        return { kind: 'feature', feature: 'meetMe', number: out };
      default:
        return { kind: 'feature', feature: sc.feature, number: out };
    }
  }

  /** A trunk line routed and barred like a user of its rights (no short codes of its own). */
  #lineUser(line: RouteContext['line']): CompiledUser | undefined {
    if (line === undefined) return undefined;
    const rights = line.rights === undefined ? undefined : this.#rights.get(line.rights);
    if (line.rights !== undefined && rights === undefined) throw new TypeError(`ctx.line.rights: unknown user rights ${JSON.stringify(line.rights)}`);
    return { extension: `trunk ${line.name}`, name: line.name, priority: 5, rights, codes: NO_CODES };
  }

  #user(ext: string | undefined, field: string): CompiledUser | undefined {
    if (ext === undefined) return undefined;
    const u = this.#users.get(ext);
    if (u === undefined) throw new TypeError(`${field}: unknown user ${JSON.stringify(ext)}`);
    return u;
  }

  /** The call class of a number sent out (before ARS translation) and whether the user may call it. */
  barring(user: string | undefined, number: string): Barring {
    if (user !== undefined && typeof user !== 'string') throw new TypeError('user: must be an extension string or undefined');
    checkNumber(number);
    return this.#bar(this.#user(user, 'user'), number);
  }

  #bar(user: CompiledUser | undefined, number: string): Barring {
    if (this.#isExtension(number)) return { allowed: true, class: 'internal', reason: `${number} is an extension (internal)` };
    const shown = number === '' ? '(no number)' : number;
    let cls = 'unclassified';
    outer: for (const c of this.#classes) {
      for (const p of c.patterns) {
        if (matchCode(p, number) !== undefined) {
          cls = c.name;
          break outer;
        }
      }
    }
    const who = user ? user.extension : 'the system';
    const classes = user?.rights?.classes;
    if (classes === undefined || cls === 'unclassified' || classes.has(cls)) {
      return { allowed: true, class: cls, reason: `${shown} is class ${cls}, allowed for ${who}` };
    }
    return { allowed: false, class: cls, reason: `403 Forbidden (${cls} calls are barred for ${who})` };
  }

  /** ARS: the routes of `form` for `number`, following out-of-service and out-of-hours forms. */
  selectRoutes(form: string, number: string, ctx: RouteContext, available: (lineGroup: number) => boolean): ArsSelection {
    if (typeof form !== 'string' || !this.#forms.has(form)) throw new TypeError(`form: unknown ARS form ${JSON.stringify(form)}`);
    checkNumber(number);
    const c = checkContext(ctx);
    if (typeof available !== 'function') throw new TypeError('available: must be a function (lineGroup) => boolean');
    const user = this.#user(c.user, 'ctx.user') ?? this.#lineUser(c.line);
    const priority = user ? (user.rights?.priority ?? user.priority) : 5;
    return selectArsRoutes(
      this.#ars,
      form,
      number,
      { user, priority, at: c.at ?? new Date(), callerNumber: c.callerNumber, tracing: c.trace !== false },
      available,
    );
  }

  /** Where a call arriving on a trunk goes. */
  incoming(call: IncomingCall): IncomingDecision {
    if (!isRecord(call)) throw new TypeError('call: must be an object');
    if (!Number.isInteger(call.lineGroup)) throw new TypeError('call.lineGroup: must be an integer');
    checkNumber(call.number, 'call.number');
    if (call.callerId !== undefined && typeof call.callerId !== 'string') throw new TypeError('call.callerId: must be a string or undefined');
    if (typeof call.withheld !== 'boolean') throw new TypeError('call.withheld: must be a boolean');
    if (call.at !== undefined && !(call.at instanceof Date && !Number.isNaN(call.at.getTime()))) throw new TypeError('call.at: must be a valid Date');
    const at = call.at ?? new Date();
    return decideIncoming(this.#incoming, call, at, {
      profileActive: (p) => this.#time.active(p, at) === true,
      // never an outside line: a caller from a trunk goes out again only where a route says so
      systemTakes: (n) => {
        const d = this.#dial(n, undefined, { at }, NO_TRACE, false);
        return d.kind !== 'notFound' && d.kind !== 'incomplete' && d.kind !== 'ars' && d.kind !== 'lineGroup';
      },
      defaultDestination: this.#incomingDefault,
    });
  }

  /** Switches a form in or out of service (arsInService / arsOutOfService); false for an unknown form. */
  setFormInService(form: string, inService: boolean): boolean {
    if (typeof inService !== 'boolean') throw new TypeError('inService: must be a boolean');
    if (typeof form !== 'string' || !this.#forms.has(form)) return false;
    if (inService) this.#outOfService.delete(form);
    else this.#outOfService.add(form);
    return true;
  }

  formInService(form: string): boolean {
    if (typeof form !== 'string' || !this.#forms.has(form)) throw new TypeError(`form: unknown ARS form ${JSON.stringify(form)}`);
    return !this.#outOfService.has(form);
  }

  timeProfileActive(name: string, at?: Date): boolean {
    if (at !== undefined && !(at instanceof Date && !Number.isNaN(at.getTime()))) throw new TypeError('at: must be a valid Date');
    const active = this.#time.active(name, at ?? new Date());
    if (active === undefined) throw new TypeError(`name: unknown time profile ${JSON.stringify(name)}`);
    return active;
  }
}
