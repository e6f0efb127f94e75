/**
 * Test fixture for LockManager: a worker that makes lock requests when asked
 * (`{ id, op, arg }` → `{ id, ok, value | error }`, driven by
 * `test/threads/remote.ts`). A held lock is kept under a key until a
 * `release` op ends its callback, so a test can hold locks in a worker, steal
 * them, or terminate the worker holding them. The worker side runs only in a
 * thread started with `workerData: { mark: FIXTURE_MARK }`; importing this
 * module elsewhere (for its constants) runs nothing.
 */
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { add, load, sub, wait } from '../src/memory/atomics.js';
import { SabreError } from '../src/errors.js';
import { LockManager, type LockManagerHandle, type LockRequestOptions } from '../src/lock/lock-manager.js';

export const FIXTURE_MARK = 'sabre.fixture.lock-manager';

/** Words of the `cell` the exclusion op shares: exclusive holders inside, shared holders inside, violations, sections done. */
export const EXCLUSIVE_IN = 0,
  SHARED_IN = 1,
  VIOLATIONS = 2,
  SECTIONS = 3;
/** Word of the `cell` a sync holder blocks on until it is set to 1 (`holdSync`). */
export const GO = 4;

/** How a request ended, as plain data: what the callback's result resolved to, or the error's code. */
export type Outcome =
  { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly code: string; readonly message: string };

interface Arg {
  lm: LockManagerHandle;
  name: string;
  key: string;
  options?: LockRequestOptions & { abortAfterMs?: number };
  value?: unknown;
  cell: Int32Array;
  times: number;
  sharedShare: number;
  code: number;
}

/** A sabre error's code (also of the spec's errors, which carry it in their cause), else the error's name. */
function codeOf(e: unknown): string {
  const typed = SabreError.from(e);
  return typed instanceof SabreError ? typed.code : String((e as { name?: unknown } | null)?.name); // a thrown value need not be an Error
}

const outcomeOf = (p: Promise<unknown>): Promise<Outcome> =>
  p.then(
    (value) => ({ ok: true, value }),
    (e: unknown) => ({ ok: false, code: codeOf(e), message: String((e as { message?: unknown } | null)?.message) }),
  );

/**
 * An error as it can cross to the parent: a DOMException (the Web Locks
 * errors) becomes an Error named in its message, keeping its cause (Node 20
 * posts a DOMException as an empty object).
 */
const postable = (e: unknown): unknown => (e instanceof DOMException ? new Error(`${e.name}: ${e.message}`, { cause: e.cause }) : e);

/** Locks held here: the request's outcome, and how to end its callback. */
const held = new Map<string, { outcome: Promise<Outcome>; release: (value: unknown) => void }>();

function withSignal(options: Arg['options']): LockRequestOptions {
  if (options?.abortAfterMs === undefined) return options ?? {};
  const { abortAfterMs, ...rest } = options;
  return { ...rest, signal: AbortSignal.timeout(abortAfterMs) };
}

const ops: Record<string, (arg: Arg) => unknown> = {
  threadId: () => threadId,
  /**
   * Requests `name` with a callback that holds it until `release(key)`;
   * answers `{ ownerDied }` once granted (or the request's error if it ends first).
   */
  hold: ({ lm, name, key, options }) =>
    new Promise((resolve, reject) => {
      let release!: (value: unknown) => void;
      const done = new Promise((r) => (release = r));
      const request = LockManager.from(lm).request(name, withSignal(options), (lock) => {
        resolve({ ownerDied: lock?.ownerDied ?? null, granted: lock !== null });
        return done;
      });
      held.set(key, { outcome: outcomeOf(request), release });
      request.catch(reject); // ended before it was granted (after, this does nothing)
    }),
  /** Ends the callback of `key` with `value` and answers the request's outcome. */
  release: async ({ key, value }) => {
    const h = held.get(key);
    if (h === undefined) throw new Error(`fixture-lock-manager: nothing held under ${key}`);
    held.delete(key);
    h.release(value);
    return h.outcome;
  },
  /** The outcome of `key`'s request, without ending its callback (e.g. after a steal). */
  outcome: ({ key }) => held.get(key)?.outcome,
  /**
   * Requests `name` with a synchronous callback that blocks this thread until
   * `cell[GO]` is 1; answers the request's outcome.
   */
  holdSync: ({ lm, name, cell, options }) =>
    outcomeOf(
      LockManager.from(lm).request(name, withSignal(options), () => {
        while (load(cell, GO) === 0) wait(cell, GO, 0, 50);
        return 'returned';
      }),
    ),
  /** One request with a synchronous callback: answers `{ granted, ownerDied }` (or rejects with the request's error). */
  request: ({ lm, name, options }) =>
    LockManager.from(lm).request(name, withSignal(options), (lock) => ({ granted: lock !== null, ownerDied: lock?.ownerDied ?? null })),
  /** Requests `name` and, holding it, ends this thread with `process.exit(code)`. */
  holdThenExit: ({ lm, name, options, code }) => LockManager.from(lm).request(name, withSignal(options), () => process.exit(code)),
  query: ({ lm }) => LockManager.from(lm).query(),
  /**
   * `times` requests of `name`, shared with chance `sharedShare`, each
   * holding across a few awaits; counts holders into `cell` and a violation
   * whenever an exclusive holder is not alone or a shared one meets an exclusive one.
   */
  occupy: async ({ lm, name, cell, times, sharedShare }) => {
    const locks = LockManager.from(lm);
    const sections: Promise<unknown>[] = [];
    for (let i = 0; i < times; i++) {
      const shared = Math.random() < sharedShare;
      sections.push(
        locks.request(name, { mode: shared ? 'shared' : 'exclusive' }, async () => {
          if (shared) {
            add(cell, SHARED_IN, 1);
            if (load(cell, EXCLUSIVE_IN) !== 0) add(cell, VIOLATIONS, 1);
          } else if (add(cell, EXCLUSIVE_IN, 1) !== 0 || load(cell, SHARED_IN) !== 0) add(cell, VIOLATIONS, 1);
          await new Promise((r) => setImmediate(r));
          if (load(cell, EXCLUSIVE_IN) !== (shared ? 0 : 1)) add(cell, VIOLATIONS, 1);
          sub(cell, shared ? SHARED_IN : EXCLUSIVE_IN, 1);
          add(cell, SECTIONS, 1);
        }),
      );
      if (i % 4 === 3) await Promise.all(sections.splice(0));
    }
    await Promise.all(sections);
  },
  exit: ({ code }) => process.exit(code),
};

if ((workerData as { mark?: unknown } | null)?.mark === FIXTURE_MARK) {
  async function answer(request: { id: number; op: string; arg: Arg }): Promise<void> {
    try {
      const op = ops[request.op];
      if (op === undefined) throw new TypeError(`fixture-lock-manager: unknown op ${request.op}`);
      const value = await op(request.arg);
      parentPort!.postMessage({ id: request.id, ok: true, value });
    } catch (error) {
      parentPort!.postMessage({ id: request.id, ok: false, error: postable(error) });
    }
  }
  // Not awaited: answer() replies to every request, its errors included.
  parentPort!.on('message', (request: { id: number; op: string; arg: Arg }) => void answer(request));
  parentPort!.postMessage({ ready: true, threadId });
}
