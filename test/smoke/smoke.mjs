// Smoke test of the built package, on plain Node (no tsx): run after
// `npm run build`, from anywhere inside the package.
//
//   node test/smoke/smoke.mjs
//
// It loads every entry point by its package name (sabre, sabre/testing,
// sabre/piscina, sabre/comlink) and runs each on real threads; checks that
// the core entries reach neither optional peer dependency (piscina, comlink),
// in the built import graph and at load time; and type-checks a small app
// (test/smoke/consumer/) against the files `npm pack` would publish, with
// skipLibCheck false and neither peer installed.
//
// Prints one line per check and `N passed, M failed`; exits 1 on any failure.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { Piscina } from 'piscina';

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
const ENTRIES = {
  sabre: 'dist/index.js',
  'sabre/testing': 'dist/testing/index.js',
  'sabre/piscina': 'dist/integrations/piscina.js',
  'sabre/comlink': 'dist/integrations/comlink.js',
  'sabre/hono': 'dist/integrations/hono/index.js',
};
for (const [entry, file] of Object.entries(ENTRIES)) {
  let resolved;
  try {
    resolved = import.meta.resolve(entry);
  } catch (e) {
    resolved = String(e);
  }
  check(resolved === new URL(file, root).href, `'${entry}' resolves to ${file}`, resolved.replace(root.href, ''));
}
const sabre = await import('sabre');
const names = [
  'Mutex',
  'AtomicCounter',
  'StripedCounter',
  'VersionedCell',
  'spawnWorker',
  'isSabreError',
  'SabreError',
  'OwnerDiedError',
  'SharedArena',
  'ThreadRegistry',
  'Semaphore',
  'RWLock',
  'Condition',
  'Latch',
  'Once',
  'SeqLock',
  'SharedHashTable',
  'LeaseLock',
  'FencedResource',
  'LockManager',
  'OnceRegistry',
  'VoteRegistry',
  'Cache',
  'BookingTable',
  'IdempotencyStore',
  'idempotent',
  'CircuitBreaker',
  'retry',
  'RetryBudget',
  'Bulkhead',
  'TokenBucket',
  'SlidingWindow',
  'rateLimitHeaders',
];
const missing = names.filter((n) => !(n in sabre));
check(missing.length === 0, `'sabre' exports ${names.join(', ')}`, missing.length ? `missing: ${missing.join(', ')}` : '');

await step('keyed primitives work from the built package', async () => {
  const table = sabre.SharedHashTable.from(
    new sabre.SharedHashTable({ capacity: 8, maxKeyBytes: 8, maxValueBytes: 32, codec: 'json' }).handle,
  );
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
  check(
    computed.join() === 'v,v' && cache.size === 2 && sabre.Cache.from(cache.handle).stats().evictions === 2,
    'Cache: single-flight getOrCompute and eviction at capacity',
  );
  const idem = new sabre.IdempotencyStore({ capacity: 4, leaseMs: 1000, maxResponseBytes: 256 });
  const fp = sabre.IdempotencyStore.fingerprint({ method: 'POST', path: '/charges', body: '{}' });
  const first = idem.begin('k', fp);
  idem.complete(first.token, { status: 201, body: 'ok' });
  const again = idem.begin('k', fp);
  check(
    first.status === 'new' && again.status === 'replay' && again.response.body === 'ok' && idem.begin('k', 'other').status === 'mismatch',
    'IdempotencyStore runs a key once and replays it',
  );
  const bucket = sabre.TokenBucket.from(new sabre.TokenBucket({ burst: 2, refillPerSecond: 1, capacity: 4 }).handle);
  const window = new sabre.SlidingWindow({ limit: 1, windowMs: 60_000, capacity: 4 });
  const denied = (bucket.tryAcquire('k', 2), bucket.check('k'));
  check(
    !denied.allowed &&
      denied.retryAfterMs > 0 &&
      window.tryAcquire('k') &&
      !window.tryAcquire('k') &&
      sabre.rateLimitHeaders(denied, bucket.policy)['Retry-After'] === '1',
    'TokenBucket and SlidingWindow hold a key to its budget; rateLimitHeaders gives Retry-After',
  );
  const rooms = new sabre.BookingTable({ capacity: 4 });
  const booked = rooms.book('room', 9, 10, 'ada');
  let refused = false;
  try {
    rooms.book('room', 9.5, 11, 'bob');
  } catch (e) {
    refused = sabre.isSabreError(e, 'ERR_CONFLICT');
  }
  check(
    refused && sabre.BookingTable.from(rooms.handle).bookings('room')[0]?.id === booked.id,
    'BookingTable refuses an overlapping booking',
  );
});

