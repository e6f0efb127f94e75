/**
 * Invariant: SharedHashTable is linearizable against a sequential map, and no
 * read sees a torn value, for any interleaving of real threads running get,
 * has, set, delete, setIfAbsent and compareAndSet on a few shared keys, with
 * random yields at every seam step; in a one-segment table and in a
 * segmented one. And a thread killed at a random seam step (mid-write
 * included) never deadlocks the others, never leaves a torn or half-made
 * entry, and its unfinished operation took effect whole or not at all: the
 * history with that operation pending is still linearizable, and its heap
 * leaks nothing: once every key is deleted, no page is in use. Values come
 * in three sizes (three size classes, one a chain of pages), so writes take
 * and give back heap blocks and pages all the time.
 *
 * Meta-tests: the same body against a table whose conditional writes are a
 * read followed by a separate write (props/table-linearizable/check-then-act-table.ts)
 * must fail the linearizability check; the owner-death body against a table
 * whose segment locks do not recover from a dead holder
 * (props/table-linearizable/no-recovery-table.ts) must hang and hit the timeout; the
 * owner-death body against a table whose repair skips the heap
 * (props/table-linearizable/no-heap-repair-table.ts) must leak pages.
 *
 * Replay a failure: SABRE_SEED=<seed> SABRE_PATH=<path> npx vitest run props/table-linearizable/table-linearizable.prop.ts
 * Long mode: SABRE_SOAK=1.
 */
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { fc, it, test } from '@fast-check/vitest';
import { SharedHashTable } from '../../src/table/shared-hash-table.js';
import { openNoHeapRepairTable } from './no-heap-repair-table.js';
import { checkLinearizable, closeThreads, mapModel, propertyParameters, runThreads, warmThreads } from '../../src/testing/index.js';
import { perThread, seedArb, switchesArb, yieldsArb, perturbed, type Perturbation } from '../arbitraries.js';
import { TABLE_WORDS, TORN, isWhole, parseRecord, type TableInput, type TableRecord, type TableShared } from './program.js';
import { TABLE_RECORD_BYTES } from './check-then-act-table.js';

const program = new URL('./program.ts', import.meta.url);
/** Repair after a death waits one liveness slice (20 ms) per waiter; 6 s is a hang. */
const TIMEOUT_MS = 6000;
/** Seam steps an operation takes, about (a lock CAS, SEQ, index and slot words): to spread kill steps over a run. */
const STEPS_PER_OP = 12;
/** The meta-test kills within the first third or so of the victim's run, while the survivors still have writes to make. */
const EARLY_STEPS_PER_OP = 4;

type Kind = TableShared['target']['kind'];

interface Case {
  readonly capacity: number;
  readonly codec: 'json' | 'string';
  readonly inputs: TableInput[];
}

const caseArb = (minOps: number, maxOps = 60) =>
  fc.record({
    capacity: fc.constantFrom(16, 4096),
    codec: fc.constantFrom('json' as const, 'string' as const),
    inputs: perThread(fc.record({ ops: fc.integer({ min: minOps, max: maxOps }), keys: fc.integer({ min: 1, max: 4 }) })),
  });

/** A victim (which only writes, so a kill lands in a write as often as can be) and a kill step over its run. */
const killCaseArb = (minOps: number, stepsPerOp = STEPS_PER_OP) =>
  caseArb(minOps).chain((c) =>
    fc.noBias(fc.integer({ min: 0, max: c.inputs.length - 1 })).chain((thread) =>
      fc.noBias(fc.integer({ min: 1, max: c.inputs[thread]!.ops * stepsPerOp })).map((atStep) => ({
        c: { ...c, inputs: c.inputs.map((input, t) => (t === thread ? { ...input, writesOnly: true } : input)) },
        kill: { thread, atStep },
      })),
    ),
  );

