/**
 * The compose topology of docker/compose.yaml for the container tests: brought up under a
 * project of its own, its containers found by service name, its phones (baresip in the peer
 * image) driven over ctrl_tcp on their container's address, and torn down (volumes too).
 * The engine is podman (podman-compose) unless PBX_CONTAINER_ENGINE=docker (docker compose);
 * scripts/containers.sh sets it and builds the images first.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BaresipControl, type BaresipEvent } from './baresip-ctrl.js';
import { ROOT } from './peers.js';
import { sleep } from './wait.js';
import { readWav } from './wav.js';

export const ENGINE = process.env.PBX_CONTAINER_ENGINE === 'docker' ? 'docker' : 'podman';
const COMPOSE = ENGINE === 'podman' ? ['podman-compose'] : ['docker', 'compose'];
export const COMPOSE_FILE = join(ROOT, 'docker/compose.yaml');
/** The images' tag (scripts/containers.sh: PBX_IMAGE_TAG), so checkouts on one machine test their own. */
export const IMAGE_TAG = process.env.PBX_IMAGE_TAG || 'latest';
export const IMAGES = [`localhost/pbx-core:${IMAGE_TAG}`, `localhost/pbx-peer:${IMAGE_TAG}`];
/** The tests' compose project (scripts/containers.sh: PBX_CT_PROJECT): names its containers, volumes and network. */
export const PROJECT = process.env.PBX_CT_PROJECT || 'pbxct';

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command; resolves with its exit code and output (never rejects). */
export function run(cmd: string, args: string[], timeoutMs = 120_000, env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 << 20, encoding: 'utf8', env }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr: err && code === -1 ? `${stderr}${err.message}` : stderr });
    });
  });
}

/** Runs the container engine; throws with its output when it fails. */
export async function engine(args: string[], timeoutMs?: number): Promise<string> {
  const r = await run(ENGINE, args, timeoutMs);
  if (r.code !== 0) throw new Error(`${ENGINE} ${args.join(' ')} failed (${r.code}): ${r.stderr.trim().slice(-2000)}`);
  return r.stdout;
}

/** The images the tests need that are missing (build them with scripts/containers.sh build). */
export async function missingImages(): Promise<string[]> {
  const missing: string[] = [];
  for (const image of IMAGES) if ((await run(ENGINE, ['image', 'inspect', image])).code !== 0) missing.push(image);
  return missing;
}

/** A JSON log line of a node (the solution document logs as JSON). */
export type NodeLine = Record<string, unknown> & { message: string; timestamp: string };

export class Topology {
  readonly project: string;
  readonly #phones: ContainerPhone[] = [];
  /** Stopped services: the network and address each had, for start(). */
  readonly #stopped = new Map<string, { network: string; address: string }>();

  private constructor(project: string) {
    this.project = project;
  }

  /**
   * Brings the topology up as `project`, after taking down whatever a crashed run left under
   * that name. Resolves once every container is created; readiness is the caller's to wait for.
   */
  static async up(project: string): Promise<Topology> {
    const t = new Topology(project);
    await t.down();
    const r = await t.#compose(['up', '-d'], 300_000);
    if (r.code !== 0) {
      await t.down();
      throw new Error(`compose up failed (${r.code}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`);
    }
    return t;
  }

