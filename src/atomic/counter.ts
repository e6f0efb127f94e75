/**
 * AtomicCounter: one shared integer with atomic read-modify-write operations,
 * as Java's `AtomicInteger` (32-bit, `number`) and `AtomicLong` (64-bit, `bigint`).
 */
import * as seam from '../memory/atomics.js';
import type { Handle } from '../memory/region.js';
import { definePrimitive, type OpenedOf } from '../memory/primitive.js';
import type { SharedArena } from '../memory/arena.js';
import { custom, local, oneOf, withDefault } from '../options/field.js';
import { InvalidArgumentError } from '../errors.js';
import { bigintValue, describeValue, integerIn } from '../validate.js';

const { add, add64, compareExchange, compareExchange64, exchange, exchange64, load, load64, store, store64 } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * Layout: one 8-byte word in the region body.
 *   bits 32: VALUE = Int32 word 0     (the upper 4 bytes are unused padding)
 *   bits 64: VALUE = BigInt64 word 0
 * The width is fixed at construction and recorded in the handle's options
 * (`{ bits }`), so every thread opens the same view.
 *
 * Linearization points: every operation is exactly one atomic step on VALUE
 * (`load`, `store`, `add`, `exchange`, `compareExchange` through the atomics
 * seam). `increment`/`add` compute the new value from the old one returned by
 * that step, so the returned value is the one this operation produced, even
 * when other threads add concurrently.
 *
 * Owner death: there is no owner and no multi-step update. A thread dying
 * anywhere leaves VALUE either before or after its one atomic step.
 *
 * Overflow: 32-bit arithmetic wraps modulo 2^32 (as `Int32Array` and Java's
 * `AtomicInteger`), 64-bit modulo 2^64 (as `BigInt64Array` and `AtomicLong`).
 * `Atomics.add` applies ToInt32 / ToBigInt64 to its argument, which is the same
 * reduction, so a delta of any safe integer size wraps correctly.
 */

const VALUE = 0; // word index, in the Int32 or the BigInt64 view
const BODY_BYTES = 8;
const INT32_MIN = -(2 ** 31),
  INT32_MAX = 2 ** 31 - 1;

/** Counter width: 32 (`number`, wraps as Int32) or 64 (`bigint`, wraps as Int64). */
export type CounterBits = 32 | 64;
/** The value type of a counter of width `B`. */
export type CounterValue<B extends CounterBits> = B extends 64 ? bigint : number;
/** The width of a counter whose values are `V`. */
export type CounterBitsOf<V extends number | bigint> = V extends bigint ? 64 : 32;
/** What a counter's methods accept: its value type, and safe-integer numbers for a 64-bit counter. */
export type CounterInput<V extends number | bigint> = V extends bigint ? bigint | number : number;

interface CommonOptions {
  /** Allocate inside this arena instead of a buffer of its own. */
  readonly arena?: SharedArena;
}
/** Options of a 32-bit counter (the default). */
export interface AtomicCounter32Options extends CommonOptions {
  readonly bits?: 32;
  /** Initial value, an integer in [-2^31, 2^31 - 1] (default 0). */
  readonly initial?: number;
}
/** Options of a 64-bit counter. */
export interface AtomicCounter64Options extends CommonOptions {
  readonly bits: 64;
  /** Initial value, a bigint in the Int64 range or a safe integer (default 0n). */
  readonly initial?: bigint | number;
}
export type AtomicCounterOptions = AtomicCounter32Options | AtomicCounter64Options;

/** The handle of a counter of width `B`. */
export type AtomicCounterHandle<B extends CounterBits = CounterBits> = Handle<'sabre.AtomicCounter', { readonly bits: B }>;

const DEF = definePrimitive(
  'AtomicCounter',
  1,
  {
    bits: oneOf([32, 64] as const, 32),
    // Written into the body at creation, never in the handle; its type follows `bits` (checked first).
    initial: local(
      withDefault(
        custom<number | bigint>((v, name, all) => (all.bits === 64 ? bigintValue(name, v) : int32(name, v))),
        undefined,
      ),
    ),
  },
  { bodyBytes: () => BODY_BYTES },
);

