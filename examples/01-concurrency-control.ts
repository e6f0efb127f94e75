/**
 * 01: concurrency control, shown on real threads.
 *
 * Part 1. Four Piscina worker threads increment one shared counter, each
 * strategy in turn, and a table compares what was expected with what was
 * observed:
 *   (a) a plain read-modify-write of an Int32Array element;
 *   (b) the classic async bug: `const current = counter; await processData(); counter = current + 1`;
 *   (c) `AtomicCounter`: one atomic add per increment;
 *   (d) `Mutex.runExclusive` around the very same read-await-write as (b);
 *   (e) `VersionedCell`: optimistic updates, conflicts retried and counted;
 *   (f) `StripedCounter`: one padded stripe per thread, summed at the end.
 *
 * Part 2. A worker holding the Mutex is terminated mid-task. The threads
 * waiting for the lock (the main thread in `lockAsync`, a worker blocked in
 * `lock()`) get `OwnerDiedError` instead of hanging; the main thread clears
 * the poison and the work goes on.
 *
 * Part 3. A Semaphore shared by all threads keeps at most its permits' worth
 * of them inside a section at once, where no limit lets all of them in.
 *
 * Part 4. RWLock vs Mutex on read-heavy data: the worker threads read a
 * shared price table (about 1 write in 100 ops) for a fixed window, once under
 * a Mutex and once under an RWLock. Under the RWLock reads share the lock, so
 * more of them get done; under both, every read sees one generation of the
 * table, never half of a write (without a lock, some reads do).
 *
 * Part 5. Leases with fencing tokens, the pessimistic side: worker A leases
 * an account with a short TTL, reads the balance and stalls past the TTL (a
 * stand-in for a GC pause). Its lease lapses; worker B, waiting for it, gets
 * the account with a larger fencing token, writes and releases. Then A wakes
 * and writes its stale update with its old token: the `FencedResource`
 * refuses it (`ConflictError`) and A's `release()` throws `NotOwnerError`.
 * The same schedule against a plain shared cell shows the lost update the
 * fence prevents: A's late write overwrites B's.
 *
 * The example checks its own results and exits non-zero if a safe strategy
 * lost an update, a waiter did not see the owner's death, the Semaphore
 * let more threads in than it has permits, a locked read was torn, or a
 * stale lease holder's write got past the fence.
 * Throughput is reported, not checked: it depends on the machine.
 *
 *   npx tsx examples/01-concurrency-control.ts [--quick]
 */
import { availableParallelism } from 'node:os';
import { threadId } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { AtomicCounter, LeaseLock, Mutex, RWLock, Semaphore, StripedCounter, VersionedCell, isSabreError } from '../src/index.js';
import { LIVENESS_SLICE_MS } from '../src/threads/park.js';
import { BOOTSTRAP, tsTask } from '../workers/ts-task.js';
import { START_WORDS, type CounterResult, type CounterTask } from '../workers/tasks/counter.js';
import { HOLDER, SIGNAL_WORDS, WAITING, type OwnerDeathTask, type WaitOutcome } from '../workers/tasks/owner-death.js';
import { MAX_INSIDE, WORDS as SEMAPHORE_WORDS, type SemaphoreTask } from '../workers/tasks/semaphore.js';
import {
  START_WORDS as READ_HEAVY_START_WORDS,
  type ReadHeavyResult,
  type ReadHeavyTask,
  type TableLock,
} from '../workers/tasks/rwlock.js';
import { FLAG_WORDS as LEASE_FLAG_WORDS, type AccountStore, type LeaseResult, type LeaseTask } from '../workers/tasks/lease.js';
import { printTable, type Row } from './table.js';

const quick = process.argv.includes('--quick');
const THREADS = 4;
/** How long a waiter may wait for the dead owner's lock before we call it hung. */
const HANG_MS = 5_000;
/** DESIGN principle 7: recovery within 100 ms after the owner thread stopped. */
const RECOVERY_GOAL_MS = 100;

// The pool's tasks, TypeScript modules run through one bootstrap (see workers/ts-task.ts).
const counterTask = tsTask<CounterTask>(new URL('../workers/tasks/counter.ts', import.meta.url));
const ownerDeathTask = tsTask<OwnerDeathTask>(new URL('../workers/tasks/owner-death.ts', import.meta.url));
const semaphoreTask = tsTask<SemaphoreTask>(new URL('../workers/tasks/semaphore.ts', import.meta.url));
const rwlockTask = tsTask<ReadHeavyTask>(new URL('../workers/tasks/rwlock.ts', import.meta.url));
const leaseTask = tsTask<LeaseTask>(new URL('../workers/tasks/lease.ts', import.meta.url));

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const int32 = (words = 1): Int32Array => new Int32Array(new SharedArrayBuffer(4 * words));

