/**
 * @internal The engine of controlled schedules (schedule.ts), one per thread
 * of a scheduled run: the turn, the selector's decisions, and the emulated
 * waits and notifies. Called by the harness worker with its hook muted, so
 * these steps are neither counted nor scheduled.
 */
import * as seam from '../memory/atomics.js';
import { DeadlockError } from '../errors.js';
import type { ScheduleSpec } from './schedule.js';

const { add, load, notify, store, wait } = seam;

/*
 * Implementation notes
 *
 * Words (Int32, one buffer per run, zeroed; `turnWords(threads)` long):
 *   TURN       the thread that may run (its index), or DEADLOCKED / DIED once
 *              a deadlock, or a thread's death, ended the run (every waiting
 *              thread then throws)
 *   POINTS     scheduling points so far (a point: before each step of the
 *              thread holding the turn, and each wait that blocks)
 *   SINCE      points since the last switch (the switches selector's clock)
 *   POS        the next entry of the switches list
 *   RNG        the random selector's xorshift32 state
 *   BLOCKS     wait calls that blocked so far (FIFO order of waiters)
 *   LOG_LEN    switches logged; LOG from LOG_AT, [after, to] pairs
 *   TIMEOUTS   waits that timed out (virtually: only when nothing could run)
 *   NOW        virtual time (Float64, ms): what systemClock reads in the run's
 *              threads; TICK_MS more at every point, and on to a waiter's
 *              deadline when its wait times out
 *   per thread, from PER_THREAD_AT, THREAD_WORDS each: STATUS (RUNNABLE,
 *   BLOCKED, DONE), PRIORITY (pct), WAIT_BUF and WAIT_AT (the word it waits
 *   on: a buffer number and a byte offset), WAIT_SEQ (BLOCKS when it
 *   blocked), TIMED (1 if its wait has a timeout), REASON (how it woke)
 *
 * Only the thread holding the turn writes these words (but a thread's own
 * TURN wait), so every decision is a function of the schedule and the
 * program: the same schedule replays the same run. A thread hands the turn
 * on by storing TURN and notifying it; the others wait on TURN for their
 * index. Words a wait or notify touches are named by buffer number (the
 * order in which the run's `shared` value reaches each SharedArrayBuffer,
 * the same in every thread, since each thread received the same clone) and
 * byte offset; a buffer not reachable from `shared` is number 0, and waits
 * on such words are matched by offset alone (a notify may then wake a
 * waiter early: primitives re-check their condition after a wake-up).
 */

const TURN = 0,
  POINTS = 1,
  SINCE = 2,
  POS = 3,
  RNG = 4,
  BLOCKS = 5,
  LOG_LEN = 6,
  TIMEOUTS = 7,
  NOW_AT = 8, // Float64 (two words): virtual time, ms
  PER_THREAD_AT = 10;
const STATUS = 0,
  PRIORITY = 1,
  WAIT_BUF = 2,
  WAIT_AT = 3,
  WAIT_SEQ = 4,
  TIMED = 5,
  REASON = 6,
  DEADLINE_AT = 8, // Float64 (two words, 8-aligned): when its timed wait times out
  THREAD_WORDS = 10;
const RUNNABLE = 0,
  BLOCKED = 1,
  DONE = 2; // STATUS values
const WOKEN = 1,
  TIMED_OUT = 2; // REASON values
/**
 * Points a thread may run in a row when the schedule has no decision due
 * before it must hand the turn on (fairness for spin loops, which would
 * otherwise keep the turn forever waiting for a thread that cannot run).
 */
export const FAIR_SLICE = 64;
/** Virtual time a scheduling point takes (1 µs). */
const TICK_MS = 0.001;
/** TURN once the run ended in a deadlock; once a thread died holding the turn. */
const DEADLOCKED = -1,
  DIED = -2;
/** The most switches a run logs (a longer run replays only up to there). */
export const LOG_CAPACITY = 50_000;

const logAt = (threads: number): number => PER_THREAD_AT + THREAD_WORDS * threads;
/** Words of a scheduled run's buffer. */
export const turnWords = (threads: number): number => logAt(threads) + 2 * LOG_CAPACITY;

/**
 * Ends a scheduled run from outside (runThreads, when a thread's worker died
 * without handing its turn on): every thread waiting for a turn throws.
 */
