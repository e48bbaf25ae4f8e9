/**
 * The parts of a node in one list: each is added once it is built, with its start and its
 * close. `start()` runs the starts in the order the parts were added; `close()` closes every part
 * added so far in the reverse order (a part is closed before what it was built on), also when a
 * start or a later build failed. A failing close is logged and does not keep the others open.
 */
import type { Logger } from './logger.js';

export interface Part {
  /** Named in log lines about this part. */
  readonly name: string;
  /** Runs at `Lifecycle.start()`, after every part is built (listen, register, schedule). */
  start?(): Promise<void> | void;
  /** Releases everything the part owns; called once. */
  close(): Promise<void> | void;
}

export class Lifecycle {
  readonly #log: Logger;
  readonly #parts: Part[] = [];
  #closing: Promise<void> | undefined;

  constructor(logger: Logger) {
    this.#log = logger;
  }

  /** Adds a built part; returns `thing` so a part is built, added and kept in one expression. */
  add<T>(name: string, thing: T, hooks: { start?: () => Promise<void> | void; close: (t: T) => Promise<void> | void }): T {
    if (this.#closing) throw new Error(`lifecycle: ${name} added after close()`);
    this.#parts.push({ name, start: hooks.start, close: () => hooks.close(thing) });
    return thing;
  }

  /** Adds a part that needs no object of its own (a timer, a hook). */
  addPart(part: Part): void {
    if (this.#closing) throw new Error(`lifecycle: ${part.name} added after close()`);
    this.#parts.push(part);
  }

  /** The parts' names in start order. */
  get names(): string[] {
    return this.#parts.map((p) => p.name);
  }

  /** Starts every part in order; on a failure closes them all and rethrows. */
  async start(): Promise<void> {
    for (const p of this.#parts) {
      try {
        await p.start?.();
      } catch (e) {
        this.#log.error(`${p.name}: start failed: ${(e as Error).message}`);
        await this.close();
        throw e;
      }
    }
  }

  /** Closes every part in reverse order; idempotent (later calls wait for the first). */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const p of [...this.#parts].reverse()) {
        try {
          await p.close();
        } catch (e) {
          this.#log.error(`${p.name}: close failed: ${(e as Error).message}`);
        }
      }
    })();
    return this.#closing;
  }
}