function int32(name: string, v: unknown): number {
  return integerIn(name, v, INT32_MIN, INT32_MAX);
}

/** Validates a 32-bit delta: any safe integer (it is reduced modulo 2^32, as the sum wraps). */
function delta32(v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    throw new InvalidArgumentError(`delta must be a safe integer, got ${describeValue(v)}`);
  }
  return v;
}

/** The implementation of `AtomicCounter` (the contract is on the exported type below). */
class AtomicCounterImpl<V extends number | bigint> {
  readonly handle: AtomicCounterHandle<CounterBitsOf<V>>;
  /** 32 or 64. */
  readonly bits: CounterBitsOf<V>;
  private readonly i32: Int32Array | null;
  private readonly i64: BigInt64Array | null;

  constructor(options?: AtomicCounterOptions | OpenedOf<typeof DEF>) {
    // The options are checked before the region is allocated: a bad one costs no arena space.
    const { region, options: o, created } = DEF.resolve(options);
    this.handle = region.handle as AtomicCounterHandle<CounterBitsOf<V>>;
    this.bits = o.bits as CounterBitsOf<V>;
    this.i32 = this.bits === 32 ? region.i32(0, 1) : null;
    this.i64 = this.bits === 64 ? region.i64(0, 1) : null;
    // Published before the handle leaves this thread (postMessage orders it); a fresh body is 0 already.
    if (created && o.initial !== undefined) {
      if (this.i64 !== null) store64(this.i64, VALUE, o.initial as bigint);
      else store(this.i32!, VALUE, o.initial as number);
    }
  }

  /** Re-opens a counter from its handle, in any thread. @throws HandleError */
  static from(handle: AtomicCounterHandle): AtomicCounterImpl<number | bigint> {
    return new AtomicCounterImpl(DEF.open(handle));
  }

  /** Bytes a counter takes (in an arena, rounded up to 128); the same options as the constructor. */
  static byteLength(options?: AtomicCounterOptions): number {
    return DEF.byteLength(options);
  }

  /** The current value. */
  get(): V {
    return (this.i64 !== null ? load64(this.i64, VALUE) : load(this.i32!, VALUE)) as V;
  }

  /** Sets the value (one atomic store). @throws InvalidArgumentError outside the counter's range */
  set(value: CounterInput<V>): void {
    if (this.i64 !== null) store64(this.i64, VALUE, bigintValue('value', value));
    else store(this.i32!, VALUE, int32('value', value));
  }

  /** Sets the value and returns the previous one (one atomic exchange). */
  getAndSet(value: CounterInput<V>): V {
    if (this.i64 !== null) return exchange64(this.i64, VALUE, bigintValue('value', value)) as V;
    return exchange(this.i32!, VALUE, int32('value', value)) as V;
  }

  /**
   * Adds `delta` (negative to subtract) and returns the new value, wrapped to
   * the counter's width. A 64-bit counter also takes safe-integer numbers.
   */
  add(delta: CounterInput<V>): V {
    if (this.i64 !== null) {
      const d = bigintValue('delta', delta);
      // Linearization point: the atomic add; the result is computed from the value it replaced.
      return BigInt.asIntN(64, add64(this.i64, VALUE, d) + d) as V;
    }
    const d = delta32(delta) | 0; // ToInt32: exact reduction modulo 2^32
    return ((add(this.i32!, VALUE, d) + d) | 0) as V;
  }

  /** Adds one and returns the new value. */
  increment(): V {
    if (this.i64 !== null) return BigInt.asIntN(64, add64(this.i64, VALUE, 1n) + 1n) as V;
    return ((add(this.i32!, VALUE, 1) + 1) | 0) as V;
  }

  /** Subtracts one and returns the new value. */
  decrement(): V {
    if (this.i64 !== null) return BigInt.asIntN(64, add64(this.i64, VALUE, -1n) - 1n) as V;
    return ((add(this.i32!, VALUE, -1) - 1) | 0) as V;
  }

