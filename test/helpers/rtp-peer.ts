/**
 * Test helper: a small RTP peer on a UDP socket (packets built and parsed with rtp.js). It can send
 * 20 ms G.711 frames of given samples on a 20 ms timer, and it collects what it receives: decoded
 * audio (reference codecs), RTP headers, and RFC 4733 events. For unit-level media tests; use
 * sipp for tests that need a peer nobody here wrote.
 *
 *   const peer = await RtpPeer.open('127.0.0.1');
 *   peer.sendTone(pcm, { to: { address, port }, pt: 0 });
 *   ... peer.received.samples, peer.headers, peer.events ... ; peer.close();
 */
import dgram from 'node:dgram';
import { RtpPacket, isRtp } from 'rtp.js/packets';
import { decodeAlaw, decodeUlaw, encodeAlaw, encodeUlaw } from '../../src/media/reference/g711.js';

export interface RtpHeader {
  pt: number;
  seq: number;
  ts: number;
  ssrc: number;
  marker: boolean;
  size: number;
}

export interface Rfc4733 {
  event: number;
  end: boolean;
  duration: number;
  ts: number;
  marker: boolean;
}

export class RtpPeer {
  readonly socket: dgram.Socket;
  readonly headers: RtpHeader[] = [];
  readonly events: Rfc4733[] = [];
  readonly rtcp: Buffer[] = [];
  /** Audio chunks decoded by payload type (0 or 8). */
  #chunks: Int16Array[] = [];
  #timer: NodeJS.Timeout | undefined;
  tePt = 101;

  private constructor(socket: dgram.Socket) {
    this.socket = socket;
    socket.on('message', (msg) => this.#onMessage(msg));
  }

  static async open(address = '127.0.0.1', port = 0): Promise<RtpPeer> {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(port, address, () => resolve());
    });
    return new RtpPeer(s);
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** All audio received so far, concatenated. */
  get samples(): Int16Array {
    const n = this.#chunks.reduce((a, c) => a + c.length, 0);
    const out = new Int16Array(n);
    let o = 0;
    for (const c of this.#chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }

  clear(): void {
    this.#chunks = [];
    this.headers.length = 0;
    this.events.length = 0;
  }

  #onMessage(msg: Buffer): void {
    const view = new DataView(msg.buffer, msg.byteOffset, msg.byteLength);
    if (msg.length >= 2 && msg[1]! >= 192 && msg[1]! <= 223) {
      this.rtcp.push(msg);
      return;
    }
    if (!isRtp(view)) return;
    const p = new RtpPacket(view);
    const pt = p.getPayloadType();
    this.headers.push({ pt, seq: p.getSequenceNumber(), ts: p.getTimestamp(), ssrc: p.getSsrc(), marker: p.getMarker(), size: msg.length });
    const pay = p.getPayload();
    const bytes = new Uint8Array(pay.buffer, pay.byteOffset, pay.byteLength);
    if (pt === 0) this.#chunks.push(decodeUlaw(bytes));
    else if (pt === 8) this.#chunks.push(decodeAlaw(bytes));
    else if (pt === this.tePt && bytes.length >= 4)
      this.events.push({ event: bytes[0]!, end: (bytes[1]! & 0x80) !== 0, duration: (bytes[2]! << 8) | bytes[3]!, ts: p.getTimestamp(), marker: p.getMarker() });
  }

  /** Sends samples as 20 ms frames every 20 ms (looping) until stop()/close(). */
  sendTone(pcm: Int16Array, o: { to: { address: string; port: number }; pt: 0 | 8; ssrc?: number }): void {
    this.stop();
    const ssrc = o.ssrc ?? ((Math.random() * 0xffffffff) >>> 0);
    let seq = (Math.random() * 0xffff) | 0;
    let ts = (Math.random() * 0xffffffff) >>> 0;
    let pos = 0;
    const start = Date.now();
    let sent = 0;
    const tick = () => {
      // Catch up on timer lateness so the rate stays 50 packets/s.
      const due = Math.floor((Date.now() - start) / 20) + 1;
      while (sent < due) {
        const frame = new Int16Array(160);
        for (let i = 0; i < 160; i++) {
          frame[i] = pcm[pos]!;
          pos = (pos + 1) % pcm.length;
        }
        const payload = o.pt === 0 ? encodeUlaw(frame) : encodeAlaw(frame);
        const p = new RtpPacket();
        p.setPayloadType(o.pt);
        p.setSequenceNumber(seq);
        p.setTimestamp(ts);
        p.setSsrc(ssrc);
        p.setPayload(new DataView(payload.buffer, payload.byteOffset, payload.byteLength));
        const v = p.getView();
        this.socket.send(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), o.to.port, o.to.address);
        seq = (seq + 1) & 0xffff;
        ts = (ts + 160) >>> 0;
        sent++;
      }
    };
    tick();
    this.#timer = setInterval(tick, 20);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  close(): void {
    this.stop();
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}

/** 8 kHz 16-bit sine, amplitude ~0.5 full scale (like the sox recipes). */
export function sine(freq: number, seconds: number, amplitude = 16000): Int16Array {
  const n = Math.round(seconds * 8000);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(amplitude * Math.sin((2 * Math.PI * freq * i) / 8000));
  return out;
}
