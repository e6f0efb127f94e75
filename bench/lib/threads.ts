/**
 * Main-thread side of the threaded benchmarks: a pair (or more) of warm
 * workers running `workers/bench/thread.ts`, a start barrier, a fixed
 * duration, and per-window samples of each thread's op count.
 */
import { sleepSync } from '../../src/memory/atomics.js';
import type { Worker } from 'node:worker_threads';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnWorker } from '../../src/threads/spawn.js';
import { CONTROL_BYTES, GO, READY, STOP, countWord, MAX_THREADS, type TaskMessage, type TaskReply } from './control.js';

export interface TimedRun {
  /** Nanoseconds from GO to STOP, measured by main. */
  readonly elapsedNs: number;
  /** Ops per thread, as each worker reported at the end. */
  readonly ops: readonly number[];
  /** For each full window, each thread's ops in it. */
  readonly windows: readonly (readonly number[])[];
}

export class BenchThreads {
  private constructor(private readonly workers: readonly Worker[]) {}

  /** Starts `n` warm workers running `url` (default: the shared bench worker, workers/bench/thread.ts). */
  static async start(n: number, url: URL = new URL('../../workers/bench/thread.ts', import.meta.url)): Promise<BenchThreads> {
    if (n > MAX_THREADS) throw new RangeError(`at most ${MAX_THREADS} bench threads, got ${n}`);
    const workers = Array.from({ length: n }, () => spawnWorker(url));
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve, reject) => {
            w.once('online', () => resolve());
            w.once('error', reject);
          }),
      ),
    );
    return new BenchThreads(workers);
  }

  /** The workers' `threadId`s (the owner ids their locks record, minus one). */
  get threadIds(): number[] {
    return this.workers.map((w) => w.threadId);
  }

  get size(): number {
    return this.workers.length;
  }

  /**
   * Runs `tasks[i]` on worker i (one task per worker), behind a start barrier,
   * for `durationMs`, sampling every `windowMs`.
   */
  async run(tasks: readonly unknown[], durationMs: number, windowMs: number): Promise<TimedRun> {
    if (tasks.length > this.workers.length) throw new RangeError(`${tasks.length} tasks for ${this.workers.length} workers`);
    const control = new SharedArrayBuffer(CONTROL_BYTES);
    const ctl = new Int32Array(control);
    let failure: Error | undefined;
    const replies = tasks.map((task, slot) => {
      const w = this.workers[slot]!;
      return new Promise<number>((resolve, reject) => {
        const onError = (e: Error): void => {
          failure = e;
          reject(e);
        };
        w.once('error', onError);
        w.once('message', (reply: TaskReply) => {
          w.off('error', onError);
          if (reply.error !== undefined) {
            failure = new Error(`bench worker ${slot}: ${reply.error}`);
            reject(failure);
          } else resolve(reply.ops ?? 0);
        });
        w.postMessage({ task, control, slot } satisfies TaskMessage<unknown>);
      });
    });
    for (const p of replies) p.catch(() => {}); // awaited below; a failure meanwhile is read from `failure`
    while (Atomics.load(ctl, READY) < tasks.length) {
      if (failure !== undefined) throw failure;
      await sleep(1);
    }

    const slots = tasks.map((_, slot) => countWord(slot));
    const windows: number[][] = [];
    let last = slots.map(() => 0);
    const start = process.hrtime.bigint();
    Atomics.store(ctl, GO, 1);
    Atomics.notify(ctl, GO);
    const windowNs = windowMs * 1e6,
      durationNs = durationMs * 1e6;
    for (let k = 1; ; k++) {
      const due = Math.min(k * windowNs, durationNs);
      sleepSync((due - Number(process.hrtime.bigint() - start)) / 1e6);
      const now = slots.map((w) => Atomics.load(ctl, w));
      if (due === k * windowNs) windows.push(now.map((v, i) => v - last[i]!));
      last = now;
      if (due >= durationNs) break;
    }
    Atomics.store(ctl, STOP, 1);
    const elapsedNs = Number(process.hrtime.bigint() - start);
    const ops = await Promise.all(replies);
    return { elapsedNs, ops, windows };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Total ops per second of a run. */
export function throughput(r: TimedRun): number {
  return (r.ops.reduce((a, b) => a + b, 0) * 1e9) / r.elapsedNs;
}

/** The smallest share any thread got in any window (1/threads = perfectly even). */
export function minShare(r: TimedRun): number {
  let least = Infinity;
  for (const w of r.windows) {
    const total = w.reduce((a, b) => a + b, 0);
    if (total === 0) continue;
    for (const v of w) least = Math.min(least, v / total);
  }
  return least;
}

/** Windows in which some thread completed no op while others did. */
export function starvedWindows(r: TimedRun): number {
  let n = 0;
  for (const w of r.windows) if (w.some((v) => v === 0) && w.some((v) => v > 0)) n++;
  return n;
}