  /**
   * Sets the value to `next` if it is `expected` (one atomic compare-and-swap).
   * Returns true if it did.
   */
  compareAndSet(expected: CounterInput<V>, next: CounterInput<V>): boolean {
    if (this.i64 !== null) {
      const e = bigintValue('expected', expected);
      return compareExchange64(this.i64, VALUE, e, bigintValue('next', next)) === e;
    }
    const e = int32('expected', expected);
    return compareExchange(this.i32!, VALUE, e, int32('next', next)) === e;
  }

  /**
   * Applies `fn` to the value in a compare-and-swap loop (Java's
   * `updateAndGet`) and returns the new value. `fn` may run several times
   * under contention, so it must be pure.
   */
  update(fn: (value: V) => CounterInput<V>): V {
    if (typeof fn !== 'function') throw new InvalidArgumentError(`update(fn): fn must be a function, got ${describeValue(fn)}`);
    for (;;) {
      const current = this.get();
      const next = fn(current);
      if (this.compareAndSet(current as CounterInput<V>, next)) return (this.i64 !== null ? bigintValue('next', next) : next) as V;
    }
  }

  toString(): string {
    return String(this.get());
  }
}

/** The constructor of `AtomicCounter`: its overloads pick the value type from `bits`. */
export interface AtomicCounterConstructor {
  /** A 32-bit counter (values are `number`, arithmetic wraps as Int32). */
  new (options?: AtomicCounter32Options): AtomicCounter;
  /** A 64-bit counter (values are `bigint`, arithmetic wraps as Int64). */
  new (options: AtomicCounter64Options): AtomicCounter<bigint>;
  new (options: AtomicCounterOptions): AtomicCounter<number | bigint>;
  readonly prototype: AtomicCounter<number | bigint>;
  /** Re-opens a counter from its handle, in any thread. @throws HandleError */
  from(handle: AtomicCounterHandle<32>): AtomicCounter;
  from(handle: AtomicCounterHandle<64>): AtomicCounter<bigint>;
  from(handle: AtomicCounterHandle): AtomicCounter<number | bigint>;
  /** Bytes a counter takes (in an arena, rounded up to 128). */
  byteLength(options?: AtomicCounterOptions): number;
}

/**
 * A shared integer counter: 32-bit (`number`) by default, 64-bit (`bigint`)
 * with `{ bits: 64 }`. Every method is one atomic step, so concurrent
 * `increment()`s from any number of threads never lose an update.
 *
 * `add`, `increment` and `decrement` return the NEW value (Java's
 * `addAndGet`). 32-bit arithmetic wraps modulo 2^32 like `Int32Array` and
 * Java's `AtomicInteger` (`2^31 - 1` plus one is `-2^31`); 64-bit arithmetic
 * wraps modulo 2^64 like `AtomicLong`.
 *
 * Memory synchronization: every operation is sequentially consistent; a write
 * to the counter happens-before any operation of another thread that reads its
 * value.
 *
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`) for a non-integer, NaN,
 * infinite or out-of-range argument (a 32-bit `set` outside Int32, a 64-bit
 * value outside Int64); the counter is unchanged.
 * @throws HandleError (`ERR_HANDLE`) from `from` for a handle that is not an AtomicCounter's
 *
 * @example
 * ```ts
 * const hits = new AtomicCounter();                  // AtomicCounter<number>
 * const bytes = new AtomicCounter({ bits: 64 });     // AtomicCounter<bigint>
 * spawnWorker(url, { workerData: { hits: hits.handle } });
 * // in the worker:
 * const c = AtomicCounter.from(workerData.hits);
 * c.increment();                                     // the new value
 * bytes.add(1500n);
 * ```
 * @remarks Since 0.1
 */
export type AtomicCounter<V extends number | bigint = number> = AtomicCounterImpl<V>;
/** Constructs a shared integer counter; see the `AtomicCounter` type for the contract. */
export const AtomicCounter = AtomicCounterImpl as AtomicCounterConstructor;
Object.defineProperty(AtomicCounterImpl, 'name', { value: 'AtomicCounter' });
