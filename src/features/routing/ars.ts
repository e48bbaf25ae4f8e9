/**
 * Automatic route selection: a number sent to an ARS form becomes an ordered list of line-group
 * routes. Forms chain (out of service, out of hours) and the chain is bounded, because a
 * configuration can make a loop that the checks cannot rule out once forms switch at run time.
 */
import type { ArsFormConfig, ArsShortCodeConfig } from '../../core/config/dialplan-schema.js';
import type { CodeIndex } from './code-index.js';
import { renderCallerId, renderNumber, type Caller, type CompiledNumber } from './pattern.js';
import { describeCallerId } from './trace.js';
import type { ArsRoute, ArsSelection, TraceLine } from './types.js';

/** One code of an ARS form, compiled. */
export interface ArsEntry {
  readonly sc: ArsShortCodeConfig;
  readonly number: CompiledNumber;
}

/** An ARS form with its codes indexed. */
export interface CompiledForm {
  readonly cfg: ArsFormConfig;
  readonly codes: CodeIndex<ArsEntry>;
}

/** Forms followed at most, the first included. */
export const MAX_CHAIN = 8;

export interface ArsState {
  forms: ReadonlyMap<string, CompiledForm>;
  inService(form: string): boolean;
  profileActive(profile: string, at: Date): boolean;
}

export interface ArsRequest {
  user: Caller | undefined;
  /** The caller's priority, 1 (highest) .. 5. */
  priority: number;
  at: Date;
  callerNumber: string | undefined;
  tracing: boolean;
}

export function selectArsRoutes(state: ArsState, first: string, number: string, req: ArsRequest, available: (lineGroup: number) => boolean): ArsSelection {
  const trace: TraceLine[] = [];
  const note = (step: string, text: string) => {
    if (req.tracing) trace.push({ step, text });
  };
  const busy = (form: string, reason: string): ArsSelection => {
    note('result', `busy (${reason})`);
    return { kind: 'busy', form, reason, trace };
  };

  let name = first;
  const visited: string[] = [];
  let form: CompiledForm;
  for (;;) {
    if (visited.includes(name)) return busy(name, `ARS loop: ${[...visited, name].join(' -> ')}`);
    if (visited.length === MAX_CHAIN) return busy(name, `ARS chain longer than ${MAX_CHAIN} forms: ${visited.join(' -> ')}`);
    visited.push(name);
    form = state.forms.get(name)!;
    const cfg = form.cfg;
    if (!state.inService(name)) {
      if (cfg.outOfServiceRoute === undefined) return busy(name, `ARS form ${name} is out of service and has no out-of-service route`);
      note('ars', `form ${name} is out of service: to form ${cfg.outOfServiceRoute}`);
      name = cfg.outOfServiceRoute;
      continue;
    }
    if (cfg.timeProfile !== undefined && !state.profileActive(cfg.timeProfile, req.at)) {
      if (cfg.outOfHoursRoute === undefined) return busy(name, `ARS form ${name} is out of hours (time profile ${cfg.timeProfile}) and has no out-of-hours route`);
      note('time', `time profile ${cfg.timeProfile} is not active: form ${name} is out of hours, to form ${cfg.outOfHoursRoute}`);
      name = cfg.outOfHoursRoute;
      continue;
    }
    break;
  }

  const found = form.codes.lookup(number);
  if (found === undefined) {
    const partial = req.tracing ? form.codes.partial(number) : undefined;
    note('ars', `form ${name}: ${number === '' ? '(no number)' : number} matches none of its codes${partial ? ` (it is the start of ${partial.code.text})` : ''}`);
    note('result', 'not found');
    return { kind: 'notFound', form: name, trace };
  }
  const rows = duplicates(form.codes, number, found.entry.code.bare);
  if (rows[0]!.entry.value.sc.feature === 'busy') return busy(name, `form ${name} code ${found.entry.code.text} gives busy`);
  const ready: ArsRoute[] = [];
  const rest: ArsRoute[] = [];
  for (const { entry, captured } of rows) {
    const sc = entry.value.sc;
    if (sc.feature !== 'dial') continue;
    const lineGroup = sc.lineGroup!;
    const route: ArsRoute = {
      lineGroup,
      number: renderNumber(entry.value.number, captured, req.user),
      callerId: renderCallerId(entry.value.number, req.callerNumber),
      available: available(lineGroup) === true,
      code: entry.code.text,
    };
    (route.available ? ready : rest).push(route);
    note('route', `form ${name} code ${route.code}: ${route.number} on line group ${lineGroup}, ${describeCallerId(route.callerId)}${route.available ? '' : ' (not available)'}`);
  }
  const routes = [...ready, ...rest];
  const cfg = form.cfg;
  let alternate: { form: string | undefined; immediate: boolean; waitMs: number } | undefined;
  if (cfg.alternateRoute !== undefined) {
    const immediate = req.priority <= cfg.alternatePriority;
    alternate = { form: cfg.alternateRoute, immediate, waitMs: immediate ? 0 : cfg.alternateWaitSeconds * 1000 };
  }
  if (ready.length === 0) {
    if (alternate === undefined) return busy(name, `every route of ARS form ${name} is busy and it has no alternate route`);
    note(
      'ars',
      alternate.immediate
        ? `every route is busy: priority ${req.priority} <= ${cfg.alternatePriority}, to alternate form ${alternate.form} at once`
        : `every route is busy: priority ${req.priority} > ${cfg.alternatePriority}, camp on for ${cfg.alternateWaitSeconds} s, then alternate form ${alternate.form}`,
    );
  }
  note('result', ready.length > 0 ? `try line group ${ready[0]!.lineGroup} with ${ready[0]!.number}, ${routes.length - 1} failover route(s)` : `alternate form ${alternate!.form}`);
  return { kind: 'routes', form: name, routes, alternate, trace };
}

/** Every code with the same text as the winner (duplicates are alternative routes), in config order. */
function duplicates(codes: CodeIndex<ArsEntry>, number: string, bare: string) {
  return codes.matchesOf(number, bare);
}