const linearizable =
  (kind: Kind, withKill: boolean, onKilled?: (thread: number | undefined) => void) =>
  async (seed: number, c: Case, perturb: Perturbation, kill?: { thread: number; atStep: number }) => {
    const { shared, history, killed } = await runThreads<TableShared, TableInput>({
      threads: c.inputs,
      program,
      setup: () => ({
        target: {
          kind,
          table: new SharedHashTable<TableRecord>({
            capacity: c.capacity,
            maxKeyBytes: 4,
            maxValueBytes: TABLE_RECORD_BYTES,
            codec: kind === 'table' ? c.codec : 'json',
          }).handle,
        },
        words: new Int32Array(new SharedArrayBuffer(4 * TABLE_WORDS)),
      }),
      seed,
      ...perturbed(perturb),
      ...(withKill && kill !== undefined ? { kill } : {}),
      timeoutMs: TIMEOUT_MS,
    });
    onKilled?.(killed);
    expect(Atomics.load(shared.words, TORN)).toBe(0);
    const verdict = checkLinearizable(history, mapModel(), { timeoutMs: 20_000 });
    expect(verdict.result, verdict.summary).toBe('ok');
    // Whatever a dead writer left, the table is whole: every entry reads back
    // untorn, size agrees with the entries, and it takes writes.
    const table =
      kind === 'no-heap-repair'
        ? openNoHeapRepairTable<TableRecord | string>(shared.target.table)
        : SharedHashTable.from<TableRecord | string>(shared.target.table);
    const entries = [...table.entries()];
    expect(table.size).toBe(entries.length);
    for (const [, value] of entries) expect(isWhole(typeof value === 'string' ? parseRecord(value) : value)).toBe(true);
    expect(table.has('end')).toBe(false);
    table.set('end', entries[0]?.[1] ?? 'x');
    expect(table.has('end')).toBe(true);
    // And its heap leaked nothing: with every key gone, no page is in use.
    for (const [key] of [...table.entries()]) table.delete(key);
    table.trimHeap();
    expect(table.bytesInUse, 'heap bytes still in use with no entry left').toBe(0);
  };

beforeAll(() => warmThreads(4));
afterAll(closeThreads);

