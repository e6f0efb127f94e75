/**
 * The kind table: which class re-opens a handle of which kind.
 *
 * Integrations that carry primitives across threads (Comlink transfer
 * handlers, Piscina task arguments) send `p.handle` and, on the far side,
 * call `Class.from(handle)` for the class registered under `handle.kind`.
 * Every thread has its own table (it is module state), so a class added with
 * `registerKind` must be added in every thread that receives it; the classes
 * below are there from the start.
 *
 * Implementation notes
 *   One `Map<kind, class>` per thread, read on every crossing. No shared
 *   memory: the table holds code, which cannot cross threads. A value counts
 *   as a primitive when it is an object whose `handle.kind` names a registered
 *   class and it is an instance of that class (so a look-alike plain object,
 *   or a Comlink proxy, is never mistaken for one).
 */
import { types } from 'node:util';
import { HandleError, InvalidArgumentError } from '../errors.js';
import type { Handle } from '../memory/region.js';
import { SharedArena } from '../memory/arena.js';
import { ManualClock } from '../clock.js';
import { Mutex } from '../sync/mutex.js';
import { Semaphore } from '../sync/semaphore.js';
import { Latch } from '../sync/latch.js';
import { Once } from '../sync/once.js';
import { RWLock } from '../sync/rwlock.js';
import { Condition } from '../sync/condition.js';
import { AtomicCounter } from '../atomic/counter.js';
import { StripedCounter } from '../atomic/striped-counter.js';
import { VersionedCell } from '../atomic/versioned-cell.js';
import { SeqLock } from '../atomic/seqlock.js';
import { SharedHashTable } from '../table/shared-hash-table.js';
import { LeaseLock } from '../lock/lease-lock.js';
import { FencedResource } from '../lock/fenced-resource.js';
import { LockManager } from '../lock/lock-manager.js';
import { OnceRegistry } from '../store/once-registry.js';
import { VoteRegistry } from '../store/vote-registry.js';
import { Cache } from '../store/cache.js';
import { BookingTable } from '../store/booking-table.js';
import { IdempotencyStore } from '../store/idempotency-store.js';
import { TokenBucket } from '../limit/token-bucket.js';
import { SlidingWindow } from '../limit/sliding-window.js';
import { CircuitBreaker } from '../resilience/circuit-breaker.js';
import { RetryBudget } from '../resilience/retry-budget.js';
import { Bulkhead } from '../resilience/bulkhead.js';
import { describeValue, isInstance } from '../validate.js';

/** An object whose state lives in shared memory and is re-opened from `handle`. */
export interface SabrePrimitive {
  readonly handle: Handle;
}

/** A class that can be registered: instances carry a `handle`, and `from(handle)` re-opens one. */
/* eslint-disable @typescript-eslint/no-explicit-any -- each class takes its own options and handle types: any class with a static from(handle) fits */
export type SabreClass<T extends SabrePrimitive = SabrePrimitive> = (abstract new (...args: any[]) => T) & {
  from(handle: any): T;
  /** The kind its handles carry, if not `sabre.<class name>`. */
  readonly kind?: string;
};
/* eslint-enable @typescript-eslint/no-explicit-any */

const classOfKind = new Map<string, SabreClass>();

/**
 * Registers `Class` so that its instances cross Comlink and Piscina as live
 * objects. `kind` defaults to the class's static `kind`, else
 * `sabre.<Class.name>` (the kind every sabre primitive uses); give one of the
 * two when the class name differs from the kind (or may be minified).
 * Registering the same class again does nothing.
 *
 * @throws InvalidArgumentError if `Class` has no static `from`, or `kind` is
 *   already taken by another class
 * @example
 * ```ts
 * registerKind(AtomicCounter);   // in every thread that sends or receives one
 * ```
 */