  #compose(args: string[], timeoutMs = 120_000): Promise<Run> {
    const env = { ...process.env, PBX_IMAGE_TAG: IMAGE_TAG };
    return run(COMPOSE[0]!, [...COMPOSE.slice(1), '-p', this.project, '-f', COMPOSE_FILE, ...args], timeoutMs, env);
  }

  /** The container of a service (podman-compose 1.0.3 and docker compose name them differently). */
  container(service: string): string {
    return ENGINE === 'podman' ? `${this.project}_${service}_1` : `${this.project}-${service}-1`;
  }

  /** The container's address on the topology's network. */
  async address(service: string): Promise<string> {
    const out = await engine(['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', this.container(service)]);
    const ip = out.trim().split(/\s+/)[0];
    if (!ip) throw new Error(`${service}: no address`);
    return ip;
  }

  /** stdout and stderr of the service's container. */
  async logs(service: string): Promise<string> {
    const r = await run(ENGINE, ['logs', this.container(service)]);
    return r.stdout + r.stderr;
  }

  exec(service: string, cmd: string[], timeoutMs?: number): Promise<Run> {
    return run(ENGINE, ['exec', this.container(service), ...cmd], timeoutMs);
  }

  /**
   * The node's JSON log lines with `message` (or any for which it returns true) and `match`,
   * logged at `since` (ms since the epoch) or later, in the order logged.
   */
  async nodeLines(service: string, message: string | ((l: NodeLine) => boolean), since = 0, match: (l: NodeLine) => boolean = () => true): Promise<NodeLine[]> {
    const is = typeof message === 'string' ? (l: NodeLine) => l.message === message : message;
    const lines: NodeLine[] = [];
    for (const text of (await this.logs(service)).split('\n')) {
      if (!text.startsWith('{')) continue;
      try {
        const l = JSON.parse(text) as NodeLine;
        if (typeof l.message === 'string' && is(l) && Date.parse(l.timestamp) >= since && match(l)) lines.push(l);
      } catch {
        // not a log line of the node
      }
    }
    return lines.sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp));
  }

  /** Waits for the node to log `message` (and `match`) at `since` or later; throws with its log's tail after `timeoutMs`. */
  async waitNodeLine(service: string, message: string, since = 0, match: (l: NodeLine) => boolean = () => true, timeoutMs = 30_000): Promise<NodeLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const [l] = await this.nodeLines(service, message, since, match);
      if (l) return l;
      if (Date.now() > deadline) throw new Error(`${service}: no "${message}" within ${timeoutMs} ms:\n${(await this.logs(service)).slice(-3000)}`);
      await sleep(250);
    }
  }

  /**
   * Stops the service's container as an operator would (SIGTERM, then SIGKILL after
   * `graceSeconds`), keeping its address for start().
   */
  async stop(service: string, graceSeconds = 10): Promise<void> {
    const c = this.container(service);
    const [network] = (await engine(['inspect', '-f', '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}', c])).trim().split(/\s+/);
    if (!network) throw new Error(`${service}: on no network`);
    this.#stopped.set(service, { network, address: await this.address(service) });
    await engine(['stop', '-t', String(graceSeconds), c], (graceSeconds + 30) * 1000);
  }

  /**
   * Starts a stopped service's container again on the address it had. The solution's nodes
   * learn each other's addresses when they start (no compose engine here gives fixed ones), and
   * a node link or bus route takes calls only from the address it knows; an engine gives a
   * restarted container the next free address, so it is put back on its own, under its
   * service name, as a fixed address would keep it.
   */
  async start(service: string): Promise<void> {
    const c = this.container(service);
    const was = this.#stopped.get(service);
    if (was) {
      await engine(['network', 'disconnect', was.network, c]);
      await engine(['network', 'connect', '--ip', was.address, '--alias', service, was.network, c]);
    }
    await engine(['start', c], 60_000);
    this.#stopped.delete(service);
    const now = await this.address(service);
    if (was && now !== was.address) throw new Error(`${service}: started on ${now}, not on its address ${was.address}`);
  }

  /** Sends a signal to the container's main process (`STOP`, `CONT`, `TERM` ...). */
  async signal(service: string, signal: string): Promise<void> {
    await engine(['kill', '--signal', signal, this.container(service)]);
  }

  /**
   * Runs the image's health check once, now (podman runs health checks only on demand where
   * there is no systemd; Docker's own verdict would lag by its interval); true when healthy.
   */
  async healthy(service: string): Promise<boolean> {
    if (ENGINE === 'podman') return (await run('podman', ['healthcheck', 'run', this.container(service)], 30_000)).code === 0;
    const test = JSON.parse(await engine(['inspect', '-f', '{{json .Config.Healthcheck.Test}}', this.container(service)])) as string[];
    if (test[0] !== 'CMD') throw new Error(`${service}: no health check in its image`);
    return (await this.exec(service, test.slice(1), 30_000)).code === 0;
  }

  /** Waits until `service`'s log matches `re`; throws with the log's tail after `timeoutMs`. */
  async waitLog(service: string, re: RegExp, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const log = await this.logs(service);
      const m = re.exec(log);
      if (m) return m[0];
      if (Date.now() > deadline) throw new Error(`${service}: log did not show ${re} within ${timeoutMs} ms:\n${log.slice(-3000)}`);
      await sleep(250);
    }
  }

  /** The phone of a service running `peer-entrypoint phone`, connected to its ctrl_tcp. */
  async phone(service: string): Promise<ContainerPhone> {
    const p = new ContainerPhone(this, service);
    await p.connect();
    this.#phones.push(p);
    return p;
  }

  /** Stops and removes every container, network and volume of the project; idempotent. */
  async down(): Promise<void> {
    for (const p of this.#phones.splice(0)) p.close();
    await this.#compose(['down', '-v', '-t', '2'], 180_000);
    // podman-compose 1.0.3 leaves the project's network behind (docker compose removes it)
    if (ENGINE === 'podman') await run('podman', ['network', 'rm', '-f', `${this.project}_default`]);
  }
}