await step('resilience primitives work from the built package', async () => {
  const breaker = new sabre.CircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 60_000 });
  await breaker.execute(() => Promise.reject(new Error('down'))).catch(() => {});
  let open = false;
  try {
    await sabre.CircuitBreaker.from(breaker.handle).execute(async () => 1);
  } catch (e) {
    open = sabre.isSabreError(e, 'ERR_CIRCUIT_OPEN') && e.retryAfterMs > 0;
  }
  check(open && breaker.state === 'OPEN', 'CircuitBreaker: one failure opens it, and a re-opened handle fails fast with retryAfterMs');
  const budget = new sabre.RetryBudget({ ratio: 1, minRetriesPerSecond: 0 });
  let calls = 0;
  const value = await sabre.retry(
    async () => {
      if (++calls < 2) throw new Error('flaky');
      return 'ok';
    },
    { baseMs: 1, budget: sabre.RetryBudget.from(budget.handle), idempotent: true },
  );
  check(value === 'ok' && calls === 2 && budget.stats().withdrawals === 1, 'retry: a retry drawn from a shared RetryBudget');
  calls = 0;
  const unsafe = await sabre
    .retry(
      async () => {
        calls++;
        throw new sabre.TimeoutError('slow');
      },
      { baseMs: 1 },
    )
    .catch((e) => e);
  check(
    sabre.isSabreError(unsafe, 'ERR_TIMEOUT') && calls === 1,
    'retry: by default a timeout is not retried (the work may have happened)',
  );
  const bulkhead = new sabre.Bulkhead({ maxConcurrent: 1 });
  let release;
  const held = bulkhead.execute(() => new Promise((r) => (release = r)));
  let full = false;
  try {
    await sabre.Bulkhead.from(bulkhead.handle).execute(() => 1);
  } catch (e) {
    full = sabre.isSabreError(e, 'ERR_BULKHEAD_FULL');
  }
  release();
  await held;
  check(full && (await bulkhead.execute(() => 2)) === 2, 'Bulkhead: refuses beyond maxConcurrent, admits again once the slot is free');
});

const { Mutex, AtomicCounter, CircuitBreaker, spawnWorker, isSabreError } = sabre;

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
  check(
    plain[0] === expected,
    `${WORKERS} spawnWorker(.mjs) workers x ${ITERATIONS} increments under the Mutex`,
    `${plain[0]} of ${expected}`,
  );
  check(atomic.get() === expected, `AtomicCounter opened from its handle in ${WORKERS} workers`, `${atomic.get()} of ${expected}`);
  check(!mutex.isLocked, 'the Mutex is free afterwards');
});

// 3. A worker that ends holding the lock: the next locker gets OwnerDiedError, not a hang.
await step('owner death is seen by the next locker', async () => {
  const mutex = new Mutex();
  const worker = spawnWorker(new URL('./worker.mjs', import.meta.url), { workerData: { mutex: mutex.handle, hold: true } });
  // Listen for the exit first: a worker that ends right after posting has its last messages and its
  // 'exit' delivered in one go, before a listener added after the message could be.
  const gone = exited(worker);
  await whenMessage(worker, (m) => m.locked === true);
  await gone;
  let outcome = 'acquired';
  try {
    await mutex.lockAsync({ timeoutMs: 5_000 });
    mutex.unlock();
  } catch (e) {
    outcome = isSabreError(e) ? e.code : String(e);
  }
  check(outcome === 'ERR_OWNER_DIED', 'a worker exiting while holding the Mutex poisons it', `next lockAsync: ${outcome}`);
  mutex.clearPoison();
  check(mutex.tryLock(), 'after clearPoison() the Mutex locks again');
  mutex.unlock();
});

