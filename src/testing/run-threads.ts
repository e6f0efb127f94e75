/**
 * runThreads: one run of a concurrent program on real, warm worker threads.
 */
import { inspect } from 'node:util';
import type { Worker } from 'node:worker_threads';
import { load, notify, SEAM_ENV, SEAM_HOOKS, store } from '../memory/atomics.js';
import { parkAsync, remaining, toDeadline } from '../threads/park.js';
import { sibling, spawnWorker } from '../threads/spawn.js';
import { InvalidArgumentError, SabreError, TimeoutError } from '../errors.js';
import { defineOptions } from '../options/schema.js';
import { boolean, custom, duration, fn, withDefault } from '../options/field.js';
import { describeValue, integerIn } from '../validate.js';
import type { HistoryEvent, ThreadReport, YieldSettings } from './program.js';
import { ABORT, ARRIVED, LAST_OP, OP_CODES, STEP, controlWords, type ReplyMessage, type RunMessage, type ThreadTimes } from './protocol.js';
import { scheduleSpec, type Schedule, type ScheduleTaken } from './schedule.js';
import { endRun, takenSchedule, turnWords } from './turns.js';

/*
 * Implementation notes
 *
 * Pool: a module-level list of workers running `worker.ts`, unref'd (they
 * never keep the process alive), reused by every run of the process: a
 * TypeScript worker takes ~100-250 ms to start, a run on warm workers well
 * under a millisecond of overhead, so a property can run hundreds of cases.
 * A run takes `threads.length` idle workers (spawning the missing ones) and
 * gives them back when every thread has settled. A worker that exits (killed
 * on purpose, terminated after a timeout, crashed) leaves the pool, and a
 * replacement starts at once so that the next run finds it warm.
 *
 * A run: a fresh control buffer (see protocol.ts) and one 'run' message per
 * worker. Each worker imports the program (cached), stamps its arrival,
 * waits at the start barrier, runs, replies. The parent settles each thread
 * from its reply or its worker's 'exit' (Node delivers a worker's pending
 * messages before 'exit', so a 'killed' reply is seen first). A ref'd timer
 * bounds the run: `timeoutMs` after every thread reached the start barrier
 * (never counting worker start-up or program import, which machines do at
 * very different speeds), the threads still running are terminated and
 * reported by index, threadId, last seam step and op.
 */

/** Options of `runThreads`. */
export interface RunThreadsOptions<Shared, Input> {
  /** One input per thread (1 to MAX_THREADS threads; 2-4 is the useful range on small machines). */
  readonly threads: readonly Input[];
  /** URL of a module whose default export is `defineProgram(…)` (`.ts` in development, `.js` built). */
  readonly program: URL | string;
  /** Passed (structured-cloned) to every thread: typically handles made on this thread. */
  readonly shared?: Shared;
  /** Called on this thread before each run to make `shared` (instead of passing `shared`). */
  readonly setup?: () => Shared | Promise<Shared>;
  /** Seeds the yield decisions and `ctx.random()`: the same seed makes the same decisions. */
  readonly seed: number;
  /** Yield injection at the seam (default: none, the threads only race naturally). */
  readonly yields?: YieldSettings;
  /** Milliseconds, from the moment every thread is at the start barrier, before the run is declared hung (default 10 000; Infinity allowed). */
  readonly timeoutMs?: number;
  /** End thread `thread` abruptly just before its `atStep`-th seam step (1-based). */
  readonly kill?: { readonly thread: number; readonly atStep: number };
  /** Record, per thread, the steps before which it yielded (`ThreadReport.yieldSteps`). */
  readonly trace?: boolean;
  /**
   * Run the threads one at a time, in turns decided at every seam step by
   * this schedule (schedule.ts: explicit switches, random, or PCT), instead
   * of racing; `yields` then has no effect. The run's `schedule` result
   * replays it exactly. Programs must be synchronous (a thread that awaits
   * keeps the turn).
   */
  readonly schedule?: Schedule;
}

