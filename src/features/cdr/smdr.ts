/**
 * SMDR (station message detail recording): the call records as a live CSV stream on a TCP
 * port, the way PBXs feed billing and call-accounting systems. A client connects, gets a header
 * line, then one line per call as calls end. Nothing is replayed: the store has the history.
 *
 * Line format (UTF-8, RFC 4180 quoting, CRLF), fields in this fixed order:
 *   1  Call Start        call start (INVITE received), local time with offset: 2026-11-24T22:08:19+01:00
 *   2  Connected Time    time connected (answer to end), hh:mm:ss, rounded to the second; 00:00:00 unanswered
 *   3  Ring Time         seconds from start to answer (or to end, unanswered), rounded
 *   4  Caller            caller's number
 *   5  Direction         I incoming, O outgoing, N internal
 *   6  Called Number     number called (today the number as dialled, see below)
 *   7  Dialled Number    number as dialled
 *   8  Connected Number  extension that answered; empty if none
 *   9  Disposition       answered | busy | no-answer | cancelled | rejected | failed
 *   10 Cause             SIP status that ended an unanswered call, or the side that hung up
 *   11 Call ID           our call id
 *   12 Caller Name       caller's display name
 * New fields are only ever appended, so a billing import keyed on positions keeps working.
 * Called Number repeats the dialled number until the record carries the number as routed
 * (after short codes and ARS), which is what this field means on a PBX for outgoing calls.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from '../../core/logger.js';
import type { CallRecord } from '../../core/call-record.js';
import { assertCallRecord } from './validate.js';

export const SMDR_FIELDS = [
  'Call Start', 'Connected Time', 'Ring Time', 'Caller', 'Direction', 'Called Number', 'Dialled Number',
  'Connected Number', 'Disposition', 'Cause', 'Call ID', 'Caller Name',
] as const;

const DIRECTION_CODE = { incoming: 'I', outgoing: 'O', internal: 'N' } as const;

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** `d` in the process's local time zone as ISO 8601 with its offset, to the second. */
export function localIsoTime(d: Date): string {
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  return (
    `${pad(d.getFullYear(), 4)}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}` +
    `T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  );
}

function hms(seconds: number): string {
  const s = Math.round(seconds);
  return `${pad(Math.floor(s / 3600))}:${pad(Math.floor(s / 60) % 60)}:${pad(s % 60)}`;
}

/**
 * One CSV field. Control characters (CR, LF, ...) become spaces: RFC 4180 would allow a line
 * break inside quotes, but SMDR readers split on lines, and one record must stay one line.
 */
function csv(value: string): string {
  const v = value.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return /[",]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

const line = (fields: readonly string[]) => fields.map(csv).join(',') + '\r\n';

/** The header line sent to each client on connect, CRLF included. */
export const SMDR_HEADER = line(SMDR_FIELDS);

/** One record as an SMDR line (CRLF included); throws a TypeError naming a wrong field. */
export function formatSmdr(r: CallRecord): string {
  assertCallRecord(r);
  return line([
    localIsoTime(r.start),
    hms(r.durationSec),
    String(Math.round(r.ringSec)),
    r.callerNumber,
    DIRECTION_CODE[r.direction],
    r.calledNumber,
    r.calledNumber,
    r.connectedNumber ?? '',
    r.disposition,
    r.cause,
    r.id,
    r.callerName,
  ]);
}

export interface SmdrServerOptions {
  /** Local IP address to listen on. */
  address: string;
  /** TCP port; 0 takes a free one (read it from `port` after start()). */
  port: number;
  logger: Logger;
  /** A client with more than this many bytes waiting to be sent is dropped as slow or dead. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Clients served at once; more are refused, so the buffers together stay bounded. Default 16. */
  maxClients?: number;
  /** How long close() lets clients take what is already sent before cutting them off (ms). Default 1000. */
  closeGraceMs?: number;
}

function positiveInt(v: unknown, field: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isInteger(v) || (v as number) < 1) throw new TypeError(`options.${field}: must be an integer >= 1`);
  return v as number;
}

export class SmdrServer {
  readonly #address: string;
  readonly #port: number;
  readonly #log: Logger;
  readonly #maxBuffered: number;
  readonly #maxClients: number;
  readonly #graceMs: number;
  readonly #clients = new Map<Socket, string>();
  #server: Server | undefined;
  #starting: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: SmdrServerOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('options: must be an object');
    if (typeof options.address !== 'string' || options.address === '') throw new TypeError('options.address: must be an IP address');
    if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
      throw new TypeError('options.port: must be an integer 0..65535');
    }
    if (typeof options.logger?.warn !== 'function') throw new TypeError('options.logger: must be a Logger');
    this.#address = options.address;
    this.#port = options.port;
    this.#log = options.logger;
    this.#maxBuffered = positiveInt(options.maxBufferedBytes, 'maxBufferedBytes', 1 << 20);
    this.#maxClients = positiveInt(options.maxClients, 'maxClients', 16);
    this.#graceMs = positiveInt(options.closeGraceMs, 'closeGraceMs', 1000);
  }

  /** `address:port` as listened on (IPv6 in brackets). */
  get endpoint(): string {
    const a = this.#address.includes(':') ? `[${this.#address}]` : this.#address;
    return `${a}:${this.port}`;
  }

  /** The port listened on once started (the one chosen when options.port was 0). */
  get port(): number {
    const bound = this.#server?.address() as AddressInfo | null | undefined;
    return bound?.port ?? this.#port;
  }

  get clientCount(): number {
    return this.#clients.size;
  }

  /** Starts listening; rejects with a message naming address:port if it cannot (e.g. in use). */
  start(): Promise<void> {
    if (this.#closing) return Promise.reject(new Error(`SMDR ${this.endpoint}: closed`));
    this.#starting ??= new Promise<void>((resolve, reject) => {
      const server = createServer((socket) => this.#accept(socket));
      this.#server = server;
      const failed = (err: NodeJS.ErrnoException) => {
        this.#server = undefined;
        this.#starting = undefined; // a later start() may try again
        const why = err.code === 'EADDRINUSE' ? 'address already in use' : err.code === 'EADDRNOTAVAIL' ? 'address not available on this host' : err.message;
        reject(new Error(`SMDR: cannot listen on ${this.endpoint}: ${why}`, { cause: err }));
      };
      server.once('error', failed);
      server.listen({ host: this.#address, port: this.#port, exclusive: true }, () => {
        server.off('error', failed);
        server.on('error', (err) => this.#log.error('SMDR server error', { endpoint: this.endpoint, err }));
        this.#log.info('SMDR listening', { endpoint: this.endpoint });
        resolve();
      });
    });
    return this.#starting;
  }

  /** Sends `record` to every connected client; a client that cannot keep up is dropped. */
  publish(record: CallRecord): void {
    const text = formatSmdr(record);
    for (const socket of this.#clients.keys()) this.#send(socket, text);
  }

  /** Stops listening and disconnects every client; idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    // A close() during start() waits for the listen to settle, so the socket it makes is closed too.
    await this.#starting?.catch(() => undefined);
    const server = this.#server;
    this.#server = undefined;
    const sockets = [...this.#clients.keys()];
    const gone = sockets.map((s) => new Promise<void>((done) => s.once('close', () => done())));
    for (const s of sockets) s.end();
    // end() lets a client read what is already queued; one that never reads is cut off.
    const timer = setTimeout(() => sockets.forEach((s) => s.destroy()), this.#graceMs);
    try {
      await Promise.all([
        ...gone,
        new Promise<void>((done) => (server?.listening ? server.close(() => done()) : done())),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  #accept(socket: Socket): void {
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    if (this.#closing || this.#clients.size >= this.#maxClients) {
      this.#log.warn('SMDR client refused: too many clients', { endpoint: this.endpoint, remote, max: this.#maxClients });
      socket.destroy();
      return;
    }
    this.#clients.set(socket, remote);
    socket.setKeepAlive(true, 30_000);
    socket.on('error', (err) => this.#log.debug('SMDR client error', { remote, err: err.message }));
    socket.on('close', () => {
      this.#clients.delete(socket);
      this.#log.info('SMDR client disconnected', { remote });
    });
    // Whatever a client sends is discarded; reading it lets its FIN arrive as 'end'.
    socket.resume();
    this.#log.info('SMDR client connected', { endpoint: this.endpoint, remote });
    this.#send(socket, SMDR_HEADER);
  }

  #send(socket: Socket, text: string): void {
    if (socket.destroyed || !socket.writable) return;
    socket.write(text);
    if (socket.writableLength > this.#maxBuffered) {
      this.#log.warn('SMDR client dropped: not reading its records', {
        remote: this.#clients.get(socket),
        bufferedBytes: socket.writableLength,
        limit: this.#maxBuffered,
      });
      socket.destroy();
    }
  }
}
