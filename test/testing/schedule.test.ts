/**
 * Controlled schedules (schedule.ts, turns.ts): threads take turns at the
 * seam's steps, a blocked thread hands its turn on, the same schedule gives
 * the same run, and a run's recorded switches replay it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { switchesArb } from '../../props/arbitraries.js';
import { ErrorCode, isSabreError } from '../../src/errors.js';
import { Mutex } from '../../src/sync/mutex.js';
import { closeThreads, runThreads, warmThreads, type HistoryEvent, type Schedule } from '../../src/testing/index.js';
import { expectCode, rejected } from '../helpers/errors.js';
import type { ScheduledInput, ScheduledShared } from './programs/scheduled.js';

const program = new URL('./programs/scheduled.ts', import.meta.url);
const setup = (): ScheduledShared => ({ words: new Int32Array(new SharedArrayBuffer(8)), mutex: new Mutex().handle });

async function run(threads: ScheduledInput[], schedule: Schedule) {
  return runThreads<ScheduledShared, ScheduledInput>({ threads, program, setup, seed: 1, schedule, timeoutMs: 20_000 });
}
/** What a history says, without its stamps. */
const trace = (h: HistoryEvent[]): string[] =>
  h.map((e) => `${e.thread}.${e.op}.${e.type}${e.type === 'return' ? `=${String(e.value)}` : ''}`);

beforeAll(() => warmThreads(3));
afterAll(closeThreads);

