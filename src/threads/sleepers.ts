/**
 * Sleepers: threads blocked in a synchronous wait, made known to the threads
 * that watch anyway, so that a blocked thread need not wake every slice to
 * look for its holder itself.
 *
 * A thread blocked in `Atomics.wait` can be woken only by a notify on its
 * word or by its timeout: no timer of its own runs. So a blocked waiter wakes
 * every LIVENESS_SLICE_MS to re-check its deadline and its holder's
 * liveness, at about 50-200 µs of CPU a wake, while nothing happens. Here it
 * sleeps LONG_SLICE_MS instead whenever another thread watches for it.
 */
import { BroadcastChannel, threadId } from 'node:worker_threads';
import * as seam from '../memory/atomics.js';
import { ThreadRegistry } from './registry.js';

const { load64, notify, store64 } = seam; // module constants: see memory/atomics.ts

/*
 * Implementation notes
 *
 * - A wait that outlasts one slice announces itself, on a BroadcastChannel
 *   every thread that loaded sabre listens on: its word and a heartbeat
 *   cell of its own (shared memory, one per thread; a thread waits on one
 *   word at a time). It withdraws when its wait ends; a thread's later
 *   announcement replaces its earlier one.
 * - A thread whose ticker runs anyway (it has async parks: park.ts) watches
 *   every wait it has heard of: each tick it learns deaths and writes the
 *   time into each wait's heartbeat. A wait that names its holder (the one
 *   thread it waits for: a Mutex's owner) is watched by a look at that
 *   thread only; while every wait names one, the look at every registered
 *   thread (one /proc read each: about 20 µs, and 0.3% of a core at 20
 *   ticks a second with five threads) is made once per LOOK_AT_ALL_MS.
 *   When it learns of a death (at once, from a watched worker's 'exit', or
 *   at a look) it notifies every announced word, and each waiter re-checks
 *   its own holder. A notify is only ever an extra
 *   wake-up, which every waiter already takes in its stride.
 * - A waiter parks long only while its heartbeat is fresh (written within
 *   two slices). With no watcher it parks one slice at a time, as before.
 *   A thread that has begun to watch keeps its ticker running, after its own
 *   async parks are done, until the waits it heard of are withdrawn: so a
 *   watcher does not leave its waiters asleep, and no waiter is woken
 *   except by an unlock or a death.
 * - So while a watcher ticks, a holder's death is acted on within a slice of
 *   its discovery, as for async waiters. If the watcher's thread dies, or
 *   blocks its event loop, its waiters find their heartbeat stale when their
 *   long slice ends: recovery then takes up to LONG_SLICE_MS (2 s: a wake-up
 *   of a blocked thread costs it 0.1-0.2 ms of CPU here), unless another
 *   listening thread learns of the death first (its creator's 'exit').
 * - Heartbeats are BigInt64 milliseconds on the process's monotonic clock
 *   (hrtime: the same in every thread), written and read atomically.
 */

/** How long a blocked waiter sleeps between looks while a watcher's heartbeat is fresh. */
export const LONG_SLICE_MS = 2000;
/**
 * How often a watcher whose waits all name their holder looks at every
 * registered thread anyway: a holder may have changed while its waiter slept
 * (a Mutex unlocked and taken by another thread), and a death nobody saw
 * leave (no 'exit' event in a thread that loaded sabre) is learned this late.
 */
const LOOK_AT_ALL_MS = 500;
/** A heartbeat older than this (two watcher ticks) is stale. */
const FRESH_MS = 100;
const CHANNEL = 'sabre.sleepers.v1';

type Message =
  | {
      readonly kind: 'sleep';
      readonly thread: number;
      readonly word: Int32Array;
      readonly index: number;
      readonly holder: number;
      readonly beat: BigInt64Array;
    }
  | { readonly kind: 'wake'; readonly thread: number };

interface Sleep {
  readonly word: Int32Array;
  readonly index: number;
  /** The thread it waits for, or -1 when the waiter does not know one. */
  readonly holder: number;
  readonly beat: BigInt64Array;
}

