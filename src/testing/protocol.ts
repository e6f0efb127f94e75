/**
 * @internal The messages between `runThreads` and its warm workers, and the
 * layout of a run's control buffer.
 *
 * Control buffer (Int32 words, one fresh buffer per run):
 *   ARRIVED        threads that reached the start barrier
 *   ABORT          1 when the run is abandoned before everyone arrived (a thread
 *                  failed to load its program, or died): barrier waiters give up
 *   CLOCK          the history stamp counter (`add` returns the stamp)
 *   GO             threads that passed ARRIVED and spin until all have (phase 2)
 *   STEP + thread  each thread's seam step count, written with a plain store on
 *                  every step (diagnostics for a hung thread; read after it stopped)
 *   LAST_OP + thread  the kind of that thread's last seam step (OP_CODES index)
 */
import type { AtomicOp } from '../memory/atomics.js';
import type { HistoryEvent, YieldSettings } from './program.js';
import type { ScheduleSpec } from './schedule.js';

export const ARRIVED = 0,
  ABORT = 1,
  CLOCK = 2,
  GO = 3,
  PER_THREAD = 4;
export const STEP = (thread: number): number => PER_THREAD + 2 * thread;
export const LAST_OP = (thread: number): number => PER_THREAD + 2 * thread + 1;
export const controlWords = (threads: number): number => PER_THREAD + 2 * threads;

export const OP_CODES: readonly AtomicOp[] = ['load', 'store', 'rmw', 'cas', 'wait', 'notify'];

export interface RunMessage {
  readonly type: 'run';
  readonly run: number;
  readonly program: string;
  readonly thread: number;
  readonly threads: number;
  readonly input: unknown;
  readonly shared: unknown;
  readonly seed: number;
  readonly yields: YieldSettings | null;
  /** Seam step before which this thread dies (0 = never). */
  readonly killAt: number;
  readonly trace: boolean;
  readonly control: SharedArrayBuffer;
  /** A controlled schedule, and its words (turns.ts); null: the threads race. */
  readonly schedule: { readonly spec: ScheduleSpec; readonly words: SharedArrayBuffer } | null;
}

export interface ThreadTimes {
  readonly steps: number;
  readonly arrivedAt: number;
  readonly startedAt: number;
  readonly finishedAt: number;
  readonly yieldSteps?: readonly number[];
}

export type ReplyMessage =
  | { readonly type: 'done'; readonly run: number; readonly result: unknown; readonly events: HistoryEvent[]; readonly times: ThreadTimes }
  | { readonly type: 'failed'; readonly run: number; readonly error: unknown; readonly events: HistoryEvent[]; readonly times: ThreadTimes }
  | { readonly type: 'killed'; readonly run: number; readonly events: HistoryEvent[]; readonly times: ThreadTimes };
