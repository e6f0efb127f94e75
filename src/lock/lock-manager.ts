/**
 * LockManager: the Web Locks API (`navigator.locks`) shared by every thread
 * of the process, with a timeout and owner-death reporting.
 */
import { threadId } from 'node:worker_threads';
import * as seam from '../memory/atomics.js';
import { CACHE_LINE_BYTES } from '../memory/cache-line.js';
import { definePrimitive, type HandleOf, type OpenedOf } from '../memory/primitive.js';
import type { SharedArena } from '../memory/arena.js';
import { systemClock } from '../clock.js';
import { CapacityError, InvalidArgumentError, TimeoutError, isSabreError } from '../errors.js';
import { ThreadRegistry } from '../threads/registry.js';
import { parkAsync, toDeadline, watchWord, type Watch } from '../threads/park.js';
import { seenStamp, seenWithin, uncount } from '../sync/waiter-count.js';
import { SharedHashTable } from '../table/shared-hash-table.js';
import { KeyWaitWords } from '../table/key-wait-words.js';
import { timeoutMs as checkTimeout } from '../validate.js';
import { integer } from '../options/field.js';
import { deprecated } from '../options/deprecate.js';
import * as records from './lock-record.js';
import { GRANTED_OWNER_DIED, SHARED, UNSEEN, type LockEntry, type LockRecord } from './lock-record.js';
import { abortError, checkRequest, convertRequestArgs, type LockMode } from './web-locks-idl.js';

