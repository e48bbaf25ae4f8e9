/**
 * The states of a call and every transition between them, in one table. A transition the
 * table does not have is a bug in the call core: it throws, and the call's error boundary ends
 * that call (and only that call).
 *
 *   idle ──▶ routing ──▶ ringing ──▶ early ──▶ answered ──▶ transferring
 *              ▲  │         ▲ │        │ │        ▲    │        │   │
 *              └──┴─────────┴─┴────────┘ │        └────┼────────┘   │
 *   (any state but ended) ──▶ ending ──▶ ended ◀────────┴────────────┘
 */

export enum CallState {
  /** Made, not begun. */
  Idle = 'idle',
  /** Looking for where to ring: a trunk being resolved, every route busy (camp-on), queued. */
  Routing = 'routing',
  /** INVITEs are out to the callee's phones or a trunk; the caller hears ringback. */
  Ringing = 'ringing',
  /** The caller hears early media: the callee's (183), or ours (queue music, camp-on tone). */
  Early = 'early',
  /** Connected. */
  Answered = 'answered',
  /** Answered, and one party is being replaced (a blind transfer rings its target). */
  Transferring = 'transferring',
  /** Hanging up: BYEs sent, their answers awaited. */
  Ending = 'ending',
  Ended = 'ended',
}

const TRANSITIONS: Readonly<Record<CallState, readonly CallState[]>> = {
  [CallState.Idle]: [CallState.Routing, CallState.Ending],
  [CallState.Routing]: [CallState.Routing, CallState.Ringing, CallState.Early, CallState.Ending],
  [CallState.Ringing]: [CallState.Routing, CallState.Ringing, CallState.Early, CallState.Answered, CallState.Ending],
  [CallState.Early]: [CallState.Routing, CallState.Ringing, CallState.Early, CallState.Answered, CallState.Ending],
  [CallState.Answered]: [CallState.Transferring, CallState.Ending],
  [CallState.Transferring]: [CallState.Answered, CallState.Ending],
  [CallState.Ending]: [CallState.Ended],
  [CallState.Ended]: [],
};

export class CallStateError extends Error {
  readonly from: CallState;
  readonly to: CallState;

  constructor(from: CallState, to: CallState, why: string) {
    super(`call state: no transition ${from} -> ${to} (${why})`);
    this.name = 'CallStateError';
    this.from = from;
    this.to = to;
  }
}

/** True when the table has `from -> to`. */
export function canTransition(from: CallState, to: CallState): boolean {
  return TRANSITIONS[from].includes(to);
}

/** One call's state; every change goes through `to()`. */
export class CallStateMachine {
  #state = CallState.Idle;
  /** Called after each change (logs, metrics). */
  onChange: ((from: CallState, to: CallState, why: string) => void) | undefined;

  get state(): CallState {
    return this.#state;
  }

  /** Moves to `next`; throws CallStateError when the table has no such transition. */
  to(next: CallState, why: string): void {
    const from = this.#state;
    if (!canTransition(from, next)) throw new CallStateError(from, next, why);
    this.#state = next;
    this.onChange?.(from, next, why);
  }

  is(...states: CallState[]): boolean {
    return states.includes(this.#state);
  }

  /** Not answered yet and not over: routing, ringing or early (the caller waits). */
  get setup(): boolean {
    return this.is(CallState.Routing, CallState.Ringing, CallState.Early);
  }

  /** Ending or ended. */
  get over(): boolean {
    return this.is(CallState.Ending, CallState.Ended);
  }
}
