/**
 * 02: idempotency keys: charge a card once, however often the request comes.
 *
 * A payments endpoint, `POST /charges` with an `Idempotency-Key` header,
 * served by four Piscina worker threads. Clients send each payment more
 * than once (a double click, a timeout and a retry, a load balancer that
 * retries), and the copies land on different threads at the same moment.
 *
 * With one `IdempotencyStore` in shared memory (through `idempotent()`, the
 * HTTP mapping): the first copy charges; a copy that arrives while it runs
 * gets 409 with `Retry-After`; a copy that arrives after it completed gets
 * the same 201 again with `Idempotent-Replayed: true`; the same key sent
 * with another amount (a client bug) gets 422. One worker is terminated in
 * the middle of a request, before its charge: its key answers 409 until
 * its lease lapses, then the client's retry charges, once.
 *
 * The same schedule with a `Map` per thread (what keeping the keys in
 * process memory amounts to once there are several threads): every thread
 * sees only its own requests, and a payment whose copies land on different
 * threads is charged once per thread.
 *
 * The example checks its own results and exits non-zero if, with the shared
 * store, a key was charged other than exactly once, two replies for one key
 * differ, an altered request was not refused with 422, or the dead worker's
 * key was not retried after its lease. The `Map`'s double charges are
 * reported, not checked (they need the threads to overlap).
 *
 *   npx tsx examples/02-idempotency.ts [--quick]
 */
import { randomUUID } from 'node:crypto';
import { Piscina } from 'piscina';
import { IdempotencyStore } from '../src/store/idempotency-store.js';
import { HANG_BEGUN, HANG_WORDS, type PaymentReply, type PaymentRequest, type PaymentTask } from '../workers/tasks/payments.js';
import { START_WORDS } from '../workers/start-line.js';
import { BOOTSTRAP, tsTask } from '../workers/ts-task.js';
import { printTable } from './table.js';

const quick = process.argv.includes('--quick');
const THREADS = 4;
const KEYS = quick ? 60 : 300;
/** Copies of each payment in the burst. */
const COPIES = quick ? 3 : 4;
/** One key in ALTER_EVERY is also sent with another amount. */
const ALTER_EVERY = 10;
const LEASE_MS = quick ? 400 : 1_000;
/** How long the payment provider takes per charge. */
const WORK_MS = 2;
/** A broken run must not hang. */
const HANG_MS = 10_000;

// The pool's task, a TypeScript module run through one bootstrap (see workers/ts-task.ts).
const paymentTask = tsTask<PaymentTask>(new URL('../workers/tasks/payments.ts', import.meta.url));

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const int32 = (words: number): Int32Array => new Int32Array(new SharedArrayBuffer(4 * words));
const sum = (ns: ArrayLike<number>): number => Array.from(ns).reduce((a, b) => a + b, 0);

