/**
 * LeaseLock: keyed resource leases that expire, with fencing tokens.
 */
import { threadId } from 'node:worker_threads';
import * as seam from '../memory/atomics.js';
import { CACHE_LINE_BYTES } from '../memory/cache-line.js';
import { float64Record, type Codec } from '../memory/codec.js';
import { definePrimitive, type HandleOf, type OpenedOf } from '../memory/primitive.js';
import type { SharedArena } from '../memory/arena.js';
import { clock, systemClock, type Clock } from '../clock.js';
import { defineOptions } from '../options/schema.js';
import { duration, integer, oneOf, signal as abortSignal, timeout } from '../options/field.js';
import { WHEN_FULL_CLOSED, type KeyedStats } from '../table/when-full.js';
import { CapacityError, NotOwnerError, isSabreError } from '../errors.js';
import { integerIn } from '../validate.js';
import { ThreadRegistry } from '../threads/registry.js';
import { toDeadline, type Watch } from '../threads/park.js';
import { runAsync, runBlocking, type SlowPath } from '../threads/slow-path.js';
import { SharedHashTable, TABLE_FULL } from '../table/shared-hash-table.js';
import { KeyWaitWords } from '../table/key-wait-words.js';
import { FencedResource, type FencedResourceOptions } from './fenced-resource.js';
import type { TableKey } from '../table/key.js';

const { add64 } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * Region body:
 *   byte 0    TOKEN   BigInt64: the last fencing token handed out (all resources)
 *   byte 128  WAIT    WAIT_STRIPES Int32 words, the resources' wait words
 *                     (table/key-wait-words.ts): a release wakes its
 *                     resource's word; waiters park there
 *   byte 256  the leases: a SharedHashTable (nested region) from resource
 *             to a 24-byte record [holder threadId + 1, token, expiresAt],
 *             float64s on the lease lock's clock
 *
 * A resource is free when it has no record, its record has expired
 * (expiresAt <= now), or its holder thread is dead. Nothing ever has to
 * clean up: `acquire` replaces a free record in place, in one `compute` on
 * the resource's record (under its table segment's lock), which is the
 * linearization point of acquire, renew and release alike.
 *
 * Fencing tokens come from one 64-bit counter (an atomic add, inside that
 * compute), so they increase strictly per resource (and across resources).
 * A holder can stall past its expiry, and a new holder then gets a larger
 * token; a store that keeps the largest token it has seen (FencedResource)
 * refuses the stale holder's late write (Kleppmann's fencing).
 *
 * Owner death: a thread dying inside compute leaves the table to repair
 * itself (its segment lock is poisoned; the next user rebuilds it): the
 * acquire happened whole or not at all. A thread that dies holding a lease
 * frees it at once (the next acquirer sees the holder dead and takes over,
 * with `previousHolderDied`), not only at expiry. A token taken by a thread
 * that died before its record was written is simply never used.
 *
 * Waiting: waiters read their stripe, try, and park on the stripe until a
 * release bumps it, their deadline, or (on the system clock) the holder's
 * expiry; parks are sliced (LIVENESS_SLICE_MS), which also bounds how late a
 * waiter notices an expiry on a ManualClock or a holder's death.
 */

const TOKEN = 0; // BigInt64 word
const WAIT_AT = CACHE_LINE_BYTES,
  WAIT_STRIPES = 32;
const TABLE_AT = 2 * CACHE_LINE_BYTES;
const RECORD_BYTES = 24;

/** The default `maxKeyBytes`: the longest resource name, in UTF-8 bytes. */
export const DEFAULT_MAX_RESOURCE_BYTES = 256;