// 4. sabre/piscina: primitives cross a Piscina pool as task arguments and arrive live.
await step('sabre/piscina', async () => {
  const { piscinaTask, toTaskArgs } = await import('sabre/piscina');
  const filename = piscinaTask(import.meta.url, 'piscina-task');
  check(
    filename === new URL('./piscina-task.js', import.meta.url).href,
    'piscinaTask from a .mjs module names the .js task',
    filename.replace(root.href, ''),
  );
  const pool = new Piscina({ filename, minThreads: 2, maxThreads: 2, atomics: 'async' });
  try {
    const mutex = new Mutex();
    const counter = new AtomicCounter();
    const plain = new Int32Array(new SharedArrayBuffer(4));
    const args = toTaskArgs({ mutex, counter, plain, iterations: 500 });
    check(args.mutex === mutex.handle && args.plain === plain, 'toTaskArgs sends handles in place of primitives');
    const replies = await Promise.all([pool.run(args), pool.run(args), pool.run(args)]);
    check(
      replies.every((r) => r.mutex === 'Mutex' && r.counter === 'AtomicCounter'),
      'fromTaskArgs re-opens them live in the task',
      JSON.stringify(replies[0]),
    );
    check(
      plain[0] === 1500 && counter.get() === 1500,
      'Piscina tasks x 500 increments under the shared Mutex',
      `plain ${plain[0]}, counter ${counter.get()} of 1500`,
    );
  } finally {
    await pool.destroy();
  }
});

// 5. sabre/comlink: with the handlers on both sides, primitives pass live and errors keep their codes.
await step('sabre/comlink', async () => {
  const { registerComlinkHandlers } = await import('sabre/comlink');
  registerComlinkHandlers(Comlink);
  const worker = spawnWorker(new URL('./comlink-worker.mjs', import.meta.url));
  const api = Comlink.wrap(nodeEndpoint(worker));
  try {
    const counter = new AtomicCounter();
    const arrived = await api.add(counter, 5);
    check(
      arrived === 'AtomicCounter' && counter.get() === 5,
      'a primitive passed to a Comlink call arrives live',
      `${arrived}, counter ${counter.get()}`,
    );
    const mutex = await api.lockedMutex(new Mutex());
    check(mutex instanceof Mutex && mutex.isLocked, 'a primitive returned by a Comlink call arrives live');
    let code = 'none';
    try {
      await api.ownerDied();
    } catch (e) {
      code = isSabreError(e) ? e.code : String(e);
    }
    check(code === 'ERR_OWNER_DIED', 'a SabreError thrown across Comlink keeps its code', code);
  } finally {
    api[Comlink.releaseProxy]();
    await worker.terminate();
  }
});

