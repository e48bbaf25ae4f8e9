/**
 * `pbx probe`: is a node answering SIP? Sends one OPTIONS through our own stack (so UDP gets
 * RFC 3261's retransmissions, TCP a real connection) and reports the answer. A container's health
 * check runs it: a process that is up but whose SIP stack does not answer is not healthy.
 */
import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Config } from './core/config/index.js';
import { isLoopback } from './core/config/checks.js';
import { SipRequest, type SipResponse } from './sip/message/message.js';
import { parseUri } from './sip/message/uri.js';
import { SipStack } from './sip/stack.js';

export type ProbeProtocol = 'udp' | 'tcp';

export interface ProbeTarget {
  protocol: ProbeProtocol;
  /** IP address, or a host name resolved (A/AAAA) when the probe starts. */
  host: string;
  port: number;
}

export interface ProbeResult {
  /** True only for a 200. */
  ok: boolean;
  /** The final response's status; undefined when none came. */
  status?: number;
  reason?: string;
  /** The answering server's Server (or User-Agent) header. */
  server?: string;
  /** Why no final response came (timeout, transport error, unresolvable host). */
  error?: string;
  /** Time from sending to the final response (or to giving up), ms. */
  ms: number;
  /** The address the OPTIONS went to. */
  address: string;
}

/**
 * The target named on the command line: `sip:host[:port][;transport=tcp]` or `host[:port]`
 * (IPv6 literals in brackets). Throws a TypeError naming what is wrong.
 */
export function parseProbeTarget(text: string): ProbeTarget {
  if (typeof text !== 'string' || text === '') throw new TypeError('target: must be a SIP URI or host[:port]');
  let uri;
  try {
    uri = parseUri(/^sips?:/i.test(text) ? text : `sip:${text}`);
  } catch {
    throw new TypeError(`target: not a SIP URI or host[:port]: ${text}`);
  }
  if (uri.scheme !== 'sip') throw new TypeError(`target: only sip: URIs can be probed (over UDP or TCP): ${text}`);
  const transport = (uri.params.get('transport') ?? 'udp').toLowerCase();
  if (transport !== 'udp' && transport !== 'tcp') throw new TypeError(`target: transport must be udp or tcp, not ${transport}`);
  const host = uri.host.startsWith('[') ? uri.host.slice(1, -1) : uri.host;
  return { protocol: transport, host, port: uri.port ?? 5060 };
}

/**
 * What a configuration's node listens on: its first UDP socket, else its first TCP one; a
 * wildcard address (0.0.0.0, ::) is probed on the loopback address of its family.
 */
export function configProbeTarget(config: Config): ProbeTarget {
  const l = config.sip.listen.find((x) => x.transport === 'udp') ?? config.sip.listen.find((x) => x.transport === 'tcp');
  if (!l) throw new TypeError('sip.listen: no udp or tcp socket to probe');
  const host = l.address === '0.0.0.0' ? '127.0.0.1' : l.address === '::' ? '::1' : l.address;
  return { protocol: l.transport as ProbeProtocol, host, port: l.port };
}

/** Sends one OPTIONS to `target` and waits for its final response, at most `timeoutMs`. */
export async function probe(target: ProbeTarget, timeoutMs: number): Promise<ProbeResult> {
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new TypeError('timeoutMs: must be a positive number');
  const started = Date.now();
  let address: string;
  try {
    address = isIP(target.host) ? target.host : (await lookup(target.host)).address;
  } catch (err) {
    return { ok: false, error: `cannot resolve ${target.host}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, ms: Date.now() - started, address: target.host };
  }
  const stack = new SipStack({
    listen: [{ transport: target.protocol, address: await localAddress(address), port: 0 }],
    maxMessageSize: 65535,
    logger: { error() {}, warn() {}, info() {}, debug() {} },
    userAgent: 'pbx-probe',
    methods: [],
    onRequest: () => undefined,
  });
  try {
    await stack.start();
    const hostport = `${isIP(address) === 6 ? `[${address}]` : address}:${target.port}`;
    const uri = `sip:${hostport}${target.protocol === 'tcp' ? ';transport=tcp' : ''}`;
    const local = stack.local(target.protocol);
    const req = new SipRequest('OPTIONS', uri);
    req.set('from', `<sip:probe@${isIP(local.address) === 6 ? `[${local.address}]` : local.address}>;tag=${SipStack.tag()}`).set('to', `<${uri}>`);
    req.set('call-id', SipStack.callId()).set('cseq', '1 OPTIONS').set('accept', 'application/sdp');
    const sent = Date.now();
    const answer = await new Promise<SipResponse | string>((resolve) => {
      const timer = setTimeout(() => resolve(`no answer within ${timeoutMs / 1000} s`), timeoutMs);
      const done = (r: SipResponse | string) => {
        clearTimeout(timer);
        resolve(r);
      };
      try {
        stack.request(req, {
          onResponse: (res) => {
            if (res.status >= 200) done(res);
          },
          onFailure: (reason) => done(reason === 'timeout' ? 'no answer (transaction timed out)' : 'transport error (connection refused or unreachable)'),
        }, { protocol: target.protocol, address, port: target.port });
      } catch (err) {
        done(`not sent: ${(err as Error).message}`);
      }
    });
    const ms = Date.now() - sent;
    if (typeof answer === 'string') return { ok: false, error: answer, ms, address };
    return { ok: answer.status === 200, status: answer.status, reason: answer.reason, server: answer.get('server') ?? answer.get('user-agent'), ms, address };
  } catch (err) {
    return { ok: false, error: (err as Error).message, ms: Date.now() - started, address };
  } finally {
    await stack.close();
  }
}

/** The probe's own address: loopback for a loopback target, else the one the kernel routes from. */
async function localAddress(remote: string): Promise<string> {
  const v6 = isIP(remote) === 6;
  if (isLoopback(remote)) return v6 ? '::1' : '127.0.0.1';
  const s = createSocket(v6 ? 'udp6' : 'udp4');
  try {
    // connect() on UDP sends nothing: it only asks the routing table which source to use
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.connect(9, remote, () => resolve());
    });
    return s.address().address;
  } catch {
    return v6 ? '::' : '0.0.0.0';
  } finally {
    s.close();
  }
}

/** One line for a person or a health-check log. */
export function describeProbe(target: ProbeTarget, r: ProbeResult): string {
  const where = `${target.protocol}:${target.host}${r.address !== target.host ? ` (${r.address})` : ''}:${target.port}`;
  if (r.status === undefined) return `${where}: ${r.error}`;
  return `${where}: ${r.status} ${r.reason} in ${r.ms} ms${r.server ? ` (${r.server})` : ''}`;
}