describe('shared hash table: linearizable against a map', () => {
  test.prop([seedArb, caseArb(1), yieldsArb()], propertyParameters({ numRuns: 25, soakRuns: 500 }))(
    'every history of get/has/set/delete/setIfAbsent/compareAndSet is linearizable; no torn reads',
    (seed, c, yields) => linearizable('table', false)(seed, c, yields),
  );

  // Controlled schedules: one thread at a time, switches drawn (and shrunk) by fast-check at the seam's steps.
  test.prop(
    [
      seedArb,
      caseArb(1, 16).chain((c) => switchesArb(c.inputs.length, { maxSwitches: 24, maxAfter: 30 }).map((schedule) => ({ c, schedule }))),
    ],
    propertyParameters({ numRuns: 25, soakRuns: 500, shrink: true, file: import.meta.url }),
  )('under controlled schedules: linearizable, no torn reads', (seed, { c, schedule }) =>
    linearizable('table', false)(seed, c, { schedule }),
  );

  test.prop([seedArb, killCaseArb(5), yieldsArb()], propertyParameters({ numRuns: 15, soakRuns: 300 }))(
    'a thread killed at a random step: no deadlock, no torn entry, still linearizable',
    (seed, { c, kill }, yields) => linearizable('table', true)(seed, c, yields, kill),
  );

  // Expected detection: most runs fail. The victim only writes, and holds a
  // segment lock for about two thirds of its seam steps; the survivors then
  // need that lock (writers always, readers when the kill left the segment
  // mid-write). One segment (capacity 16), so every survivor needs the lock
  // the victim died holding, and a kill early in the victim's run, while the
  // survivors still have writes to make (a full `npm test` once saw no hang
  // in 10 runs of the earlier draw: 8 segments, kills anywhere).
  // Measured: 7 of 12 runs (3 of 12 with kills anywhere). 30 runs, stopping
  // at the first failure (a failing run costs the 6 s timeout): a miss is
  // about 5e-12 (1e-5 at the 95% lower bound of the rate, 0.32).
  // Exhaustive: one writer runs a fixed script (an insert, then replaces that
  // move the entry between size classes and a page chain, so blocks and
  // pages are taken and given back) and is killed before its k-th seam step,
  // for every k; the main thread then repairs the segment (its next write) and
  // the final checks run. Without yields the steps are the same every run.
  const script: readonly number[] = [1, 2, 0];
  const killedAtEveryStep = async (kind: Kind, firstOnly = false): Promise<number[]> => {
    const leaky: number[] = [];
    for (let k = 1; !firstOnly || leaky.length === 0; k++) {
      try {
        const { killed } = await runKilled(kind, k);
        if (killed === undefined) return leaky; // k is past the script's last step
      } catch (e) {
        if (kind === 'table') throw new Error(`killed before step ${k}: ${String(e)}`, { cause: e });
        leaky.push(k);
      }
    }
    return leaky;
  };
  const runKilled = async (kind: Kind, atStep: number) => {
    const c: Case = { capacity: 16, codec: 'json', inputs: [{ ops: script.length, keys: 1, sets: script }] };
    let killed: number | undefined;
    await linearizable(kind, true, (k) => (killed = k))(1, c, { probability: 0 }, { thread: 0, atStep });
    return { killed };
  };

  it('a writer killed before any step of a write leaves its heap whole: nothing leaked, nothing torn', async () => {
    expect(await killedAtEveryStep('table')).toEqual([]);
  }, 120_000);

  // Expected detection: certain (the steps are the same every run). The
  // steps between taking a block and marking its slot LIVE, and between
  // marking a replacement LIVE and freeing the old block, leak a block
  // without the heap's rebuild: measured, 18 of the script's steps (the
  // first is step 16); the meta-test stops at the first.
  it('meta: a repair that skips the heap leaks what a writer killed mid-write held', async () => {
    expect(await killedAtEveryStep('no-heap-repair', true)).toHaveLength(1);
  }, 120_000);

  it('meta: segment locks without owner recovery hang the survivors', async () => {
    const details = await fc.check(
      fc.asyncProperty(
        seedArb,
        killCaseArb(20, EARLY_STEPS_PER_OP).map(({ c, kill }) => ({ c: { ...c, capacity: 16 }, kill })),
        yieldsArb(),
        (seed, { c, kill }, yields) => linearizable('no-recovery', true)(seed, c, yields, kill),
      ),
      { numRuns: 30, endOnFailure: true },
    );
    expect(details.failed).toBe(true);
  }, 120_000);

  // Expected detection: most runs fail. Two threads need only run
  // setIfAbsent (or compareAndSet, or delete) on one key with a yield
  // between the twin's read and its write. Measured: 10 of 20 runs; 36 runs,
  // stopping at the first failure: a miss is about 1e-11 (3e-6 at the 95%
  // lower bound of the rate, 0.30).
  it('meta: conditional writes made of a read and a separate write are not linearizable', async () => {
    const details = await fc.check(
      fc.asyncProperty(
        seedArb,
        caseArb(30).map((c) => ({ ...c, inputs: c.inputs.map((i) => ({ ...i, keys: 1 })) })),
        yieldsArb(0.1),
        (seed, c, yields) => linearizable('check-then-act', false)(seed, c, yields),
      ),
      { numRuns: 36, endOnFailure: true },
    );
    expect(details.failed).toBe(true);
  });

  // Expected detection under controlled schedules: a switch between the
  // twin's read and its write, and a conflicting write before it resumes.
  // Seeded and one thread at a time, so the outcome is fixed: measured, the
  // 7th run fails, and it shrinks to one switch ([0, 1]: thread 1 first;
  // the schedule's 64-step handoff then falls between a read and its write).
  it('meta: under controlled schedules too, and the failure shrinks to a few switches', async () => {
    const details = await fc.check(
      fc.asyncProperty(
        seedArb,
        caseArb(4, 12).chain((c) =>
          switchesArb(c.inputs.length, { maxSwitches: 24, maxAfter: 30 }).map((schedule) => ({
            c: { ...c, inputs: c.inputs.map((i) => ({ ...i, keys: 1 })) },
            schedule,
          })),
        ),
        (seed, { c, schedule }) => linearizable('check-then-act', false)(seed, c, { schedule }),
      ),
      { numRuns: 100, seed: 11 },
    );
    expect(details.failed).toBe(true);
    expect(details.numRuns).toBeLessThanOrEqual(30);
    const [, shrunk] = details.counterexample!;
    expect(shrunk.schedule.kind === 'switches' && shrunk.schedule.switches.length).toBeLessThanOrEqual(4);
  });
});
