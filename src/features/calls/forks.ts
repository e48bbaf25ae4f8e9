/**
 * The INVITEs a call sends: one per registered phone of an extension, or one to a trunk's
 * carrier. Each gets a media side in the engine (anchored) and the offer the call makes, and is
 * built by the stack's one INVITE builder (Allow, Supported, Max-Forwards).
 */
import type { Logger } from '../../core/logger.js';
import { quote } from '../../sip/message/grammar.js';
import { registeredTarget } from '../../sip/routing.js';
import { SipStack } from '../../sip/stack.js';
import type { Target, TransportProtocol } from '../../sip/transport/types.js';
import { buildInvite } from '../../sip/ua/requests.js';
import { OutboundLeg } from './leg.js';
import type { AnchoredSide } from './media.js';
import type { ForkMaker, ForkSource } from './ring/ringing.js';
import type { TrunkRoute } from './ring/strategy.js';
import { OfferAnswer, type Fork } from './session.js';
import { trunkInvite } from './trunk-messages.js';
import type { CallSolution, CallTrunks, CallUser, RegisteredContact } from './types.js';

export interface ForkFactoryOptions {
  stack: SipStack;
  logger: Logger;
  domain: string;
  users: Map<string, CallUser>;
  locate: (extension: string) => RegisteredContact[];
  trunks: CallTrunks | undefined;
  /** The other nodes of a solution: a hunt group's member served elsewhere is rung over a link. */
  solution?: CallSolution | undefined;
  /** A phone was rung (who is busy changes). */
  onRing?: () => void;
}

export class ForkFactory implements ForkMaker {
  readonly #o: ForkFactoryOptions;

  constructor(o: ForkFactoryOptions) {
    this.#o = o;
  }

  /** Our Contact on `protocol`. */
  contact(protocol: TransportProtocol): string {
    const l = this.#o.stack.local(protocol === 'wss' ? 'wss' : protocol);
    return `<sip:pbx@${l.address}:${l.port};transport=${protocol}>`;
  }

  toExtension(src: ForkSource, extension: string): Fork[] {
    const o = this.#o;
    const callee = o.users.get(extension);
    if (!callee) return this.#remotePhones(src, extension);
    o.onRing?.();
    const info = src.info;
    const forks: Fork[] = [];
    for (const b of o.locate(callee.extension)) {
      const target = registeredTarget(b, (id) => o.stack.transports.hasFlow(id), callee.nat);
      if (!target) continue;
      // RFC 3323: an anonymous From, Privacy: id, and no asserted identity towards a phone
      const identity: Record<string, string> = info.withheld
        ? { privacy: 'id' }
        : { 'p-asserted-identity': `${quoteName(info.callerName)}<sip:${info.callerNumber}@${o.domain}>` };
      const from = info.withheld
        ? `"Anonymous" <sip:anonymous@anonymous.invalid>;tag=${SipStack.tag()}`
        : `${quoteName(info.callerName)}<sip:${info.callerNumber}@${o.domain}>;tag=${SipStack.tag()}`;
      const made = this.#side(src, info.id);
      if (!made) continue;
      const body = src.offer(made.side, made.oa);
      const req = buildInvite(o.stack, {
        uri: b.contact, from, to: `<sip:${callee.extension}@${o.domain}>`, contact: this.contact(target.protocol),
        maxForwards: src.maxForwards, route: b.path, headers: identity, body,
      });
      const leg = new OutboundLeg(o.stack, req, target, callee.extension, o.logger, { ackLater: body === undefined });
      forks.push({ leg, side: made.side, contact: b.contact, oa: made.oa });
    }
    return forks;
  }

  async toTrunk(src: ForkSource, route: TrunkRoute): Promise<Fork | undefined> {
    const o = this.#o;
    const t = route.trunk;
    let target: Target;
    try {
      target = await t.target();
    } catch (e) {
      o.logger.warn(`trunk ${t.name} cannot be reached: ${(e as Error).message}`, { call: src.info.id });
      return undefined;
    }
    if (src.over) return undefined;
    const info = src.info;
    const made = this.#side(src, info.id);
    if (!made) return undefined;
    const body = src.offer(made.side, made.oa);
    const req = trunkInvite(o.stack, {
      trunk: t, number: route.number, callerId: route.callerId, caller: { number: info.callerNumber, name: info.callerName, withheld: info.withheld },
      contact: this.contact(target.protocol), maxForwards: src.maxForwards, body,
    });
    const leg = new OutboundLeg(o.stack, req, target, `trunk ${t.name}`, o.logger, { credentials: t.digest, ackLater: body === undefined });
    o.logger.info(`call out on trunk ${t.name} to ${route.number}`, { call: info.id, leg: req.callId });
    return { leg, side: made.side, contact: `trunk ${t.name}`, oa: made.oa };
  }

  /**
   * The phones of a user another node serves (a hunt group's member): one INVITE over the link
   * to that node, which rings them; the fork's party is the member, so who is busy here knows.
   */
  #remotePhones(src: ForkSource, extension: string): Fork[] {
    const o = this.#o;
    const node = o.solution?.servedElsewhere(extension);
    if (node === undefined) return [];
    const info = src.info;
    const route = o.solution!.routes(node, { service: { kind: 'phones' }, origin: info.direction === 'incoming' ? 'trunk' : 'user', hops: 0 }).find((r) => r.acquire());
    if (!route) return [];
    const made = this.#side(src, info.id);
    if (!made) {
      route.release();
      return [];
    }
    o.onRing?.();
    const body = src.offer(made.side, made.oa);
    const req = trunkInvite(o.stack, {
      trunk: route, number: extension, callerId: {}, caller: { number: info.callerNumber, name: info.callerName, withheld: info.withheld },
      contact: this.contact(route.destination.protocol), maxForwards: src.maxForwards, body,
    });
    const leg = new OutboundLeg(o.stack, req, route.destination, extension, o.logger, { credentials: route.digest, ackLater: body === undefined });
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      route.release();
    };
    return [{ leg, side: made.side, contact: `${extension} on node ${node}`, oa: made.oa, release }];
  }

  watchRoutes(cb: () => void): () => void {
    const trunks = this.#o.trunks;
    if (!trunks) return () => undefined;
    trunks.on('channel-free', cb);
    return () => void trunks.off('channel-free', cb);
  }

  #side(src: ForkSource, call: string): { side: AnchoredSide | undefined; oa: OfferAnswer } | undefined {
    try {
      return { side: src.newSide(), oa: new OfferAnswer() };
    } catch (e) {
      this.#o.logger.error(`no media port for a fork: ${(e as Error).message}`, { call });
      return undefined;
    }
  }
}

/** A display name always quoted, as phones show it best, followed by the space before <URI>. */
function quoteName(name: string): string {
  return name ? `${quote(name)} ` : '';
}
