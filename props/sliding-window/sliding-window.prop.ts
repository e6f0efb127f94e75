/**
 * The exact sliding window's bound, on real threads with random yields at
 * every seam step and a shared ManualClock that the threads move on: for
 * each key, no half-open window of `windowMs` holds more than `limit`
 * accepted requests (counting costs), however the threads interleave;
 * and the same when a thread is killed at a random step (possibly holding a
 * key's lock mid-write: the next holder repairs the ring, and nobody hangs).
 *
 * Meta-test: a fixed-window limiter (props/sliding-window/fixed-window.ts: atomic,
 * but the fixed-window algorithm) must let a burst through at a window edge.
 *
 * Replay a failure: SABRE_SEED=<seed> SABRE_PATH=<path> npx vitest run props/sliding-window/sliding-window.prop.ts
 * Long mode: SABRE_SOAK=1.
 */
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { fc, it, test } from '@fast-check/vitest';
import { ManualClock } from '../../src/clock.js';
import { SlidingWindow } from '../../src/limit/sliding-window.js';
import { closeThreads, propertyParameters, runThreads, warmThreads, type YieldSettings } from '../../src/testing/index.js';
import { perThread, seedArb, yieldsArb } from '../arbitraries.js';
import { ENTRY, LOG_ENTRIES, MAX_KEYS, WINDOW_MS, type WindowInput, type WindowShared } from './program.js';

const program = new URL('./program.ts', import.meta.url);
type Kind = WindowShared['kind'];
/** Seam steps of one decision, about (a lock, a few loads, the clock, an unlock, the log): to spread kill steps over a run. */
const STEPS_PER_OP = 12;
interface Kill {
  readonly thread: number;
  readonly atStep: number;
}

const caseArb = (minOps: number, maxOps = 40, threads?: fc.Arbitrary<number>) =>
  fc.record({ limit: fc.integer({ min: 1, max: 4 }), keys: fc.integer({ min: 1, max: 2 }) }).chain(({ limit, keys }) =>
    perThread(
      fc.record({
        ops: fc.integer({ min: minOps, max: maxOps }),
        keys: fc.constant(keys),
        maxCost: fc.integer({ min: 1, max: Math.min(2, limit) }),
        advance: fc.noBias(fc.integer({ min: 0, max: 50 })).map((p) => p / 100),
      }),
      threads,
    ).map((inputs) => ({ limit, inputs })),
  );

const withKill = caseArb(5).chain((c) =>
  fc
    .noBias(fc.integer({ min: 0, max: c.inputs.length - 1 }))
    .chain((thread) =>
      fc.noBias(fc.integer({ min: 1, max: c.inputs[thread]!.ops * STEPS_PER_OP })).map((atStep) => ({ ...c, kill: { thread, atStep } })),
    ),
);

async function accepted(
  kind: Kind,
  limit: number,
  inputs: WindowInput[],
  seed: number,
  yields: YieldSettings,
  kill?: Kill,
): Promise<Map<number, number[]>> {
  const { shared } = await runThreads<WindowShared, WindowInput>({
    threads: inputs,
    program,
    setup: () => {
      const clock = new ManualClock({ startMs: 0 });
      return {
        kind,
        limit,
        window: new SlidingWindow({ limit, windowMs: WINDOW_MS, mode: 'exact', capacity: MAX_KEYS, maxKeyBytes: 8, clock }).handle,
        twinWords: new BigInt64Array(new SharedArrayBuffer(8 * MAX_KEYS)),
        clock: clock.handle,
        log: new Float64Array(new SharedArrayBuffer(8 * ENTRY * LOG_ENTRIES)),
        count: new Int32Array(new SharedArrayBuffer(4)),
      };
    },
    seed,
    yields,
    ...(kill !== undefined ? { kill } : {}),
    timeoutMs: 8000,
  });
  const byKey = new Map<number, number[]>();
  const n = Math.min(Atomics.load(shared.count, 0), LOG_ENTRIES);
  for (let i = 0; i < n; i++) {
    const key = shared.log[ENTRY * i]!,
      ns = Math.round(shared.log[ENTRY * i + 1]! * 1e6);
    let times = byKey.get(key);
    if (times === undefined) byKey.set(key, (times = []));
    for (let c = 0; c < shared.log[ENTRY * i + 2]!; c++) times.push(ns); // cost 0: an entry a killed thread never finished
  }
  return byKey;
}

/** For each key: the (i + limit)-th accepted request is at least windowMs after the i-th. */
function expectAtMostLimit(byKey: Map<number, number[]>, limit: number): void {
  for (const [key, times] of byKey) {
    times.sort((a, b) => a - b);
    for (let i = 0; i + limit < times.length; i++) {
      if (times[i + limit]! - times[i]! < WINDOW_MS * 1e6) {
        expect.fail(
          `key k${key}: ${limit + 1} requests in [${times[i]! / 1e6}, ${times[i + limit]! / 1e6}] ms, within one ${WINDOW_MS} ms window (limit ${limit})`,
        );
      }
    }
  }
}

const body = (kind: Kind) => async (seed: number, c: { limit: number; inputs: WindowInput[]; kill?: Kill }, yields: YieldSettings) =>
  expectAtMostLimit(await accepted(kind, c.limit, c.inputs, seed, yields, c.kill), c.limit);

/** Long enough for the soak mode's runs of the killing properties. */
const SOAK_TIMEOUT_MS = 600_000;

beforeAll(() => warmThreads(4));
afterAll(closeThreads);

describe('sliding window (exact)', () => {
  test.prop([seedArb, caseArb(1), yieldsArb()], propertyParameters({ numRuns: 20, soakRuns: 400 }))(
    'never more than `limit` per key in any window of windowMs',
    (seed, c, yields) => body('window')(seed, c, yields),
  );

  test.prop([seedArb, withKill, yieldsArb()], propertyParameters({ numRuns: 10, soakRuns: 200 }))(
    'a thread killed at a random step: no hang, and still never more than `limit` in a window',
    (seed, c, yields) => body('window')(seed, c, yields),
    SOAK_TIMEOUT_MS,
  );

  // Expected detection: nearly every run: the clock crosses many window
  // edges, and a full window just before an edge is followed by requests
  // just after it. Measured: 39 of 40 runs; a miss in 20 runs is about 1e-32.
  it('meta: a fixed-window limiter lets a burst through at a window edge', async () => {
    const details = await fc.check(fc.asyncProperty(seedArb, caseArb(80, 160), yieldsArb(), body('fixed-window')), {
      numRuns: 20,
      endOnFailure: true,
    });
    expect(details.failed).toBe(true);
  });
});