export function endRun(words: Int32Array): void {
  store(words, TURN, DIED);
  notify(words, TURN);
}

/** The switches a finished run made, and its points (read by runThreads). */
export function takenSchedule(words: Int32Array, threads: number): { switches: [number, number][]; steps: number; timeouts: number } {
  const n = Math.min(load(words, LOG_LEN), LOG_CAPACITY);
  const at = logAt(threads);
  const switches: [number, number][] = [];
  for (let k = 0; k < n; k++) switches.push([words[at + 2 * k]!, words[at + 2 * k + 1]!]);
  return { switches, steps: load(words, POINTS), timeouts: load(words, TIMEOUTS) };
}

/** Numbers the SharedArrayBuffers reachable from `shared` (1, 2, … in traversal order). */
function bufferNumbers(shared: unknown): Map<ArrayBufferLike, number> {
  const numbers = new Map<ArrayBufferLike, number>();
  const seen = new Set<object>();
  const visit = (v: unknown): void => {
    if (typeof v !== 'object' || v === null || seen.has(v)) return;
    seen.add(v);
    if (v instanceof SharedArrayBuffer) {
      if (!numbers.has(v)) numbers.set(v, numbers.size + 1);
      return;
    }
    if (ArrayBuffer.isView(v)) {
      visit(v.buffer);
      return;
    }
    if (v instanceof Map) {
      for (const [k, x] of v) {
        visit(k);
        visit(x);
      }
    } else if (v instanceof Set) for (const x of v) visit(x);
    else for (const k of Object.keys(v)) visit((v as Record<string, unknown>)[k]);
  };
  visit(shared);
  return numbers;
}

export class Turns {
  private readonly buffers: Map<ArrayBufferLike, number>;
  private readonly threads: number;
  /** The same buffer as Float64 (virtual time, deadlines): only the thread holding the turn touches them. */
  private readonly f64: Float64Array;
  /** Points since the last switch, as the last `choose` counted them. */
  private since = 0;
  /** True when the last `choose` used an entry of the switches list. */
  private consumed = false;

  constructor(
    private readonly words: Int32Array,
    private readonly spec: ScheduleSpec,
    private readonly me: number,
    threads: number,
    shared: unknown,
    /** Names each thread's state for a deadlock report (last seam step and op). */
    private readonly whereIs: (thread: number) => string,
  ) {
    this.threads = threads;
    this.buffers = bufferNumbers(shared);
    this.f64 = new Float64Array(words.buffer, words.byteOffset, Math.floor(words.length / 2));
    if (me === 0) {
      this.f64[NOW_AT / 2] = Number(process.hrtime.bigint()) / 1e6; // virtual time starts at the real time of the run's start
      // Thread 0 lays out the run's words before anyone runs: the others wait for TURN to name them.
      if (spec.kind === 'random') store(words, RNG, spec.seed | 0 || 0x9e3779b9);
      if (spec.kind === 'pct') spec.priorities.forEach((p, t) => store(words, this.at(t, PRIORITY), p));
    }
  }

  /** Virtual time (ms): what `systemClock` reads in this thread while the run takes turns. */
  now(): number {
    return this.f64[NOW_AT / 2]!;
  }

  /** Before the program runs: waits for this thread's first turn (thread 0 has it). */
  start(): void {
    this.awaitTurn();
  }

  /** A scheduling point before one of this thread's steps: goes on, or hands the turn on and waits for it back. */
  step(): void {
    const next = this.choose(false);
    if (next !== this.me || this.consumed) this.log(next); // a consumed entry is logged even when it kept this thread: it reset SINCE
    if (next !== this.me) {
      this.handTo(next);
      this.awaitTurn();
    }
  }

  /** The program ended (or threw, or is about to be killed): hands the turn on for good. */
  finish(): void {
    if (load(this.words, TURN) !== this.me) return; // never got it (the run ended first)
    store(this.words, this.at(this.me, STATUS), DONE);
    const next = this.forcedNext();
    if (next >= 0) this.handTo(next);
  }