/** What a run returns. */
export interface RunThreadsResult<Shared, Result> {
  /** Each thread's program result, by thread index (undefined for a killed thread). */
  readonly results: (Result | undefined)[];
  /** Every recorded invoke/return event of every thread, ordered by `time`. */
  readonly history: HistoryEvent[];
  /** The index of the thread that was killed, if the kill step was reached. */
  readonly killed?: number;
  /** The shared value the threads received (from `shared` or `setup`). */
  readonly shared: Shared;
  readonly threads: ThreadReport[];
  /** With `schedule`: the switches the run made (`{ kind: 'switches', switches }` replays it) and its steps. */
  readonly schedule?: ScheduleTaken;
}

/** The most threads one run may have. */
export const MAX_THREADS = 16;
/** Default bound on one run, counted from the moment every thread is at the start barrier. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Bound on starting a run's workers and importing its program (never part of `timeoutMs`). */
export const STARTUP_TIMEOUT_MS = 60_000;

interface Slot {
  readonly worker: Worker;
  readonly threadId: number;
  busy: boolean;
  exited: boolean;
  /** Killed or terminated during a run: never handed out again. */
  retired: boolean;
  ready: Promise<void>;
  /** The current run's listeners. */
  onReply?: (m: ReplyMessage) => void;
  onExit?: (code: number) => void;
  error?: unknown;
}

const pool: Slot[] = [];
let closing: Promise<void> | undefined;
let nextRun = 1;
const workerUrl = (): URL => sibling(import.meta.url, 'worker');

function spawnSlot(): Slot {
  // The hooked atomics seam is chosen when sabre loads in a thread: these
  // workers must start with it, so that yields and kills reach every step.
  const worker = spawnWorker(workerUrl(), { env: { ...process.env, [SEAM_ENV]: SEAM_HOOKS } });
  let markReady!: () => void;
  const slot: Slot = {
    worker,
    threadId: worker.threadId,
    busy: false,
    exited: false,
    retired: false,
    ready: new Promise<void>((resolve) => (markReady = resolve)),
  };
  worker.on('message', (m: ReplyMessage | { type: 'ready' }) => {
    if (m.type === 'ready') markReady();
    else slot.onReply?.(m);
  });
  // An uncaught error ends the worker; 'exit' follows and settles the thread.
  worker.on('error', (e) => (slot.error = e));
  worker.once('exit', (code) => {
    slot.exited = true;
    markReady();
    const i = pool.indexOf(slot);
    if (i >= 0) pool.splice(i, 1);
    if (closing === undefined) spawnSlot(); // the replacement, warming up now
    slot.onExit?.(code);
  });
  // After the listeners: on Node 20, a 'message' listener added after unref() refs the worker again,
  // and a process that used runThreads without closeThreads never exited.
  worker.unref();
  pool.push(slot);
  return slot;
}

function take(n: number): Slot[] {
  const taken: Slot[] = [];
  for (const slot of pool) {
    if (taken.length === n) break;
    if (!slot.busy && !slot.exited && !slot.retired) taken.push(slot);
  }
  while (taken.length < n) taken.push(spawnSlot());
  for (const slot of taken) slot.busy = true;
  return taken;
}

/**
 * Starts `count` harness workers now and resolves when they are ready, so the
 * first run of a property does not pay for them (optional).
 */
export async function warmThreads(count: number): Promise<void> {
  integerIn('count', count, 1, MAX_THREADS);
  if (closing !== undefined) await closing;
  while (pool.filter((s) => !s.exited && !s.retired).length < count) spawnSlot();
  await Promise.all(pool.map((s) => s.ready));
}

/**
 * Terminates every harness worker (call it in `afterAll`). Later runs start
 * new ones. The workers are unref'd, so forgetting this never hangs a process.
 */
export async function closeThreads(): Promise<void> {
  if (closing !== undefined) return closing;
  closing = Promise.all(pool.map((s) => s.worker.terminate())).then(() => {
    pool.length = 0;
    closing = undefined;
  });
  return closing;
}

/** A number in [min, max] (fractions allowed), named as the caller writes it (`yields.probability`). */
function numberIn(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !(v >= min && v <= max))
    throw new InvalidArgumentError(`${name} must be a number in [${min}, ${max}], got ${describeValue(v)}`);
  return v;
}