// sabre/hono: the middleware from dist, in a Hono app.
await step('sabre/hono', async () => {
  const { Hono } = await import('hono');
  const { circuitBreaker } = await import('sabre/hono');
  const breaker = new CircuitBreaker({ failureThreshold: 1, resetTimeoutMs: 60_000 });
  const app = new Hono();
  app.use('*', circuitBreaker({ breaker }));
  let calls = 0;
  app.get('/', (c) => (calls++, c.text('down', 503)));
  const first = await app.request('/');
  const second = await app.request('/');
  check(
    first.status === 503 && second.status === 503 && calls === 1 && second.headers.get('retry-after') === '60',
    "circuitBreaker: an upstream's 503 opens the shared breaker, the next request gets 503 + Retry-After without the handler",
    `${first.status} ${second.status} calls ${calls} retry-after ${second.headers.get('retry-after')}`,
  );
  const { idempotency } = await import('sabre/hono');
  const store = new sabre.IdempotencyStore({ capacity: 8, leaseMs: 1_000, retentionMs: 60_000 });
  const payments = new Hono();
  payments.use('*', idempotency({ store }));
  let charges = 0;
  payments.post('/pay', (c) => (charges++, c.json({ charge: charges }, 201)));
  const pay = () => payments.request('/pay', { method: 'POST', headers: { 'idempotency-key': 'k' }, body: '{}' });
  const [a, b] = [await pay(), await pay()];
  check(
    a.status === 201 && b.status === 201 && b.headers.get('idempotent-replayed') === 'true' && charges === 1,
    'idempotency: a retried POST is replayed from the shared store, charged once',
    `${a.status} ${b.status} replayed ${b.headers.get('idempotent-replayed')} charges ${charges}`,
  );
  const { rateLimit } = await import('sabre/hono');
  const limited = new Hono();
  limited.use('*', rateLimit({ limiter: new sabre.TokenBucket({ burst: 1, refillPerSecond: 0.01, capacity: 8 }) }));
  limited.get('/', (c) => c.text('ok'));
  const ask = () => limited.request('/', { headers: { 'x-api-key': 'k1' } });
  const [ok, over] = [await ask(), await ask()];
  check(
    ok.status === 200 &&
      ok.headers.get('ratelimit') === '"default";a=0;w=100;c=1' &&
      over.status === 429 &&
      over.headers.get('retry-after') === '100',
    'rateLimit: draft-12 fields on every response, 429 + Retry-After once the key is spent',
    `${ok.status} ${ok.headers.get('ratelimit')} ${over.status} retry-after ${over.headers.get('retry-after')}`,
  );
});

// 6. sabre/testing: runThreads starts its (built) harness workers and runs a plain .mjs program.
await step('sabre/testing', async () => {
  const { runThreads, closeThreads } = await import('sabre/testing');
  try {
    const { shared, history } = await runThreads({
      threads: [200, 200, 200],
      program: new URL('./count-program.mjs', import.meta.url),
      setup: () => ({ counter: new AtomicCounter().handle }),
      seed: 7,
      yields: { probability: 0.05, maxDelayMs: 0.05 },
    });
    const total = AtomicCounter.from(shared.counter).get();
    check(
      total === 600 && history.length === 1200,
      'runThreads runs a program on 3 warm workers from dist',
      `counter ${total} of 600, ${history.length} events`,
    );
  } finally {
    await closeThreads();
  }
});

// 7. The core entries reach neither optional peer dependency.
const PEERS = ['piscina', 'comlink'];
const isPeer = (specifier) => PEERS.some((p) => specifier === p || specifier.startsWith(`${p}/`));

/**
 * The built modules reachable from `file` and the bare specifiers they import
 * (static imports and re-exports, literal dynamic imports, requires), read by
 * TypeScript's import scanner, which skips comments and strings.
 */
function importGraph(file) {
  const ts = createRequire(import.meta.url)('typescript');
  const seen = new Set();
  const bare = new Map(); // specifier -> the first file that imports it
  const queue = [new URL(file, root)];
  while (queue.length > 0) {
    const url = queue.pop();
    if (seen.has(url.href)) continue;
    seen.add(url.href);
    const source = readFileSync(url, 'utf8');
    for (const { fileName: specifier } of ts.preProcessFile(source, true, true).importedFiles) {
      if (specifier.startsWith('.')) queue.push(new URL(specifier, url));
      else if (!bare.has(specifier)) bare.set(specifier, url.href.replace(root.href, ''));
    }
  }
  return { modules: seen.size, bare };
}
for (const entry of ['sabre', 'sabre/testing']) {
  const { modules, bare } = importGraph(ENTRIES[entry]);
  const reached = [...bare].filter(([specifier]) => isPeer(specifier));
  check(
    modules > 1 && reached.length === 0,
    `'${entry}' imports neither ${PEERS.join(' nor ')} (built import graph, ${modules} modules)`,
    reached.map(([specifier, by]) => `${specifier} from ${by}`).join(', '),
  );
}
await step('entries load with the peers unresolvable', async () => {
  const entries = Object.keys(ENTRIES);
  const out = execFileSync(process.execPath, [fileURLToPath(new URL('./without-peers.mjs', import.meta.url)), ...entries], {
    encoding: 'utf8',
  });
  const { loaded, blocked } = JSON.parse(out.trim().split('\n').at(-1));
  check(
    PEERS.every((p) => blocked[p] === true),
    'control: importing piscina or comlink fails in the child process',
    JSON.stringify(blocked),
  );
  for (const entry of entries) {
    check(
      typeof loaded[entry] === 'number' && loaded[entry] > 0,
      `'${entry}' loads without piscina and comlink installed`,
      String(loaded[entry]),
    );
  }
});