export interface LeaseLockOptions {
  /** Resources that can be leased at once (expired leases make room by themselves). */
  readonly capacity: number;
  /** Longest resource name in UTF-8 bytes (default 256). */
  readonly maxKeyBytes?: number;
  /** The clock leases expire on (default `systemClock`; a `ManualClock` for tests). */
  readonly clock?: Clock;
  /**
   * What `acquire` does for a new resource when every lease is live (none
   * has lapsed to make room): `'throw'` a CapacityError (default), or
   * `'fail-closed'`: treat the resource as held (`acquire` answers null,
   * `acquireAsync` waits for room within its timeout), without the cost of
   * an error. There is no `'fail-open'`: a lease not recorded excludes no
   * one. `stats().refusedWhenFull` counts each refusal.
   */
  readonly whenFull?: 'throw' | 'fail-closed';
  /** Allocate inside this arena instead of a buffer of its own. */
  readonly arena?: SharedArena;
  /** @deprecated Use `maxKeyBytes` (`SABRE_DEP_MAX_KEY_BYTES`). */
  readonly maxResourceBytes?: number;
}

export interface AcquireLeaseOptions {
  /** How long the lease lasts unless renewed, in ms of the lock's clock (> 0, finite). */
  readonly ttlMs: number;
  /** Milliseconds to wait for the resource (default 0 for `acquire`: try once; forever for `acquireAsync`). */
  readonly timeoutMs?: number;
  /** @deprecated Use `timeoutMs` (`SABRE_DEP_TIMEOUT`). */
  readonly timeout?: number;
}
export interface AcquireLeaseAsyncOptions extends AcquireLeaseOptions {
  readonly signal?: AbortSignal;
}

interface LeaseRecord {
  readonly holder: number;
  readonly token: number;
  readonly expiresAt: number;
}

const recordCodec: Codec<LeaseRecord> = float64Record('holder', 'token', 'expiresAt');

const tableSizes = (o: { readonly capacity: number; readonly maxKeyBytes: number }) => ({
  capacity: o.capacity,
  maxKeyBytes: o.maxKeyBytes,
  maxValueBytes: RECORD_BYTES,
});

const DEF = definePrimitive(
  'LeaseLock',
  1,
  {
    capacity: integer({ max: 2 ** 24 }),
    maxKeyBytes: integer({ max: 65_535, default: DEFAULT_MAX_RESOURCE_BYTES }),
    clock: clock(),
    whenFull: oneOf(WHEN_FULL_CLOSED, 'throw'),
  },
  {
    renamed: { maxResourceBytes: { to: 'maxKeyBytes', code: 'SABRE_DEP_MAX_KEY_BYTES' } },
    bodyBytes: (o) => TABLE_AT + SharedHashTable.byteLength(tableSizes(o)),
  },
);
export type LeaseLockHandle = HandleOf<typeof DEF>;

/** A lease's duration: `renew`'s argument, and `ttlMs` of `acquire`'s options. */
export const ttlMs = duration({ positive: true, infinite: false });
const renamed = { timeout: { to: 'timeoutMs', code: 'SABRE_DEP_TIMEOUT' } } as const;
const ACQUIRE = defineOptions('leaseLock.acquire(resource, options)', { ttlMs, timeoutMs: duration({ default: 0 }) }, { renamed });
export const ACQUIRE_ASYNC = defineOptions(
  'leaseLock.acquireAsync(resource, options)',
  { ttlMs, timeoutMs: timeout(), signal: abortSignal() },
  { renamed },
);

export const describe = (resource: TableKey): string =>
  typeof resource === 'string' ? JSON.stringify(resource) : `<${resource.length} bytes>`;

const me = threadId + 1;
const registry = (): ThreadRegistry => ThreadRegistry.current;

/** `renew`'s argument, checked as `acquire`'s `ttlMs` option is. */
const ttlOfRenew = (v: unknown): number => ttlMs.parse(v, 'ttlMs', {});

/**
 * A lease on one resource: held until `release()`, or until it expires.
 * Carry `fencingToken` with every write the lease protects.
 *
 * A lease is a guard: `using lease = leases.acquire(resource, { ttlMs })`
 * releases it at the end of the block (`await using` too). `acquire` returns
 * `null` when the resource stayed held, and `using` accepts `null`: test
 * `lease` before relying on it.
 */