const YIELDS = defineOptions('runThreads(options).yields', {
  probability: custom((v) => numberIn('yields.probability', v, 0, 1)),
  maxSpins: withDefault(
    custom((v) => integerIn('yields.maxSpins', v, 1, 1 << 20)),
    undefined,
  ),
  maxDelayMs: withDefault(
    custom((v) => numberIn('yields.maxDelayMs', v, 0, 1000)),
    undefined,
  ),
  sleepShare: withDefault(
    custom((v) => numberIn('yields.sleepShare', v, 0, 1)),
    undefined,
  ),
});

const KILL = defineOptions('runThreads(options).kill', {
  thread: custom((v) => integerIn('kill.thread', v, 0, MAX_THREADS - 1)),
  atStep: custom((v) => integerIn('kill.atStep', v, 1, Number.MAX_SAFE_INTEGER)),
});

const OPTIONS = defineOptions(
  'runThreads(options)',
  {
    threads: custom((v): readonly unknown[] => {
      if (!Array.isArray(v)) throw new InvalidArgumentError(`threads must be an array of per-thread inputs, got ${typeof v}`);
      integerIn('threads.length', v.length, 1, MAX_THREADS);
      return v;
    }),
    program: custom((v): string => {
      try {
        return new URL(String(v)).href;
      } catch {
        throw new InvalidArgumentError(`program must be a module URL, got ${describeValue(v)}`);
      }
    }),
    shared: withDefault(
      custom((v): unknown => v),
      undefined,
    ),
    setup: fn<() => unknown>(),
    seed: custom((v): number => {
      if (typeof v !== 'number' || !Number.isSafeInteger(v))
        throw new InvalidArgumentError(`seed must be a safe integer, got ${describeValue(v)}`);
      return v;
    }),
    yields: withDefault(
      custom((v): YieldSettings => {
        const y = YIELDS.parse(v);
        return {
          probability: y.probability,
          ...(y.maxSpins !== undefined ? { maxSpins: y.maxSpins } : {}),
          ...(y.maxDelayMs !== undefined ? { maxDelayMs: y.maxDelayMs } : {}),
          ...(y.sleepShare !== undefined ? { sleepShare: y.sleepShare } : {}),
        };
      }),
      undefined,
    ),
    timeoutMs: duration({ default: DEFAULT_TIMEOUT_MS }),
    kill: withDefault(
      custom((v) => KILL.parse(v)),
      undefined,
    ),
    trace: boolean(),
    schedule: withDefault(
      custom((v) => v as Schedule),
      undefined,
    ),
  },
  {
    check: (o) => {
      if (o.schedule !== undefined) scheduleSpec(o.schedule, o.threads.length); // throws naming what is wrong
      if (o.kill !== undefined && o.kill.thread >= o.threads.length) {
        throw new InvalidArgumentError(`kill.thread must be an integer in [0, ${o.threads.length - 1}], got ${o.kill.thread}`);
      }
      if (o.setup !== undefined && o.shared !== undefined) throw new InvalidArgumentError('pass shared or setup, not both');
    },
  },
);

type Outcome =
  | { readonly kind: 'done'; readonly result: unknown; readonly times: ThreadTimes }
  | { readonly kind: 'failed'; readonly error: unknown; readonly times: ThreadTimes }
  | { readonly kind: 'killed'; readonly times: ThreadTimes }
  | { readonly kind: 'hung' };

const NO_TIMES: ThreadTimes = { steps: 0, arrivedAt: -1, startedAt: -1, finishedAt: -1 };

