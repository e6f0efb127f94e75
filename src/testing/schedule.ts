/**
 * Controlled schedules: which thread runs at each step of a `runThreads`
 * run, when the run takes turns instead of racing (`schedule` option).
 *
 * A step is one shared-memory operation through sabre's atomics seam. Under
 * a schedule, exactly one thread runs at a time; before each of its steps the
 * thread holding the turn asks the schedule whether to go on or hand the
 * turn to another thread. A thread that would block (`Atomics.wait` through
 * the seam) hands the turn on instead, and runs again once a `notify` on its
 * word wakes it, or, when no thread can run, once its timeout passes (time is
 * virtual: a timed wait times out only when everything else is blocked).
 * When every thread is blocked with no timeout, the run ends with a
 * DeadlockError that names them. `systemClock` reads the schedule's virtual
 * time in the run's threads (1 µs per step, and on to a waiter's deadline
 * when its wait times out), so code that reads the clock takes the same path
 * in every replay. A thread that runs 64 steps in a row with no decision of
 * the schedule due hands the turn on (a spin loop must let the thread it
 * waits for run).
 *
 * What replays exactly: the same schedule, program, inputs and seed give the
 * same run, step for step. Not covered: code that reads `performance.now()`
 * or `Date.now()` itself, plain (non-seam) accesses to shared memory (they
 * are not steps, so no switch falls between them), and paths that depend on
 * the worker's `threadId` (sabre's per-thread slots probe from a hash of
 * it), which can differ between pools of workers.
 *
 * Three selectors over this one engine (STYLE habit 11):
 * - `{ kind: 'switches', switches }`: an explicit list of context switches,
 *   each `[after, to]`: after `after` more steps, hand the turn to thread
 *   `to` (or the next runnable thread after it). fast-check generates and
 *   shrinks these (`scheduleArb`), and a run's `schedule.switches` replays it
 *   exactly.
 * - `{ kind: 'random', seed }`: at every step, a thread chosen uniformly
 *   among the runnable ones.
 * - `{ kind: 'pct', seed, depth, steps }`: probabilistic concurrency testing
 *   (Burckhardt, Kothari, Musuvathi and Nagarakatte, "A Randomized Scheduler
 *   with Probabilistic Guarantees of Finding Bugs", ASPLOS 2010): random
 *   distinct thread priorities, the highest-priority runnable thread runs,
 *   and at `depth - 1` random steps of [1, `steps`] the running thread drops
 *   below every other. For a program of n threads and k steps, a bug of depth
 *   d is found by one run with probability at least 1 / (n * k^(d-1)).
 */
import { InvalidArgumentError } from '../errors.js';
import { seededRandom } from './random.js';

/** One context switch: after `after` more steps of the running thread, thread `to` runs. */
export type Switch = readonly [after: number, to: number];

export type Schedule =
  | { readonly kind: 'switches'; readonly switches: readonly Switch[] }
  | { readonly kind: 'random'; readonly seed: number }
  | { readonly kind: 'pct'; readonly seed: number; readonly depth: number; readonly steps: number };

/** A schedule after validation, with PCT's draws made (the same in every thread). */
export type ScheduleSpec =
  | { readonly kind: 'switches'; readonly switches: readonly Switch[] }
  | { readonly kind: 'random'; readonly seed: number }
  | { readonly kind: 'pct'; readonly priorities: readonly number[]; readonly changes: readonly number[] };

/** What a scheduled run reports: the switches it made (they replay it), and its steps. */
export interface ScheduleTaken {
  /** Every context switch of the run, as `{ kind: 'switches', switches }` replays it. */
  readonly switches: readonly Switch[];
  /** Steps (scheduling points) of the whole run. */
  readonly steps: number;
  /**
   * Waits that timed out. Time is virtual under a schedule: a wait times out
   * only when no thread could run, so in a program with no deadline of its
   * own, a timeout is a wake-up that never came (a lost notify that a
   * sliced wait recovered from).
   */
  readonly timeouts: number;
}

const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

/**
 * Validates a schedule for `threads` threads and makes PCT's random draws.
 * @throws InvalidArgumentError naming what is wrong
 */
export function scheduleSpec(schedule: unknown, threads: number): ScheduleSpec {
  const s = schedule as Partial<Schedule> | null;
  if (typeof s !== 'object' || s === null) throw new InvalidArgumentError(`schedule must be an object with a kind, got ${String(s)}`);
  switch (s.kind) {
    case 'switches': {
      const list = (s as { switches?: unknown }).switches;
      if (!Array.isArray(list)) throw new InvalidArgumentError(`schedule.switches must be an array of [after, to] pairs`);
      list.forEach((w: unknown, i) => {
        if (!Array.isArray(w) || w.length !== 2 || !isCount(w[0]) || !isCount(w[1]) || w[1] >= threads) {
          throw new InvalidArgumentError(
            `schedule.switches[${i}] must be [after, to] with after an integer >= 0 and to a thread in [0, ${threads - 1}], got ${JSON.stringify(w)}`,
          );
        }
      });
      return { kind: 'switches', switches: list as Switch[] };
    }
    case 'random': {
      const seed = (s as { seed?: unknown }).seed;
      if (!Number.isSafeInteger(seed)) throw new InvalidArgumentError(`schedule.seed must be an integer, got ${String(seed)}`);
      return { kind: 'random', seed: seed as number };
    }
    case 'pct': {
      const { seed, depth, steps } = s as { seed?: unknown; depth?: unknown; steps?: unknown };
      if (!Number.isSafeInteger(seed)) throw new InvalidArgumentError(`schedule.seed must be an integer, got ${String(seed)}`);
      if (!Number.isSafeInteger(depth) || (depth as number) < 1) {
        throw new InvalidArgumentError(`schedule.depth must be an integer >= 1 (the bug depth PCT aims at), got ${String(depth)}`);
      }
      if (!Number.isSafeInteger(steps) || (steps as number) < 1) {
        throw new InvalidArgumentError(`schedule.steps must be an integer >= 1 (about how many steps a run takes), got ${String(steps)}`);
      }
      const random = seededRandom(seed as number, 0, 7);
      // Distinct initial priorities depth .. depth + n - 1, in random order (Fisher-Yates).
      const priorities = Array.from({ length: threads }, (_, t) => (depth as number) + t);
      for (let i = threads - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [priorities[i], priorities[j]] = [priorities[j]!, priorities[i]!];
      }
      // depth - 1 change points in [1, steps]: at the i-th, the running thread's priority becomes depth - 1 - i.
      const changes = Array.from({ length: (depth as number) - 1 }, () => 1 + Math.floor(random() * (steps as number)));
      return { kind: 'pct', priorities, changes };
    }
    default:
      throw new InvalidArgumentError(`schedule.kind must be 'switches', 'random' or 'pct', got ${JSON.stringify(s.kind)}`);
  }
}

/** A schedule as text for a replay command: `SABRE_SCHEDULE='2:1,0:0'` (after:to pairs). */
export function formatSwitches(switches: readonly Switch[]): string {
  return switches.map(([after, to]) => `${after}:${to}`).join(',');
}

/** The inverse of `formatSwitches`. @throws InvalidArgumentError for text that is not after:to pairs */
export function parseSwitches(text: string): Switch[] {
  if (text.trim() === '') return [];
  return text.split(',').map((pair) => {
    const m = /^\s*(\d+):(\d+)\s*$/.exec(pair);
    if (m === null) throw new InvalidArgumentError(`a schedule is after:to pairs separated by commas, got ${JSON.stringify(text)}`);
    return [Number(m[1]), Number(m[2])] as const;
  });
}
