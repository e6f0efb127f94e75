/**
 * The circuit breaker's transition log and the per-thread watcher that
 * delivers it to `onStateChange` subscribers: every subscriber, in every
 * thread, sees each transition once, in order.
 */
import * as seam from '../memory/atomics.js';
import { watchWord } from '../threads/park.js';
import type { Clock } from '../clock.js';
import { fromOf, SEQ_MASK, seqDistance, seqOf, stateOf, STATE_NAMES, type BreakerState } from './breaker-state.js';

const { compareExchange64, load, load64 } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * The log is a ring of LOG_ENTRIES BigInt64 words; transition q lives in slot
 * q mod LOG_ENTRIES, packed as
 *   bits  0-1   TO     the state entered
 *   bits  2-3   FROM   the state left
 *   bits  4-23  SEQ    q modulo 2^20 (says which transition the slot holds)
 *   bits 24-63  AT     when, in whole ms after the breaker's creation on its
 *                      clock, rounded up (40 bits: 34 years)
 * An all-zero word is an empty slot (no legal edge packs to 0).
 *
 * Writing an entry ("stamping") is one CAS from whatever older word the slot
 * holds, and anyone may do it: the CAS winner of the transition does it at
 * once, and any thread that needs the entry and finds it missing (the winner
 * died between its state CAS and its stamp) does it itself, with its own
 * clock reading. FROM, TO and SEQ come from the state word, so every stamper
 * writes the same transition; only AT can differ, and a late stamper's AT is
 * later than the real one (an OPEN period then lasts a little longer: never
 * shorter). A stamp never replaces a newer transition's entry.
 *
 * Before a thread attempts a transition out of period q it stamps entry q.
 * So whenever the state word says q + 1, entries 1..q are all stamped: the
 * log has no holes below the current transition, whoever died where.
 *
 * Delivery. Each transition's winner notifies the state word (all waiters).
 * A watcher (one per breaker object with subscribers, in its thread) waits on
 * that word with `Atomics.waitAsync`, in slices of WATCH_SLICE_MS so that a
 * winner that died before notifying delays delivery by at most a slice; on
 * each wake it reads the log from the last transition it delivered up to the
 * current one and calls each subscriber whose subscription predates the
 * entry. Its pending wait does not keep the event loop alive (PLATFORM #1),
 * on purpose: a subscription must not keep a process or a worker running
 * (so it does not use park.ts's parkAsync, which holds the loop). A watcher
 * that falls more than LOG_ENTRIES transitions behind (its thread's event
 * loop blocked meanwhile) skips the entries that were overwritten.
 */

/** Transitions the log keeps; a subscriber whose thread lags further behind misses the oldest. */
export const LOG_ENTRIES = 256;
/** Bytes the log takes. */
export const LOG_BYTES = LOG_ENTRIES * 8;
/** Longest a watcher sleeps without a notify (bounds delivery after a winner died before notifying). */
export const WATCH_SLICE_MS = 50;

const ENTRY_SEQ_BITS = 20;
const ENTRY_SEQ_MASK = (1 << ENTRY_SEQ_BITS) - 1;
const ENTRY_SEQ_SHIFT = 4n;
const AT_SHIFT = 24n;
const MAX_AT = 2 ** 40 - 1;

/** One transition, as subscribers receive it. */
export interface BreakerTransition {
  /** Which transition this is: 1 for the breaker's first, then 2, 3, … (modulo 2^27). */
  readonly seq: number;
  readonly from: BreakerState;
  readonly to: BreakerState;
  /** When, on the breaker's clock (ms, rounded up to a whole ms after the breaker's creation). */
  readonly at: number;
}

export type TransitionListener = (transition: BreakerTransition) => void;

function encode(seq: number, from: number, to: number, at: number): bigint {
  return BigInt.asIntN(64, (BigInt(at) << AT_SHIFT) | (BigInt(seq & ENTRY_SEQ_MASK) << ENTRY_SEQ_SHIFT) | BigInt((from << 2) | to));
}

const entrySeq = (e: bigint): number => Number((e >> ENTRY_SEQ_SHIFT) & BigInt(ENTRY_SEQ_MASK));
/** True if 20-bit transition number `a` is after `b`. */
const isAfter = (a: number, b: number): boolean => {
  const d = (a - b) & ENTRY_SEQ_MASK;
  return d !== 0 && d < 1 << (ENTRY_SEQ_BITS - 1);
};

/** @internal The log over its ring of words. */
export class TransitionLog {
  constructor(
    private readonly ring: BigInt64Array,
    /** The breaker's creation time on its clock: AT counts from it. */
    readonly base: number,
    private readonly clock: Clock,
  ) {}

  /** `now` as an AT value. */
  atOf(now: number): number {
    return Math.min(MAX_AT, Math.max(0, Math.ceil(now - this.base)));
  }

  /**
   * The entry of the transition that produced `word` (seq ≥ 1), stamped now
   * if nobody has yet. Undefined if the slot already holds a later transition
   * (the word is that old).
   */
  stamp(word: number): BreakerTransition | undefined {
    const seq = seqOf(word);
    const slot = seq % LOG_ENTRIES;
    const s = seq & ENTRY_SEQ_MASK;
    for (;;) {
      const e = load64(this.ring, slot);
      if (e !== 0n) {
        const es = entrySeq(e);
        if (es === s) return this.decode(e, seq);
        if (isAfter(es, s)) return undefined;
      }
      const next = encode(seq, fromOf(word), stateOf(word), this.atOf(this.clock.now()));
      // Linearization point of a stamp (the winner's, or a helper's).
      if (compareExchange64(this.ring, slot, e, next) === e) return this.decode(next, seq);
    }
  }

  /** Transition `seq` if the ring still holds it (and it was stamped). */
  read(seq: number): BreakerTransition | undefined {
    const e = load64(this.ring, seq % LOG_ENTRIES);
    return e !== 0n && entrySeq(e) === (seq & ENTRY_SEQ_MASK) ? this.decode(e, seq) : undefined;
  }

  private decode(e: bigint, seq: number): BreakerTransition {
    const low = Number(e & 0xfn);
    const at = Number(BigInt.asUintN(64, e) >> AT_SHIFT);
    return { seq, from: STATE_NAMES[(low >> 2) & 3]!, to: STATE_NAMES[low & 3]!, at: this.base + at };
  }
}

interface Subscriber {
  readonly listener: TransitionListener;
  /** The transition count when it subscribed: it gets the later ones. */
  readonly since: number;
  active: boolean;
}

/**
 * @internal One breaker object's subscribers in this thread, and the loop
 * that delivers to them.
 */
export class TransitionWatcher {
  private readonly subscribers = new Set<Subscriber>();
  private running = false;
  /** The last transition the loop has handed out. */
  private delivered = 0;

  constructor(
    private readonly words: Int32Array,
    private readonly index: number,
    private readonly log: TransitionLog,
  ) {}

  subscribe(listener: TransitionListener): () => void {
    const since = seqOf(load(this.words, this.index));
    const sub: Subscriber = { listener, since, active: true };
    if (!this.running) this.delivered = since;
    this.subscribers.add(sub);
    if (!this.running) void this.run();
    return () => {
      sub.active = false;
      this.subscribers.delete(sub);
    };
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.subscribers.size > 0) {
        const word = load(this.words, this.index);
        this.deliverUpTo(word);
        if (this.subscribers.size === 0) break;
        // Not parkAsync: this wait must not hold the event loop (see the notes).
        await watchWord(this.words, this.index, word, WATCH_SLICE_MS);
      }
    } finally {
      this.running = false;
    }
  }

  private deliverUpTo(word: number): void {
    const target = seqOf(word);
    let behind = seqDistance(this.delivered, target);
    if (behind === 0 || behind >= 1 << 26) return; // nothing new (or a stale word)
    if (behind > LOG_ENTRIES) {
      this.delivered = (target - LOG_ENTRIES) & SEQ_MASK; // overwritten: skipped
      behind = LOG_ENTRIES;
    }
    for (let k = 1; k <= behind; k++) {
      const q = (this.delivered + 1) & SEQ_MASK;
      const entry = q === target ? this.log.stamp(word) : this.log.read(q);
      this.delivered = q;
      if (entry === undefined) continue;
      for (const sub of [...this.subscribers]) {
        const d = seqDistance(sub.since, q);
        if (!sub.active || d === 0 || d >= 1 << 26) continue;
        try {
          sub.listener(entry);
        } catch (e) {
          // A throwing listener is reported as an uncaught exception, as an
          // EventTarget listener's would be; the other subscribers still get theirs.
          queueMicrotask(() => {
            throw e;
          });
        }
      }
    }
  }
}
