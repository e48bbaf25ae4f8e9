/**
 * What the node is doing (any role), the router's decision for a number (explain), and the
 * operator's controls over calls in progress (mute and remove conference parties, hunt group
 * service).
 */
import type { FastifyInstance } from 'fastify';
import { explainIncoming, explainOutgoing } from '../../features/routing/explain.js';
import { audit, HttpError, type AdminContext } from '../context.js';
import * as status from '../status.js';

const read = { access: 'read-only' } as const;
const list = (summary: string) => ({ summary, tags: ['status'] });

export function statusRoutes(app: FastifyInstance, ctx: AdminContext): void {
  const n = ctx.node;
  app.get('/api/status', { config: read, schema: list('The node at a glance: state, capacity in use against its profile, alarms, counts, trunks, node links') }, async () => status.summary(n));
  app.get('/api/registrations', { config: read, schema: list('Registered phones: extension, contact, source, user agent, time left') }, async () => status.registrations(n));
  app.get('/api/calls', { config: read, schema: list('Calls in progress: parties, state, codec and RTCP quality (loss, jitter, round trip) per party') }, async () => status.calls(n));
  app.get('/api/conferences', { config: read, schema: list('Conferences and their parties (muted, moderator)') }, async () => status.conferences(n));
  app.get('/api/huntgroups', { config: read, schema: list('Hunt groups: service state, members logged in, callers queued') }, async () => status.huntGroups(n));
  app.get('/api/voicemail', { config: read, schema: list('Voicemail ports in use and the message store') }, async () => status.voicemail(n));
  app.get('/api/trunks', { config: read, schema: list('SIP trunks: state, registration, channels in use') }, async () => status.trunks(n));
  app.get('/api/alarms', { config: read, schema: list('Alarms up now, most severe first') }, async () => status.alarms(n));
  app.get('/api/capacity', { config: read, schema: list('Capacity in use against the node profile') }, async () => status.capacity(n));

  app.get('/api/explain', {
    config: read,
    schema: {
      summary: 'The dial plan\'s decision trace for a number dialled by a user (from) or arriving on a line group',
      tags: ['status'],
      querystring: {
        type: 'object', required: ['number'], additionalProperties: false,
        properties: {
          number: { type: 'string', maxLength: 64 },
          from: { type: 'string', pattern: '^[0-9]{2,15}$' },
          lineGroup: { type: 'integer', minimum: 0 },
          caller: { type: 'string', maxLength: 64 },
          withheld: { type: 'boolean' },
          at: { type: 'string', format: 'date-time' },
        },
      },
    },
  }, async (req) => {
    const q = req.query as { number: string; from?: string; lineGroup?: number; caller?: string; withheld?: boolean; at?: string };
    const at = q.at === undefined ? new Date() : new Date(q.at);
    if ((q.from === undefined) === (q.lineGroup === undefined)) throw new HttpError(400, 'querystring: give either from (a dialled number) or lineGroup (an incoming call)');
    if (q.from !== undefined) {
      if (!n.config.users.some((u) => u.extension === q.from)) throw new HttpError(400, `querystring/from: ${q.from} is not a user's extension`);
      return explainOutgoing(n.router, q.from, q.number, at, [], n.solution?.calls);
    }
    return explainIncoming(n.router, { lineGroup: q.lineGroup!, number: q.number, callerId: q.caller, withheld: q.withheld === true, at }, [], n.solution?.calls);
  });

  const party = { type: 'object', required: ['room', 'party'], properties: { room: { type: 'string', pattern: '^[0-9]{1,15}$' }, party: { type: 'string', maxLength: 64 } } } as const;
  app.put('/api/conferences/:room/parties/:party/muted', {
    config: { access: 'operator' },
    schema: {
      summary: 'Mute or unmute a conference party (by its number)', tags: ['control'], params: party,
      body: { type: 'object', required: ['muted'], additionalProperties: false, properties: { muted: { type: 'boolean' } } },
    },
  }, async (req) => {
    const { room, party: who } = req.params as { room: string; party: string };
    const { muted } = req.body as { muted: boolean };
    if (!n.conferences.setMuted(room, who, muted)) throw new HttpError(404, `no party ${who} in conference ${room}`);
    audit(ctx, req, muted ? 'party-mute' : 'party-unmute', `conference ${room} party ${who}`);
    return { ok: true };
  });
  app.delete('/api/conferences/:room/parties/:party', {
    config: { access: 'operator' },
    schema: { summary: 'Remove a party from a conference (its call ends)', tags: ['control'], params: party },
  }, async (req) => {
    const { room, party: who } = req.params as { room: string; party: string };
    if (!n.conferences.drop(room, who)) throw new HttpError(404, `no party ${who} in conference ${room}`);
    audit(ctx, req, 'party-remove', `conference ${room} party ${who}`);
    return { ok: true };
  });
  app.put('/api/huntgroups/:group/service', {
    config: { access: 'operator' },
    schema: {
      summary: 'Put a hunt group in service, night service or out of service (as *57/*58 do)', tags: ['control'],
      params: { type: 'object', required: ['group'], properties: { group: { type: 'string', pattern: '^[0-9]{2,15}$' } } },
      body: { type: 'object', required: ['state'], additionalProperties: false, properties: { state: { type: 'string', enum: ['in', 'night', 'out'] } } },
    },
  }, async (req) => {
    const { group } = req.params as { group: string };
    const { state } = req.body as { state: 'in' | 'night' | 'out' };
    if (!n.hunt.groups.setService(group, state)) throw new HttpError(404, `no hunt group ${group}`);
    audit(ctx, req, 'huntgroup-service', `hunt group ${group}`, { state });
    return { ok: true };
  });
}
