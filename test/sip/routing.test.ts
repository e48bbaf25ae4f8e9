/**
 * Where requests to a registered phone go (src/sip/routing.ts): a UDP registration is reached
 * at the address it came from only when it came through NAT, as Kamailio's nathelper and
 * FreeSWITCH judge it, unless the user's setting forces either way.
 */
import test from 'ava';
import { behindNat, registeredTarget, type RegisteredContactTarget } from '../../src/sip/routing.js';

const reg = (contact: string, source: [string, number], viaPort?: number, extra: Partial<RegisteredContactTarget> = {}): RegisteredContactTarget => ({
  contact, path: [], source: { protocol: 'udp', address: source[0], port: source[1] }, viaPort, ...extra,
});
const none = () => false;

test('a registration made for another device on the same address (RFC 3261 10.2) is reached at its Contact', (t) => {
  const r = reg('sip:301@192.0.2.10:5080', ['192.0.2.10', 5070], 5070);
  t.false(behindNat(r));
  t.deepEqual(registeredTarget(r, none), { protocol: 'udp', address: '192.0.2.10', port: 5080 });
});

test('NAT is seen in a private Contact from a public source, another address, or a Via port the source does not match', (t) => {
  const privateContact = reg('sip:302@192.168.1.20:5060', ['203.0.113.7', 40123], 5060);
  t.true(behindNat(privateContact));
  t.deepEqual(registeredTarget(privateContact, none), { protocol: 'udp', address: '203.0.113.7', port: 40123 });
  const rewrittenPort = reg('sip:303@203.0.113.7:5060', ['203.0.113.7', 40124], 5060);
  t.true(behindNat(rewrittenPort), 'a NAT that keeps the address but maps the port');
  t.deepEqual(registeredTarget(rewrittenPort, none), { protocol: 'udp', address: '203.0.113.7', port: 40124 });
  t.true(behindNat(reg('sip:304@phone.example.com', ['203.0.113.8', 5060], 5060)), 'a host name cannot be compared: reach the source');
});

test('the user\'s setting forces the source or the Contact; a flow or a Path comes first', (t) => {
  const r = reg('sip:305@192.0.2.10:5080', ['192.0.2.10', 5070], 5070);
  t.deepEqual(registeredTarget(r, none, 'source'), { protocol: 'udp', address: '192.0.2.10', port: 5070 });
  const natted = reg('sip:306@192.168.1.20:5060', ['203.0.113.7', 40123], 5060);
  t.deepEqual(registeredTarget(natted, none, 'contact'), { protocol: 'udp', address: '192.168.1.20', port: 5060 });
  const path = reg('sip:307@192.168.1.20:5060', ['203.0.113.7', 40123], 5060, { path: ['<sip:192.0.2.99:5060;lr>'] });
  t.deepEqual(registeredTarget(path, none), { protocol: 'udp', address: '192.0.2.99', port: 5060 });
  const flow: RegisteredContactTarget = { contact: 'sip:308@192.168.1.20:5060;transport=tcp', path: [], source: { protocol: 'tcp', address: '203.0.113.7', port: 40125, flowId: 'f1' } };
  t.deepEqual(registeredTarget(flow, (id) => id === 'f1'), { protocol: 'tcp', address: '203.0.113.7', port: 40125, flowId: 'f1' });
});
