// Smoke test of the built package, on plain Node (no tsx, no TypeScript):
// run after `npm run build`, from anywhere inside the package.
//
//   node test/smoke/smoke.mjs
//
// Prints one line per check and `N passed, M failed`; exits 1 on any failure.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = new URL('../../', import.meta.url);
const ITERATIONS = 20_000;
const WORKERS = 3;

let passed = 0;
let failed = 0;
function check(ok, what, detail = '') {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? ` (${detail})` : ''}`);
}
async function step(what, fn) {
  try {
    await fn();
  } catch (e) {
    check(false, what, e instanceof Error ? `${e.name}: ${e.message}` : String(e));
  }
}

function whenMessage(worker, predicate) {
  return new Promise((resolve, reject) => {
    worker.on('message', (m) => predicate(m) && resolve(m));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`worker exited with code ${code} before answering`)));
  });
}
const exited = (worker) => new Promise((resolve) => worker.once('exit', resolve));

// 1. The package resolves by its own name, through package.json "exports", to the build.
const expectedEntry = new URL('dist/src/index.js', root).href;
let resolved = '';
try {
  resolved = import.meta.resolve('sabre');
} catch (e) {
  resolved = String(e);
}
check(resolved === expectedEntry, "'sabre' resolves to dist/src/index.js", resolved.replace(root.href, ''));
const sabre = await import('sabre');
const names = ['Mutex', 'AtomicCounter', 'StripedCounter', 'VersionedCell', 'spawnWorker', 'isSabreError', 'SabreError', 'OwnerDiedError', 'SharedArena', 'ThreadRegistry',
  'Semaphore', 'RWLock', 'Condition', 'Latch', 'Once', 'SeqLock', 'SharedHashTable', 'LeaseLock', 'FencedResource', 'LockManager', 'OnceRegistry', 'VoteRegistry', 'Cache', 'BookingTable', 'IdempotencyStore', 'idempotent', 'CircuitBreaker', 'retry', 'RetryBudget', 'Bulkhead', 'TokenBucket', 'SlidingWindow', 'rateLimitHeaders'];
const missing = names.filter((n) => !(n in sabre));
check(missing.length === 0, `'sabre' exports ${names.join(', ')}`, missing.length ? `missing: ${missing.join(', ')}` : '');

await step('keyed primitives work from the built package', async () => {
  const table = sabre.SharedHashTable.from(new sabre.SharedHashTable({ capacity: 8, maxKeyBytes: 8, maxValueBytes: 32, codec: 'json' }).handle);
  table.set('k', { n: 1 });
  check(table.get('k')?.n === 1 && table.size === 1, 'SharedHashTable set/get through a re-opened handle');
  const leases = new sabre.LeaseLock({ capacity: 4 });
  const lease = leases.acquire('r', { ttlMs: 1000 });
  check(lease !== null && leases.acquire('r', { ttlMs: 1000 }) === null, 'LeaseLock: one live lease per resource');
  lease.release();
  const locks = new sabre.LockManager({ capacity: 4 });
  const mode = await locks.request('n', { mode: 'shared' }, async (lock) => lock.mode);
  check(mode === 'shared', 'LockManager.request grants a shared lock');
  const votes = new sabre.VoteRegistry({ capacity: 4, choices: ['yes', 'no'] });
  votes.vote('p', 'u', 'yes');
  const once = new sabre.OnceRegistry({ capacity: 4 });
  check(votes.tally('p').yes === 1 && once.claim('k').claimed && !once.claim('k').claimed, 'VoteRegistry and OnceRegistry count once');
  const cache = new sabre.Cache({ capacity: 2, maxKeyBytes: 8, maxValueBytes: 16, codec: 'string', policy: 'lfu' });
  const computed = await Promise.all([cache.getOrCompute('k', async () => 'v'), cache.getOrCompute('k', async () => 'other')]);
  for (const key of ['a', 'b', 'c']) cache.set(key, key);
  check(computed.join() === 'v,v' && cache.size === 2 && sabre.Cache.from(cache.handle).stats().evictions === 2, 'Cache: single-flight getOrCompute and eviction at capacity');
  const idem = new sabre.IdempotencyStore({ capacity: 4, leaseMs: 1000, maxResponseBytes: 256 });
  const fp = sabre.IdempotencyStore.fingerprint({ method: 'POST', path: '/charges', body: '{}' });
  const first = idem.begin('k', fp);
  idem.complete(first.token, { status: 201, body: 'ok' });
  const again = idem.begin('k', fp);
  check(first.status === 'new' && again.status === 'replay' && again.response.body === 'ok' && idem.begin('k', 'other').status === 'mismatch', 'IdempotencyStore runs a key once and replays it');
  const bucket = sabre.TokenBucket.from(new sabre.TokenBucket({ capacity: 2, refillPerSecond: 1, keys: 4 }).handle);
  const window = new sabre.SlidingWindow({ limit: 1, windowMs: 60_000, capacity: 4 });
  const denied = (bucket.tryAcquire('k', 2), bucket.check('k'));
  check(!denied.allowed && denied.retryAfterMs > 0 && window.tryAcquire('k') && !window.tryAcquire('k') && sabre.rateLimitHeaders(denied, bucket.policy)['Retry-After'] === '1', 'TokenBucket and SlidingWindow hold a key to its budget; rateLimitHeaders gives Retry-After');
  const rooms = new sabre.BookingTable({ capacity: 4 });
  const booked = rooms.book('room', 9, 10, 'ada');
  let refused = false;
  try { rooms.book('room', 9.5, 11, 'bob'); } catch (e) { refused = sabre.isSabreError(e, 'ERR_CONFLICT'); }
  check(refused && sabre.BookingTable.from(rooms.handle).bookings('room')[0]?.id === booked.id, 'BookingTable refuses an overlapping booking');
});

await step('resilience primitives work from the built package', async () => {
  const breaker = new sabre.CircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 60_000 });
  await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => {});
  let open = false;
  try { await sabre.CircuitBreaker.from(breaker.handle).execute(async () => 1); } catch (e) { open = sabre.isSabreError(e, 'ERR_CIRCUIT_OPEN') && e.retryAfterMs > 0; }
  check(open && breaker.state === 'OPEN', 'CircuitBreaker: one failure opens it, and a re-opened handle fails fast with retryAfterMs');
  const budget = new sabre.RetryBudget({ ratio: 1, minRetriesPerSecond: 0 });
  let calls = 0;
  const value = await sabre.retry(async () => { if (++calls < 2) throw new Error('flaky'); return 'ok'; }, { baseMs: 1, budget: sabre.RetryBudget.from(budget.handle) });
  check(value === 'ok' && calls === 2 && budget.stats().withdrawals === 1, 'retry: a retry drawn from a shared RetryBudget');
  const bulkhead = new sabre.Bulkhead({ maxConcurrent: 1 });
  let release;
  const held = bulkhead.execute(() => new Promise((r) => (release = r)));
  let full = false;
  try { await sabre.Bulkhead.from(bulkhead.handle).execute(() => 1); } catch (e) { full = sabre.isSabreError(e, 'ERR_BULKHEAD_FULL'); }
  release();
  await held;
  check(full && (await bulkhead.execute(() => 2)) === 2, 'Bulkhead: refuses beyond maxConcurrent, admits again once the slot is free');
});

if (existsSync(new URL('dist/src/testing/index.js', root))) {
  await step("'sabre/testing' imports", async () => {
    const testing = await import('sabre/testing');
    check(Object.keys(testing).length > 0, "'sabre/testing' imports", `${Object.keys(testing).length} exports`);
  });
}

const { Mutex, AtomicCounter, spawnWorker, isSabreError } = sabre;

// 2. Plain .mjs workers started through spawnWorker increment under the lock: the total is exact.
await step('workers increment under the Mutex', async () => {
  const mutex = new Mutex();
  const plain = new Int32Array(new SharedArrayBuffer(4));
  const atomic = new AtomicCounter();
  const start = new Int32Array(new SharedArrayBuffer(4));
  const workers = Array.from({ length: WORKERS }, () =>
    spawnWorker(new URL('./worker.mjs', import.meta.url), {
      workerData: { mutex: mutex.handle, plain, atomic: atomic.handle, iterations: ITERATIONS, start, parties: WORKERS },
    }),
  );
  await Promise.all(workers.map((w) => whenMessage(w, (m) => m.done !== undefined)));
  await Promise.all(workers.map((w) => w.terminate()));
  const expected = WORKERS * ITERATIONS;
  check(plain[0] === expected, `${WORKERS} spawnWorker(.mjs) workers x ${ITERATIONS} increments under the Mutex`, `${plain[0]} of ${expected}`);
  check(atomic.get() === expected, `AtomicCounter opened from its handle in ${WORKERS} workers`, `${atomic.get()} of ${expected}`);
  check(!mutex.isLocked, 'the Mutex is free afterwards');
});

// 3. A worker that ends holding the lock: the next locker gets OwnerDiedError, not a hang.
await step('owner death is seen by the next locker', async () => {
  const mutex = new Mutex();
  const worker = spawnWorker(new URL('./worker.mjs', import.meta.url), { workerData: { mutex: mutex.handle, hold: true } });
  await whenMessage(worker, (m) => m.locked === true);
  await exited(worker);
  let outcome = 'acquired';
  try {
    await mutex.lockAsync({ timeout: 5_000 });
    mutex.unlock();
  } catch (e) {
    outcome = isSabreError(e) ? e.code : String(e);
  }
  check(outcome === 'ERR_OWNER_DIED', 'a worker exiting while holding the Mutex poisons it', `next lockAsync: ${outcome}`);
  mutex.clearPoison();
  check(mutex.tryLock(), 'after clearPoison() the Mutex locks again');
  mutex.unlock();
});

// 4. Built .js workers start without tsx: spawnWorker on a dist/workers file, Piscina on a built task.
const builtWorkers = ['dist/workers/example-counter.task.js'].filter((p) => existsSync(new URL(p, root)));
if (builtWorkers.length === 0) {
  check(false, 'dist/workers has the built example tasks', 'run npm run build first');
}
for (const path of builtWorkers) {
  const url = new URL(path, root);
  await step(`spawnWorker(${path})`, async () => {
    // The task module only exports a function: as a plain worker it loads and ends with code 0.
    const worker = spawnWorker(url);
    const code = await new Promise((resolve, reject) => {
      worker.once('error', reject);
      worker.once('exit', resolve);
    });
    check(code === 0, `spawnWorker(${path}) starts a built .js worker on plain Node`, `exit code ${code}`);
  });
  await step(`Piscina runs ${path}`, async () => {
    const { Piscina } = await import('piscina');
    const pool = new Piscina({ filename: url.href, minThreads: 2, maxThreads: 2, atomics: 'async' });
    try {
      const mutex = new Mutex();
      const counter = new Int32Array(new SharedArrayBuffer(4));
      const start = new Int32Array(new SharedArrayBuffer(4));
      const task = { strategy: 'mutex', counter, mutex: mutex.handle, iterations: 200, start, parties: 2 };
      await Promise.all([pool.run(task), pool.run(task)]);
      check(counter[0] === 400, `Piscina runs the built task ${path} (Mutex.runExclusive)`, `${counter[0]} of 400`);
    } finally {
      await pool.destroy();
    }
  });
}

console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