const failures: string[] = [];
function check(ok: boolean, what: string): void {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
}

const pool = new Piscina({ filename: BOOTSTRAP, minThreads: THREADS, maxThreads: THREADS, atomics: 'async' });

// ---- Part 1: one counter, six strategies --------------------------------

interface Strategy {
  readonly label: string;
  /** Safe strategies must lose nothing; unsafe ones are expected to. */
  readonly safe: boolean;
  /** Increments per thread. */
  readonly iterations: number;
  /** Fresh shared state for one run: the task each thread runs and how to read the total. */
  setup(): { task: (base: { iterations: number; start: Int32Array; parties: number }) => CounterTask; observe: () => number };
}

const scale = quick ? 0.1 : 1;
const strategies: Strategy[] = [
  {
    label: '(a) plain read-modify-write',
    safe: false,
    iterations: Math.round(2_000_000 * scale),
    setup() {
      const counter = int32();
      return { task: (base) => ({ ...base, strategy: 'plain', counter }) satisfies CounterTask, observe: () => counter[0]! };
    },
  },
  {
    label: '(b) read, await, write',
    safe: false,
    iterations: Math.round(5_000 * scale),
    setup() {
      const counter = int32();
      return { task: (base) => ({ ...base, strategy: 'await-unsafe', counter }) satisfies CounterTask, observe: () => counter[0]! };
    },
  },
  {
    label: '(c) AtomicCounter.increment()',
    safe: true,
    iterations: Math.round(1_000_000 * scale),
    setup() {
      const counter = new AtomicCounter();
      return {
        task: (base) => ({ ...base, strategy: 'atomic', counter: counter.handle }) satisfies CounterTask,
        observe: () => counter.get(),
      };
    },
  },
  {
    label: '(d) Mutex.runExclusive(read, await, write)',
    safe: true,
    iterations: Math.round(2_000 * scale),
    setup() {
      const counter = int32();
      const mutex = new Mutex();
      return {
        task: (base) => ({ ...base, strategy: 'mutex', counter, mutex: mutex.handle }) satisfies CounterTask,
        observe: () => counter[0]!,
      };
    },
  },
  {
    label: '(e) VersionedCell.update(v => v + 1)',
    safe: true,
    iterations: Math.round(20_000 * scale),
    setup() {
      const cell = new VersionedCell<number>({ maxBytes: 32, codec: 'json', initial: 0 });
      return {
        task: (base) => ({ ...base, strategy: 'versioned', cell: cell.handle }) satisfies CounterTask,
        observe: () => cell.read().value,
      };
    },
  },
  {
    label: '(f) StripedCounter.increment()',
    safe: true,
    iterations: Math.round(1_000_000 * scale),
    setup() {
      const counter = new StripedCounter();
      return {
        task: (base) => ({ ...base, strategy: 'striped', counter: counter.handle }) satisfies CounterTask,
        observe: () => counter.sum(),
      };
    },
  },
];

interface RaceRow extends Row {
  strategy: string;
  threads: number;
  expected: number;
  observed: number;
  'lost updates': number;
  conflicts: number;
  'ops/s': number;
}

async function race(strategy: Strategy, iterations: number): Promise<RaceRow> {
  const { task, observe } = strategy.setup();
  const start = int32(START_WORDS);
  const base = { iterations, start, parties: THREADS };
  const results: CounterResult[] = await Promise.all(
    Array.from({ length: THREADS }, () => pool.run(counterTask(task(base))) as Promise<CounterResult>),
  );
  const expected = THREADS * iterations;
  const observed = observe();
  const elapsedMs = Math.max(...results.map((r) => r.finishedMs)) - Math.min(...results.map((r) => r.startedMs));
  return {
    strategy: strategy.label,
    threads: new Set(results.map((r) => r.threadId)).size,
    expected,
    observed,
    'lost updates': expected - observed,
    conflicts: results.reduce((n, r) => n + r.conflicts, 0),
    'ops/s': Math.round((expected / Math.max(elapsedMs, 0.001)) * 1000),
  };
}