/**
 * Runs `program` once on `threads.length` real threads that start together.
 *
 * Each thread gets its input, the (cloned) shared value and a context with a
 * seeded PRNG and `record` (see `ThreadContext`). Until the program settles,
 * the thread's every shared-memory step through sabre's atomics seam is
 * counted and, with `yields`, preceded at random by a short spin or sleep,
 * drawn from a PRNG seeded by (seed, thread): the same seed replays the same
 * decisions (the OS schedule itself is not replayed).
 *
 * @throws TimeoutError (`ERR_TIMEOUT`) naming the threads that had not
 *   finished after `timeoutMs` (their workers are terminated and replaced)
 * @throws Error naming the threads whose program threw or whose worker
 *   exited unexpectedly; the first such error is its `cause`
 * @throws InvalidArgumentError for a bad or unknown option (`yields` and `kill` included)
 *
 * @example
 * ```ts
 * const { results, history } = await runThreads({
 *   threads: [100, 100, 100],
 *   program: new URL('./programs/count.mjs', import.meta.url),   // JavaScript: a .ts program is loaded by a bootstrap (see sabre/testing)
 *   setup: () => ({ counter: new AtomicCounter().handle }),
 *   seed,
 *   yields: { probability: 0.1, maxDelayMs: 0.2 },
 * });
 * ```
 */
