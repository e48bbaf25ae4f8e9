/**
 * Cross checks of the dial plan: references between short codes, ARS forms, time profiles, user
 * rights, call classes, users and trunks. Like checks.ts they read the raw document, so that one
 * broken entry does not hide the others; what the schema reports (types, code syntax) is
 * skipped here.
 */
import { field, list, type Raw } from './fields.js';


/** Names of a list of named entries, with a problem for each repeated one. */
function names(entries: unknown[], at: string, what: string, problems: string[]): Set<string> {
  const seen = new Map<string, number>();
  entries.forEach((e, i) => {
    const name = field(e, 'name');
    if (typeof name !== 'string') return;
    const first = seen.get(name);
    if (first === undefined) seen.set(name, i);
    else problems.push(`${at}[${i}].name: duplicate ${what} name ${JSON.stringify(name)} (also ${at}[${first}])`);
  });
  return new Set(seen.keys());
}

interface Known {
  forms: Set<string>;
  profiles: Set<string>;
  lineGroups: Set<number>;
  extensions: Set<string>;
}

function checkLineGroup(v: unknown, at: string, known: Known, problems: string[]): void {
  if (typeof v === 'number' && Number.isInteger(v) && !known.lineGroups.has(v)) {
    problems.push(`${at}: no trunk has line group ${v}`);
  }
}

function checkShortCodes(codes: unknown, at: string, known: Known, problems: string[]): void {
  list(codes).forEach((sc, i) => {
    const here = `${at}[${i}]`;
    const feature = field(sc, 'feature');
    const ars = field(sc, 'ars');
    const lineGroup = field(sc, 'lineGroup');
    if (typeof ars === 'string' && !known.forms.has(ars)) problems.push(`${here}.ars: unknown ARS form ${JSON.stringify(ars)}`);
    checkLineGroup(lineGroup, `${here}.lineGroup`, known, problems);
    if (feature === 'dial' && (ars === undefined) === (lineGroup === undefined)) {
      problems.push(`${here}: dial needs exactly one of lineGroup and ars`);
    } else if (feature !== 'dial' && (ars !== undefined || lineGroup !== undefined)) {
      problems.push(`${here}: lineGroup and ars are only used with feature dial`);
    }
    const number = field(sc, 'number');
    // A number built from the dialled digits (N) or the caller (E, U) can only be checked per call.
    if (feature === 'dialExtn' && typeof number === 'string' && !/[NEU]/.test(number) && !known.extensions.has(number.replaceAll(';', ''))) {
      problems.push(`${here}.number: dialExtn to ${JSON.stringify(number)}, which is not an extension`);
    }
    if ((feature === 'arsOutOfService' || feature === 'arsInService') && typeof number === 'string' && !known.forms.has(number)) {
      problems.push(`${here}.number: unknown ARS form ${JSON.stringify(number)}`);
    }
  });
}

export function checkDialPlan(doc: Raw): string[] {
  const plan = doc.dialPlan;
  const problems: string[] = [];
  const users = list(doc.users);
  const forms = names(list(field(plan, 'arsForms')), 'dialPlan.arsForms', 'ARS form', problems);
  const profiles = names(list(field(plan, 'timeProfiles')), 'dialPlan.timeProfiles', 'time profile', problems);
  const rights = names(list(field(plan, 'userRights')), 'dialPlan.userRights', 'user rights', problems);
  const classes = names(list(field(plan, 'callClasses')), 'dialPlan.callClasses', 'call class', problems);
  const lineGroups = new Set<number>();
  for (const t of list(doc.trunks)) {
    const g = field(t, 'lineGroup');
    if (typeof g === 'number') lineGroups.add(g);
  }
  const extensions = new Set<string>();
  for (const u of users) {
    const e = field(u, 'extension');
    if (typeof e === 'string') extensions.add(e);
  }
  const known: Known = { forms, profiles, lineGroups, extensions };

  checkShortCodes(field(plan, 'shortCodes'), 'dialPlan.shortCodes', known, problems);
  list(field(plan, 'userRights')).forEach((r, i) => {
    checkShortCodes(field(r, 'shortCodes'), `dialPlan.userRights[${i}].shortCodes`, known, problems);
    list(field(r, 'classes')).forEach((c, j) => {
      // "internal" (calls to extensions) is built in and always allowed; naming it is harmless
      if (typeof c === 'string' && c !== 'internal' && !classes.has(c)) problems.push(`dialPlan.userRights[${i}].classes[${j}]: unknown call class ${JSON.stringify(c)}`);
    });
  });
  users.forEach((u, i) => {
    const r = field(u, 'rights');
    if (typeof r === 'string' && !rights.has(r)) problems.push(`users[${i}].rights: unknown user rights ${JSON.stringify(r)}`);
    checkShortCodes(field(u, 'shortCodes'), `users[${i}].shortCodes`, known, problems);
  });
  list(doc.trunks).forEach((t, i) => {
    const r = field(t, 'rights');
    if (typeof r === 'string' && !rights.has(r)) problems.push(`trunks[${i}].rights: unknown user rights ${JSON.stringify(r)}`);
  });
  list(field(plan, 'arsForms')).forEach((f, i) => {
    const at = `dialPlan.arsForms[${i}]`;
    for (const key of ['outOfServiceRoute', 'outOfHoursRoute', 'alternateRoute']) {
      const to = field(f, key);
      if (typeof to === 'string' && !forms.has(to)) problems.push(`${at}.${key}: unknown ARS form ${JSON.stringify(to)}`);
    }
    const profile = field(f, 'timeProfile');
    if (typeof profile === 'string' && !profiles.has(profile)) problems.push(`${at}.timeProfile: unknown time profile ${JSON.stringify(profile)}`);
    list(field(f, 'shortCodes')).forEach((sc, j) => {
      const lineGroup = field(sc, 'lineGroup');
      checkLineGroup(lineGroup, `${at}.shortCodes[${j}].lineGroup`, known, problems);
      if (field(sc, 'feature') === 'dial' && lineGroup === undefined) problems.push(`${at}.shortCodes[${j}].lineGroup: required for dial`);
    });
  });
  list(field(plan, 'incomingCallRoutes')).forEach((r, i) => {
    const at = `dialPlan.incomingCallRoutes[${i}]`;
    checkLineGroup(field(r, 'lineGroup'), `${at}.lineGroup`, known, problems);
    list(field(r, 'destinations')).forEach((d, j) => {
      const p = field(d, 'timeProfile');
      if (typeof p === 'string' && !profiles.has(p)) problems.push(`${at}.destinations[${j}].timeProfile: unknown time profile ${JSON.stringify(p)}`);
    });
  });
  return problems;
}