  /** An emulated `Atomics.wait` (this thread holds the turn). */
  wait(a: Int32Array, i: number, expected: number, timeoutMs: number): 'ok' | 'not-equal' | 'timed-out' {
    if (load(a, i) !== expected) return 'not-equal';
    const w = this.words,
      me = this.me;
    store(w, this.at(me, STATUS), BLOCKED);
    store(w, this.at(me, WAIT_BUF), this.buffers.get(a.buffer) ?? 0);
    store(w, this.at(me, WAIT_AT), a.byteOffset + 4 * i);
    store(w, this.at(me, WAIT_SEQ), add(w, BLOCKS, 1));
    store(w, this.at(me, TIMED), timeoutMs === Infinity ? 0 : 1);
    this.f64[this.at(me, DEADLINE_AT) / 2] = this.now() + timeoutMs;
    store(w, this.at(me, REASON), 0);
    const next = this.forcedNext();
    if (next === this.me) {
      // Nothing else can run: its own timeout was the earliest (forcedNext woke it).
      return 'timed-out';
    }
    this.handTo(next);
    this.awaitTurn();
    return load(w, this.at(me, REASON)) === TIMED_OUT ? 'timed-out' : 'ok';
  }

  /** An emulated `Atomics.notify`: wakes up to `count` threads blocked on this word, first blocked first. */
  notify(a: Int32Array, i: number, count: number): number {
    const buf = this.buffers.get(a.buffer) ?? 0,
      at = a.byteOffset + 4 * i;
    const waiting: number[] = [];
    for (let t = 0; t < this.threads; t++) {
      if (load(this.words, this.at(t, STATUS)) !== BLOCKED) continue;
      if (load(this.words, this.at(t, WAIT_BUF)) === buf && load(this.words, this.at(t, WAIT_AT)) === at) waiting.push(t);
    }
    waiting.sort((x, y) => load(this.words, this.at(x, WAIT_SEQ)) - load(this.words, this.at(y, WAIT_SEQ)));
    const woken = waiting.slice(0, Math.max(0, Math.min(count, waiting.length)));
    for (const t of woken) this.wake(t, WOKEN);
    return woken.length;
  }

  // ---- the selectors ---------------------------------------------------------

  /**
   * The thread to run at this point (`forced`: this one cannot go on): this
   * one, another runnable one, or -1 (forced, and none is runnable).
   */
  private choose(forced: boolean): number {
    const w = this.words;
    const point = add(w, POINTS, 1) + 1;
    this.f64[NOW_AT / 2] = this.now() + TICK_MS;
    this.since = add(w, SINCE, 1) + 1;
    this.consumed = false;
    const runnable = this.runnable(forced);
    const spec = this.spec;
    // A thread that has run FAIR_SLICE points in a row, with no decision of the
    // schedule due, hands the turn on: a spin loop waiting for another thread
    // must let it run (PCT demotes it below every thread instead).
    const overdue = !forced && this.since > FAIR_SLICE;
    if (spec.kind === 'switches') {
      const pos = load(w, POS);
      const entry = spec.switches[pos];
      if (entry !== undefined && this.since > entry[0]) {
        store(w, POS, pos + 1);
        this.consumed = true;
        return this.resolve(entry[1], runnable, forced);
      }
      if (forced) return this.resolve(this.me + 1, runnable, true);
      return overdue && entry === undefined ? this.nextOther(runnable) : this.me;
    }
    if (spec.kind === 'random') {
      if (runnable.length === 0) return forced ? -1 : this.me;
      return overdue ? this.nextOther(runnable) : runnable[this.nextRandom() % runnable.length]!;
    }
    const change = spec.changes.indexOf(point);
    if (change >= 0) store(w, this.at(this.me, PRIORITY), -1 - change);
    if (overdue) {
      let lowest = Infinity;
      for (let t = 0; t < this.threads; t++) lowest = Math.min(lowest, load(w, this.at(t, PRIORITY)));
      store(w, this.at(this.me, PRIORITY), lowest - 1);
    }
    let next = forced ? -1 : this.me,
      best = -Infinity;
    for (const t of runnable) {
      const p = load(w, this.at(t, PRIORITY));
      if (p > best) {
        best = p;
        next = t;
      }
    }
    return next;
  }

  /** The next runnable thread after this one (cyclically), or this one if no other is. */
  private nextOther(runnable: readonly number[]): number {
    const others = runnable.filter((t) => t !== this.me);
    return others.length === 0 ? this.me : this.resolve(this.me + 1, others, true);
  }

