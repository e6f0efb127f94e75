/**
 * Test helper (not a test): the worker side of the Web Locks conformance
 * suite's cross-thread cases. It makes requests on either implementation
 * under test, sabre's LockManager (opened from its handle) or Node's own
 * `worker_threads.locks`, when asked, using the protocol of
 * `test/threads/remote.ts` (`{ id, op, arg }` → `{ id, ok, value | error }`).
 * A held lock is kept under a key until `release` ends its callback. Errors
 * travel as plain data (`Failure`): Node 20 posts a DOMException as `{}`.
 */
import * as workerThreads from 'node:worker_threads';
import { LockManager, type LockManagerHandle } from '../../src/lock/lock-manager.js';

const { parentPort, threadId } = workerThreads;

/** Which manager to use: sabre's (by handle) or Node's own. */
export type Target = { readonly impl: 'sabre'; readonly handle: LockManagerHandle } | { readonly impl: 'node' };

/** An error as plain data. */
export interface Failure {
  readonly failed: true;
  readonly name: string;
  readonly message: string;
  readonly domException: boolean;
}
/** How a request ended. */
export type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: Failure };
/** What a hold answers once its callback runs. */
export interface Granted {
  readonly granted: boolean;
  readonly name?: string;
  readonly mode?: string;
}

interface WebLocks {
  request(name: string, options: object, callback: (lock: { name: string; mode: string } | null) => unknown): Promise<unknown>;
  query(): Promise<unknown>;
}

interface Arg {
  target: Target;
  name: string;
  key: string;
  options?: object;
  value?: unknown;
}

export const failure = (e: unknown): Failure => ({
  failed: true,
  name: String((e as { name?: unknown } | null)?.name), // a thrown value need not be an Error
  message: String((e as { message?: unknown } | null)?.message ?? e),
  domException: e instanceof DOMException,
});

function open(target: Target): WebLocks {
  if (target.impl === 'sabre') return LockManager.from(target.handle);
  const locks = (workerThreads as unknown as { locks?: WebLocks }).locks;
  if (locks === undefined) throw new Error(`this Node (${process.version}) has no worker_threads.locks`);
  return locks;
}

const outcomeOf = (p: Promise<unknown>): Promise<Outcome> =>
  p.then(
    (value) => ({ ok: true, value }),
    (e: unknown) => ({ ok: false, error: failure(e) }),
  );

const held = new Map<string, { outcome: Promise<Outcome>; release: (value: unknown) => void; granted: () => boolean }>();

/** Whether this thread's own snapshot lists a pending request for `name` (every implementation shows a thread its own). */
async function ownPending(locks: WebLocks, name: string): Promise<boolean> {
  const s = (await locks.query()) as { pending: { name: string }[] };
  return s.pending.some((i) => i.name === name);
}

const ops: Record<string, (arg: Arg) => unknown> = {
  /** Requests `name`; answers once its callback runs (or its error, if the request ends first); holds until `release(key)`. */
  hold: ({ target, name, key, options }) =>
    new Promise((resolve) => {
      let release!: (value: unknown) => void;
      let ran = false;
      const done = new Promise((r) => (release = r));
      const request = open(target).request(name, options ?? {}, (lock) => {
        ran = true;
        resolve({ granted: lock !== null, name: lock?.name, mode: lock?.mode } satisfies Granted);
        return done;
      });
      held.set(key, { outcome: outcomeOf(request), release, granted: () => ran });
      request.catch((e: unknown) => resolve(failure(e)));
    }),
  /**
   * Requests `name` as `hold` does, but answers as soon as the request is
   * queued (this thread's snapshot lists it as pending); `granted` tells
   * later whether its callback ran.
   */
  holdQueued: async (arg) => {
    const locks = open(arg.target);
    void ops.hold!(arg);
    for (let i = 0; ; i++) {
      if (held.get(arg.key)?.granted()) return 'granted';
      if (await ownPending(locks, arg.name)) return 'queued';
      if (i > 100_000) throw new Error(`web-locks-worker: the request for ${arg.name} never showed as pending`);
      await new Promise((r) => setImmediate(r));
    }
  },
  /** Whether the callback of `key`'s request has run. */
  granted: ({ key }) => held.get(key)?.granted() ?? false,
  /** Ends the callback of `key` with `value`; answers the request's outcome. */
  release: async ({ key, value }) => {
    const h = held.get(key);
    if (h === undefined) throw new Error(`web-locks-worker: nothing held under ${key}`);
    held.delete(key);
    h.release(value);
    return h.outcome;
  },
  /** The outcome of `key`'s request, without ending its callback (after a steal). */
  outcome: ({ key }) => held.get(key)?.outcome,
  query: ({ target }) => open(target).query(),
};

if ((workerThreads.workerData as { mark?: unknown } | null)?.mark === 'sabre.test.web-locks') {
  async function answer(request: { id: number; op: string; arg: Arg }): Promise<void> {
    try {
      const op = ops[request.op];
      if (op === undefined) throw new TypeError(`web-locks-worker: unknown op ${request.op}`);
      parentPort!.postMessage({ id: request.id, ok: true, value: await op(request.arg) });
    } catch (error) {
      parentPort!.postMessage({ id: request.id, ok: false, error: new Error(`${(error as Error)?.name}: ${(error as Error)?.message}`) });
    }
  }
  // Not awaited: answer() replies to every request, its errors included.
  parentPort!.on('message', (request: { id: number; op: string; arg: Arg }) => void answer(request));
  parentPort!.postMessage({ ready: true, threadId });
}
