/**
 * LockManager: the Web Locks API (`navigator.locks`) shared by every thread
 * of the process, with a timeout and owner-death reporting.
 */
import { threadId } from 'node:worker_threads';
import * as seam from '../memory/atomics.js';
import { CACHE_LINE_BYTES } from '../memory/cache-line.js';
import { fnv1a } from '../memory/fnv.js';
import { createRegion, openRegion, Region, regionBytes, type Handle, type RegionSpec } from '../memory/region.js';
import type { SharedArena } from '../memory/arena.js';
import { systemClock } from '../clock.js';
import { AbortError, CapacityError, InvalidArgumentError, TimeoutError, isSabreError } from '../errors.js';
import { ThreadRegistry } from '../threads/registry.js';
import { parkAsync, toDeadline } from '../sync/park.js';
import { SharedHashTable } from '../table/shared-hash-table.js';
import { describeValue, plainObject, positiveInteger, timeoutMs as checkTimeout } from '../validate.js';
import * as records from './lock-record.js';
import { GRANTED_OWNER_DIED, SHARED, type LockEntry, type LockRecord } from './lock-record.js';

const { add, load, notify, sub, waitAsync } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * Region body:
 *   byte 0          STRIPES wait stripes, one per 128-byte block: EPOCH (bumped
 *                   after a step on a name of this stripe, when someone waits)
 *                   and WAITERS (queued requests and steal watchers of the
 *                   stripe between "about to read the record" and "woke")
 *   byte TABLE_AT   a SharedHashTable (nested region) from name to record: the
 *                   name's held set (grant order) and FIFO request queue
 *                   (lock-record.ts: a 5-byte header [flags, held count, queue
 *                   count], then 9 bytes per request [threadId, request id,
 *                   SHARED | GRANTED_OWNER_DIED]; at most maxRequestsPerName)
 * A name's stripe is a hash of the name; names sharing a stripe only wake each
 * other spuriously. A request is (threadId, id), the id a per-thread counter,
 * so no step needs a shared counter. A name whose last request ends keeps an
 * idle record (rewriting it in place is cheaper than a delete and a later
 * insert); a new name that finds the table full evicts idle records (each by
 * a compute that deletes it only if still idle), so `capacity` bounds the
 * names with requests, not the names ever used.
 *
 * Linearization points: each step is one `compute` on the name's record
 * (under its table segment's lock): a request (granted, queued or refused), a
 * release (which also grants the new head of the queue: the spec's "process
 * the lock request queue"), a steal, the withdrawal of a timed-out or aborted
 * request, the removal of a dead thread's requests. Invariant after every
 * step: the head of the queue is not grantable, and the held set is one
 * exclusive request or any number of shared ones.
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
 * Steal: the stealer's step drops every holder. A holder whose callback
 * returned a promise has a watcher parked on the stripe (without holding the
 * event loop open), which rejects the request with AbortError as soon as its
 * entry is gone; a holder whose callback is synchronous finds it gone when
 * it releases. Either way its release changes nothing (entries are matched by
 * (threadId, id), never by name or mode).
 *
 * Owner death: a thread can stop between any two steps, or inside one (the
 * table repairs the segment: the step happened whole or not at all). It
 * leaves entries naming it, held (it died holding; or, queued, it was
 * granted after it died: reported as a death while holding, the safe side)
 * or queued, and perhaps WAITERS one too high (only extra notifies). Whoever
 * meets such entries proves the thread dead (ThreadRegistry, outside any
 * lock: it may read /proc) and removes them in one step: a queued request at
 * each liveness slice and whenever its thread records a death, a request
 * refused with ifAvailable, `query`. Removing a held entry sets the record's
 * OWNER_DIED_PENDING flag, which the next grant consumes: every request
 * granted in that step gets `ownerDied: true`. The flag keeps an otherwise
 * idle record until then. A death between a step and its EPOCH bump delays
 * the waiters by one slice at most: they re-read the record every slice.
 */

const STRIPES = 32;
const STRIPE_WORDS = CACHE_LINE_BYTES / 4;
const EPOCH = 0, WAITERS = 1; // words of a stripe
const TABLE_AT = STRIPES * CACHE_LINE_BYTES;

/**
 * How often a steal watcher re-reads without a wake-up: only a stealer that
 * died between its step and its notify leaves it asleep, so it may be long.
 */
const WATCH_SLICE_MS = 1000;

/** Default longest lock name, in UTF-8 bytes. */
export const DEFAULT_MAX_NAME_BYTES = 256;
/** Default requests (held and queued) one name may have at once. */
export const DEFAULT_MAX_REQUESTS_PER_NAME = 64;
/** Largest `maxRequestsPerName` (the record counts them in 16 bits; the record is rewritten whole on every step). */
export const MAX_REQUESTS_PER_NAME = 4096;
const MAX_CAPACITY = 2 ** 24;
const MAX_NAME_BYTES = 65_535;

export type LockMode = 'exclusive' | 'shared';

export interface LockManagerOptions {
  /** Names that can have held or queued requests at the same time (1 .. 2^24). */
  readonly capacity: number;
  /** Longest lock name, in UTF-8 bytes (default 256). */
  readonly maxNameBytes?: number;
  /** Requests held or queued for one name at once (default 64, at most 4096). */
  readonly maxRequestsPerName?: number;
  /** Allocate inside this arena instead of a buffer of its own. */
  readonly arena?: SharedArena;
}
interface LockManagerHandleOptions {
  readonly capacity: number;
  readonly maxNameBytes: number;
  readonly maxRequestsPerName: number;
}
export type LockManagerHandle = Handle<'sabre.LockManager', LockManagerHandleOptions>;

/** Options of `request` (the Web Locks `LockOptions`, plus `timeout`). */
export interface LockRequestOptions {
  /** `'exclusive'` (default): one holder; `'shared'`: any number of shared holders, no exclusive one. */
  readonly mode?: LockMode;
  /** Grant only if grantable at once; otherwise call the callback with `null`. */
  readonly ifAvailable?: boolean;
  /** Take the lock from its holders (their requests reject with AbortError); exclusive only. */
  readonly steal?: boolean;
  /** Abort the wait: the request leaves the queue and rejects with AbortError. */
  readonly signal?: AbortSignal;
  /**
   * Milliseconds to wait (default: forever): the request then leaves the queue
   * and rejects with TimeoutError (0: only if not grantable at once; unlike
   * `ifAvailable`, the callback is not called). sabre's addition.
   */
  readonly timeout?: number;
}

/** What the callback receives: the granted lock (the Web Locks `Lock`, plus `ownerDied`). */
export interface Lock {
  readonly name: string;
  readonly mode: LockMode;
  /** True when a previous holder of this name died (its thread stopped) holding it. sabre's addition. */
  readonly ownerDied: boolean;
}

/** A held or pending request in a `query()` snapshot (the Web Locks `LockInfo`). */
export interface LockInfo {
  readonly name: string;
  readonly mode: LockMode;
  /** The requesting thread: `thread-<threadId>` (the main thread is `thread-0`). */
  readonly clientId: string;
}

/** What `query()` returns (the Web Locks `LockManagerSnapshot`). */
export interface LockManagerSnapshot {
  readonly held: LockInfo[];
  readonly pending: LockInfo[];
}

export type LockGrantedCallback<T> = (lock: Lock | null) => T | PromiseLike<T>;

const SPEC: RegionSpec<'sabre.LockManager', LockManagerHandleOptions> = {
  kind: 'sabre.LockManager',
  version: 1,
  bodyBytes: (o) => TABLE_AT + SharedHashTable.byteLength(tableSizes(o)),
};

const tableSizes = (o: LockManagerHandleOptions) => ({ capacity: o.capacity, maxKeyBytes: o.maxNameBytes, maxValueBytes: records.recordBytes(o.maxRequestsPerName) });

function checkSizes(o: Record<string, unknown>): LockManagerHandleOptions {
  return {
    capacity: positiveInteger('capacity', o.capacity, MAX_CAPACITY),
    maxNameBytes: positiveInteger('maxNameBytes', o.maxNameBytes ?? DEFAULT_MAX_NAME_BYTES, MAX_NAME_BYTES),
    maxRequestsPerName: positiveInteger('maxRequestsPerName', o.maxRequestsPerName ?? DEFAULT_MAX_REQUESTS_PER_NAME, MAX_REQUESTS_PER_NAME),
  };
}

function checkHandleOptions(raw: unknown): LockManagerHandleOptions {
  const o = plainObject('options', raw);
  const keys = Object.keys(o).sort().join(',');
  if (keys !== 'capacity,maxNameBytes,maxRequestsPerName') {
    throw new InvalidArgumentError(`a LockManager handle has options { capacity, maxNameBytes, maxRequestsPerName }, got keys [${keys}]`);
  }
  return checkSizes(o);
}

const OPTION_KEYS = new Set(['mode', 'ifAvailable', 'steal', 'signal', 'timeout']);

/** A validated request. */
interface Ask<T> {
  readonly name: string;
  readonly stripe: number;
  readonly mode: LockMode;
  readonly ifAvailable: boolean;
  readonly steal: boolean;
  readonly signal: AbortSignal | undefined;
  readonly timeout: number;
  readonly callback: LockGrantedCallback<T>;
}

/** Request ids: a per-thread counter (a request is (threadId, id)), never 0. */
let lastId = 0;
const nextId = (): number => (lastId = (lastId + 1) >>> 0) || (lastId = 1);

const clientOf = (thread: number): string => `thread-${thread}`;
const modeOf = (e: LockEntry): LockMode => ((e.flags & SHARED) !== 0 ? 'shared' : 'exclusive');
const registry = (): ThreadRegistry => ThreadRegistry.current;
const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';

/** The stripe of a name: FNV-1a over its UTF-16 code units (only spreads wake-ups; collisions cost spurious wakes). */
function stripeOf(name: string): number {
  return (fnv1a(name) % STRIPES) * STRIPE_WORDS;
}

function stolen(name: string): AbortError {
  return new AbortError(`the lock ${JSON.stringify(name)} was stolen by another request (steal: true) while this request held it`);
}

const STOLEN = Symbol('stolen');
type Settled<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: unknown };

/**
 * The Web Locks API (https://w3c.github.io/web-locks/) across every thread
 * that opens the manager's handle: `request(name, options?, callback)` runs
 * `callback` while holding the lock `name` and releases it when the
 * callback's result settles; `query()` lists the held and pending requests of
 * every thread.
 *
 * Semantics follow the spec: each name has a FIFO queue; a request is
 * granted when it heads the queue and is compatible with the held locks (any
 * number of `'shared'` holders, or one `'exclusive'`), so a run of shared
 * requests at the head is granted together and a shared request behind a
 * waiting exclusive one waits (writers are not starved). `ifAvailable` calls
 * the callback with `null` instead of waiting; `steal` takes the lock from
 * its holders at once (their `request` promises reject with AbortError, even
 * while their callbacks still run); `signal` aborts a wait. sabre adds
 * `timeout` (TimeoutError, and the request leaves the queue) and
 * `lock.ownerDied`: true when a previous holder of the name died (its thread
 * stopped) holding it. The dead thread's requests are removed within
 * `LIVENESS_SLICE_MS` of the death by whoever waits for the name, or at once
 * by the next request that finds the name taken.
 *
 * Ordering: the release of a lock happens-before the callback of every
 * request it lets through. The callback runs in a microtask after the grant,
 * never inside `request` itself. Waiting never blocks the event loop and keeps
 * it alive; holding a lock does not (a callback's promise keeps alive what
 * it keeps alive).
 *
 * Differences from the spec: errors are sabre errors (`InvalidArgumentError`
 * where the spec throws TypeError or NotSupportedError; an `AbortError`
 * carrying the signal's reason in `error.cause.cause` where the spec rejects
 * with the reason itself); unknown option keys are refused; names with
 * lone surrogates are refused (they would not survive UTF-8); clients are
 * threads.
 *
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`, as a rejected promise) for a
 *   name that is not a string, starts with '-', is longer than maxNameBytes
 *   or not well-formed UTF-16; a callback that is not a function; a bad
 *   option; `steal` with `ifAvailable` or a shared mode; `signal` or `timeout`
 *   with `steal` or `ifAvailable`
 * @throws CapacityError (`ERR_CAPACITY`) when `capacity` names are in use and
 *   the request names another, or the name has maxRequestsPerName requests
 * @throws TimeoutError (`ERR_TIMEOUT`), AbortError (`ERR_ABORTED`) as above
 *
 * @example
 * ```ts
 * const locks = new LockManager({ capacity: 1024 });      // pass locks.handle to workers
 * await locks.request('orders:42', async (lock) => {        // any thread
 *   if (lock!.ownerDied) await repair();                   // a holder died mid-update
 *   await update();
 * });
 * await locks.request('cache', { mode: 'shared', timeout: 500 }, () => read());
 * ```
 * @remarks Since 0.1
 */
export class LockManager {
  readonly handle: LockManagerHandle;
  /** Names that can have held or queued requests at once. */
  readonly capacity: number;
  readonly maxNameBytes: number;
  readonly maxRequestsPerName: number;
  private readonly words: Int32Array;
  private readonly table: SharedHashTable<LockRecord>;

  constructor(options: LockManagerOptions);
  /** @internal */
  constructor(region: Region<'sabre.LockManager', LockManagerHandleOptions>);
  constructor(options: LockManagerOptions | Region<'sabre.LockManager', LockManagerHandleOptions>) {
    let region: Region<'sabre.LockManager', LockManagerHandleOptions>;
    if (options instanceof Region) {
      region = options;
      this.table = SharedHashTable.nested(region, TABLE_AT, tableSizes(region.options), records.recordCodec, 'open');
    } else {
      const o = plainObject('options', options);
      region = createRegion(SPEC, checkSizes(o), o.arena as SharedArena | undefined);
      this.table = SharedHashTable.nested(region, TABLE_AT, tableSizes(region.options), records.recordCodec, 'create');
    }
    this.handle = region.handle;
    ({ capacity: this.capacity, maxNameBytes: this.maxNameBytes, maxRequestsPerName: this.maxRequestsPerName } = region.options);
    this.words = region.i32(0, TABLE_AT / 4);
  }

  /** Re-opens a manager from its handle, in any thread. @throws HandleError */
  static from(handle: LockManagerHandle): LockManager {
    return new LockManager(openRegion(SPEC, handle, checkHandleOptions));
  }

  /** Bytes a LockManager of these options takes (in an arena, rounded up to 128). */
  static byteLength(options: Omit<LockManagerOptions, 'arena'>): number {
    return regionBytes(SPEC, checkSizes(plainObject('options', options)));
  }

  /**
   * Requests the lock `name` and runs `callback` holding it; the lock is
   * released when the callback's result settles (or it returns or throws).
   * Resolves with what the callback's result resolves to; rejects with what
   * it threw, or as the class documentation says.
   */
  request<T>(name: string, callback: LockGrantedCallback<T>): Promise<Awaited<T>>;
  request<T>(name: string, options: LockRequestOptions, callback: LockGrantedCallback<T>): Promise<Awaited<T>>;
  request<T>(name: string, optionsOrCallback: LockRequestOptions | LockGrantedCallback<T>, maybeCallback?: LockGrantedCallback<T>): Promise<Awaited<T>> {
    let ask: Ask<T>;
    let id: number;
    let step: records.RequestStep;
    try {
      ask = this.parse(name, optionsOrCallback, maybeCallback);
      id = nextId();
      step = this.requestStep(ask, id);
    } catch (e) {
      return Promise.reject(e);
    }
    return this.run(ask, id, step) as Promise<Awaited<T>>;
  }

  /**
   * A snapshot of every thread's held and pending requests: held in grant
   * order and pending in queue order, per name (the Web Locks `query()`).
   * Requests of threads found dead are removed first.
   */
  async query(): Promise<LockManagerSnapshot> {
    let entries = [...this.table.entries()] as [string, LockRecord][];
    const dead = new Set<number>();
    for (const [, r] of entries) for (const t of records.threadsOf(r, threadId)) if (!dead.has(t) && !registry().isAlive(t)) dead.add(t);
    if (dead.size > 0) {
      for (const [name, r] of entries) if (records.threadsOf(r, threadId).some((t) => dead.has(t))) this.removeDead(name, stripeOf(name), dead);
      entries = [...this.table.entries()] as [string, LockRecord][];
    }
    const info = (name: string) => (e: LockEntry): LockInfo => ({ name, mode: modeOf(e), clientId: clientOf(e.thread) });
    return {
      held: entries.flatMap(([name, r]) => r.held.map(info(name))),
      pending: entries.flatMap(([name, r]) => r.queue.map(info(name))),
    };
  }

  // ---- arguments -------------------------------------------------------------

  private parse<T>(name: unknown, optionsOrCallback: unknown, maybeCallback: unknown): Ask<T> {
    const hasOptions = maybeCallback !== undefined || (typeof optionsOrCallback !== 'function' && optionsOrCallback !== undefined);
    const callback = hasOptions ? maybeCallback : optionsOrCallback;
    if (typeof callback !== 'function') throw new InvalidArgumentError(`request(name, [options], callback): callback must be a function, got ${describeValue(callback)}`);
    this.checkName(name);
    const o = hasOptions ? plainObject('options', optionsOrCallback) : {};
    for (const key of Object.keys(o)) {
      if (!OPTION_KEYS.has(key)) throw new InvalidArgumentError(`request options have no ${JSON.stringify(key)}; they are mode, ifAvailable, steal, signal, timeout`);
    }
    const mode = o.mode ?? 'exclusive';
    if (mode !== 'exclusive' && mode !== 'shared') throw new InvalidArgumentError(`mode must be 'exclusive' or 'shared', got ${describeValue(mode)}`);
    const ifAvailable = flag('ifAvailable', o.ifAvailable);
    const steal = flag('steal', o.steal);
    const signal = o.signal;
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new InvalidArgumentError(`signal must be an AbortSignal, got ${describeValue(signal)}`);
    const timeout = checkTimeout('timeout', o.timeout);
    // The spec's NotSupportedError cases, then sabre's own for `timeout`.
    if (steal && ifAvailable) throw new InvalidArgumentError('steal and ifAvailable cannot be used together');
    if (steal && mode !== 'exclusive') throw new InvalidArgumentError("steal requires mode 'exclusive'");
    if (signal !== undefined && (steal || ifAvailable)) throw new InvalidArgumentError(`signal cannot be used with ${steal ? 'steal' : 'ifAvailable'}: such a request never waits`);
    if (o.timeout !== undefined && (steal || ifAvailable)) throw new InvalidArgumentError(`timeout cannot be used with ${steal ? 'steal' : 'ifAvailable'}: such a request never waits`);
    if (signal?.aborted) throw new AbortError(`request for lock ${JSON.stringify(name)} aborted before it was made`, signal.reason);
    return { name: name as string, stripe: stripeOf(name as string), mode, ifAvailable, steal, signal, timeout, callback: callback as LockGrantedCallback<T> };
  }

  private checkName(name: unknown): asserts name is string {
    if (typeof name !== 'string') throw new InvalidArgumentError(`lock name must be a string, got ${describeValue(name)}`);
    if (name.charCodeAt(0) === 0x2d) throw new InvalidArgumentError(`lock names starting with '-' are reserved, got ${JSON.stringify(name)}`);
    // Every UTF-16 code unit takes at most 3 UTF-8 bytes: measure only names that may not fit.
    if (name.length * 3 > this.maxNameBytes) {
      const bytes = Buffer.byteLength(name, 'utf8');
      if (bytes > this.maxNameBytes) throw new InvalidArgumentError(`lock name is too long: ${bytes} UTF-8 bytes, and maxNameBytes is ${this.maxNameBytes}`);
    }
    if (!(name as string & { isWellFormed(): boolean }).isWellFormed()) {
      throw new InvalidArgumentError(`lock name ${JSON.stringify(name)} has a lone surrogate: it has no UTF-8 form, so two such names could not be told apart`);
    }
  }

  // ---- steps (each one compute on the name's record) -------------------------

  /** The request step; wakes the stripe after a steal (the holders it dropped must learn it). */
  private requestStep(ask: Ask<unknown>, id: number): records.RequestStep {
    const entry: LockEntry = { thread: threadId, id, flags: ask.mode === 'shared' ? SHARED : 0 };
    let step: records.RequestStep | undefined;
    const decide = (current: LockRecord | undefined): LockRecord | undefined => {
      step = records.request(current, entry, ask, this.maxRequestsPerName, ask.name);
      return step.next;
    };
    try {
      this.table.compute(ask.name, decide);
    } catch (e) {
      // The record's own refusal (too many requests for the name) says so
      // itself; a refusal by the table means no room for a new name: make
      // room by evicting idle records, then refuse if there is still none.
      if (!isSabreError(e, 'ERR_CAPACITY') || /maxRequestsPerName/.test((e as Error).message)) throw e;
      if (this.evictIdle() === 0) throw this.namesFull(ask.name);
      try {
        this.table.compute(ask.name, decide);
      } catch (again) {
        if (isSabreError(again, 'ERR_CAPACITY') && !/maxRequestsPerName/.test((again as Error).message)) throw this.namesFull(ask.name);
        throw again;
      }
    }
    if (ask.steal) this.wake(ask.stripe);
    return step!;
  }

  private namesFull(name: string): CapacityError {
    return new CapacityError(
      `no room for lock ${JSON.stringify(name)}: all ${this.capacity} names of this LockManager have held or queued requests; ` +
        'release some, or create it with a larger capacity',
    );
  }

  /** Deletes the records of idle names (no request, no flag), each only if still idle. Returns how many. */
  private evictIdle(): number {
    let evicted = 0;
    for (const [name, r] of this.table.entries()) {
      if (!records.isIdle(r)) continue;
      this.table.compute(name, (current) => {
        if (!records.isIdle(current)) return current;
        evicted++;
        return undefined;
      });
    }
    return evicted;
  }

  /** Releases request `id`; false if it no longer held the lock (stolen). */
  private release(ask: Ask<unknown>, id: number): boolean {
    let found = false;
    this.table.compute(ask.name, (current) => {
      const r = records.release(current, threadId, id);
      found = r.found;
      return r.next;
    });
    if (found) this.wake(ask.stripe);
    return found;
  }

  /**
   * Takes a waiting request out of the queue (its timeout or abort); returns
   * the held entry instead if the request was granted meanwhile.
   */
  private withdraw(ask: Ask<unknown>, id: number): LockEntry | undefined {
    let held: LockEntry | undefined;
    let was = records.ABSENT as records.Standing;
    this.table.compute(ask.name, (current) => {
      const r = records.withdraw(current, threadId, id);
      was = r.was;
      held = records.heldEntry(current, threadId, id);
      return r.next;
    });
    if (was === records.WAITING) this.wake(ask.stripe);
    return held;
  }

  /** Removes the requests of the `dead` threads from `name`'s record. */
  private removeDead(name: string, stripe: number, dead: ReadonlySet<number>): void {
    let changed = false;
    this.table.compute(name, (current) => {
      const next = records.removeDead(current, dead);
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
  private reclaimDead(name: string, stripe: number, r: LockRecord | undefined): boolean {
    let dead: Set<number> | undefined;
    for (const t of records.threadsOf(r, threadId)) if (!registry().isAlive(t)) (dead ??= new Set()).add(t);
    if (dead === undefined) return false;
    this.removeDead(name, stripe, dead);
    return true;
  }

  /** Tells the stripe's waiters that a record of theirs changed (only if any wait). */
  private wake(stripe: number): void {
    if (load(this.words, stripe + WAITERS) === 0) return;
    add(this.words, stripe + EPOCH, 1);
    notify(this.words, stripe + EPOCH);
  }

  // ---- request lifecycle -----------------------------------------------------

  private async run<T>(ask: Ask<T>, id: number, step: records.RequestStep): Promise<T> {
    let held: LockEntry | undefined = step.outcome === records.GRANTED ? step.entry : undefined;
    if (step.outcome === records.QUEUED) {
      held = await this.waitForGrant(ask, id);
    } else {
      if (step.outcome === records.UNAVAILABLE) held = this.retryIfAvailable(ask, id);
      await undefined; // the callback never runs inside request() itself
    }
    if (held === undefined) return ask.callback(null); // ifAvailable, not available: nothing to release
    // Holding: run the callback; release when its result settles.
    const lock: Lock = { name: ask.name, mode: ask.mode, ownerDied: (held.flags & GRANTED_OWNER_DIED) !== 0 };
    let result: T | PromiseLike<T>;
    try {
      result = ask.callback(lock);
    } catch (e) {
      if (!this.release(ask, id)) throw stolen(ask.name);
      throw e;
    }
    if (isThenable(result)) return this.holdAsync(ask, id, result);
    if (!this.release(ask, id)) throw stolen(ask.name);
    return result;
  }

  /** ifAvailable found the lock taken: if its holders (or waiters) include dead threads, remove them and try once more. */
  private retryIfAvailable(ask: Ask<unknown>, id: number): LockEntry | undefined {
    if (!this.reclaimDead(ask.name, ask.stripe, this.table.get(ask.name))) return undefined;
    const step = this.requestStep(ask, id);
    return step.outcome === records.GRANTED ? step.entry : undefined;
  }

  /** Waits until request `id` is granted (returns its held entry), its deadline passes or its signal fires. */
  private async waitForGrant(ask: Ask<unknown>, id: number): Promise<LockEntry> {
    const deadline = toDeadline(ask.timeout);
    const w = this.words, stripe = ask.stripe;
    let reclaim = true;
    let deaths = registry().deaths;
    add(w, stripe + WAITERS, 1);
    try {
      for (;;) {
        const epoch = load(w, stripe + EPOCH);
        const r = this.table.get(ask.name);
        const held = records.heldEntry(r, threadId, id);
        if (held !== undefined) return held;
        if (records.standing(r, threadId, id) !== records.WAITING) {
          throw new Error(`sabre: LockManager lost the queued request ${id} of thread ${threadId} for ${JSON.stringify(ask.name)} (an internal invariant is broken)`);
        }
        if (reclaim) {
          reclaim = false;
          deaths = registry().deaths;
          if (this.reclaimDead(ask.name, stripe, r)) continue;
        }
        if (deadline !== Infinity && systemClock.now() >= deadline) {
          return this.giveUp(ask, id, new TimeoutError(`timed out after ${ask.timeout} ms waiting for lock ${JSON.stringify(ask.name)}`, { timeoutMs: ask.timeout }));
        }
        let result: string;
        try {
          result = await parkAsync(w, stripe + EPOCH, epoch, deadline, ask.signal);
        } catch (e) {
          if (!isSabreError(e, 'ERR_ABORTED')) throw e;
          return this.giveUp(ask, id, new AbortError(`request for lock ${JSON.stringify(ask.name)} aborted while waiting`, ask.signal?.reason));
        }
        // Look for dead threads after each slice that passed without a wake-up, and after any recorded death.
        if (result === 'timed-out' || registry().deaths !== deaths) reclaim = true;
      }
    } finally {
      sub(w, stripe + WAITERS, 1);
    }
  }

  /** Withdraws a waiting request and throws `error`, unless it was granted meanwhile (then the wait succeeded). */
  private giveUp(ask: Ask<unknown>, id: number, error: Error): LockEntry {
    const held = this.withdraw(ask, id);
    if (held === undefined) throw error;
    return held;
  }

  /** Holds the lock until the callback's promise settles, or until a steal takes it. */
  private async holdAsync<T>(ask: Ask<T>, id: number, result: PromiseLike<T>): Promise<T> {
    const watch = { done: false };
    const settled: Promise<Settled<T>> = Promise.resolve(result).then(
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
    const w = this.words, stripe = ask.stripe;
    add(w, stripe + WAITERS, 1); // counted until its last park ends, so the release's notify ends that park
    try {
      for (;;) {
        const epoch = load(w, stripe + EPOCH);
        if (watch.done) return undefined;
        if (records.standing(this.table.get(ask.name), threadId, id) !== records.HELD) return STOLEN;
        const r = waitAsync(w, stripe + EPOCH, epoch, WATCH_SLICE_MS);
        if (r.async) await r.value;
      }
    } finally {
      sub(w, stripe + WAITERS, 1);
    }
  }
}

function flag(name: string, v: unknown): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new InvalidArgumentError(`${name} must be a boolean, got ${describeValue(v)}`);
  return v;
}