const { add, compareExchange, load, store } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * Region body:
 *   byte 0          STRIPES wait stripes, one per 128-byte block: EPOCH (first, the
 *                   stripe's word in table/key-wait-words.ts; bumped
 *                   after a step on a name of this stripe, when someone waits),
 *                   WAITERS (queued requests and steal watchers of the
 *                   stripe between "about to read the record" and "woke") and
 *                   SEEN (when one of them was last seen running: see below)
 *   byte TABLE_AT   a SharedHashTable (nested region) from name to record: the
 *                   name's held set (grant order) and FIFO request queue
 *                   (lock-record.ts: a 5-byte header [flags, held count, queue
 *                   count], then 17 bytes per request [threadId, request id,
 *                   SHARED | GRANTED_OWNER_DIED | UNSEEN, time of its place];
 *                   at most maxRequestsPerName)
 * The table's key is the name's UTF-16 code units, 2 bytes each: every
 * DOMString is its own key, lone surrogates included (UTF-8 would merge
 * them into U+FFFD). A name's stripe is a hash of the name; names sharing a
 * stripe only wake each other spuriously. A request is (threadId, id), the id
 * a per-thread counter, so no step needs a shared counter. A name whose last
 * request ends keeps an idle record (rewriting it in place is cheaper than a
 * delete and a later insert); an idle record is stamped as lapsed when
 * written, so a new name that finds the table full has the table reclaim
 * idle records (table/lapse.ts), and `capacity` bounds the names with
 * requests, not the names ever used.
 *
 * Linearization points: each step is one `compute` on the name's record
 * (under its table segment's lock): a request (granted, queued or refused), a
 * release (which also grants the new head of the queue: the spec's "process
 * the lock request queue"), a steal, the withdrawal of a timed-out or aborted
 * request, a thread seeing its grant, the removal of a dead thread's
 * requests. Invariant after every step: the head of the queue is not
 * grantable, and the held set is one exclusive request or any number of
 * shared ones. Each step that queues or grants stamps the entry with
 * `systemClock` (one monotonic clock for the process) read inside the
 * compute, so the stamps of steps on different names follow real time:
 * `query` lists held locks by grant time and pending requests by request
 * time. `query` reads the records one name at a time: each name's part is one
 * step's state, but two names may be seen at different moments.
 *
 * Waiting: a queued request never grants itself; the step that makes it
 * grantable grants it, and the waiter learns so by reading the record. It
 * adds itself to WAITERS, reads EPOCH, reads the record, and parks on EPOCH
 * (parkAsync: sliced, keeps the event loop alive); a step that finds WAITERS
 * > 0 bumps EPOCH and notifies every waiter of the stripe (all: waiters of
 * several names share it, and an abandoned waitAsync still takes a
 * notify(1)). Atomics are sequentially consistent, so either the step sees
 * the waiter's count or the waiter's read of the record sees the step.
 *
 * Grant to callback (the spec's task that runs the callback): a grant made
 * by another step (the queue moved) marks the entry UNSEEN. The waiter that
 * finds its grant first looks at its signal: aborted (the request has
 * rejected with the reason), it releases the lock unused, and the callback
 * never runs. Otherwise it clears UNSEEN (one more step) and then runs the
 * callback. An abort that reaches a waiter whose request was granted
 * meanwhile does the same (withdraw finds it held; release it unused). An
 * unused release passes on a death report the entry was granted
 * (GRANTED_OWNER_DIED back to OWNER_DIED_PENDING).
 *
 * Steal: the stealer's step drops every holder. A holder whose callback
 * returned a promise has a watcher parked on the stripe (without holding the
 * event loop open), which rejects the request with AbortError as soon as its
 * entry is gone; a holder whose callback is synchronous finds it gone when
 * it releases. Either way its release changes nothing (entries are matched by
 * (threadId, id), never by name or mode).
 *
 * Owner death: a thread can stop between any two steps, or inside one (the
 * table repairs the segment: the step happened whole or not at all). It
 * leaves entries naming it, held or queued, and perhaps WAITERS one too high
 * (extra notifies). Each counted waiter stamps SEEN before it counts itself
 * and whenever it runs (a queued request from its thread's ticker, each
 * slice; a steal watcher each WATCH_SLICE_MS); a stripe's count whose SEEN is
 * older than STALE_MS belongs to dead threads only, and the step that would
 * notify for it zeroes it instead (WAITERS read before SEEN: a waiter counted
 * later stamped first). A live waiter that was that slow loses a wake-up and
 * re-reads at its next slice. Whoever meets such entries proves the thread dead
 * (ThreadRegistry, outside any lock: it may read /proc) and removes them in
 * one step: a queued request at each liveness slice and whenever its thread
 * records a death, a request refused with ifAvailable, `query`. Removing a
 * held entry that its thread had seen (no UNSEEN: granted in its own request
 * step, or seen since) sets the record's OWNER_DIED_PENDING flag, which the
 * next grant consumes: every request granted in that step gets
 * `ownerDied: true`. A held entry still UNSEEN was granted to a thread that
 * never learned it (it died queued, or between the grant and its look):
 * its callback never ran, so it sets nothing (unless it carried a death
 * report of its own, which passes on). A thread that dies after seeing its
 * grant and before its callback starts is reported (the safe side). The flag
 * keeps an otherwise idle record until then. A death between a step and its
 * EPOCH bump delays the waiters by one slice at most: they re-read the
 * record every slice.
 */

const STRIPES = 32;
const STRIPE_WORDS = CACHE_LINE_BYTES / 4;
const EPOCH = 0,
  WAITERS = 1,
  SEEN = 2; // words of a stripe
const TABLE_AT = STRIPES * CACHE_LINE_BYTES;

/**
 * How often a steal watcher re-reads without a wake-up: only a stealer that
 * died between its step and its notify leaves it asleep, so it may be long.
 */
const WATCH_SLICE_MS = 1000;
/** A stripe's count whose waiters have not been seen running for this long is a dead threads' count. */
const STALE_MS = 3 * WATCH_SLICE_MS;

/** Default longest lock name, in bytes of its UTF-16 form (2 per code unit: 128 code units). */
export const DEFAULT_MAX_NAME_BYTES = 256;
/** Default requests (held and queued) one name may have at once. */
export const DEFAULT_MAX_REQUESTS_PER_NAME = 64;
/** Largest `maxRequestsPerName` (the record counts them in 16 bits; the record is rewritten whole on every step). */
export const MAX_REQUESTS_PER_NAME = 4096;
const MAX_CAPACITY = 2 ** 24;
const MAX_NAME_BYTES = 65_535;

export type { LockMode };

export interface LockManagerOptions {
  /** Names that can have held or queued requests at the same time (1 .. 2^24). */
  readonly capacity: number;
  /** Longest lock name, in bytes of its UTF-16 form: 2 per code unit (default 256, i.e. 128 code units). */
  readonly maxKeyBytes?: number;
  /** Requests held or queued for one name at once (default 64, at most 4096). */
  readonly maxRequestsPerName?: number;
  /** Allocate inside this arena instead of a buffer of its own. */
  readonly arena?: SharedArena;
  /** @deprecated Use `maxKeyBytes` (`SABRE_DEP_MAX_KEY_BYTES`). */
  readonly maxNameBytes?: number;
}

/** Options of `request` (the Web Locks `LockOptions`, plus `timeout`). */
export interface LockRequestOptions {
  /** `'exclusive'` (default): one holder; `'shared'`: any number of shared holders, no exclusive one. */
  readonly mode?: LockMode;
  /** Grant only if grantable at once; otherwise call the callback with `null`. */
  readonly ifAvailable?: boolean;
  /** Take the lock from its holders (their requests reject with an "AbortError" DOMException); exclusive only. */
  readonly steal?: boolean;
  /**
   * Abort the request until its callback starts: it leaves the queue (or, if
   * granted, releases the lock unused), the callback never runs, and the
   * request rejects with `signal.reason`.
   */
  readonly signal?: AbortSignal;
  /**
   * Milliseconds to wait (default: forever): the request then leaves the queue
   * and rejects with TimeoutError (0: only if not grantable at once; unlike
   * `ifAvailable`, the callback is not called). sabre's addition.
   */
  readonly timeoutMs?: number;
  /** @deprecated Use `timeoutMs` (`SABRE_DEP_TIMEOUT`). */
  readonly timeout?: number;
}

const LOCK_TOKEN = Symbol('sabre.Lock');

/**
 * What the callback receives: the granted lock (the Web Locks `Lock`: `name`
 * and `mode` are read-only attributes, getters on the prototype), plus
 * sabre's `ownerDied`. Only `LockManager` makes them.
 */
export class Lock {
  readonly #name: string;
  readonly #mode: LockMode;
  readonly #ownerDied: boolean;

  /** @internal (the spec's Lock has no constructor: `new Lock()` is a TypeError) */
  constructor(token: symbol, name: string, mode: LockMode, ownerDied: boolean) {
    if (token !== LOCK_TOKEN) throw new TypeError('Illegal constructor: a Lock is made by LockManager.request');
    this.#name = name;
    this.#mode = mode;
    this.#ownerDied = ownerDied;
  }

  /** The lock's name, as requested (after ToString). */
  get name(): string {
    return this.#name;
  }

  /** `'exclusive'` or `'shared'`. */
  get mode(): LockMode {
    return this.#mode;
  }

  /**
   * True when a previous holder of this name died (its thread stopped) while
   * holding it, after it had seen its grant: its callback may have stopped
   * half-way. A thread that dies while only queued is never reported.
   * sabre's addition.
   */
  get ownerDied(): boolean {
    return this.#ownerDied;
  }
}
// As WebIDL defines attributes: enumerable accessors on the prototype; and the class string "Lock".
Object.defineProperties(Lock.prototype, {
  name: { enumerable: true },
  mode: { enumerable: true },
  ownerDied: { enumerable: true },
  [Symbol.toStringTag]: { value: 'Lock', configurable: true },
});

/** A held or pending request in a `query()` snapshot (the Web Locks `LockInfo`). */
export interface LockInfo {
  /**
   * The requesting thread: `thread-<threadId>` (the main thread is
   * `thread-0`). The same for every request of a thread, whichever manager it
   * uses, for the thread's whole life; unique within the process (Node never
   * reuses a threadId).
   */
  readonly clientId: string;
  readonly mode: LockMode;
  readonly name: string;
}

/** What `query()` returns (the Web Locks `LockManagerSnapshot`). */
export interface LockManagerSnapshot {
  readonly held: LockInfo[];
  readonly pending: LockInfo[];
}

export type LockGrantedCallback<T> = (lock: Lock | null) => T | PromiseLike<T>;

const tableSizes = (o: { capacity: number; maxKeyBytes: number; maxRequestsPerName: number }) => ({
  capacity: o.capacity,
  maxKeyBytes: o.maxKeyBytes,
  maxValueBytes: records.recordBytes(o.maxRequestsPerName),
});

const DEF = definePrimitive(
  'LockManager',
  2,
  {
    capacity: integer({ max: MAX_CAPACITY }),
    maxKeyBytes: integer({ max: MAX_NAME_BYTES, default: DEFAULT_MAX_NAME_BYTES }),
    maxRequestsPerName: integer({ max: MAX_REQUESTS_PER_NAME, default: DEFAULT_MAX_REQUESTS_PER_NAME }),
  },
  {
    renamed: { maxNameBytes: { to: 'maxKeyBytes', code: 'SABRE_DEP_MAX_KEY_BYTES' } },
    bodyBytes: (o) => TABLE_AT + SharedHashTable.byteLength(tableSizes(o)),
  },
);
export type LockManagerHandle = HandleOf<typeof DEF>;

/** A validated request. */
interface Ask<T> {
  readonly name: string;
  /** The table key: the name's UTF-16 code units. */
  readonly key: Uint8Array;
  readonly stripe: number;
  readonly mode: LockMode;
  readonly ifAvailable: boolean;
  readonly steal: boolean;
  readonly signal: AbortSignal | undefined;
  readonly timeoutMs: number;
  readonly callback: LockGrantedCallback<T>;
}

/** Request ids: a per-thread counter (a request is (threadId, id)), never 0. */
let lastId = 0;
const nextId = (): number => (lastId = (lastId + 1) >>> 0) || (lastId = 1);

const clientOf = (thread: number): string => `thread-${thread}`;
const modeOf = (e: LockEntry): LockMode => ((e.flags & SHARED) !== 0 ? 'shared' : 'exclusive');
const registry = (): ThreadRegistry => ThreadRegistry.current;
const now = (): number => systemClock.now();

/** The table key of a name: its UTF-16 code units, little-endian, 2 bytes each. */
function keyOf(name: string): Uint8Array {
  const key = new Uint8Array(name.length * 2);
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    key[2 * i] = c;
    key[2 * i + 1] = c >>> 8;
  }
  return key;
}

/** The name of a table key (lone surrogates come back as they went in). */
function nameOf(key: Uint8Array): string {
  return Buffer.from(key.buffer, key.byteOffset, key.length).toString('utf16le');
}

function stolen(name: string): DOMException {
  return abortError(`the lock ${JSON.stringify(name)} was stolen by another request (steal: true) while this request held it`);
}

/**
 * A promise that adopts `result` through its `then` (read once already), as
 * resolving a promise with a thenable does: `then` is called in a later
 * microtask, and what it throws rejects the promise.
 */
type Then<T> = (this: unknown, onFulfilled: (v: T) => void, onRejected: (e: unknown) => void) => unknown;
function adopt<T>(result: unknown, then: Then<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    queueMicrotask(() => {
      try {
        then.call(result, resolve, reject);
      } catch (e) {
        reject(e);
      }
    });
  });
}

