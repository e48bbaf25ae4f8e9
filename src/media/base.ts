/**
 * What every media object shares: an id in the native engine, an idempotent close(), and a way
 * for a parent to keep its children and close them with itself (written once, used by all).
 */
import { EventEmitter } from 'node:events';
import { MediaError } from './errors.js';
import type { NativeEngine } from './native.js';

/** Internal link from an object to its engine: the native handle and the event router. */
export interface EngineContext {
  readonly native: NativeEngine;
  route(id: number, handler: NativeHandler): void;
  unroute(id: number): void;
}

export type NativeHandler = (type: string, a: number, b: number, data?: Buffer) => void;

/** Children kept by id; closing the parent closes them; a child leaving removes itself. */
export class Children<T extends { readonly id: number; close(): void }> {
  readonly #map = new Map<number, T>();
  add(child: T): T {
    this.#map.set(child.id, child);
    return child;
  }
  delete(child: T): void {
    this.#map.delete(child.id);
  }
  get size(): number {
    return this.#map.size;
  }
  values(): T[] {
    return [...this.#map.values()];
  }
  closeAll(): void {
    for (const c of this.values()) c.close();
    this.#map.clear();
  }
}

/** Event map of a media object (event name -> listener arguments) plus 'close', common to all. */
export type WithClose<E> = { [K in keyof E | 'close']: K extends keyof E ? E[K] : [] };

export abstract class MediaObject<E extends Record<keyof E, unknown[]>> extends EventEmitter<WithClose<E>> {
  readonly id: number;
  readonly #ctx: EngineContext;
  #closed = false;
  readonly #onClosed: Set<() => void> = new Set();

  protected constructor(ctx: EngineContext, id: number) {
    super();
    this.#ctx = ctx;
    this.id = id;
    ctx.route(id, (type, a, b, data) => this.onNative(type, a, b, data));
  }

  get closed(): boolean {
    return this.#closed;
  }

  protected get ctx(): EngineContext {
    return this.#ctx;
  }

  /** Throws MediaError ECLOSED when used after close(). */
  protected assertOpen(): void {
    if (this.#closed) throw new MediaError('ECLOSED', `${this.constructor.name} ${this.id} is closed`);
  }

  /** @internal parents watch their children's end through this, not through public events. */
  whenClosed(fn: () => void): void {
    if (this.#closed) fn();
    else this.#onClosed.add(fn);
  }

  /** Idempotent; closes children first, then the native object. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.closeChildren();
    this.#ctx.unroute(this.id);
    this.closeNative();
    for (const fn of this.#onClosed) fn();
    this.#onClosed.clear();
    (this as EventEmitter).emit('close');
  }

  /** Marks closed when the native side ended by itself (e.g. a player finished). */
  protected ended(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.closeChildren();
    this.#ctx.unroute(this.id);
    for (const fn of this.#onClosed) fn();
    this.#onClosed.clear();
    (this as EventEmitter).emit('close');
  }

  protected closeChildren(): void {}
  protected abstract closeNative(): void;
  protected onNative(_type: string, _a: number, _b: number, _data?: Buffer): void {}
}