  /** Runnable threads (this one too unless `forced`), in index order. */
  private runnable(forced: boolean): number[] {
    const out: number[] = [];
    for (let t = 0; t < this.threads; t++) {
      if (forced && t === this.me) continue;
      if (load(this.words, this.at(t, STATUS)) === RUNNABLE) out.push(t);
    }
    return out;
  }

  /** Thread `to` if runnable, else the next runnable one after it (cyclically); -1 if none. */
  private resolve(to: number, runnable: readonly number[], forced: boolean): number {
    if (runnable.length === 0) return forced ? -1 : this.me;
    for (let k = 0; k < this.threads; k++) {
      const t = (to + k) % this.threads;
      if (runnable.includes(t)) return t;
    }
    return -1;
  }

  /**
   * The next thread when this one blocks or ends: chosen by the selector
   * among the runnable ones; if none is, the timed waiter that blocked first
   * times out (time is virtual); if none, a deadlock (throws, after ending
   * the run for every waiting thread). -1 when every thread is done.
   */
  private forcedNext(): number {
    let next = this.choose(true);
    if (next < 0) {
      const blocked: number[] = [];
      for (let t = 0; t < this.threads; t++) if (load(this.words, this.at(t, STATUS)) === BLOCKED) blocked.push(t);
      if (blocked.length === 0) return -1;
      // The timed waiter whose deadline comes first (then the first to block) times out.
      const deadline = (t: number): number => this.f64[this.at(t, DEADLINE_AT) / 2]!;
      const timed = blocked
        .filter((t) => load(this.words, this.at(t, TIMED)) === 1)
        .sort((x, y) => deadline(x) - deadline(y) || load(this.words, this.at(x, WAIT_SEQ)) - load(this.words, this.at(y, WAIT_SEQ)));
      if (timed.length === 0) {
        store(this.words, TURN, DEADLOCKED);
        notify(this.words, TURN);
        throw this.deadlock(blocked);
      }
      next = timed[0]!;
      this.wake(next, TIMED_OUT);
      add(this.words, TIMEOUTS, 1);
      // Time jumps to its deadline: nothing else could happen before it.
      this.f64[NOW_AT / 2] = Math.max(this.now(), this.f64[this.at(next, DEADLINE_AT) / 2]!);
    }
    if (next !== this.me || this.consumed) this.log(next);
    return next;
  }

  private deadlock(blocked: readonly number[]): DeadlockError {
    const list = blocked.map((t) => `thread ${t} (${this.whereIs(t)})`).join(', ');
    return new DeadlockError(
      `controlled schedule: every thread still running is blocked in a wait with no timeout, and no thread is left to notify it: ${list}. ` +
        `A lost wake-up (a notify missing or before the wait's check) or threads waiting on each other`,
    );
  }

  private wake(t: number, reason: number): void {
    store(this.words, this.at(t, REASON), reason);
    store(this.words, this.at(t, STATUS), RUNNABLE);
  }

  private nextRandom(): number {
    let x = load(this.words, RNG);
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    store(this.words, RNG, x);
    return x >>> 0;
  }

  /** Logs a switch to `to` at this point, as the entry that replays it: `[points since the last switch - 1, to]`. */
  private log(to: number): void {
    const n = add(this.words, LOG_LEN, 1);
    store(this.words, SINCE, 0);
    if (n < LOG_CAPACITY) {
      const at = logAt(this.threads) + 2 * n;
      store(this.words, at, this.since - 1);
      store(this.words, at + 1, to);
    }
  }

  private handTo(next: number): void {
    store(this.words, TURN, next);
    notify(this.words, TURN);
  }

  /** Waits until TURN names this thread; throws once a deadlock or a death ended the run. */
  private awaitTurn(): void {
    for (;;) {
      const turn = load(this.words, TURN);
      if (turn === this.me) return;
      if (turn === DEADLOCKED) throw new DeadlockError('controlled schedule: the run ended in a deadlock (another thread reports it)');
      if (turn === DIED)
        throw new Error('controlled schedule: the run ended before this thread got its turn back: a thread died holding it');
      wait(this.words, TURN, turn, Infinity);
    }
  }

  private at(t: number, word: number): number {
    return PER_THREAD_AT + THREAD_WORDS * t + word;
  }
}
