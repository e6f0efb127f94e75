/**
 * Time is injected (DESIGN principle 5): everything that expires reads a `Clock`.
 *
 * `systemClock` reads `process.hrtime` (CLOCK_MONOTONIC), which is one clock
 * for the whole process: a deadline computed in one thread means the same
 * instant in every other. `ManualClock` keeps its time in shared memory, so a
 * test moves time for all threads at once; its handle travels like any other.
 */
import * as seam from './memory/atomics.js';
import { definePrimitive, type HandleOf, type OpenedOf } from './memory/primitive.js';
import type { SharedArena } from './memory/arena.js';
import { InvalidArgumentError } from './errors.js';
import { describeValue, isInstance } from './validate.js';
import { custom, local, withDefault, type Field } from './options/field.js';

const { compareExchange64, load64 } = seam; // module constants: see memory/atomics.ts

export interface Clock {
  /** Milliseconds on a monotonic scale (fractional). Only differences mean anything. */
  now(): number;
}

const hrtimeMs = (): number => Number(process.hrtime.bigint()) / 1e6;
let virtualNow: (() => number) | null = null;

/**
 * Process-wide monotonic clock: `process.hrtime`, in milliseconds. The same
 * scale in every thread, so a deadline can be handed to another thread.
 * In a thread of a controlled schedule (sabre/testing), the schedule's
 * virtual time instead: chosen once per thread as the atomics seam is, so
 * other threads read hrtime with no check.
 */
export const systemClock: Clock = Object.freeze({
  now: seam.hooksEnabled ? (): number => (virtualNow !== null ? virtualNow() : hrtimeMs()) : hrtimeMs,
});

/**
 * Makes `systemClock` read `now` in this thread (a controlled schedule's
 * virtual time), or, with `null`, hrtime again. @internal
 * @throws InvalidArgumentError in a thread that loaded the plain seam
 */
export function setVirtualClock(now: (() => number) | null): void {
  if (now !== null && !seam.hooksEnabled) throw new InvalidArgumentError('setVirtualClock: start the thread with SABRE_SEAM=hooks');
  virtualNow = now;
}

export interface ManualClockOptions {
  /** Initial time in milliseconds (default 0). */
  readonly startMs?: number;
  readonly arena?: SharedArena;
}

const NANOS = 0; // BigInt64 word: current time in nanoseconds

/** The largest time a ManualClock holds: 2^63 - 1 ns, about 292 years. */
const MAX_NANOS = (1n << 63n) - 1n;

const DEF = definePrimitive(
  'ManualClock',
  1,
  {
    // The start time is written into the body once, not recorded in the handle.
    startMs: local(
      withDefault(
        custom((v, name) => toNanos(name, v)),
        0n,
      ),
    ),
  },
  { bodyBytes: () => 8 },
);
export type ManualClockHandle = HandleOf<typeof DEF>;

function toNanos(name: string, ms: unknown): bigint {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) {
    throw new InvalidArgumentError(`${name} must be a finite number of milliseconds, got ${describeValue(ms)}`);
  }
  // Range-checked as a number first: 1e308 ms is finite, but its nanoseconds are not, and BigInt(Infinity) throws.
  const scaled = Math.round(ms * 1e6);
  if (!(Math.abs(scaled) <= Number(MAX_NANOS))) {
    throw new InvalidArgumentError(`${name} must be within ±${Number(MAX_NANOS) / 1e6} ms (64-bit nanoseconds), got ${ms}`);
  }
  const nanos = BigInt(scaled);
  return nanos > MAX_NANOS ? MAX_NANOS : nanos < -MAX_NANOS ? -MAX_NANOS : nanos;
}

/** A clock that only moves when told to, shared by every thread that opens it. */
export class ManualClock implements Clock {
  readonly handle: ManualClockHandle;
  private readonly word: BigInt64Array;

  constructor(options?: ManualClockOptions | OpenedOf<typeof DEF>) {
    const { region, options: o, created } = DEF.resolve(options);
    this.handle = region.handle;
    this.word = region.i64(0, 1);
    if (created) this.word[NANOS] = o.startMs; // before publication: a plain write
  }

  static from(handle: ManualClockHandle): ManualClock {
    return new ManualClock(DEF.open(handle));
  }

  static byteLength(options?: ManualClockOptions): number {
    return DEF.byteLength(options);
  }

  now(): number {
    return Number(load64(this.word, NANOS)) / 1e6;
  }

  /** Moves time forward by `ms` (>= 0) for every thread; returns the new time. */
  advance(ms: number): number {
    const d = toNanos('ms', ms);
    if (d < 0n) throw new InvalidArgumentError(`ms must be >= 0 (time only moves forward), got ${ms}`);
    for (;;) {
      const current = load64(this.word, NANOS);
      if (current + d > MAX_NANOS) {
        throw new InvalidArgumentError(
          `advancing ${ms} ms from ${Number(current) / 1e6} ms would pass the clock's range (${Number(MAX_NANOS) / 1e6} ms)`,
        );
      }
      // Linearization point: the CAS that moves time.
      if (compareExchange64(this.word, NANOS, current, current + d) === current) return Number(current + d) / 1e6;
    }
  }

  /** Sets the time; it may not move backwards. */
  set(ms: number): void {
    const next = toNanos('ms', ms);
    for (;;) {
      const current = load64(this.word, NANOS);
      if (next < current) throw new InvalidArgumentError(`time may not move backwards: now ${Number(current) / 1e6}, got ${ms}`);
      if (compareExchange64(this.word, NANOS, current, next) === current) return;
    }
  }
}

/** How a handle records the clock of a primitive that expires things: 'system', or a ManualClock's handle. */
export type ClockOption = 'system' | ManualClockHandle;

/**
 * The clock option of a primitive's constructor, as a clock and what its
 * handle records. Only clocks every thread can share are accepted.
 * @throws InvalidArgumentError for any other clock
 */
export function sharedClock(clock: unknown): { readonly clock: Clock; readonly option: ClockOption } {
  if (clock === undefined || clock === systemClock) return { clock: systemClock, option: 'system' };
  if (isInstance(clock, ManualClock)) return { clock, option: clock.handle };
  throw new InvalidArgumentError(
    'clock must be systemClock or a ManualClock (a clock must be shared by every thread: other clocks cannot travel in a handle)',
  );
}

/** The clock a handle's option names (re-opening a ManualClock validates its handle). @throws HandleError */
export function clockOf(option: unknown): Clock {
  return option === 'system' ? systemClock : ManualClock.from(option as ManualClockHandle);
}

/**
 * The `clock` option of a primitive that expires things: `systemClock` (the
 * default) or a `ManualClock`, the only clocks every thread can share. The
 * handle records `'system'` or the ManualClock's handle.
 */
export function clock(): Field<Clock, ClockOption> {
  return {
    parse: (v) => sharedClock(v).clock,
    fallback: systemClock,
    place: 'handle',
    reopen: false,
    toHandle: (c) => sharedClock(c).option,
    fromHandle: (raw) => {
      clockOf(raw); // validates a ManualClock's handle
      return raw as ClockOption;
    },
    revive: (option) => clockOf(option),
  };
}
