/**
 * @internal The harness worker: a warm thread that runs one thread of a
 * `runThreads` run at a time (programs are imported once and cached).
 *
 * Per run: import the program, meet the other threads at the start barrier,
 * install the yield hook, run the program, remove the hook, reply. The hook
 * counts seam steps, injects yields drawn from a PRNG seeded by (seed, thread),
 * and at `killAt` ends the thread with `process.exit(1)`, which in a worker
 * stops only that thread: a death at a precise shared-memory step.
 *
 * The harness's own shared-memory steps (barrier, history stamps, spins inside
 * a yield) go through the seam too, with the hook muted (`muted > 0`), so they
 * are neither counted nor perturbed.
 */
import { parentPort, threadId } from 'node:worker_threads';
import { add, load, notify, setWaitControl, setYieldHook, sleepSync, store, wait, type AtomicOp } from '../memory/atomics.js';
import '../threads/registry.js'; // registers this thread's OS identity, so its death is provable
import { SabreError, isSabreError } from '../errors.js';
import { ABORT, ARRIVED, CLOCK, GO, LAST_OP, OP_CODES, STEP, type ReplyMessage, type RunMessage, type ThreadTimes } from './protocol.js';
import { PROGRAM_KIND, type HistoryEvent, type Program, type RecordedError, type ThreadContext } from './program.js';
import { seededRandom } from './random.js';
import { isThenable } from '../validate.js';
import { Turns } from './turns.js';
import { setVirtualClock } from '../clock.js';

/** Barrier waits are sliced so an ABORT is seen promptly. */
const BARRIER_SLICE_MS = 20;
/** Phase 2 of the barrier spins this long before pausing between loads (a wake-up under load can take milliseconds). */
const GO_SPIN_MS = 10;
const GO_PAUSE_MS = 0.05;
const DEFAULT_MAX_SPINS = 64;
const STREAM_YIELDS = 0,
  STREAM_PROGRAM = 1;

const port = parentPort;
if (port === null) throw new Error('sabre/testing worker: must run as a worker thread');

const programs = new Map<string, Promise<Program>>();
const spinWord = new Int32Array(new SharedArrayBuffer(4));
let muted = 0;

function loadProgram(href: string): Promise<Program> {
  let p = programs.get(href);
  if (p === undefined) {
    p = import(href).then((m: { default?: unknown }) => {
      const program = m.default as Partial<Program> | undefined;
      if (program?.kind !== PROGRAM_KIND || typeof program.run !== 'function') {
        throw new TypeError(`runThreads: ${href} must have a default export made by defineProgram(…)`);
      }
      return program as Program;
    });
    p.catch(() => programs.delete(href));
    programs.set(href, p);
  }
  return p;
}

function stamp(control: Int32Array): number {
  muted++;
  try {
    return add(control, CLOCK, 1);
  } finally {
    muted--;
  }
}

function recordedError(e: unknown): RecordedError {
  const err = e instanceof Error ? e : new Error(String(e));
  return isSabreError(err)
    ? { name: err.name, message: err.message, code: (SabreError.from(err) as SabreError).code }
    : { name: err.name, message: err.message };
}

/**
 * The start barrier, in two phases. Returns false when the run was aborted
 * before every thread arrived.
 *
 * 1. ARRIVED: each thread counts itself in and parks (sliced) until all have:
 *    arrivals can be far apart (a cold worker compiles its program first), so
 *    nobody burns a core meanwhile.
 * 2. GO: each thread counts itself in again and spins until all have. A
 *    wake-up from a park takes ~50-100 us, longer than a short program runs:
 *    without this phase the last arriver would often finish before the others
 *    woke, and the threads would never overlap. Spinning threads are all on a
 *    core (or runnable) when the last one counts in, so they start together.
 */
function barrier(control: Int32Array, threads: number): boolean {
  muted++;
  try {
    if (add(control, ARRIVED, 1) + 1 === threads) {
      notify(control, ARRIVED);
    } else {
      for (;;) {
        // Arrivals first: once everyone arrived, an ABORT (set when a thread dies later) is irrelevant.
        const arrived = load(control, ARRIVED);
        if (arrived >= threads) break;
        if (load(control, ABORT) !== 0) return false;
        wait(control, ARRIVED, arrived, BARRIER_SLICE_MS);
      }
    }
    add(control, GO, 1);
    const pauseAfter = performance.now() + GO_SPIN_MS;
    for (let spins = 1; load(control, GO) < threads; spins++) {
      // More threads than cores, or a loaded machine: after a while, let the
      // threads not yet counted in have the core.
      if ((spins & 1023) === 0 && performance.now() > pauseAfter) sleepSync(GO_PAUSE_MS);
    }
    return true;
  } finally {
    muted--;
  }
}