export class Lease implements Disposable, AsyncDisposable {
  private state: 'held' | 'released' = 'held';
  /** @internal */
  constructor(
    private readonly lock: LeaseLock,
    readonly resource: TableKey,
    /** Strictly larger than every earlier lease's token on this resource. */
    readonly fencingToken: number,
    private expiry: number,
    private readonly ttlMs: number,
    /** True if the previous holder's thread died while its lease was still live. */
    readonly previousHolderDied: boolean,
  ) {}

  /** When the lease lapses, on the lock's clock (ms). */
  get expiresAt(): number {
    return this.expiry;
  }

  /** True while the lease is still this holder's and not expired (a snapshot). */
  get isValid(): boolean {
    return this.state === 'held' && this.lock.owns(this.resource, this.fencingToken);
  }

  /**
   * Extends the lease to `ttlMs` (default: its original TTL) from now.
   * @throws NotOwnerError if it has expired, been released, or been taken over
   */
  renew(ttlMs?: number): void {
    const ttl = ttlMs === undefined ? this.ttlMs : ttlOfRenew(ttlMs);
    this.expiry = this.lock.renewLease(this.resource, this.fencingToken, ttl, this.state === 'released');
  }

  /**
   * Gives the resource up (waiters are woken).
   * @throws NotOwnerError if it has expired, was released already, or was taken over
   */
  release(): void {
    this.lock.releaseLease(this.resource, this.fencingToken, this.state === 'released');
    this.state = 'released';
  }

  /** For `using`: releases the lease if it is still held; a lease that already lapsed is left as it is. */
  [Symbol.dispose](): void {
    if (this.state === 'released') return;
    try {
      this.release();
    } catch (e) {
      if (!isSabreError(e, 'ERR_NOT_OWNER')) throw e;
    }
  }

  /** For `await using`: as `Symbol.dispose` (releasing never waits). */
  async [Symbol.asyncDispose](): Promise<void> {
    this[Symbol.dispose]();
  }
}

/**
 * Keyed leases shared by every thread: at most one live lease per resource,
 * each with an expiry (the pessimistic lock with a timeout, and the resource
 * lock that frees itself) and a fencing token.
 *
 * `acquire(resource, { ttlMs })` returns a `Lease`, or `null` when another
 * live lease holds the resource (after waiting up to `timeoutMs`, if given);
 * `acquireAsync` waits without blocking the event loop. A lease lapses at
 * `expiresAt` unless renewed; the resource is then free for the next acquirer
 * with no cleanup step. The lease of a thread that died is free at once.
 *
 * Fencing tokens increase strictly per resource. A holder that stalls past
 * its expiry may still try to write: guard the protected state with a
 * `FencedResource` (`LeaseLock.guard`) that refuses a token smaller than the
 * largest it has seen.
 *
 * Memory synchronization: a `release()` happens-before the `acquire` that
 * takes the resource next (an expiry orders nothing: that is what fencing is for).
 *
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`) for a ttlMs that is not a
 *   finite number > 0, a resource name longer than `maxKeyBytes`, an unknown
 *   or bad option
 * @throws CapacityError (`ERR_CAPACITY`) when `capacity` live leases exist
 * @throws NotOwnerError (`ERR_NOT_OWNER`) from `renew`/`release` of a lease that
 *   expired, was released, or was taken over
 * @throws AbortError (`ERR_ABORTED`) when `acquireAsync`'s signal fires
 *
 * @example
 * ```ts
 * const leases = new LeaseLock({ capacity: 1000, maxKeyBytes: 64 });
 * const invoices = LeaseLock.guard<string>({ capacity: 1000, maxKeyBytes: 32, maxValueBytes: 64, codec: 'string' });
 * const lease = leases.acquire('invoice:42', { ttlMs: 5_000 });
 * if (lease) {
 *   try { invoices.write('invoice:42', lease.fencingToken, 'paid'); } finally { lease.release(); }
 * }
 * {
 *   using report = await leases.acquireAsync('report', { ttlMs: 30_000, timeoutMs: 1_000 }); // null after 1 s
 *   if (report) buildReport(report.fencingToken);
 * } // released here (a null lease is skipped)
 * ```
 * @remarks Since 0.1
 */
