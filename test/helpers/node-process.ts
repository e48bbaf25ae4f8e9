/**
 * A node run as its own process (`pbx start --config F --node N`), optionally inside a network
 * namespace, with its JSON log lines collected so a test can wait for what the node says.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { until } from './wait.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export type LogLine = Record<string, unknown> & { message: string; level: string };

export class NodeProcess {
  readonly name: string;
  readonly lines: LogLine[] = [];
  readonly proc: ChildProcess;
  readonly exited: Promise<number | null>;
  #text = '';

  constructor(o: { config: string; node: string; netns?: string }) {
    this.name = o.node;
    const args = ['--import', 'tsx', 'src/cli.ts', 'start', '--config', o.config, '--node', o.node];
    this.proc = o.netns
      ? spawn('ip', ['netns', 'exec', o.netns, process.execPath, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    const take = (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        this.#text += `${line}\n`;
        try {
          this.lines.push(JSON.parse(line) as LogLine);
        } catch {
          // a stack trace or nats-server text: kept in the text only
        }
      }
    };
    this.proc.stdout!.on('data', take);
    this.proc.stderr!.on('data', take);
    this.exited = new Promise((done) => this.proc.once('close', (code) => done(code)));
  }

  /** The last lines, for failure messages. */
  tail(n = 15): string {
    return this.#text.split('\n').filter((l) => !l.includes('"level":"debug"')).slice(-n).join('\n');
  }

  has(message: string, match: (l: LogLine) => boolean = () => true): boolean {
    return this.lines.some((l) => l.message === message && match(l));
  }

  /** Waits for a log line with this message (and `match`). */
  async waitFor(message: string, match: (l: LogLine) => boolean = () => true, timeoutMs = 20_000): Promise<LogLine> {
    await until(`${this.name}: "${message}"`, () => this.has(message, match), timeoutMs, { detail: () => `\n${this.tail()}` });
    return this.lines.find((l) => l.message === message && match(l))!;
  }

  /** The highest configuration revision this node says it applied. */
  get revision(): number {
    return Math.max(0, ...this.lines.filter((l) => l.message === 'solution: configuration applied').map((l) => Number(l.revision)));
  }

  /** SIGTERM (a graceful stop) and waits for the exit. */
  async stop(): Promise<number | null> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
    return this.exited;
  }
}