const failures: string[] = [];
function check(ok: boolean, what: string): void {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = nowMs() + HANG_MS;
  while (!condition()) {
    if (nowMs() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

const pool = new Piscina({ filename: BOOTSTRAP, minThreads: THREADS, maxThreads: THREADS, atomics: 'async' });
const store = new IdempotencyStore({
  capacity: 4 * KEYS,
  leaseMs: LEASE_MS,
  retentionMs: 3_600_000,
  maxKeyBytes: 36,
  maxResponseBytes: 512,
});

/** Deals `list` round-robin: the copies of a payment, adjacent in the list, land on different threads. */
const deal = <T>(list: readonly T[], threads = THREADS): T[][] =>
  Array.from({ length: threads }, (_, t) => list.filter((_, i) => i % threads === t));

let runs = 0;
/** Serves `requests` on `threads` workers that start together; the replies of all of them. */
async function serve(
  mode: 'shared' | 'map',
  ledger: Int32Array,
  requests: readonly PaymentRequest[],
  threads = THREADS,
): Promise<PaymentReply[]> {
  const run = ++runs;
  const start = int32(START_WORDS);
  const batches = deal(requests, threads);
  const task = (batch: PaymentRequest[]): PaymentTask => ({
    kind: 'batch',
    mode,
    run,
    store: store.handle,
    ledger,
    requests: batch,
    start,
    parties: threads,
    workMs: WORK_MS,
  });
  const replies = await Promise.all(batches.map((batch) => pool.run(paymentTask(task(batch))) as Promise<PaymentReply[]>));
  return replies.flat();
}

// Each worker imports the task module once, outside the story.
await Promise.all(Array.from({ length: THREADS }, () => pool.run(paymentTask({ kind: 'warm-up' }))));

const payments: PaymentRequest[] = Array.from({ length: KEYS }, (_, k) => ({ key: randomUUID(), k, altered: false }));
const dead: PaymentRequest = { key: randomUUID(), k: KEYS, altered: false };
/** The burst: every payment `COPIES` times, the copies side by side. */
const burst = payments.flatMap((p) => Array.from({ length: COPIES }, () => p));
/** Each client retries once more (its own timeout), and some send their key again with another amount. */
const retries = [...payments, ...payments.filter((p) => p.k % ALTER_EVERY === 0).map((p) => ({ ...p, altered: true }))];
const alteredCount = retries.filter((r) => r.altered).length;

console.log(
  `${THREADS} worker threads serve POST /charges: ${KEYS} payments, each sent ${COPIES} times at once, then retried${quick ? ' (--quick)' : ''}\n`,
);

// ---- 1. The burst and the retries, through the shared store --------------

const ledger = int32(KEYS + 1);
const startedAt = nowMs();
const wave1 = await serve('shared', ledger, burst);
// Clients that got 409 retry (after Retry-After; here at once, since the first copies are done by now).
const conflicted = wave1.filter((r) => r.outcome === 'conflict').map((r) => payments[r.k]!);
const wave2 = await serve('shared', ledger, [...retries, ...conflicted]);
const servedMs = nowMs() - startedAt;

// ---- 2. A worker dies in the middle of a request --------------------------

const signals = int32(HANG_WORDS);
const abort = new AbortController();
const hung = pool.run(paymentTask({ kind: 'hang', store: store.handle, request: dead, signals }), { signal: abort.signal }).then(
  () => 'returned',
  (e: unknown) => (e as Error).name,
);
await until(() => Atomics.load(signals, HANG_BEGUN) !== 0, 'the doomed request holds its key');
const begunAt = nowMs();
const deadThread = Atomics.load(signals, HANG_BEGUN) - 1;
abort.abort(); // Piscina terminates the thread
const hungEnd = await hung;
const terminatedAt = nowMs();
// Its client, and an impatient one, send it again at once, on the threads still alive.
const duringLease = await serve('shared', ledger, [dead, dead], 2);

// ---- 3. The dead worker's client retries after the lease ------------------

await new Promise((resolve) => setTimeout(resolve, Math.max(0, begunAt + LEASE_MS - nowMs()) + 5));
const [retried] = await serve('shared', ledger, [dead], 1);
const [again] = await serve('shared', ledger, [dead], 1);
const shared = [...wave1, ...wave2, ...duringLease, retried!, again!];
const sharedRequests = shared.length + 1; // and the one whose thread died

// ---- 4. The same schedule with a Map per thread --------------------------

const mapLedger = int32(KEYS + 1);
const mapWave1 = await serve('map', mapLedger, burst);
const mapWave2 = await serve('map', mapLedger, retries);
const perThread = [...mapWave1, ...mapWave2];

await pool.destroy();

// ---- The tables -----------------------------------------------------------

const count = (replies: readonly PaymentReply[], outcome: PaymentReply['outcome']): number =>
  replies.filter((r) => r.outcome === outcome).length;
const chargedTimes = (l: Int32Array, keys: number): number[] => Array.from(l.subarray(0, keys));
const sharedTimes = chargedTimes(ledger, KEYS + 1);
const mapTimes = chargedTimes(mapLedger, KEYS);
const twice = (times: readonly number[]): number => times.filter((n) => n >= 2).length;
const extra = (times: readonly number[]): number => sum(times.map((n) => Math.max(0, n - 1)));

printTable([
  {
    store: 'sabre IdempotencyStore (shared)',
    requests: sharedRequests,
    'charges executed': sum(sharedTimes),
    replays: count(shared, 'replayed'),
    '409s': count(shared, 'conflict'),
    '422s': count(shared, 'mismatch'),
    'keys charged once': sharedTimes.filter((n) => n === 1).length,
    'keys charged 2+ times': twice(sharedTimes),
    'extra charges': extra(sharedTimes),
  },
  {
    store: 'a Map per thread',
    requests: perThread.length,
    'charges executed': sum(mapTimes),
    replays: count(perThread, 'replayed'),
    '409s': count(perThread, 'conflict'),
    '422s': count(perThread, 'mismatch'),
    'keys charged once': mapTimes.filter((n) => n === 1).length,
    'keys charged 2+ times': twice(mapTimes),
    'extra charges': extra(mapTimes),
  },
]);
console.log(
  `Shared: ${KEYS + 1} keys (the dead worker's included), ${sharedRequests.toLocaleString('en-US')} requests served in ${Math.round(servedMs)} ms plus the wait for the lease. ` +
    `Per-thread Map: the same burst and retries (no 409s to retry, no dead worker); every copy that lands on another thread charges again.\n`,
);

const since = (t: number): number => Math.round((t - begunAt) * 10) / 10;
printTable(
  [
    { ms: 0, thread: deadThread, event: 'begins the request: holds the key, stuck before the charge', reply: '' },
    {
      ms: since(terminatedAt),
      thread: deadThread,
      event: 'terminated (Piscina aborts the task)',
      reply: `none (run() rejected: ${hungEnd})`,
    },
    ...[...duringLease]
      .sort((a, b) => a.atMs - b.atMs)
      .map((r) => ({
        ms: since(r.atMs),
        thread: r.threadId,
        event: 'the client sends it again, within the lease',
        reply: `${r.status}, Retry-After: ${r.retryAfter} s`,
      })),
    {
      ms: since(retried!.atMs),
      thread: retried!.threadId,
      event: `the client retries after the lease (${LEASE_MS} ms)`,
      reply: `${retried!.status} ${retried!.outcome}`,
    },
    {
      ms: since(again!.atMs),
      thread: again!.threadId,
      event: 'and once more',
      reply: `${again!.status} ${again!.outcome}${again!.replayed ? ', Idempotent-Replayed: true' : ''}`,
    },
  ],
  { title: `The dead worker's payment (key ${dead.key.slice(0, 8)}…):` },
);
console.log(
  'A dead request may already have charged (nothing in memory says whether it did), so its key waits for the lease like a stalled one ' +
    'and is not freed at once (`reclaimOnOwnerDeath: true` would). Here it died before its charge: the retry is the only one.\n',
);

// ---- Checks ---------------------------------------------------------------

const firstBodies = new Map<number, string>();
let differing = 0;
for (const r of shared) {
  if (r.status !== 201) continue;
  const body = firstBodies.get(r.k);
  if (body === undefined) firstBodies.set(r.k, r.body!);
  else if (body !== r.body) differing++;
}
check(
  sharedTimes.every((n) => n === 1),
  `shared store: every one of ${KEYS + 1} keys charged exactly once (${sharedTimes.filter((n) => n === 1).length} once, ${twice(sharedTimes)} more, ${sharedTimes.filter((n) => n === 0).length} never)`,
);
check(
  count(shared, 'executed') === KEYS + 1,
  `shared store: ${KEYS + 1} requests executed, one per key (got ${count(shared, 'executed')})`,
);
check(differing === 0 && firstBodies.size === KEYS + 1, `shared store: every 201 for a key carries the same charge (${differing} differ)`);
check(
  shared.every((r) => r.replayed === (r.outcome === 'replayed')),
  'shared store: every replay, and only a replay, carries Idempotent-Replayed: true',
);
check(
  count(shared, 'mismatch') === alteredCount && shared.every((r) => !r.altered || r.status === 422),
  `shared store: all ${alteredCount} altered requests refused with 422 (got ${count(shared, 'mismatch')})`,
);
check(
  count(shared, 'conflict') > 0 && shared.every((r) => r.outcome !== 'conflict' || Number(r.retryAfter) >= 1),
  `shared store: duplicates in flight got 409 with Retry-After (${count(shared, 'conflict')})`,
);
check(
  sum([count(shared, 'executed'), count(shared, 'replayed'), count(shared, 'conflict'), count(shared, 'mismatch')]) === shared.length,
  'shared store: every reply is one of executed, replayed, 409, 422',
);
check(
  duringLease.length === 2 && duringLease.every((r) => r.status === 409),
  `the dead worker's key answered 409 during its lease (${duringLease.map((r) => r.status).join(', ')})`,
);
check(
  retried!.outcome === 'executed' && retried!.atMs - begunAt >= LEASE_MS && retried!.threadId !== deadThread,
  `the retry after the lease ran on a live thread and charged (${retried!.outcome} at ${since(retried!.atMs)} ms on thread ${retried!.threadId})`,
);
check(again!.outcome === 'replayed' && again!.body === retried!.body, 'the next retry replayed that charge');
if (twice(mapTimes) === 0)
  console.log('note a Map per thread: no key was charged twice this time (no copies overlapped); it is still unsafe');
else console.log(`note a Map per thread: ${twice(mapTimes)} of ${KEYS} keys charged more than once, ${extra(mapTimes)} extra charges`);

if (failures.length > 0) {
  console.error(`\n${failures.length} check(s) failed`);
  process.exit(1);
}
console.log('\nall checks passed');