export class LeaseLock {
  /** The bounds and defaults of its numeric options, read off their declaration. */
  static readonly limits = DEF.limits;
  readonly handle: LeaseLockHandle;
  readonly clock: Clock;
  private readonly token: BigInt64Array;
  private readonly waits: KeyWaitWords;
  private readonly leases: SharedHashTable<LeaseRecord>;
  private readonly failClosed: boolean;
  /** Set by a refused `tryAcquire`: when the current lease lapses. */
  private heldUntil = 0;

  constructor(options: LeaseLockOptions | OpenedOf<typeof DEF>) {
    const { region, options: o, created } = DEF.resolve(options);
    this.clock = o.clock;
    this.handle = region.handle;
    this.leases = SharedHashTable.nested(region, TABLE_AT, tableSizes(o), recordCodec, created ? 'create' : 'open');
    // A lease lapses at its expiry, or at once when its holder dies.
    this.leases.setLapse({
      now: () => this.clock.now(),
      lapsesAt: (r) => r.expiresAt,
      ownerOf: (r) => r.holder - 1,
      full: () => this.full(),
    });
    this.token = region.i64(TOKEN, 1);
    this.failClosed = o.whenFull === 'fail-closed';
    this.waits = new KeyWaitWords(region.i32(WAIT_AT, WAIT_STRIPES), WAIT_STRIPES);
  }

  /** Leases held (lapsed ones included until reclaimed), capacity, and new resources refused because every lease was live. */
  stats(): KeyedStats {
    return this.leases.stats();
  }

  /** Re-opens a lease lock from its handle, in any thread. @throws HandleError */
  static from(handle: LeaseLockHandle): LeaseLock {
    return new LeaseLock(DEF.open(handle));
  }

  /** Bytes a lease lock of these options takes; the same options as the constructor. */
  static byteLength(options: LeaseLockOptions): number {
    return DEF.byteLength(options);
  }

  /**
   * Takes a lease on `resource` if it is free; with `timeoutMs`, waits
   * (blocking this thread) up to that long. Returns `null` if it stayed held.
   */
  acquire(resource: TableKey, options: AcquireLeaseOptions): Lease | null {
    const { ttlMs: ttl, timeoutMs } = ACQUIRE.parse(options);
    const lease = this.tryAcquire(resource, ttl);
    if (lease !== null || timeoutMs === 0) return lease;
    return runBlocking(this.acquirePath(resource, ttl, toDeadline(timeoutMs)));
  }

  /**
   * Takes a lease on `resource`, waiting without blocking the event loop
   * (default: as long as it takes). Resolves `null` after `timeoutMs`.
   * @throws AbortError when `signal` fires first
   */
  async acquireAsync(resource: TableKey, options: AcquireLeaseAsyncOptions): Promise<Lease | null> {
    const { ttlMs: ttl, timeoutMs, signal } = ACQUIRE_ASYNC.parse(options);
    return runAsync(this.acquirePath(resource, ttl, toDeadline(timeoutMs)), signal);
  }

  /**
   * A wait for a lease, for both forms (slow-path.ts): tries, and parks on
   * the resource's wait word until a release moves it, the lease can lapse,
   * or the deadline passes (null).
   */
  private *acquirePath(resource: TableKey, ttl: number, deadline: number): SlowPath<Lease | null> {
    const word = this.waits.wordOf(resource);
    // The ticker's check, in place of a wake-up every slice: the resource is free, its lease lapsed
    // (a ManualClock moves without a wake-up), or its holder died.
    const watch: Watch = () => this.holder(resource) === undefined;
    for (;;) {
      const seen = this.waits.epoch(word);
      const lease = this.tryAcquire(resource, ttl);
      if (lease !== null) return lease;
      if (systemClock.now() >= deadline) return null;
      yield { word: this.waits.words, index: word, expected: seen, deadline: this.wakeAt(deadline), watch };
    }
  }

  /** The live lease's holder thread and token on `resource`, or `undefined` if it is free (a snapshot). */
  holder(resource: TableKey): { threadId: number; fencingToken: number; expiresAt: number } | undefined {
    const r = this.leases.get(resource);
    if (r === undefined || !this.live(r, this.clock.now())) return undefined;
    return { threadId: r.holder - 1, fencingToken: r.token, expiresAt: r.expiresAt };
  }