/** Waits other threads announced, by thread id (at most one each). */
const sleeps = new Map<number, Sleep>();
/** This thread's heartbeat cell, written by the threads that watch its waits. */
const beat = new BigInt64Array(new SharedArrayBuffer(8));
/** This thread's announced wait, if any. */
let announced: { word: Int32Array; index: number; holder: number } | undefined;
let seenDeaths = -1;
/** processMs of this watcher's last look at every registered thread. */
let lookedAtAll = -Infinity;
/** This watcher's looks so far: at every registered thread, and at named holders only (for tests). */
const looks = { all: 0, named: 0 };

function processMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1000 + ns / 1e6;
}

const channel = new BroadcastChannel(CHANNEL);
channel.unref(); // listening never keeps a process alive
channel.onmessage = (event: unknown) => {
  const m = (event as { data: Message }).data;
  if (m.kind === 'sleep') sleeps.set(m.thread, { word: m.word, index: m.index, holder: m.holder, beat: m.beat });
  else sleeps.delete(m.thread);
};
ThreadRegistry.current.onDeath((id) => {
  sleeps.delete(id);
  wakeSleepers();
});

/**
 * The slice for a blocked wait on `(word, index)` that has already slept one
 * slice, waiting for `holder` (-1: unknown): announces it (again when the
 * holder changed), and answers LONG_SLICE_MS while a watcher's heartbeat is
 * fresh, else `short`.
 */
export function longWaitSlice(word: Int32Array, index: number, short: number, holder: number): number {
  if (announced?.word !== word || announced.index !== index || announced.holder !== holder) {
    announced = { word, index, holder };
    store64(beat, 0, 0n);
    channel.postMessage({ kind: 'sleep', thread: threadId, word, index, holder, beat } satisfies Message);
    return short; // a watcher's first heartbeat comes within a tick
  }
  return processMs() - Number(load64(beat, 0)) <= FRESH_MS ? LONG_SLICE_MS : short;
}

/** Ends this thread's announced wait, if any. */
export function withdrawWait(): void {
  if (announced === undefined) return;
  announced = undefined;
  channel.postMessage({ kind: 'wake', thread: threadId } satisfies Message);
}

/** Called by a thread's ticker once per slice: learns deaths, and keeps the waits it has heard of fresh. */
export function watchSleepers(): void {
  if (sleeps.size === 0) return;
  const deaths = lookForDeaths();
  if (deaths !== seenDeaths) {
    if (seenDeaths >= 0) wakeSleepers(); // not on the first tick: a death before it was acted on when learned
    seenDeaths = deaths;
  }
  const now = BigInt(Math.floor(processMs()));
  for (const s of sleeps.values()) store64(s.beat, 0, now);
}

/**
 * The watcher's look for deaths: at the announced holders only, while every
 * wait has one and a look at every registered thread was made within
 * LOOK_AT_ALL_MS; else at every thread. Returns the registry's deaths.
 */
function lookForDeaths(): number {
  const registry = ThreadRegistry.current;
  const now = processMs();
  let unknown = now - lookedAtAll >= LOOK_AT_ALL_MS;
  if (!unknown) for (const s of sleeps.values()) if (s.holder < 0) unknown = true;
  if (unknown) {
    lookedAtAll = now;
    looks.all++;
    return registry.learnDeaths();
  }
  looks.named++;
  for (const s of sleeps.values()) registry.isAlive(s.holder); // shares one /proc look per holder per window with every thread
  return registry.deaths;
}

/** Wakes every announced wait (each then re-checks its own holder). */
function wakeSleepers(): void {
  for (const s of sleeps.values()) notify(s.word, s.index);
}

/** This thread's looks for deaths as a watcher so far (for tests). @internal */
export function watcherLooks(): { readonly all: number; readonly named: number } {
  return { ...looks };
}

/** Waits this thread has heard of (for tests). @internal */
export function heardSleepers(): number {
  return sleeps.size;
}
