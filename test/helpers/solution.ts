/**
 * The nodes of a solution in the test's own process, each on a loopback address of its own
 * (127.16.S.11 and up): quicker to start than node processes in namespaces, and the test can
 * look at each node's state directly. The document is written to a temporary folder with each
 * node's data under it.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogLevel } from '../../src/core/config/index.js';
import { createTestLogger, type TestLogger } from '../../src/core/logger.js';
import { Server } from '../../src/server.js';
import { bootNode } from '../../src/solution/boot.js';
import { until } from './wait.js';

export interface SolutionNodeSpec {
  name: string;
  role: 'primary' | 'secondary' | 'expansion';
  profile: string;
  /** The node's overrides, a YAML flow mapping (e.g. `{ admin: { enabled: true, port: 30100 } }`). */
  overrides?: string;
}

export class TestSolution {
  readonly dir: string;
  readonly file: string;
  readonly servers = new Map<string, Server>();
  /** Each node's log lines (records). */
  readonly logs = new Map<string, TestLogger>();
  readonly #subnet: number;
  readonly #names: string[];

  /**
   * `subnet`: the third byte of the nodes' loopback addresses (unique to the test file); `rest`:
   * the document's other sections (users, trunks...), YAML.
   */
  constructor(subnet: number, nodes: SolutionNodeSpec[], rest: string) {
    this.#subnet = subnet;
    this.#names = nodes.map((n) => n.name);
    this.dir = mkdtempSync(join(tmpdir(), 'pbx-solution-'));
    this.file = join(this.dir, 'solution.yaml');
    const entries = nodes.map((n) => `  - { name: ${n.name}, role: ${n.role}, profile: ${n.profile}, address: ${this.addr(n.name)}, dataDir: ${JSON.stringify(join(this.dir, n.name))}${n.overrides ? `, overrides: ${n.overrides}` : ''} }`);
    writeFileSync(this.file, `nodes:\n${entries.join('\n')}\n${rest}`);
  }

  /** Node `name`'s address (SIP, media, bus). */
  addr(name: string): string {
    const i = this.#names.indexOf(name);
    if (i < 0) throw new TypeError(`name: no node ${name}`);
    return `127.16.${this.#subnet}.${11 + i}`;
  }

  /** The test's own address on that loopback subnet (phones, sipp). */
  get here(): string {
    return `127.16.${this.#subnet}.1`;
  }

  node(name: string): Server {
    const s = this.servers.get(name);
    if (!s) throw new TypeError(`name: node ${name} is not running`);
    return s;
  }

  /** Starts the nodes (all by default) in order, and waits until every one has applied the first revision. */
  async start(names = this.#names, level: LogLevel = 'info'): Promise<void> {
    for (const name of names) {
      const logger = createTestLogger(level);
      this.logs.set(name, logger);
      const boot = bootNode(this.file, name, logger);
      const s = new Server(boot.view, logger, { solution: boot });
      this.servers.set(name, s);
      await s.start();
    }
    await until('every node applied the document', () => names.every((n) => (this.node(n).solution?.revision ?? 0) >= 1), 20_000);
  }

  /** Waits until every link of every running node is up. */
  async linksUp(timeoutMs = 15_000): Promise<void> {
    await until('every node link up', () => [...this.servers.values()].every((s) => s.solution!.linkStatus().every((l) => l.state === 'up')), timeoutMs);
  }

  async stop(name: string): Promise<void> {
    await this.servers.get(name)?.close();
    this.servers.delete(name);
  }

  async close(): Promise<void> {
    for (const name of [...this.servers.keys()].reverse()) await this.stop(name);
  }
}