export async function runThreads<Shared = unknown, Input = unknown, Result = unknown>(
  options: RunThreadsOptions<Shared, Input>,
): Promise<RunThreadsResult<Shared, Result>> {
  const o = OPTIONS.parse(options);
  const n = o.threads.length;
  const { seed, program, timeoutMs: timeout } = o;
  const yields = o.yields ?? null;
  const killThread = o.kill?.thread ?? -1,
    killAt = o.kill?.atStep ?? 0;
  const shared = (o.setup !== undefined ? await o.setup() : o.shared) as Shared;
  if (closing !== undefined) await closing;

  const schedule = o.schedule === undefined ? null : { spec: scheduleSpec(o.schedule, n), words: new SharedArrayBuffer(turnWords(n) * 4) };
  const control = new SharedArrayBuffer(controlWords(n) * 4);
  const words = new Int32Array(control);
  const run = nextRun++;
  const slots = take(n);
  const outcomes = new Array<Outcome | undefined>(n);
  let pending = n;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let hungAfter = `${timeout} ms`;
  const events: HistoryEvent[] = [];

  await new Promise<void>((resolve) => {
    const settle = (thread: number, outcome: Outcome): void => {
      if (outcomes[thread] !== undefined) return;
      outcomes[thread] = outcome;
      const slot = slots[thread]!;
      slot.onReply = undefined;
      slot.onExit = undefined;
      if (outcome.kind !== 'done' && outcome.kind !== 'hung' && outcomes.filter((x) => x !== undefined).length < n) {
        // A thread that cannot reach the barrier any more must not strand the others there.
        store(words, ABORT, 1);
        notify(words, ARRIVED);
      }
      if (--pending === 0) resolve();
    };
    slots.forEach((slot, thread) => {
      slot.onReply = (m) => {
        if (m.run !== run) return;
        for (const e of m.events) events.push(e); // not push(...): a long history would overflow the stack
        if (m.type === 'done') settle(thread, { kind: 'done', result: m.result, times: m.times });
        else if (m.type === 'failed') settle(thread, { kind: 'failed', error: SabreError.from(m.error), times: m.times });
        else {
          slot.retired = true;
          settle(thread, { kind: 'killed', times: m.times });
        }
      };
      slot.onExit = (code) => {
        const cause = slot.error ?? new Error(`its worker exited with code ${code} before the program settled`);
        // Under a schedule it may have died holding the turn: the others would wait for it until the timeout.
        if (schedule !== null) endRun(new Int32Array(schedule.words));
        settle(thread, { kind: 'failed', error: cause, times: NO_TIMES });
      };
      if (slot.exited) {
        slot.onExit(1);
        return;
      }
      const msg: RunMessage = {
        type: 'run',
        run,
        program,
        thread,
        threads: n,
        input: o.threads[thread],
        shared,
        seed,
        yields,
        killAt: thread === killThread ? killAt : 0,
        trace: o.trace,
        control,
        schedule,
      };
      try {
        slot.worker.postMessage(msg);
      } catch (e) {
        settle(thread, {
          kind: 'failed',
          error: new InvalidArgumentError(
            `thread ${thread}'s input or the shared value cannot be sent to a worker: ${(e as Error).message}`,
          ),
          times: NO_TIMES,
        });
      }
    });
    if (pending === 0) return;
    const terminateUnsettled = (): void => {
      slots.forEach((slot, thread) => {
        if (outcomes[thread] !== undefined) return;
        slot.onExit = undefined;
        slot.retired = true;
        void slot.worker.terminate();
        settle(thread, { kind: 'hung' });
      });
    };
    // The run's clock starts when every thread is at the start barrier, so a
    // worker that is still starting or importing the program never counts
    // against `timeoutMs`; STARTUP_TIMEOUT_MS bounds that phase on its own.
    void (async () => {
      const startup = toDeadline(STARTUP_TIMEOUT_MS);
      for (;;) {
        if (pending === 0) return;
        const arrived = load(words, ARRIVED);
        if (arrived >= n) break;
        if (remaining(startup) === 0) {
          hungAfter = `${STARTUP_TIMEOUT_MS} ms of waiting for every thread to reach the start barrier`;
          terminateUnsettled();
          return;
        }
        await parkAsync(words, ARRIVED, arrived, startup);
      }
      if (timeout === Infinity)
        timer = setInterval(() => {}, 1 << 30); // keeps the process alive while the unref'd workers run
      else timer = setTimeout(terminateUnsettled, timeout);
    })();
  });
  clearTimeout(timer);
  clearInterval(timer);

  const hung: number[] = [];
  const failed: { thread: number; error: unknown }[] = [];
  let killed: number | undefined;
  outcomes.forEach((outcome, thread) => {
    if (outcome?.kind === 'hung') hung.push(thread);
    else if (outcome?.kind === 'failed') failed.push({ thread, error: outcome.error });
    else if (outcome?.kind === 'killed') killed = thread;
  });
  for (const slot of slots) {
    // A killed or terminated thread: wait until it has stopped, so its death is
    // recorded in the ThreadRegistry before the caller looks (a few ms).
    if (slot.retired && !slot.exited) await new Promise<void>((resolve) => slot.worker.once('exit', () => resolve()));
    slot.busy = false;
  }

  const describe = (thread: number): string => {
    const steps = words[STEP(thread)]!;
    const op = OP_CODES[words[LAST_OP(thread)]!];
    return `thread ${thread} (threadId ${slots[thread]!.threadId}${steps > 0 ? `, last seen before seam step ${steps}, a ${op}` : ', before its first seam step'})`;
  };
  const where = `program ${program}, seed ${seed}`;
  if (failed.length > 0) {
    const first = failed[0]!;
    const list = failed.map((f) => `thread ${f.thread}: ${describeFailure(f.error)}`).join('; ');
    const also = hung.length > 0 ? `; and ${hung.map(describe).join(', ')} had not finished after ${hungAfter} (terminated)` : '';
    throw new Error(`runThreads: ${list}${also} (${where})`, { cause: first.error });
  }
  if (hung.length > 0) {
    const many = hung.length > 1;
    throw new TimeoutError(
      `runThreads: ${hung.map(describe).join(', ')} had not finished after ${hungAfter} and ${many ? 'were' : 'was'} terminated. ` +
        `Likely a deadlock (threads waiting on each other, or on a lock whose owner died unnoticed) or a lost wake-up ` +
        `(a waiter parked with nobody left to notify it) (${where})`,
      { timeoutMs: timeout },
    );
  }

  events.sort((a, b) => a.time - b.time);
  const reports: ThreadReport[] = outcomes.map((outcome, thread) => {
    const t = outcome !== undefined && outcome.kind !== 'hung' ? outcome.times : NO_TIMES;
    return { threadId: slots[thread]!.threadId, ...t };
  });
  return {
    results: outcomes.map((outcome) => (outcome?.kind === 'done' ? (outcome.result as Result) : undefined)),
    history: events,
    ...(killed !== undefined ? { killed } : {}),
    shared,
    threads: reports,
    ...(schedule !== null ? { schedule: takenSchedule(new Int32Array(schedule.words), n) } : {}),
  };
}

/** A thread's failure as text: an error's message, anything else inspected (a worker's 'error' may not be an Error). */
function describeFailure(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string')
    return (e as { message: string }).message;
  return typeof e === 'object' && e !== null ? inspect(e, { depth: 3, breakLength: Infinity }) : String(e);
}
