/**
 * baresip's ctrl_tcp interface (netstring-framed JSON): commands out, events and responses in.
 * Used for the phones the tests start themselves (test/helpers/baresip.ts) and for phones in
 * containers (test/helpers/containers.ts), which listen on their container's address.
 */
import { connect, type Socket } from 'node:net';

export interface BaresipEvent {
  type?: string;
  class?: string;
  param?: string;
  [k: string]: unknown;
}

export class BaresipControl {
  /** Every event and response received, in order (shared with the owner that passed it in). */
  readonly events: BaresipEvent[];
  #socket: Socket | undefined;
  #buf = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  #token = 0;

  constructor(events: BaresipEvent[] = []) {
    this.events = events;
  }

  /** Connects, retrying until `timeoutMs` while baresip opens its port; `detail()` goes into the error. */
  async connect(host: string, port: number, timeoutMs = 10_000, detail: () => string = () => ''): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        this.#socket = await new Promise<Socket>((resolve, reject) => {
          const s = connect(port, host, () => resolve(s));
          s.once('error', reject);
        });
        break;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`baresip ctrl_tcp did not open on ${host}:${port}: ${(e as Error).message}\n${detail()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    this.#socket.on('data', (d: Buffer) => this.#onData(d));
    this.#socket.on('error', () => undefined);
  }

  #onData(d: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, d]);
    for (;;) {
      const colon = this.#buf.indexOf(58);
      if (colon < 0) return;
      const len = Number(this.#buf.subarray(0, colon).toString());
      if (this.#buf.length < colon + 1 + len + 1) return;
      try {
        this.events.push(JSON.parse(this.#buf.subarray(colon + 1, colon + 1 + len).toString()) as BaresipEvent);
      } catch {
        // not JSON: ignore
      }
      this.#buf = this.#buf.subarray(colon + 2 + len);
      for (const w of this.#waiters.splice(0)) w();
    }
  }

  /** Sends a ctrl_tcp command (`dial`, `hangup`, `accept`, `sndcode`, `uanew`, ...). */
  command(command: string, params = ''): void {
    const p = Buffer.from(JSON.stringify({ command, params, token: String(++this.#token) }));
    this.#socket?.write(Buffer.concat([Buffer.from(`${p.length}:`), p, Buffer.from(',')]));
  }

  /** Waits for an event matching `pred` (already received ones count); `detail()` goes into the error. */
  async waitEvent(pred: (e: BaresipEvent) => boolean, timeoutMs = 10_000, detail: () => string = () => ''): Promise<BaresipEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const e = this.events.find(pred);
      if (e) return e;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`baresip: event not seen within ${timeoutMs} ms; events: ${JSON.stringify(this.events.map((x) => x.type))}\n${detail()}`);
      await new Promise<void>((res) => {
        const t = setTimeout(res, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
  }

  close(): void {
    this.#socket?.destroy();
  }
}