/** A baresip phone in a container (docker/peer/entrypoint.sh phone): ctrl_tcp on port 4444. */
export class ContainerPhone {
  readonly service: string;
  readonly events: BaresipEvent[] = [];
  readonly #topology: Topology;
  readonly #ctrl = new BaresipControl(this.events);

  constructor(topology: Topology, service: string) {
    this.#topology = topology;
    this.service = service;
  }

  async connect(): Promise<void> {
    const address = await this.#topology.address(this.service);
    await this.#ctrl.connect(address, 4444, 30_000, () => `(${this.service})`);
  }

  command(command: string, params = ''): void {
    this.#ctrl.command(command, params);
  }

  /** Events after `from` (an index into events) matching `pred`. */
  waitEvent(pred: (e: BaresipEvent) => boolean, timeoutMs = 15_000, from = 0): Promise<BaresipEvent> {
    return this.#ctrl.waitEvent((e) => this.events.indexOf(e) >= from && pred(e), timeoutMs, () => `(${this.service})`);
  }

  /** Waits for the registrar's 200 as baresip logs it (`... 200 OK (...) [1 binding]`). */
  async waitRegistered(timeoutMs = 60_000): Promise<void> {
    await this.#topology.waitLog(this.service, /\} 200 [^\n]*\[\d+ bindings?\]/, timeoutMs);
  }

  /** Sends DTMF digits one by one, as a person would key them. */
  async keys(digits: string): Promise<void> {
    for (const d of digits) {
      this.command('sndcode', d);
      await sleep(250);
    }
  }

  /** What the phone heard on its latest call (baresip's `*-dec.wav`, copied out of the container). */
  async lastHeard(): Promise<Int16Array> {
    const ls = await this.#topology.exec(this.service, ['sh', '-c', 'ls /peer/rec/*-dec.wav']);
    const files = ls.stdout.split('\n').filter(Boolean).sort();
    if (!files.length) throw new Error(`${this.service}: no recording (${ls.stderr.trim()})`);
    const dir = mkdtempSync(join(tmpdir(), `pbx-ct-${this.service}-`));
    await engine(['cp', `${this.#topology.container(this.service)}:${files[files.length - 1]}`, dir]);
    const name = files[files.length - 1]!.split('/').pop()!;
    return (await readWav(join(dir, name))).samples;
  }

  close(): void {
    this.#ctrl.close();
  }
}