const STOLEN = Symbol('stolen');
type Settled<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/**
 * The Web Locks API (https://w3c.github.io/web-locks/) across every thread
 * that opens the manager's handle: `request(name, options?, callback)` runs
 * `callback` while holding the lock `name` and releases it when the
 * callback's result settles; `query()` lists the held and pending requests of
 * every thread. Code written against `navigator.locks` runs unchanged.
 *
 * Semantics follow the spec: each name has a FIFO queue; a request is
 * granted when it heads the queue and is compatible with the held locks (any
 * number of `'shared'` holders, or one `'exclusive'`), so a run of shared
 * requests at the head is granted together and a shared request behind a
 * waiting exclusive one waits (writers are not starved). `ifAvailable` calls
 * the callback with `null` instead of waiting; `steal` takes the lock from
 * its holders at once (their `request` promises reject with an "AbortError"
 * DOMException, even while their callbacks still run); `signal` aborts the
 * request until its callback starts: queued, it leaves the queue; granted
 * but not yet called back, it releases the lock unused; either way the
 * callback never runs and the request rejects with `signal.reason`.
 * Arguments are converted as the spec's IDL says (the name with ToString,
 * booleans with ToBoolean, `mode` must be "shared" or "exclusive", unknown
 * option keys are ignored), and refused with the spec's errors, in its order.
 * Names are compared as UTF-16 code units, lone surrogates included.
 *
 * sabre adds `timeoutMs` (TimeoutError, and the request leaves the queue) and
 * `lock.ownerDied`: true when a previous holder of the name died (its thread
 * stopped) holding it. The dead thread's requests are removed within
 * `LIVENESS_SLICE_MS` of the death by whoever waits for the name, or at once
 * by the next request that finds the name taken.
 *
 * Ordering: the release of a lock happens-before the callback of every
 * request it lets through. The callback runs in a microtask after the grant,
 * never inside `request` itself. Waiting never blocks the event loop and keeps
 * it alive; holding a lock does not (a callback's promise keeps alive what
 * it keeps alive). `query()` lists held locks in grant order and pending
 * requests in request order, across names and threads.
 *
 * Differences from the spec: clients are threads (`clientId` is
 * `thread-<threadId>`); a `query()` snapshot is consistent per name, but two
 * names may be read at different moments while other threads change them;
 * sabre's limits (capacity, maxKeyBytes, maxRequestsPerName) refuse what
 * does not fit.
 *
 * @throws TypeError (as a rejected promise; sabre's `ERR_INVALID_ARG` in its
 *   `cause`) for fewer than 2 arguments, a name that is a Symbol, options that
 *   are not an object, a `mode` other than "shared"/"exclusive", a `signal`
 *   that is not an AbortSignal, a callback that is not callable
 * @throws DOMException "NotSupportedError" (likewise) for a name starting
 *   with '-', `steal` with `ifAvailable` or a shared mode, `signal` with
 *   `steal` or `ifAvailable`
 * @throws `signal.reason` when the signal aborts before the callback starts
 * @throws DOMException "AbortError" (`ERR_ABORTED` in its cause) when the
 *   lock is stolen while held
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`) for a name longer than
 *   maxKeyBytes, a bad `timeoutMs`, or `timeoutMs` with `steal` or `ifAvailable`
 * @throws CapacityError (`ERR_CAPACITY`) when `capacity` names are in use and
 *   the request names another, or the name has maxRequestsPerName requests
 * @throws TimeoutError (`ERR_TIMEOUT`) as above
 *
 * @example
 * ```ts
 * const locks = new LockManager({ capacity: 1024 });      // pass locks.handle to workers
 * await locks.request('orders:42', async (lock) => {        // any thread
 *   if (lock!.ownerDied) await repair();                   // a holder died mid-update
 *   await update();
 * });
 * await locks.request('cache', { mode: 'shared', timeoutMs: 500 }, () => read());
 * ```
 * @remarks Since 0.1
 */
