/**
 * Call timeouts without a timer per call: the calls of one breaker object
 * under `timeoutMs`, in a queue ordered by deadline, with one timer for the
 * earliest.
 */
import { systemClock } from '../clock.js';

/*
 * Implementation notes
 *
 * Every call of one breaker has the same timeout, so deadlines increase in
 * the order calls start: the queue is a FIFO, and the timer only ever needs
 * the head's deadline. A call that settles in time is only marked done (O(1));
 * done calls at the head are dropped as calls are added, and the whole
 * queue is compacted when done calls pile up behind a slow one, so it holds
 * about the calls in flight. The timer stays armed between calls (setting
 * and clearing one per call is what made a timeout cost microseconds) but is
 * ref'd only while a call is live: when the last one settles it is unref'd
 * (a finished call never keeps the process alive), and a call in flight
 * keeps the process alive until its deadline, as its own `setTimeout` would.
 * The armed deadline is never later than the head's (deadlines only grow),
 * so the timer may fire early, finding nothing due, and re-arm for the head;
 * timers can also fire early by themselves (PLATFORM.md): an expiry is always
 * re-checked against the clock.
 *
 * The signal a call gives to fn is made on first use: an AbortController
 * with its signal costs microseconds on Node 20, far more than the call.
 *
 * All of this is per thread (a timer belongs to an event loop); only the
 * outcome of a call that times out is shared, as a failure.
 */

/** A call under a timeout: what fn receives, and how the breaker settles it. */
export class TimedCall<A> {
  /** When it times out, on `systemClock`. */
  deadline = 0;
  /** Settled (in time) or expired. */
  done = false;
  resolve!: (value: never) => void;
  reject!: (error: unknown) => void;
  private controller: AbortController | undefined;

  constructor(
    readonly probe: boolean,
    readonly seq: number,
    /** What the owner needs to settle it. */
    readonly admission: A,
  ) {}

  /** Aborted, with the TimeoutError as reason, when the call times out. */
  get signal(): AbortSignal {
    return (this.controller ??= new AbortController()).signal;
  }

  /** Aborts the signal, if fn ever asked for it. */
  abort(reason: unknown): void {
    this.controller?.abort(reason);
  }
}

/** What the queue needs of a call: its deadline, and whether it is settled. */
export interface Deadlined {
  deadline: number;
  done: boolean;
}

/** Dropped done calls are compacted away past this many. */
const COMPACT_AT = 1024;

/** @internal The calls of one object (a breaker, a Redis connection) under its timeout. */
export class DeadlineQueue<C extends Deadlined> {
  private calls: C[] = [];
  private head = 0;
  private live = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly timeoutMs: number,
    private readonly onExpire: (call: C) => void,
  ) {}

  /** Starts the clock of `call`. */
  add(call: C): void {
    call.deadline = systemClock.now() + this.timeoutMs;
    while (this.head < this.calls.length && this.calls[this.head]!.done) this.head++;
    if (this.head >= COMPACT_AT || this.calls.length - this.head > 2 * this.live + COMPACT_AT) {
      this.calls = this.calls.slice(this.head).filter((c) => !c.done);
      this.head = 0;
    }
    this.calls.push(call);
    if (this.live++ === 0 && this.timer !== undefined) this.timer.ref();
    if (this.timer === undefined) this.arm(this.timeoutMs);
  }

  /** Marks `call` settled in time. False if it had already expired (its outcome was counted then). */
  finish(call: C): boolean {
    if (call.done) return false;
    call.done = true;
    if (--this.live === 0) this.idle();
    return true;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(this.fire, Math.max(1, Math.ceil(ms)));
  }

  /** No call is live: forget the done ones, and let the timer stop holding the event loop. */
  private idle(): void {
    this.timer?.unref();
    this.calls = [];
    this.head = 0;
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    const now = systemClock.now();
    while (this.head < this.calls.length) {
      const call = this.calls[this.head]!;
      if (!call.done && call.deadline > now) break;
      this.head++;
      if (call.done) continue;
      call.done = true;
      this.live--;
      this.onExpire(call);
    }
    if (this.live === 0) this.idle();
    else this.arm(this.calls[this.head]!.deadline - now);
  };
}