console.log(`Part 1: ${THREADS} worker threads increment one shared counter${quick ? ' (--quick)' : ''}\n`);
const rows: RaceRow[] = [];
for (const strategy of strategies) {
  let row = await race(strategy, strategy.iterations);
  // Lost updates need overlap, and a loaded machine can run the threads one
  // after another; give an unsafe strategy a longer run before calling it lucky.
  for (let more = 4; !strategy.safe && row['lost updates'] === 0 && more <= 16; more *= 4) {
    row = await race(strategy, strategy.iterations * more);
  }
  rows.push(row);
}
printTable(rows);
console.log('lost updates = expected - observed: increments that another thread overwrote.');
console.log('conflicts = optimistic writes refused because the version moved on, then retried.\n');

for (const row of rows) {
  const strategy = strategies.find((s) => s.label === row.strategy)!;
  if (strategy.safe) check(row['lost updates'] === 0, `${row.strategy}: no lost updates (${row.observed} of ${row.expected})`);
  else if (row['lost updates'] === 0)
    console.log(`note ${row.strategy}: no update was lost this time (the threads did not overlap); it is still unsafe`);
}
check(
  rows.every((r) => r.threads > 1),
  `every strategy ran on more than one thread (${rows.map((r) => r.threads).join(', ')})`,
);

// ---- Part 2: the lock holder dies ----------------------------------------

console.log(`\nPart 2: a worker holding the Mutex is terminated\n`);