export class LockManager {
  /** The bounds and defaults of its numeric options, read off their declaration. */
  static readonly limits = DEF.limits;
  readonly handle: LockManagerHandle;
  /** Names that can have held or queued requests at once. */
  readonly capacity: number;
  /** Longest lock name, in bytes of its UTF-16 form. */
  readonly maxKeyBytes: number;
  readonly maxRequestsPerName: number;
  private readonly words: Int32Array;
  /** The stripes' EPOCH words; a name's stripe is its word (EPOCH is a stripe's first word). */
  private readonly waits: KeyWaitWords;
  private readonly table: SharedHashTable<LockRecord>;

  constructor(options: LockManagerOptions | OpenedOf<typeof DEF>) {
    const { region, options: o, created } = DEF.resolve(options);
    this.table = SharedHashTable.nested(region, TABLE_AT, tableSizes(o), records.recordCodec, created ? 'create' : 'open');
    // An idle name keeps its record (see records.idle) until a new name needs the room.
    this.table.setLapse({
      now: () => 0,
      lapsesAt: (r) => (records.isIdle(r) ? -Infinity : Infinity),
      full: (key) => this.namesFull(nameOf(key as Uint8Array)),
    });
    this.handle = region.handle;
    this.capacity = o.capacity;
    this.maxKeyBytes = o.maxKeyBytes;
    this.maxRequestsPerName = o.maxRequestsPerName;
    this.words = region.i32(0, TABLE_AT / 4);
    this.waits = new KeyWaitWords(this.words, STRIPES, STRIPE_WORDS);
  }

