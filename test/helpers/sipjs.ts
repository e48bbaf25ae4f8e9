import { WebSocket } from 'ws';
import { Registerer, RegistererState, UserAgent, type SessionDescriptionHandlerFactory } from 'sip.js';

// SIP.js's web transport opens `new WebSocket(url, 'sip')`; Node 20 has no global one.
(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

export interface WsPhone {
  ua: UserAgent;
  registerer: Registerer;
  /** Un-registers and stops cleanly. */
  stop(): Promise<void>;
  /** Drops the WebSocket without un-registering, as a browser tab that is closed. */
  stopAbruptly(): Promise<void>;
  /** Frees whatever SIP.js still holds (timers, sockets); use after stopAbruptly. */
  dispose(): Promise<void>;
}

interface PhoneOptions {
  url: string;
  user: string;
  password: string;
  domain: string;
  expires?: number;
  /** RFC 5626 outbound: reg-id 1 with SIP.js's +sip.instance. */
  outbound?: boolean;
  sessionDescriptionHandlerFactory?: SessionDescriptionHandlerFactory;
}

/** Starts a SIP.js user agent over WebSocket and waits until it is registered. */
async function startPhone(o: PhoneOptions): Promise<WsPhone> {
  const ua = new UserAgent({
    uri: UserAgent.makeURI(`sip:${o.user}@${o.domain}`),
    transportOptions: { server: o.url, traceSip: !!process.env.TRACE_SIP },
    authorizationUsername: o.user,
    authorizationPassword: o.password,
    logLevel: process.env.TRACE_SIP ? 'log' : 'error',
    logBuiltinEnabled: !!process.env.TRACE_SIP,
    ...(o.sessionDescriptionHandlerFactory ? { sessionDescriptionHandlerFactory: o.sessionDescriptionHandlerFactory } : {}),
  });
  await ua.start();
  const registerer = new Registerer(ua, { expires: o.expires ?? 600, ...(o.outbound ? { regId: 1 } : {}) });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('SIP.js did not register within 10 s')), 10_000);
    registerer.stateChange.addListener((s) => {
      if (s === RegistererState.Registered) {
        clearTimeout(timer);
        resolve();
      }
    });
    registerer.register({ requestDelegate: { onReject: (r) => reject(new Error(`REGISTER rejected: ${r.message.statusCode}`)) } }).catch(reject);
  });
  return {
    ua,
    registerer,
    stop: async () => {
      await registerer.unregister().catch(() => undefined);
      await ua.stop();
    },
    stopAbruptly: async () => {
      // Close the socket under SIP.js's feet: no un-REGISTER goes out.
      await ua.transport.disconnect();
    },
    dispose: async () => {
      await Promise.race([
        (async () => {
          await registerer.dispose().catch(() => undefined);
          await ua.stop().catch(() => undefined);
        })(),
        new Promise((r) => setTimeout(r, 2000)),
      ]);
    },
  };
}

/** A SIP.js user agent that registers over WebSocket with RFC 5626 outbound (reg-id 1). */
export function registerOverWebSocket(o: { url: string; user: string; password: string; domain: string; expires?: number }): Promise<WsPhone> {
  return startPhone({ ...o, outbound: true });
}

/**
 * A SIP.js phone for calls: SIP.js's own signalling (dialogs, REFER, Replaces), with a
 * session description handler that offers and accepts a fixed PCMU SDP instead of WebRTC
 * (there is no browser here). Its RTP port receives nothing that is read.
 */
export function sipjsPhone(o: { url: string; user: string; password: string; domain: string; rtpPort: number }): Promise<WsPhone> {
  const sdp = `v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio ${o.rtpPort} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n`;
  const handler = {
    close: () => undefined,
    getDescription: async () => ({ body: sdp, contentType: 'application/sdp' }),
    hasDescription: (contentType: string) => contentType === 'application/sdp',
    setDescription: async () => undefined,
    sendDtmf: () => false,
  };
  return startPhone({ ...o, sessionDescriptionHandlerFactory: () => handler });
}