export function registerKind(Class: SabreClass, kind: string = Class?.kind ?? `sabre.${Class?.name}`): void {
  if (typeof Class !== 'function' || typeof (Class as { from?: unknown }).from !== 'function') {
    throw new InvalidArgumentError(`registerKind(Class): Class must be a class with a static from(handle), got ${describeValue(Class)}`);
  }
  if (typeof kind !== 'string' || kind.length === 0)
    throw new InvalidArgumentError(`kind must be a non-empty string, got ${describeValue(kind)}`);
  const known = classOfKind.get(kind);
  if (known === Class) return;
  if (known !== undefined) {
    throw new InvalidArgumentError(`kind ${JSON.stringify(kind)} is already registered to class ${known.name}, got class ${Class.name}`);
  }
  classOfKind.set(kind, Class);
}

/** The kinds this thread can re-open. */
export function registeredKinds(): string[] {
  return [...classOfKind.keys()];
}

/** True if `v` is an instance of a registered class (so it can travel as its handle). */
export function isSabrePrimitive(v: unknown): v is SabrePrimitive {
  if (typeof v !== 'object' || v === null) return false;
  const handle = (v as { handle?: unknown }).handle;
  if (typeof handle !== 'object' || handle === null) return false;
  const kind = (handle as { kind?: unknown }).kind;
  const Class = typeof kind === 'string' ? classOfKind.get(kind) : undefined;
  return Class !== undefined && isInstance(v, Class);
}

/**
 * True if `v` has the shape of a handle (`kind` string, `version` number, a
 * SharedArrayBuffer); it is validated for real only by `Class.from`.
 */
export function looksLikeHandle(v: unknown): v is Handle {
  if (typeof v !== 'object' || v === null) return false;
  const h = v as Partial<Handle>;
  return typeof h.kind === 'string' && typeof h.version === 'number' && types.isSharedArrayBuffer(h.buffer);
}

/**
 * Re-opens a handle as a live object of the class registered for its kind.
 * @throws HandleError for a kind this thread has not registered, or a handle
 *   the class refuses
 */
export function reopen(handle: unknown): SabrePrimitive {
  const kind = typeof handle === 'object' && handle !== null ? (handle as { kind?: unknown }).kind : undefined;
  const Class = typeof kind === 'string' ? classOfKind.get(kind) : undefined;
  if (Class === undefined) {
    throw new HandleError(
      typeof kind === 'string'
        ? `no class is registered for kind ${JSON.stringify(kind)} in this thread; call registerKind(Class) here too`
        : `expected a sabre handle, got ${describeValue(handle)}`,
    );
  }
  return Class.from(handle);
}

registerKind(Mutex, 'sabre.Mutex');
registerKind(SharedArena, 'sabre.SharedArena');
registerKind(ManualClock, 'sabre.ManualClock');
registerKind(AtomicCounter, 'sabre.AtomicCounter');
registerKind(StripedCounter, 'sabre.StripedCounter');
// Re-opened with the handle's named codec; a user codec cannot cross threads (pass it to VersionedCell.from).
registerKind(VersionedCell, 'sabre.VersionedCell');
registerKind(Semaphore, 'sabre.Semaphore');
registerKind(Latch, 'sabre.Latch');
registerKind(Once, 'sabre.Once');
registerKind(SeqLock, 'sabre.SeqLock');
registerKind(RWLock, 'sabre.RWLock');
registerKind(Condition, 'sabre.Condition');
registerKind(SharedHashTable, 'sabre.SharedHashTable');
registerKind(LeaseLock, 'sabre.LeaseLock');
registerKind(FencedResource, 'sabre.FencedResource');
registerKind(LockManager, 'sabre.LockManager');
registerKind(OnceRegistry, 'sabre.OnceRegistry');
registerKind(VoteRegistry, 'sabre.VoteRegistry');
// Re-opened with the handle's named codec; a user codec cannot cross threads (pass it to Cache.from).
registerKind(Cache, 'sabre.Cache');
registerKind(BookingTable, 'sabre.BookingTable');
registerKind(IdempotencyStore, 'sabre.IdempotencyStore');
registerKind(TokenBucket, 'sabre.TokenBucket');
registerKind(SlidingWindow, 'sabre.SlidingWindow');
// Re-opened without isFailure (a function cannot cross threads): pass it to CircuitBreaker.from(handle, { isFailure }).
registerKind(CircuitBreaker, 'sabre.CircuitBreaker');
registerKind(RetryBudget, 'sabre.RetryBudget');
registerKind(Bulkhead, 'sabre.Bulkhead');