  /** Re-opens a manager from its handle, in any thread. @throws HandleError */
  static from(handle: LockManagerHandle): LockManager {
    return new LockManager(DEF.open(handle));
  }

  /** Bytes a LockManager of these options takes (in an arena, rounded up to 128). */
  static byteLength(options: LockManagerOptions): number {
    return DEF.byteLength(options);
  }

  /** @deprecated Use `maxKeyBytes` (`SABRE_DEP_MAX_KEY_BYTES`). */
  get maxNameBytes(): number {
    deprecated('SABRE_DEP_MAX_KEY_BYTES', 'LockManager#maxNameBytes');
    return this.maxKeyBytes;
  }

  /**
   * Requests the lock `name` and runs `callback` holding it; the lock is
   * released when the callback's result settles (or it returns or throws).
   * Resolves with what the callback's result resolves to; rejects with what
   * it threw, or as the class documentation says. Never throws: every error
   * is a rejection.
   */
  request<T>(name: string, callback: LockGrantedCallback<T>): Promise<Awaited<T>>;
  request<T>(name: string, options: LockRequestOptions, callback: LockGrantedCallback<T>): Promise<Awaited<T>>;
  // (Two named parameters, as the IDL's shortest overload: `request.length` is 2.)
  request(_name: unknown, _optionsOrCallback: unknown, ..._rest: unknown[]): Promise<unknown> {
    let ask: Ask<unknown>;
    let id: number;
    let step: records.RequestStep;
    try {
      // WebIDL's overload resolution counts the arguments passed, undefined ones included.
      // eslint-disable-next-line prefer-rest-params -- `arguments.length` is what WebIDL counts; rest parameters would cost request.length its 2
      ask = this.parse(arguments);
      if (ask.signal?.aborted) return Promise.reject(ask.signal.reason);
      id = nextId();
      step = this.requestStep(ask, id);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.run(ask, id, step);
  }

  /**
   * A snapshot of every thread's held and pending requests (the Web Locks
   * `query()`): held locks in grant order, pending requests in request order,
   * across names and threads. Requests of threads found dead are removed first.
   */
  async query(): Promise<LockManagerSnapshot> {
    let entries = [...this.table.entries()] as [Uint8Array, LockRecord][];
    const dead = new Set<number>();
    for (const [, r] of entries) for (const t of records.threadsOf(r, threadId)) if (!dead.has(t) && !registry().isAlive(t)) dead.add(t);
    if (dead.size > 0) {
      for (const [key, r] of entries)
        if (records.threadsOf(r, threadId).some((t) => dead.has(t))) this.removeDead(key, this.waits.wordOf(nameOf(key)), dead);
      entries = [...this.table.entries()] as [Uint8Array, LockRecord][];
    }
    const held: [number, LockInfo][] = [];
    const pending: [number, LockInfo][] = [];
    for (const [key, r] of entries) {
      const name = nameOf(key);
      // Members in the IDL dictionary's order (WebIDL converts them in lexicographic order).
      for (const e of r.held) held.push([e.at, { clientId: clientOf(e.thread), mode: modeOf(e), name }]);
      for (const e of r.queue) pending.push([e.at, { clientId: clientOf(e.thread), mode: modeOf(e), name }]);
    }
    // A stable sort: entries of one name keep their record order (their times never decrease along it).
    const byTime = (a: [number, LockInfo], b: [number, LockInfo]) => a[0] - b[0];
    return { held: held.sort(byTime).map((x) => x[1]), pending: pending.sort(byTime).map((x) => x[1]) };
  }

  // ---- arguments -------------------------------------------------------------

  /**
   * The spec's request method steps up to the already aborted signal (the
   * caller's): WebIDL conversions (TypeError), the spec's checks
   * (NotSupportedError), then sabre's own (InvalidArgumentError).
   */
  private parse(args: ArrayLike<unknown>): Ask<unknown> {
    const a = convertRequestArgs(args);
    checkRequest(a);
    const { name } = a;
    if (name.length * 2 > this.maxKeyBytes) {
      throw new InvalidArgumentError(
        `lock name is too long: ${name.length} UTF-16 code units (${name.length * 2} bytes), and maxKeyBytes is ${this.maxKeyBytes}`,
      );
    }
    const timeoutMs = checkTimeout('timeoutMs', a.timeoutMs);
    if (a.timeoutMs !== undefined && (a.steal || a.ifAvailable))
      throw new InvalidArgumentError(`timeoutMs cannot be used with ${a.steal ? 'steal' : 'ifAvailable'}: such a request never waits`);
    return {
      name,
      key: keyOf(name),
      stripe: this.waits.wordOf(name),
      mode: a.mode,
      ifAvailable: a.ifAvailable,
      steal: a.steal,
      signal: a.signal,
      timeoutMs,
      callback: a.callback,
    };
  }

  // ---- steps (each one compute on the name's record) -------------------------

  /** The request step; wakes the stripe after a steal (the holders it dropped must learn it). */
  private requestStep(ask: Ask<unknown>, id: number): records.RequestStep {
    let step: records.RequestStep | undefined;
    const decide = (current: LockRecord | undefined): LockRecord | undefined => {
      const entry: LockEntry = { thread: threadId, id, flags: ask.mode === 'shared' ? SHARED : 0, at: now() };
      step = records.request(current, entry, ask, this.maxRequestsPerName, ask.name);
      return step.next;
    };
    // A full table first reclaims idle records by itself, then refuses with namesFull (setLapse).
    this.table.compute(ask.key, decide);
    if (ask.steal) this.wake(ask.stripe);
    return step!;
  }

  private namesFull(name: string): CapacityError {
    return new CapacityError(
      `no room for lock ${JSON.stringify(name)}: all ${this.capacity} names of this LockManager have held or queued requests; ` +
        'release some, or create it with a larger capacity',
    );
  }

  /**
   * Releases request `id`; false if it no longer held the lock (stolen).
   * `unused`: its callback never ran (a death report it was granted passes on).
   */
  private release(ask: Ask<unknown>, id: number, unused = false): boolean {
    let found = false;
    this.table.compute(ask.key, (current) => {
      const r = records.release(current, threadId, id, now(), unused);
      found = r.found;
      return r.next;
    });
    if (found) this.wake(ask.stripe);
    return found;
  }

  /** Request `id`, granted by another step, is seen by its thread (its callback is about to run). */
  private see(ask: Ask<unknown>, id: number): void {
    this.table.compute(ask.key, (current) => records.see(current, threadId, id).next);
  }

  /**
   * Takes a waiting request out of the queue (its timeout or abort); returns
   * the held entry instead if the request was granted meanwhile.
   */
  private withdraw(ask: Ask<unknown>, id: number): LockEntry | undefined {
    let held: LockEntry | undefined;
    let was = records.ABSENT as records.Standing;
    this.table.compute(ask.key, (current) => {
      const r = records.withdraw(current, threadId, id, now());
      was = r.was;
      held = records.heldEntry(current, threadId, id);
      return r.next;
    });
    if (was === records.WAITING) this.wake(ask.stripe);
    return held;
  }

  /** Removes the requests of the `dead` threads from the record of `key`. */
  private removeDead(key: Uint8Array, stripe: number, dead: ReadonlySet<number>): void {
    let changed = false;
    this.table.compute(key, (current) => {
      const next = records.removeDead(current, dead, now());
      changed = next !== current;
      return next;
    });
    if (changed) this.wake(stripe);
  }

  /**
   * Looks for threads proved dead among the other requests of the record;
   * removes theirs. Returns true if it found any. (Liveness is asked outside
   * any lock: it may read /proc.)
   */
  private reclaimDead(ask: Ask<unknown>, r: LockRecord | undefined): boolean {
    let dead: Set<number> | undefined;
    for (const t of records.threadsOf(r, threadId)) if (!registry().isAlive(t)) (dead ??= new Set()).add(t);
    if (dead === undefined) return false;
    this.removeDead(ask.key, ask.stripe, dead);
    return true;
  }

  /** Tells the stripe's waiters that a record of theirs changed (only if any wait). */
  private wake(stripe: number): void {
    if (!this.anyLiveWaiter(stripe)) return;
    this.waits.wake(stripe + EPOCH);
  }

  /** True if the stripe counts a waiter seen running within STALE_MS; a stale count (dead threads') is zeroed. */
  private anyLiveWaiter(stripe: number): boolean {
    const n = load(this.words, stripe + WAITERS);
    if (n <= 0) return false;
    if (seenWithin(load(this.words, stripe + SEEN), STALE_MS)) return true;
    compareExchange(this.words, stripe + WAITERS, n, 0);
    return false;
  }

  // ---- request lifecycle -----------------------------------------------------

  private async run<T>(ask: Ask<T>, id: number, step: records.RequestStep): Promise<T> {
    let held: LockEntry | undefined;
    if (step.outcome === records.QUEUED) {
      held = await this.waitForGrant(ask, id);
    } else {
      held = step.outcome === records.GRANTED ? step.entry : this.retryIfAvailable(ask, id);
      await Promise.resolve(); // the callback never runs inside request() itself
    }
    const callback = ask.callback;
    // The callback is called as WebIDL calls a callback function: `this` undefined, one argument.
    if (held === undefined) return Reflect.apply(callback, undefined, [null]); // ifAvailable, not available: nothing to release
    // The spec's task that runs the callback: a signal that aborted since the
    // grant (the request rejects with its reason) releases the lock unused.
    const signal = ask.signal;
    if (signal?.aborted) {
      this.release(ask, id, true);
      throw signal.reason;
    }
    if ((held.flags & UNSEEN) !== 0) this.see(ask, id); // (if stolen meanwhile, the release below says so)
    const lock = new Lock(LOCK_TOKEN, ask.name, ask.mode, (held.flags & GRANTED_OWNER_DIED) !== 0);
    // Holding: run the callback; release when its result settles.
    let result: unknown;
    let then: unknown;
    try {
      result = Reflect.apply(callback, undefined, [lock]);
      if ((typeof result === 'object' && result !== null) || typeof result === 'function') then = (result as { then?: unknown }).then;
    } catch (e) {
      if (!this.release(ask, id)) throw stolen(ask.name);
      throw e;
    }
    if (typeof then === 'function') return this.holdAsync(ask, id, adopt<T>(result, then as Then<T>));
    if (!this.release(ask, id)) throw stolen(ask.name);
    return result as T;
  }

  /** ifAvailable found the lock taken: if its holders (or waiters) include dead threads, remove them and try once more. */
  private retryIfAvailable(ask: Ask<unknown>, id: number): LockEntry | undefined {
    if (!this.reclaimDead(ask, this.table.get(ask.key))) return undefined;
    const step = this.requestStep(ask, id);
    return step.outcome === records.GRANTED ? step.entry : undefined;
  }

  /**
   * Waits until request `id` is granted (returns its held entry), its
   * deadline passes (TimeoutError) or its signal aborts (the signal's reason,
   * after releasing the lock if it was granted meanwhile).
   */
  private async waitForGrant(ask: Ask<unknown>, id: number): Promise<LockEntry> {
    const deadline = toDeadline(ask.timeoutMs);
    const w = this.words,
      stripe = ask.stripe;
    let reclaim = true;
    let deaths = registry().deaths;
    // The ticker's check, in place of a wake-up every slice: granted (its wake-up went astray), or a
    // thread of the name's record has died (looking records the death, which sends the loop to reclaim).
    const watch: Watch = () => {
      store(w, stripe + SEEN, seenStamp()); // this request's thread runs
      const r = this.table.get(ask.key);
      return records.heldEntry(r, threadId, id) !== undefined || records.threadsOf(r, threadId).some((t) => !registry().isAlive(t));
    };
    store(w, stripe + SEEN, seenStamp()); // before the count: a repair that sees the count sees this too
    add(w, stripe + WAITERS, 1);
    try {
      for (;;) {
        const epoch = load(w, stripe + EPOCH);
        const r = this.table.get(ask.key);
        const held = records.heldEntry(r, threadId, id);
        if (held !== undefined) return held;
        if (records.standing(r, threadId, id) !== records.WAITING) {
          throw new Error(
            `sabre: LockManager lost the queued request ${id} of thread ${threadId} for ${JSON.stringify(ask.name)} (an internal invariant is broken)`,
          );
        }
        if (reclaim) {
          reclaim = false;
          deaths = registry().deaths;
          if (this.reclaimDead(ask, r)) continue;
        }
        if (deadline !== Infinity && systemClock.now() >= deadline) {
          // Granted meanwhile: the wait succeeded after all.
          const granted = this.withdraw(ask, id);
          if (granted !== undefined) return granted;
          throw new TimeoutError(`timed out after ${ask.timeoutMs} ms waiting for lock ${JSON.stringify(ask.name)}`, {
            timeoutMs: ask.timeoutMs,
          });
        }
        let result: string;
        try {
          result = await parkAsync(w, stripe + EPOCH, epoch, deadline, ask.signal, undefined, watch);
        } catch (e) {
          if (!isSabreError(e, 'ERR_ABORTED')) throw e;
          // The spec's "signal to abort the request": the request leaves the
          // queue and rejects with the signal's reason; granted meanwhile, it
          // releases the lock unused (the callback never runs).
          if (this.withdraw(ask, id) !== undefined) this.release(ask, id, true);
          throw ask.signal!.reason;
        }
        // Look for dead threads after each slice that passed without a wake-up, and after any recorded death.
        if (result === 'timed-out' || registry().deaths !== deaths) reclaim = true;
      }
    } finally {
      uncount(w, stripe + WAITERS);
    }
  }

  /** Holds the lock until the callback's promise settles, or until a steal takes it. */
  private async holdAsync<T>(ask: Ask<unknown>, id: number, result: Promise<T>): Promise<T> {
    const watch = { done: false };
    const settled: Promise<Settled<T>> = result.then(
      (value) => ({ ok: true, value }),
      (error: unknown) => ({ ok: false, error }),
    );
    const first = await Promise.race([settled, this.watchSteal(ask, id, watch)]);
    watch.done = true;
    // (The watcher ends by itself only once `done` is set: it cannot win the race with undefined.)
    if (first === STOLEN || first === undefined || !this.release(ask, id)) throw stolen(ask.name);
    if (first.ok) return first.value;
    throw first.error;
  }

  /**
   * While a callback's promise is pending: resolves STOLEN as soon as the
   * request no longer holds its lock, or undefined once `watch.done`. Parks
   * on the stripe without holding the event loop open.
   */
  private async watchSteal(ask: Ask<unknown>, id: number, watch: { done: boolean }): Promise<typeof STOLEN | undefined> {
    const w = this.words,
      stripe = ask.stripe;
    store(w, stripe + SEEN, seenStamp());
    add(w, stripe + WAITERS, 1); // counted until its last park ends, so the release's notify ends that park
    try {
      for (;;) {
        store(w, stripe + SEEN, seenStamp());
        const epoch = load(w, stripe + EPOCH);
        if (watch.done) return undefined;
        if (records.standing(this.table.get(ask.key), threadId, id) !== records.HELD) return STOLEN;
        await watchWord(w, stripe + EPOCH, epoch, WATCH_SLICE_MS);
      }
    } finally {
      uncount(w, stripe + WAITERS);
    }
  }
}