// 8. An app type-checks against the packed package with skipLibCheck false: with no peer installed, then with comlink.
await step('types of the packed package', async () => {
  const rootPath = fileURLToPath(root);
  const npm = process.env.npm_execpath;
  const packArgs = ['pack', '--dry-run', '--json', '--ignore-scripts'];
  const packed = npm
    ? execFileSync(process.execPath, [npm, ...packArgs], { cwd: rootPath, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
    : execFileSync('npm', packArgs, {
        cwd: rootPath,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        shell: process.platform === 'win32',
      });
  const files = JSON.parse(packed)[0].files.map((f) => f.path);
  const unexpected = files.filter((f) => !/^(dist\/.*\.(js|d\.ts)|package\.json|README\.md)$/.test(f));
  check(
    unexpected.length === 0 && files.some((f) => f === 'dist/index.js'),
    `npm pack ships dist's .js and .d.ts, package.json and README.md only (${files.length} files)`,
    unexpected.join(', '),
  );
  const app = mkdtempSync(join(tmpdir(), 'sabre-consumer-'));
  try {
    for (const file of files) {
      mkdirSync(dirname(join(app, 'node_modules/sabre', file)), { recursive: true });
      copyFileSync(join(rootPath, file), join(app, 'node_modules/sabre', file));
    }
    // @types/node only: the app has neither piscina nor comlink.
    mkdirSync(join(app, 'node_modules/@types'), { recursive: true });
    symlinkSync(join(rootPath, 'node_modules/@types/node'), join(app, 'node_modules/@types/node'), 'junction');
    cpSync(fileURLToPath(new URL('./consumer', import.meta.url)), join(app, 'src'), { recursive: true });
    cpSync(fileURLToPath(new URL('./consumer-comlink', import.meta.url)), join(app, 'comlink-src'), { recursive: true });
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    const strict = {
      target: 'ES2022',
      types: ['node'],
      strict: true,
      skipLibCheck: false,
      noEmit: true,
      exactOptionalPropertyTypes: true,
      noUncheckedIndexedAccess: true,
    };
    const nodeNext = { module: 'NodeNext', moduleResolution: 'NodeNext' };
    const runs = [
      { name: 'NodeNext resolution', include: 'src', compilerOptions: { ...strict, ...nodeNext } },
      { name: 'Bundler resolution', include: 'src', compilerOptions: { ...strict, module: 'ESNext', moduleResolution: 'Bundler' } },
      // Then with comlink installed: Comlink's own types need lib DOM (see README).
      {
        name: 'comlink installed, lib DOM',
        include: 'comlink-src',
        compilerOptions: { ...strict, ...nodeNext, lib: ['ES2023', 'DOM'] },
        install: 'comlink',
      },
    ];
    const tsc = fileURLToPath(import.meta.resolve('typescript/bin/tsc'));
    for (const [i, { name, include, compilerOptions, install }] of runs.entries()) {
      if (install) symlinkSync(join(rootPath, 'node_modules', install), join(app, 'node_modules', install), 'junction');
      const config = `tsconfig.${i}.json`;
      writeFileSync(join(app, config), JSON.stringify({ compilerOptions, include: [include] }));
      let errors = '';
      try {
        execFileSync(process.execPath, [tsc, '-p', config], { cwd: app, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (e) {
        errors = `${e.stdout ?? ''}${e.stderr ?? ''}`.trim() || String(e);
      }
      check(
        errors === '',
        `an app (${include}/: ${readdirSync(join(app, include)).join(', ')}) type-checks against the packed files (skipLibCheck false, ${name})`,
        errors.split('\n').slice(0, 12).join('\n     '),
      );
    }
  } finally {
    rmSync(app, { recursive: true, force: true });
  }
});

console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
