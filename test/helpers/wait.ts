/**
 * Waiting in tests: for a condition, never for a fixed time. Every test file takes these from
 * here (one signature each), so a slow CI machine makes a test slower, not flaky.
 *
 *   await until('202 registered', () => node.server.location.lookup('202').length > 0);
 *   const ok = await eventually(() => status().calls === 0, 2000);   // false on timeout
 */

/** Resolves after `ms`. For pacing what a peer does (talk for 2 s), not for waiting on the server. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `cond` every `everyMs` until it holds; throws after `timeoutMs` naming `what` (and
 * `detail()`, when given, such as the tail of a log).
 */
export async function until(what: string, cond: () => boolean, timeoutMs = 15_000, o: { everyMs?: number; detail?: () => string } = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${o.detail ? `: ${o.detail()}` : ''}`);
    await sleep(o.everyMs ?? 50);
  }
}

/** Like `until`, but resolves with whether `cond` came to hold within `timeoutMs` instead of throwing. */
export async function eventually(cond: () => boolean, timeoutMs: number, everyMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!cond() && Date.now() < deadline) await sleep(everyMs);
  return cond();
}

/** Polls an async `probe` until it returns a value other than undefined; throws after `timeoutMs`. */
export async function untilValue<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