describe('controlled schedules', () => {
  it('no switches: each thread runs alone until it ends, so load-then-store loses nothing', async () => {
    const r = await run(
      [
        { mode: 'unsafe', n: 5 },
        { mode: 'unsafe', n: 5 },
      ],
      { kind: 'switches', switches: [] },
    );
    expect(r.shared.words[0]).toBe(10);
    // thread 0 entirely before thread 1
    expect(r.history.findIndex((e) => e.thread === 1)).toBe(10);
  });

  it('one switch between a load and its store loses an update, the same way every run', async () => {
    // Each increment is two steps (load, store). After 1 step thread 1 runs (thread 0 has loaded 0), then thread 0 stores 1 over it.
    const schedule: Schedule = {
      kind: 'switches',
      switches: [
        [0, 1],
        [1, 0],
      ],
    };
    const first = await run(
      [
        { mode: 'unsafe', n: 1 },
        { mode: 'unsafe', n: 1 },
      ],
      schedule,
    );
    expect(first.shared.words[0]).toBe(1);
    for (let i = 0; i < 3; i++) {
      const again = await run(
        [
          { mode: 'unsafe', n: 1 },
          { mode: 'unsafe', n: 1 },
        ],
        schedule,
      );
      expect(trace(again.history)).toEqual(trace(first.history));
    }
  });

  it('a random schedule replays exactly from the switches it reports', async () => {
    const threads: ScheduledInput[] = [
      { mode: 'unsafe', n: 8 },
      { mode: 'unsafe', n: 8 },
      { mode: 'unsafe', n: 8 },
    ];
    for (const seed of [1, 2, 3]) {
      const r = await run(threads, { kind: 'random', seed });
      expect(r.schedule!.switches.length).toBeGreaterThan(5);
      const replay = await run(threads, { kind: 'switches', switches: r.schedule!.switches });
      expect(trace(replay.history)).toEqual(trace(r.history));
      expect(replay.shared.words[0]).toBe(r.shared.words[0]);
      expect(replay.schedule!.switches).toEqual(r.schedule!.switches);
    }
  });

  it('a thread that blocks (a contended Mutex) hands its turn on, and the lock keeps every update', async () => {
    const threads: ScheduledInput[] = [
      { mode: 'locked', n: 6 },
      { mode: 'locked', n: 6 },
      { mode: 'locked', n: 6 },
    ];
    let switched = 0;
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = await run(threads, { kind: 'random', seed });
      expect(r.shared.words[0]).toBe(18);
      switched += r.schedule!.switches.length;
    }
    expect(switched).toBeGreaterThan(20);
  });

  it('every thread blocked with no timeout: a DeadlockError at once, naming them, not a hang', async () => {
    const started = performance.now();
    const error = await run(
      [
        { mode: 'forever', n: 0 },
        { mode: 'forever', n: 0 },
      ],
      { kind: 'switches', switches: [] },
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    const cause = (error as Error).cause;
    expect(isSabreError(cause, ErrorCode.DEADLOCK)).toBe(true);
    expect((error as Error).message).toMatch(/every thread still running is blocked .*thread 0 .*thread 1/);
    expect(performance.now() - started).toBeLessThan(10_000); // far below the run's 20 s timeout
  });

  it('a worker that dies holding the turn ends the run at once: its death is named, and nobody waits for the timeout', async () => {
    const started = performance.now();
    const error = await rejected(
      run(
        [
          { mode: 'die', n: 2 },
          { mode: 'unsafe', n: 5 },
        ],
        { kind: 'switches', switches: [] },
      ),
    );
    expect((error as Error).message).toMatch(/thread 0: its worker exited with code 3/);
    expect(performance.now() - started).toBeLessThan(10_000); // far below the run's 20 s timeout
  });

  it('a timed wait times out at once when nothing else can run: time is virtual, and jumps to its deadline', async () => {
    const started = performance.now();
    const r = await run(
      [
        { mode: 'timed', n: 0 },
        { mode: 'unsafe', n: 2 },
      ],
      { kind: 'switches', switches: [] },
    );
    expect(r.results[0]).toBe('timed-out after 60000 ms'); // systemClock, in the thread, reads the schedule's time
    expect(performance.now() - started).toBeLessThan(30_000);
  });

  it('a spin loop waiting for another thread cannot keep the turn: after 64 steps in a row it is handed on', async () => {
    for (const schedule of [
      { kind: 'switches', switches: [] },
      { kind: 'pct', seed: 1, depth: 1, steps: 10 },
    ] as Schedule[]) {
      const r = await run(
        [
          { mode: 'spin', n: 0 },
          { mode: 'set', n: 0 },
        ],
        schedule,
      );
      expect(Number(r.results[0])).toBeLessThanOrEqual(65);
    }
  });

  it('PCT runs the highest-priority thread, and its draws are the same for one seed', async () => {
    const threads: ScheduledInput[] = [
      { mode: 'unsafe', n: 4 },
      { mode: 'unsafe', n: 4 },
    ];
    const a = await run(threads, { kind: 'pct', seed: 9, depth: 2, steps: 16 });
    const b = await run(threads, { kind: 'pct', seed: 9, depth: 2, steps: 16 });
    expect(trace(b.history)).toEqual(trace(a.history));
    expect(a.schedule!.switches.length).toBeGreaterThanOrEqual(1); // at least the switch when the first thread ends
  });

  it.each([
    ['an unknown kind', { kind: 'fair' }, /schedule.kind must be 'switches', 'random' or 'pct'/],
    ['a switch to a thread that is not there', { kind: 'switches', switches: [[0, 5]] }, /switches\[0\] must be \[after, to\].*\[0, 1\]/],
    ['PCT without steps', { kind: 'pct', seed: 1, depth: 2 }, /schedule.steps must be an integer >= 1/],
    ['PCT of depth 0', { kind: 'pct', seed: 1, depth: 0, steps: 5 }, /schedule.depth must be an integer >= 1/],
  ])('%s → InvalidArgumentError', async (_name, schedule, message) => {
    expectCode(
      await rejected(
        run(
          [
            { mode: 'unsafe', n: 1 },
            { mode: 'unsafe', n: 1 },
          ],
          schedule as never,
        ),
      ),
      ErrorCode.INVALID_ARG,
      message,
    );
  });

  it('fast-check shrinks a failing schedule to the preemption that causes it, and the shrunk schedule replays the failure', async () => {
    const threads: ScheduledInput[] = [
      { mode: 'unsafe', n: 3 },
      { mode: 'unsafe', n: 3 },
    ];
    const details = await fc.check(
      fc.asyncProperty(switchesArb(2), async (schedule) => {
        const r = await run(threads, schedule);
        return r.shared.words[0] === 6;
      }),
      { numRuns: 200, seed: 42 },
    );
    expect(details.failed).toBe(true);
    const [shrunk] = details.counterexample! as [Schedule & { kind: 'switches' }];
    // A lost update needs one thread preempted between its load and its store, and the other to store meanwhile.
    expect(shrunk.switches.length).toBeLessThanOrEqual(2);
    for (let i = 0; i < 3; i++) expect((await run(threads, shrunk)).shared.words[0]).toBeLessThan(6);
  });
});