  /**
   * A store for the data leases protect, refusing writes with stale fencing
   * tokens (see `FencedResource`). Shorthand for `new FencedResource(options)`.
   */
  static guard<T = unknown>(options: FencedResourceOptions<T>): FencedResource<T> {
    return new FencedResource<T>(options);
  }

  // ---- internals (used by Lease) ------------------------------------------

  /** @internal */
  owns(resource: TableKey, token: number): boolean {
    const r = this.leases.get(resource);
    return r?.token === token && r.expiresAt > this.clock.now();
  }

  /** @internal Returns the new expiry. */
  renewLease(resource: TableKey, token: number, ttl: number, released: boolean): number {
    integerIn('token', token, 0, Number.MAX_SAFE_INTEGER);
    let expiresAt = 0;
    this.leases.compute(resource, (r) => {
      const now = this.clock.now();
      this.checkOwned(resource, token, r, now, released);
      expiresAt = now + ttl;
      return { holder: r!.holder, token, expiresAt };
    });
    return expiresAt;
  }

  /** @internal */
  releaseLease(resource: TableKey, token: number, released: boolean): void {
    integerIn('token', token, 0, Number.MAX_SAFE_INTEGER);
    this.leases.compute(resource, (r) => {
      this.checkOwned(resource, token, r, this.clock.now(), released);
      return undefined;
    });
    // Wake the waiters of this resource's word: one of them takes the resource.
    this.waits.wake(this.waits.wordOf(resource));
  }

  private checkOwned(resource: TableKey, token: number, r: LeaseRecord | undefined, now: number, released: boolean): void {
    const what = `the lease on ${describe(resource)} (token ${token})`;
    if (released) throw new NotOwnerError(`${what} was already released`);
    if (r?.token !== token) {
      throw new NotOwnerError(
        `${what} is no longer held: ${r === undefined ? 'it expired and the resource is free' : `it expired and the resource is now leased with token ${r.token}`}`,
      );
    }
    if (r.expiresAt <= now) throw new NotOwnerError(`${what} expired at ${r.expiresAt} ms (the clock reads ${now} ms); acquire a new one`);
  }

  private live(r: LeaseRecord, now: number): boolean {
    return r.expiresAt > now && registry().isAlive(r.holder - 1);
  }

  /** One attempt; `null` (and `heldUntil` set) if a live lease holds the resource. */
  private tryAcquire(resource: TableKey, ttl: number): Lease | null {
    const seen = this.leases.get(resource);
    if (seen !== undefined && this.live(seen, this.clock.now())) {
      this.heldUntil = seen.expiresAt;
      return null;
    }
    let token = 0,
      died = false;
    const take = (r: LeaseRecord | undefined): LeaseRecord => {
      const now = this.clock.now();
      if (r !== undefined && this.live(r, now)) return r;
      died = r !== undefined && r.expiresAt > now;
      token = Number(add64(this.token, TOKEN, 1n) + 1n);
      return { holder: me, token, expiresAt: now + ttl };
    };
    // Linearization point of acquire: this compute's write. A full table reclaims lapsed leases first (setLapse).
    const r = this.leases.computeIfRoom(resource, take, this.failClosed)!;
    if (r === TABLE_FULL) {
      this.heldUntil = this.leases.nextLapse(); // fail-closed: as if held, until the first lease may lapse
      return null;
    }
    if (r.token !== token) {
      this.heldUntil = r.expiresAt;
      return null;
    }
    return new Lease(this, resource, token, r.expiresAt, ttl, died);
  }

  private full(): CapacityError {
    return new CapacityError(`all ${this.leases.capacity} leases are live; release some, or create the LeaseLock with a larger capacity`);
  }

  /** When a waiter should look again: its deadline, or the holder's expiry when both are on the system clock. */
  private wakeAt(deadline: number): number {
    return this.clock === systemClock ? Math.min(deadline, this.heldUntil) : deadline;
  }
}
