/**
 * A nats-server owned by this node: the primary's and the secondary's, each a standalone
 * JetStream server with its own JetStream domain (the node's name). The secondary's server
 * holds a leaf connection to the primary's, which is how the two domains reach each other
 * (stream mirrors, heartbeats, presence); no cluster, so no quorum is needed with two cores.
 * The process is started on a configuration file written here and stopped by close().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from '../core/logger.js';

export interface NatsServerOptions {
  /** The node's name: server name and JetStream domain. */
  name: string;
  /** Client listen address and port. */
  address: string;
  port: number;
  /** Leaf connections from the secondary are taken on this port (the primary). */
  leafListen?: { address: string; port: number };
  /** The primary's leaf port this server connects to (the secondary). */
  leafRemote?: { address: string; port: number };
  /** Bus credentials for clients and the leaf connection; no password: no authentication. */
  user: string;
  password: string | null;
  /** Folder of the JetStream store and the configuration file. */
  dir: string;
  logger: Logger;
  /** The executable (default nats-server on PATH). */
  command?: string;
  /** How long the server may take to be ready (ms). */
  readyTimeoutMs?: number;
}

const q = (s: string) => JSON.stringify(s);
const hostPort = (address: string, port: number) => (address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`);

/** nats-server's configuration text for these options. */
export function natsServerConfig(o: NatsServerOptions): string {
  const auth = o.password === null ? '' : `authorization { user: ${q(o.user)}, password: ${q(o.password)} }`;
  const lines = [
    `server_name: ${q(`pbx-${o.name}`)}`,
    `listen: ${q(hostPort(o.address, o.port))}`,
    // one JetStream domain per core: each writes its own streams, the other mirrors them
    `jetstream { store_dir: ${q(resolve(o.dir, 'jetstream'))}, domain: ${q(o.name)}, max_memory_store: 64MB, max_file_store: 1GB }`,
    // a node killed outright leaves its server running: its next start finds it here and stops it
    `pid_file: ${q(resolve(o.dir, 'nats-server.pid'))}`,
    auth,
  ];
  if (o.leafListen) {
    lines.push(`leafnodes { listen: ${q(hostPort(o.leafListen.address, o.leafListen.port))}${o.password === null ? '' : `, ${auth}`} }`);
  }
  if (o.leafRemote) {
    const cred = o.password === null ? '' : `${encodeURIComponent(o.user)}:${encodeURIComponent(o.password)}@`;
    lines.push(`leafnodes { remotes: [ { url: ${q(`nats-leaf://${cred}${hostPort(o.leafRemote.address, o.leafRemote.port)}`)} } ] }`);
  }
  return lines.filter((l) => l !== '').join('\n') + '\n';
}

export class NatsServer {
  readonly #o: NatsServerOptions;
  #proc: ChildProcess | undefined;
  #exited: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  #tail: string[] = [];

  constructor(o: NatsServerOptions) {
    if (typeof o?.name !== 'string' || o.name === '') throw new TypeError('name: must be a non-empty string');
    if (!Number.isInteger(o.port)) throw new TypeError('port: must be an integer');
    if (typeof o.dir !== 'string' || o.dir === '') throw new TypeError('dir: must be a folder path');
    this.#o = o;
  }

  /** The process id while it runs. */
  get pid(): number | undefined {
    return this.#proc?.exitCode === null ? this.#proc.pid : undefined;
  }

  /** Starts the server and resolves once it is ready for clients; rejects naming the cause. */
  async start(): Promise<void> {
    if (this.#proc || this.#closing) throw new Error('nats-server: already started');
    const o = this.#o;
    mkdirSync(o.dir, { recursive: true });
    const file = join(o.dir, 'nats-server.conf');
    await stopOrphan(o.dir, resolve(file), o.logger);
    // the file holds the bus password: readable by this user only
    writeFileSync(file, natsServerConfig(o), { mode: 0o600 });
    const proc = spawn(o.command ?? 'nats-server', ['-c', file], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.#proc = proc;
    this.#exited = new Promise((done) => proc.once('close', () => done()));
    await new Promise<void>((ready, fail) => {
      const timer = setTimeout(() => fail(new Error(`nats-server (${o.name}): not ready after ${o.readyTimeoutMs ?? 10_000} ms: ${this.#tail.join(' | ')}`)), o.readyTimeoutMs ?? 10_000);
      let buffered = '';
      proc.stderr!.on('data', (d: Buffer) => {
        buffered += d.toString();
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          this.#line(line);
          if (line.includes('Server is ready')) {
            clearTimeout(timer);
            ready();
          }
        }
      });
      proc.once('error', (e) => {
        clearTimeout(timer);
        const missing = (e as NodeJS.ErrnoException).code === 'ENOENT';
        fail(new Error(missing ? 'nats-server: not found (install the Debian package nats-server)' : `nats-server: ${e.message}`));
      });
      proc.once('close', (code, signal) => {
        clearTimeout(timer);
        fail(new Error(`nats-server (${o.name}) exited (${signal ?? code}): ${this.#tail.join(' | ')}`));
      });
    }).catch(async (e: unknown) => {
      await this.close();
      throw e;
    });
    o.logger.info('bus: nats-server ready', { node: o.name, listen: hostPort(o.address, o.port), pid: proc.pid });
    proc.once('close', (code, signal) => {
      if (!this.#closing) o.logger.error('bus: nats-server exited', { node: o.name, code, signal, last: this.#tail.slice(-3) });
    });
  }

  #line(line: string): void {
    if (line === '') return;
    this.#tail.push(line);
    if (this.#tail.length > 10) this.#tail.shift();
    // [ERR] and [WRN] lines matter to an operator; the rest is nats-server's own chatter
    if (line.includes('[ERR]')) this.#o.logger.warn(`bus: nats-server: ${line}`);
    else this.#o.logger.debug(`bus: nats-server: ${line}`);
  }

  /** Stops the server (SIGTERM, SIGKILL after 5 s) and waits for it; idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const proc = this.#proc;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), 5000);
      await this.#exited;
      clearTimeout(killer);
    })();
    return this.#closing;
  }
}

/**
 * A nats-server left running by an earlier run of this node (the node was killed and its child
 * lived on, holding the ports and the store): stopped before a new one starts. Only a process
 * whose command line names this node's configuration file is touched.
 */
async function stopOrphan(dir: string, conf: string, logger: Logger): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dir, 'nats-server.pid'), 'utf8').trim());
  } catch {
    return;
  }
  const ours = () => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(conf);
    } catch {
      return false;
    }
  };
  if (!Number.isInteger(pid) || pid <= 0 || !ours()) return;
  logger.warn('bus: a nats-server of an earlier run of this node still runs; stopping it', { pid });
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  for (let i = 0; i < 100 && ours(); i++) await new Promise((r) => setTimeout(r, 20));
}
