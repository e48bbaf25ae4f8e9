/**
 * Requests that start something, built in one place: the INVITE of a new dialog (RFC 3261
 * 8.1.1, 13.2.1) with the Allow and Supported of this stack, so every INVITE the node sends
 * says the same about what it can do.
 */
import { SipRequest } from '../message/message.js';
import { SipStack } from '../stack.js';

export interface InviteSpec {
  /** Request-URI. */
  uri: string;
  /** From, with its tag. */
  from: string;
  /** To, without a tag. */
  to: string;
  /** Our Contact for the transport the request leaves on. */
  contact: string;
  /** Default: a new one. */
  callId?: string;
  /** Max-Forwards of the request this one continues (a B2BUA takes one off), else 70. */
  maxForwards?: number | undefined;
  /** Route set (a registered contact's Path, RFC 3327). */
  route?: string[];
  /** More headers (identity, privacy). */
  headers?: Record<string, string>;
  /** The offer; none for a delayed offer (RFC 3261 13.2.1: the 2xx carries it). */
  body?: { type: string; data: Buffer } | undefined;
}

export function buildInvite(stack: SipStack, spec: InviteSpec): SipRequest {
  const req = new SipRequest('INVITE', spec.uri);
  req.set('from', spec.from);
  req.set('to', spec.to);
  req.set('call-id', spec.callId ?? SipStack.callId());
  req.set('cseq', '1 INVITE');
  req.set('contact', spec.contact);
  req.set('allow', stack.allow);
  if (stack.supported) req.set('supported', stack.supported);
  const mf = spec.maxForwards;
  req.set('max-forwards', String(mf === undefined || !Number.isFinite(mf) ? 70 : Math.max(0, Math.min(70, mf - 1))));
  if (spec.route?.length) req.set('route', spec.route);
  for (const [k, v] of Object.entries(spec.headers ?? {})) req.set(k, v);
  if (spec.body) {
    req.set('content-type', spec.body.type);
    req.body = spec.body.data;
  }
  return req;
}