async function runOne(msg: RunMessage): Promise<void> {
  const control = new Int32Array(msg.control);
  const events: HistoryEvent[] = [];
  const yieldSteps: number[] | undefined = msg.trace ? [] : undefined;
  let steps = 0;
  let arrivedAt = -1,
    startedAt = -1;
  const times = (finishedAt: number): ThreadTimes => ({ steps, arrivedAt, startedAt, finishedAt, ...(yieldSteps ? { yieldSteps } : {}) });
  const reply = (m: ReplyMessage): void => port!.postMessage(m);

  let program: Program;
  try {
    program = await loadProgram(msg.program);
  } catch (error) {
    muted++;
    store(control, ABORT, 1);
    notify(control, ARRIVED);
    muted--;
    reply({ type: 'failed', run: msg.run, error, events, times: times(-1) });
    return;
  }

  arrivedAt = stamp(control);
  if (!barrier(control, msg.threads)) {
    reply({
      type: 'failed',
      run: msg.run,
      error: new Error('run aborted before the start: another thread failed to start'),
      events,
      times: times(-1),
    });
    return;
  }
  startedAt = stamp(control);

  const step = STEP(msg.thread),
    lastOp = LAST_OP(msg.thread);
  const yields = msg.yields;
  const pick = seededRandom(msg.seed, msg.thread, STREAM_YIELDS);
  const probability = yields?.probability ?? 0;
  const maxSpins = yields?.maxSpins ?? DEFAULT_MAX_SPINS;
  const maxDelayMs = yields?.maxDelayMs ?? 0;
  const sleepShare = maxDelayMs > 0 ? (yields?.sleepShare ?? 0.5) : 0;

  // A controlled schedule: one thread at a time, turns handed on at seam steps (turns.ts).
  const turns =
    msg.schedule === null
      ? undefined
      : new Turns(new Int32Array(msg.schedule.words), msg.schedule.spec, msg.thread, msg.threads, msg.shared, (t) => {
          const at = control[STEP(t)]!;
          return at > 0 ? `before its seam step ${at + 1}, after a ${OP_CODES[control[LAST_OP(t)]!]}` : 'before its first seam step';
        });
  const muting = <T>(f: () => T): T => {
    muted++;
    try {
      return f();
    } finally {
      muted--;
    }
  };
  const endTurns = (): void => {
    if (turns === undefined) return;
    setWaitControl(null);
    setVirtualClock(null);
    muting(() => {
      turns.finish();
    });
  };

  const die = (): never => {
    endTurns();
    setYieldHook(null);
    reply({ type: 'killed', run: msg.run, events, times: times(-1) });
    process.exit(1);
  };

  const hook = (op: AtomicOp): void => {
    if (muted !== 0) return;
    steps++;
    control[step] = steps; // plain stores: diagnostics only, read after this thread stopped
    control[lastOp] = OP_CODES.indexOf(op);
    if (steps === msg.killAt) die();
    if (turns !== undefined) {
      muting(() => {
        turns.step();
      });
      return;
    }
    if (probability === 0 || pick() >= probability) return;
    yieldSteps?.push(steps);
    muted++;
    try {
      if (sleepShare > 0 && pick() < sleepShare) sleepSync(pick() * maxDelayMs);
      else for (let i = 1 + Math.floor(pick() * maxSpins); i > 0; i--) load(spinWord, 0);
    } finally {
      muted--;
    }
  };

  let op = 0;
  const ctx: ThreadContext = {
    thread: msg.thread,
    threads: msg.threads,
    input: msg.input,
    shared: msg.shared,
    seed: msg.seed,
    random: seededRandom(msg.seed, msg.thread, STREAM_PROGRAM),
    record<T>(name: string, arg: unknown, fn: () => T): T {
      // Object literals with every field written out: a spread of a shared base object cost ~2x here (bench table 31).
      const id = op++,
        thread = msg.thread;
      events.push({ type: 'invoke', time: stamp(control), thread, op: id, name, arg });
      let value: T;
      try {
        value = fn();
      } catch (e) {
        events.push({ type: 'return', time: stamp(control), thread, op: id, name, error: recordedError(e) });
        throw e;
      }
      if (!isThenable(value)) {
        events.push({ type: 'return', time: stamp(control), thread, op: id, name, value });
        return value;
      }
      return Promise.resolve(value).then(
        (v) => {
          events.push({ type: 'return', time: stamp(control), thread, op: id, name, value: v });
          return v;
        },
        (e: unknown) => {
          events.push({ type: 'return', time: stamp(control), thread, op: id, name, error: recordedError(e) });
          throw e;
        },
      ) as T;
    },
  };

  let result: unknown;
  try {
    if (turns !== undefined) {
      setWaitControl({
        wait: (a, i, expected, timeoutMs) => (muted !== 0 ? undefined : muting(() => turns.wait(a, i, expected, timeoutMs))),
        notify: (a, i, count) => (muted !== 0 ? undefined : muting(() => turns.notify(a, i, count))),
      });
      muting(() => {
        turns.start();
      });
      setVirtualClock(() => turns.now()); // time is the schedule's: the same run reads the same times
    }
    setYieldHook(hook);
    result = await program.run(ctx);
  } catch (error) {
    setYieldHook(null);
    endTurns();
    reply({ type: 'failed', run: msg.run, error, events, times: times(stamp(control)) });
    return;
  }
  setYieldHook(null);
  endTurns();
  try {
    reply({ type: 'done', run: msg.run, result, events, times: times(stamp(control)) });
  } catch (error) {
    reply({
      type: 'failed',
      run: msg.run,
      error: new TypeError(`runThreads: thread ${msg.thread}'s result or history could not be cloned: ${(error as Error).message}`),
      events: [],
      times: times(-1),
    });
  }
}

port.on('message', (msg: RunMessage) => {
  if (msg?.type !== 'run') return;
  runOne(msg).catch((error: unknown) => {
    // Only a reply that could not be posted gets here: report it plainly.
    port.postMessage({
      type: 'failed',
      run: msg.run,
      error: new Error(String(error)),
      events: [],
      times: { steps: 0, arrivedAt: -1, startedAt: -1, finishedAt: -1 },
    });
  });
});
port.postMessage({ type: 'ready', threadId });