const mutex = new Mutex();
const signals = int32(SIGNAL_WORDS);
const runOwnerTask = <R>(task: OwnerDeathTask, signal?: AbortSignal): Promise<R> =>
  pool.run(ownerDeathTask(task), signal ? { signal } : {});

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = nowMs() + HANG_MS;
  while (!condition()) {
    if (nowMs() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

// 1. A worker takes the lock and hangs holding it.
const abort = new AbortController();
const held = runOwnerTask({ role: 'hold', mutex: mutex.handle, signals }, abort.signal).then(
  () => 'returned',
  (e: unknown) => (e as Error).name,
);
await until(() => Atomics.load(signals, HOLDER) !== 0, 'the holder has the lock');
const holderId = Atomics.load(signals, HOLDER) - 1;
const holderWorker = pool.threads.find((w) => w.threadId === holderId);
let exitedAtMs = NaN;
holderWorker?.once('exit', () => (exitedAtMs = nowMs()));

// 2. Two threads wait for it: a worker blocked in lock(), the main thread in lockAsync().
const workerWait = runOwnerTask<WaitOutcome>({ role: 'wait', mutex: mutex.handle, signals, timeoutMs: HANG_MS });
await until(() => Atomics.load(signals, WAITING) === 1, 'the waiting worker is about to lock');
const mainWait = mutex.lockAsync({ timeoutMs: HANG_MS }).then(
  (): WaitOutcome => ({ threadId, outcome: 'acquired', atMs: nowMs() }),
  (e: unknown): WaitOutcome => {
    if (!isSabreError(e)) throw e;
    return { threadId, outcome: e.code, atMs: nowMs() };
  },
);
await new Promise((resolve) => setTimeout(resolve, 50)); // both are parked now
const lockedWhileWaiting = mutex.isLocked && mutex.ownerThreadId === holderId;

// 3. The holder's task is aborted: Piscina terminates its thread.
const terminatedAtMs = nowMs();
abort.abort();
const [mainOutcome, workerOutcome, heldEnd] = await Promise.all([mainWait, workerWait, held]);
await until(() => !Number.isNaN(exitedAtMs) || holderWorker === undefined, "the holder's 'exit' event");
const poisoned = mutex.isPoisoned;

// 4. The main thread repairs what the lock protects (nothing here), clears the poison, and goes on.
mutex.clearPoison();
const relocked = mutex.tryLock();
if (relocked) mutex.unlock();
const counter = int32();
const afterIterations = quick ? 500 : 5_000;
await Promise.all(
  Array.from({ length: THREADS }, () => runOwnerTask({ role: 'increment', mutex: mutex.handle, counter, iterations: afterIterations })),
);

const since = (t: number): number => Math.round((t - terminatedAtMs) * 10) / 10;
printTable([
  {
    step: '1. worker takes the lock, hangs holding it',
    thread: holderId,
    result: lockedWhileWaiting ? 'held' : 'not held?',
    'ms after terminate()': null,
  },
  { step: '2. worker blocks in lock()', thread: workerOutcome.threadId, result: 'waiting', 'ms after terminate()': null },
  { step: '2. main thread awaits lockAsync()', thread: threadId, result: 'waiting', 'ms after terminate()': null },
  { step: '3. holder task aborted: thread terminated', thread: holderId, result: `run() rejected: ${heldEnd}`, 'ms after terminate()': 0 },
  {
    step: "   holder's Worker 'exit' event",
    thread: holderId,
    result: 'exited',
    'ms after terminate()': Number.isNaN(exitedAtMs) ? null : since(exitedAtMs),
  },
  {
    step: '   blocked worker: lock() threw',
    thread: workerOutcome.threadId,
    result: workerOutcome.outcome,
    'ms after terminate()': since(workerOutcome.atMs),
  },
  {
    step: '   main thread: lockAsync() rejected',
    thread: threadId,
    result: mainOutcome.outcome,
    'ms after terminate()': since(mainOutcome.atMs),
  },
  { step: '4. main: clearPoison(), tryLock()', thread: threadId, result: relocked ? 'acquired' : 'refused', 'ms after terminate()': null },
  {
    step: `   ${THREADS} workers x ${afterIterations} runExclusiveSync increments`,
    thread: null,
    result: `${counter[0]} of ${THREADS * afterIterations}`,
    'ms after terminate()': null,
  },
]);
const slowest = Math.max(mainOutcome.atMs, workerOutcome.atMs);
console.log(
  `The waiters learned of the death ${since(slowest)} ms after terminate()` +
    (Number.isNaN(exitedAtMs) ? '' : ` (${Math.round((slowest - exitedAtMs) * 10) / 10} ms after the 'exit' event)`) +
    `; waiters re-check the owner every ${LIVENESS_SLICE_MS} ms, goal <= ${RECOVERY_GOAL_MS} ms after the thread stops.\n`,
);

check(lockedWhileWaiting, `the holder (thread ${holderId}) held the lock while the others waited`);
check(workerOutcome.outcome === 'ERR_OWNER_DIED', `the blocked worker got OwnerDiedError (got ${workerOutcome.outcome})`);
check(mainOutcome.outcome === 'ERR_OWNER_DIED', `the main thread got OwnerDiedError (got ${mainOutcome.outcome})`);
check(poisoned, 'the mutex was poisoned until clearPoison()');
check(relocked && !mutex.isPoisoned, 'after clearPoison() the mutex locks normally');
check(counter[0] === THREADS * afterIterations, `no lost updates after recovery (${counter[0]} of ${THREADS * afterIterations})`);

// ---- Part 3: a Semaphore shared by every thread ---------------------------

const PERMITS = 2;
console.log(`\nPart 3: ${THREADS} worker threads share a resource that only ${PERMITS} may use at once\n`);
const jobs = quick ? 5 : 20,
  workMs = 2;
async function occupancy(semaphore: Semaphore | null): Promise<{ max: number; ms: number }> {
  const words = int32(SEMAPHORE_WORDS);
  const task: SemaphoreTask = { semaphore: semaphore?.handle ?? null, words, jobs, workMs };
  const started = nowMs();
  await Promise.all(Array.from({ length: THREADS }, () => pool.run(semaphoreTask(task))));
  return { max: Atomics.load(words, MAX_INSIDE), ms: Math.round(nowMs() - started) };
}
// Warm-up: each worker imports the task module once, outside the timings.
await Promise.all(
  Array.from({ length: THREADS }, () => pool.run(semaphoreTask({ semaphore: null, words: int32(SEMAPHORE_WORDS), jobs: 0, workMs }))),
);
const unlimited = await occupancy(null);
const semaphore = new Semaphore(PERMITS);
const limited = await occupancy(semaphore);
printTable([
  { strategy: 'no limit', threads: THREADS, permits: null, 'most inside at once': unlimited.max, ms: unlimited.ms },
  {
    strategy: `sabre Semaphore(${PERMITS}), shared`,
    threads: THREADS,
    permits: PERMITS,
    'most inside at once': limited.max,
    ms: limited.ms,
  },
]);
console.log(
  `Each thread ran ${jobs} jobs of ${workMs} ms holding the resource. A per-thread semaphore would allow ${PERMITS} per thread: ${PERMITS * THREADS} at once.\n`,
);
check(
  limited.max >= 1 && limited.max <= PERMITS,
  `the shared Semaphore kept at most ${PERMITS} threads inside (most at once: ${limited.max})`,
);
check(semaphore.available === PERMITS, `every permit came back (${semaphore.available} of ${PERMITS} available)`);

// ---- Part 4: RWLock vs Mutex on read-heavy data ---------------------------

async function readHeavy(): Promise<void> {
  /** Entries of the price table: a read (sum and check them all) takes a few microseconds. */
  const PRICES = 2_048;
  const WRITE_EVERY = 100;
  const windowMs = quick ? 100 : 300;
  console.log(
    `\nPart 4: ${THREADS} worker threads read a shared table of ${PRICES} prices for ${windowMs} ms, 1 op in ${WRITE_EVERY} a write\n`,
  );

  interface Run {
    readonly reads: number;
    readonly writes: number;
    readonly torn: number;
    readonly ms: number;
    readonly threads: number;
  }
  async function measure(lock: TableLock, ms = windowMs): Promise<Run> {
    const prices = new Float64Array(new SharedArrayBuffer(8 * PRICES)); // generation 0 everywhere
    const task: ReadHeavyTask = {
      lock,
      prices,
      start: int32(READ_HEAVY_START_WORDS),
      parties: THREADS,
      windowMs: ms,
      writeEvery: WRITE_EVERY,
    };
    const results: ReadHeavyResult[] = await Promise.all(
      Array.from({ length: THREADS }, () => pool.run(rwlockTask(task)) as Promise<ReadHeavyResult>),
    );
    const sum = (f: (r: ReadHeavyResult) => number): number => results.reduce((n, r) => n + f(r), 0);
    const elapsedMs = Math.max(...results.map((r) => r.finishedMs)) - Math.min(...results.map((r) => r.startedMs));
    return {
      reads: sum((r) => r.reads),
      writes: sum((r) => r.writes),
      torn: sum((r) => r.torn),
      ms: Math.max(elapsedMs, 0.001),
      threads: new Set(results.map((r) => r.threadId)).size,
    };
  }

  // Warm-up: each worker imports the task module and compiles the loop outside the timings.
  await measure({ kind: 'none' }, 0);
  const mutexRun = await measure({ kind: 'mutex', handle: new Mutex().handle });
  const rwRun = await measure({ kind: 'rwlock', handle: new RWLock().handle });
  const bareRun = await measure({ kind: 'none' });

  const perSecond = (n: number, run: Run): number => Math.round((n / run.ms) * 1000);
  const mutexReads = perSecond(mutexRun.reads, mutexRun);
  const row = (label: string, run: Run): Row => ({
    lock: label,
    'reads/s': perSecond(run.reads, run),
    'writes/s': perSecond(run.writes, run),
    'reads vs Mutex': `${(perSecond(run.reads, run) / Math.max(mutexReads, 1)).toFixed(2)}x`,
    'torn reads': run.torn,
  });
  printTable([
    row('Mutex (lock for reads and writes)', mutexRun),
    row('RWLock (readLock / writeLock)', rwRun),
    row('none (unsafe)', bareRun),
  ]);
  console.log('A read sums every price and checks they all hold one generation; a write moves them all to the next one.');
  console.log('torn reads = reads that saw two generations: they overlapped a write.');
  const cores = availableParallelism();
  console.log(
    `${THREADS} threads on ${cores} cores: under the RWLock up to ${Math.min(THREADS, cores)} reads run at once, under the Mutex one. ` +
      'Each write waits for the reads inside to leave and holds new ones back: the gap between the RWLock and no lock.\n',
  );

  check(mutexRun.torn === 0, `Mutex: no torn reads (${mutexRun.torn} of ${mutexRun.reads})`);
  check(rwRun.torn === 0, `RWLock: no torn reads (${rwRun.torn} of ${rwRun.reads})`);
  check(mutexRun.writes > 0 && rwRun.writes > 0, `both locks saw writes during the reads (${mutexRun.writes} and ${rwRun.writes})`);
  check(mutexRun.threads > 1 && rwRun.threads > 1, `both runs used more than one thread (${mutexRun.threads} and ${rwRun.threads})`);
  if (bareRun.torn === 0) console.log('note none (unsafe): no read was torn this time (no read overlapped a write); it is still unsafe');
}
await readHeavy();

// ---- Part 5: leases with fencing tokens ----------------------------------

async function leasesWithFencing(): Promise<void> {
  const ACCOUNT = 'account:42';
  const OPENING = 100,
    A_WITHDRAWS = 50,
    B_WITHDRAWS = 30;
  const ttlMs = quick ? 50 : 100;
  const stallMs = 2 * ttlMs;
  console.log(`\nPart 5: leases with fencing tokens: worker A stalls ${stallMs} ms holding a ${ttlMs} ms lease on ${ACCOUNT}\n`);

  /** One run of the schedule: A leases, reads and stalls; B takes over once A's lease lapses; A writes late. */
  async function schedule(store: AccountStore): Promise<{ startedMs: number; a: LeaseResult; b: LeaseResult }> {
    const leases = new LeaseLock({ capacity: 4 });
    const base = { leases: leases.handle, store, resource: ACCOUNT, flags: int32(LEASE_FLAG_WORDS), ttlMs, stallMs, hangMs: HANG_MS };
    const runTask = (task: LeaseTask): Promise<LeaseResult> => pool.run(leaseTask(task));
    const startedMs = nowMs();
    const [a, b] = await Promise.all([
      runTask({ ...base, role: 'A', withdraw: A_WITHDRAWS }),
      runTask({ ...base, role: 'B', withdraw: B_WITHDRAWS }),
    ]);
    return { startedMs, a, b };
  }

  // Warm-up: each worker imports the task module once, outside the timings.
  await Promise.all(Array.from({ length: THREADS }, () => pool.run(leaseTask({ role: 'warm-up' }))));
  const partStartedMs = nowMs();

  // The account behind the fence: written first with token 0, below every lease's.
  const fenced = LeaseLock.guard<number>({ capacity: 1, maxKeyBytes: 16, maxValueBytes: 16, codec: 'json' });
  fenced.write(ACCOUNT, 0, OPENING);
  const { startedMs, a, b } = await schedule({ kind: 'fenced', handle: fenced.handle });
  const final = fenced.read(ACCOUNT);

  // The same schedule against a plain shared cell, which takes every write.
  const cell = int32();
  cell[0] = OPENING;
  const plain = await schedule({ kind: 'plain', cell });
  const unfencedFinal = Atomics.load(cell, 0);
  const partMs = nowMs() - partStartedMs;

  const at = (t: number): number => Math.round((t - startedMs) * 10) / 10;
  const events: Row[] = [
    ...a.events,
    ...b.events,
    { atMs: a.expiresAtMs, worker: '(clock)', event: "A's lease expires (TTL ran out)", token: a.token, result: `${ACCOUNT} is free` },
  ]
    .sort((x, y) => x.atMs - y.atMs)
    .map((e) => ({ ms: at(e.atMs), worker: e.worker, event: e.event, 'fencing token': e.token, result: e.result }));
  printTable(events);
  console.log(`A's write: ${a.writeMessage || 'accepted'}`);
  console.log(`A's release: ${a.releaseMessage || 'released'}`);
  console.log(
    `Final balance behind the fence: ${final?.value} (written with token ${final?.token}): B's update kept, A's refused (A must lease again and re-read).`,
  );
  console.log(
    `Unfenced (same schedule, a plain SharedArrayBuffer cell): A's late write with token ${plain.a.token} was ${plain.a.write === 'written' ? 'accepted' : `refused (${plain.a.write})`}, ` +
      `the balance ended at ${unfencedFinal}: B's update (${plain.b.balanceWritten}) was ${unfencedFinal === plain.b.balanceWritten ? 'kept' : 'lost'}.`,
  );
  console.log(`Both runs took ${Math.round(partMs)} ms.\n`);

  check(a.threadId !== b.threadId, `A and B ran on different threads (${a.threadId} and ${b.threadId})`);
  check(b.token > a.token, `B's fencing token is larger than A's (${b.token} > ${a.token})`);
  check(b.acquiredAtMs >= a.expiresAtMs, `B got the lease only after A's lapsed (${at(b.acquiredAtMs)} ms >= ${at(a.expiresAtMs)} ms)`);
  check(b.write === 'written', `B's write with token ${b.token} was accepted (${b.write})`);
  check(a.write === 'ERR_CONFLICT', `the fence refused A's stale write with token ${a.token} (${a.write})`);
  check(a.release === 'ERR_NOT_OWNER', `A's release of its lapsed lease threw NotOwnerError (${a.release})`);
  check(final?.value === b.balanceWritten && final.token === b.token, `the final balance is B's (${final?.value}, token ${final?.token})`);
  check(
    plain.a.write === 'written' && unfencedFinal === plain.a.balanceWritten,
    `without the fence A's late write overwrote B's (balance ${unfencedFinal})`,
  );
}
await leasesWithFencing();

await pool.destroy();
if (failures.length > 0) {
  console.error(`\n${failures.length} check(s) failed`);
  process.exit(1);
}
console.log('\nall checks passed');
