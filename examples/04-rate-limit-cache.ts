/**
 * 04: one rate limit per client and one cache for every worker thread.
 *
 * Part 1. Four Piscina worker threads serve a stream of API requests from
 * three clients: two that stay under their limit and one abusive client that
 * sends 20 times its limit. Each client may send 100 requests per second
 * (bursts of 20). With a limiter per thread (a token bucket in each
 * worker's memory, as an in-process limiter such as rate-limiter-flexible's
 * `RateLimiterMemory` keeps), each thread counts only the requests it
 * serves, so the abuser gets its limit from every thread: 4 times it. With
 * one sabre `TokenBucket` in shared memory, the same algorithm, every thread
 * draws on one budget and the abuser gets its limit. A
 * table per client: allowed, refused, observed rate against the limit, the
 * `Retry-After` sent with the 429s (`rateLimitHeaders`); then the fields of
 * one 429 as a sample.
 *
 * Part 2. Requests at the edge of two windows, on a ManualClock: a fixed
 * window lets twice its limit through in a moment (a full window's worth at
 * the end of one window, another at the start of the next); the token
 * bucket lets through its burst and what refills; `SlidingWindow` in exact
 * mode never more than its limit in any window.
 *
 * Part 3. A report that takes milliseconds of CPU to build, requested by
 * the four workers (a few reports are popular): without a cache every
 * request builds it; with a `Map` per thread every thread builds each
 * report again; with one shared `Cache` (`getOrCompute`) each report is
 * built once, and threads that miss one while another builds it wait for
 * that build (single-flight) instead of starting their own. A table: builds,
 * hit ratio, waits joined, latency (median, p95).
 *
 * The example checks its own results and exits non-zero if the shared
 * bucket let the abuser past `capacity + rate * t`, refused most of what it
 * allows, or refused the clients under their limit; if the per-thread
 * limiters did not let the abuser well past its limit (the point of the
 * comparison); if the exact window held more than its limit in some window,
 * or the fixed window less than twice it; if the shared cache built a
 * report twice or served a wrong one, or was not faster than no cache.
 *
 *   npx tsx examples/04-rate-limit-cache.ts [--quick]
 */
import { Piscina } from 'piscina';
import { ManualClock } from '../src/clock.js';
import { TokenBucket } from '../src/limit/token-bucket.js';
import { SlidingWindow } from '../src/limit/sliding-window.js';
import type { RateLimitPolicy } from '../src/limit/decision.js';
import { Cache } from '../src/store/cache.js';
import { START_WORDS, type ClientTally, type LimitsResult, type LimitsTask } from '../workers/tasks/limits.js';
import { ABUSER, CLIENTS, arrivalsOver } from './traffic.js';
import type { ReportsResult, ReportsTask } from '../workers/tasks/reports.js';
import { BOOTSTRAP, tsTask } from '../workers/ts-task.js';
import { printTable, type Row } from './table.js';
import { seededRandom } from '../src/testing/random.js';

const quick = process.argv.includes('--quick');
const THREADS = 4;

// The pool's tasks, TypeScript modules run through one bootstrap (see workers/ts-task.ts).
const limitsTask = tsTask<LimitsTask>(new URL('../workers/tasks/limits.ts', import.meta.url));
const reportsTask = tsTask<ReportsTask>(new URL('../workers/tasks/reports.ts', import.meta.url));

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const int32 = (words: number): Int32Array => new Int32Array(new SharedArrayBuffer(4 * words));
const sum = (ns: readonly number[]): number => ns.reduce((a, b) => a + b, 0);
/** The q-quantile of `ns` (nearest rank). */
function quantile(ns: readonly number[], q: number): number {
  const sorted = [...ns].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}
const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

const failures: string[] = [];
function check(ok: boolean, what: string): void {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
}

/** Deals `list` round-robin to the threads. */
const deal = <T>(list: readonly T[]): T[][] => Array.from({ length: THREADS }, (_, t) => list.filter((_, i) => i % THREADS === t));

const pool = new Piscina({ filename: BOOTSTRAP, minThreads: THREADS, maxThreads: THREADS, atomics: 'async' });
// Each worker imports both task modules once, outside the timings.
await Promise.all(Array.from({ length: THREADS }, () => pool.run(limitsTask({ kind: 'warm-up' }))));
await Promise.all(Array.from({ length: THREADS }, () => pool.run(reportsTask({ kind: 'warm-up' }))));

// ---- Part 1: one limit per client, per thread or shared --------------------

/** The limit per client: a burst of CAPACITY, then RATE requests per second. */
const CAPACITY = 20;
const RATE = 100;
/**
 * What the 429s advertise: RATE per second. The bucket's own `policy` is
 * CAPACITY per the 0.2 s a full bucket takes to refill, and the draft's `w`
 * is whole seconds (rounded up): it would read "20 per second".
 */
const POLICY: RateLimitPolicy = { name: 'per-client', quota: RATE, windowMs: 1_000 };
const RUN_MS = quick ? 600 : 1_500;
const arrivals = arrivalsOver(RUN_MS);

interface Served {
  /** Per client, summed over the threads. */
  readonly tallies: ClientTally[];
  readonly sample: LimitsResult['sample'];
  readonly threads: number;
}

async function serveTraffic(version: 'per-thread' | 'shared'): Promise<Served> {
  const bucket = new TokenBucket({ burst: CAPACITY, refillPerSecond: RATE, capacity: 64, maxKeyBytes: 16 });
  const start = int32(START_WORDS);
  const startAtMs = nowMs() + 100;
  const base = {
    kind: 'traffic',
    version,
    clients: CLIENTS.map((c) => c.name),
    startAtMs,
    capacity: CAPACITY,
    rate: RATE,
    bucket: bucket.handle,
    policy: POLICY,
    start,
    parties: THREADS,
  } as const;
  const results = (await Promise.all(deal(arrivals).map((mine) => pool.run(limitsTask({ ...base, arrivals: mine }))))) as LimitsResult[];
  const tallies = CLIENTS.map((_, c): ClientTally => {
    const each = results.map((r) => r.tallies[c]!);
    const retryAfter: Record<string, number> = {};
    for (const t of each) for (const [value, n] of Object.entries(t.retryAfter)) retryAfter[value] = (retryAfter[value] ?? 0) + n;
    return {
      sent: sum(each.map((t) => t.sent)),
      allowed: sum(each.map((t) => t.allowed)),
      rejected: sum(each.map((t) => t.rejected)),
      firstMs: Math.min(...each.map((t) => t.firstMs).filter((t) => !Number.isNaN(t))),
      lastMs: Math.max(...each.map((t) => t.lastMs).filter((t) => !Number.isNaN(t))),
      retryAfter,
      waitsMs: each.flatMap((t) => t.waitsMs),
      maxLagMs: Math.max(...each.map((t) => t.maxLagMs)),
    };
  });
  return { tallies, sample: results.find((r) => r.sample !== null)?.sample ?? null, threads: new Set(results.map((r) => r.threadId)).size };
}

console.log(
  `Part 1: ${THREADS} worker threads serve ${arrivals.length.toLocaleString('en-US')} requests from ${CLIENTS.length} clients over ${RUN_MS / 1000} s; ` +
    `limit per client: ${RATE} requests/s, bursts of ${CAPACITY}${quick ? ' (--quick)' : ''}\n`,
);
const perThread = await serveTraffic('per-thread');
const shared = await serveTraffic('shared');

/** What the limit lets through in RUN_MS: the burst plus what refills, or all that was sent if less. */
const mayPass = (sent: number): number => Math.min(sent, Math.floor(CAPACITY + (RATE * RUN_MS) / 1_000));
const retryAfterText = (t: ClientTally): string =>
  t.rejected === 0
    ? ''
    : Object.entries(t.retryAfter)
        .map(([value, n]) => `${value} s (x${n.toLocaleString('en-US')})`)
        .join(', ');
const trafficRows = (label: string, served: Served): Row[] =>
  served.tallies.map((t, c) => ({
    limiter: c === 0 ? label : '',
    client: `${CLIENTS[c]!.name}: ${CLIENTS[c]!.note}`,
    'sends/s': CLIENTS[c]!.perSecond,
    sent: t.sent,
    allowed: t.allowed,
    '429s': t.rejected,
    'allowed/s': Math.round(t.allowed / (RUN_MS / 1_000)),
    'limit/s': RATE,
    'x what the limit allows': `${(t.allowed / mayPass(t.sent)).toFixed(2)}x`,
    'Retry-After sent': retryAfterText(t),
    'exact wait, median ms': t.rejected === 0 ? null : round(quantile(t.waitsMs, 0.5)),
  }));
printTable([...trafficRows('a token bucket per thread', perThread), ...trafficRows('sabre TokenBucket, shared', shared)]);
console.log(
  `What the limit allows in ${RUN_MS / 1000} s: the burst (${CAPACITY}) plus what refills (${RATE}/s x ${RUN_MS / 1000} s) = ${mayPass(Infinity)}, or all that was sent if less.\n` +
    `Per thread, each worker keeps a bucket of its own per client: ${THREADS} workers, ${THREADS} budgets, and a client told "Retry-After" by one worker is served by the next. ` +
    `(An in-process limiter such as rate-limiter-flexible's RateLimiterMemory, one per worker, is the same: each counts only what its thread serves.)\n` +
    `The exact wait is what the limiter computed; Retry-After is whole seconds, rounded up (RFC 9110), so a client that obeys it never comes back early.\n`,
);

if (shared.sample !== null) {
  console.log(`A 429 the shared bucket sent to ${shared.sample.client}:`);
  console.log('  HTTP/1.1 429 Too Many Requests');
  for (const [name, value] of Object.entries(shared.sample.headers)) console.log(`  ${name}: ${value}`);
  console.log(
    `(IETF RateLimit fields, draft-ietf-httpapi-ratelimit-headers-10: q quota per w seconds; r remaining, t seconds until the quota is whole again.)\n`,
  );
}

const abuserShared = shared.tallies[ABUSER]!,
  abuserPerThread = perThread.tallies[ABUSER]!;
const spanS = (abuserShared.lastMs - abuserShared.firstMs) / 1_000;
const bound = CAPACITY + RATE * spanS;
check(
  perThread.threads === THREADS && shared.threads === THREADS,
  `both runs were served by ${THREADS} threads (${perThread.threads} and ${shared.threads})`,
);
check(
  abuserShared.allowed <= bound,
  `shared TokenBucket: ${CLIENTS[ABUSER]!.name} got at most capacity + rate * t (${abuserShared.allowed} <= ${CAPACITY} + ${RATE}/s x ${round(spanS, 3)} s = ${Math.floor(bound)})`,
);
check(
  abuserShared.allowed >= 0.6 * mayPass(abuserShared.sent),
  `shared TokenBucket: ${CLIENTS[ABUSER]!.name} still got most of its limit (${abuserShared.allowed}, ${(abuserShared.allowed / mayPass(abuserShared.sent)).toFixed(2)}x of ${mayPass(abuserShared.sent)})`,
);
check(
  abuserPerThread.allowed >= 2.5 * abuserShared.allowed,
  `per-thread limiters let ${CLIENTS[ABUSER]!.name} through ${(abuserPerThread.allowed / abuserShared.allowed).toFixed(1)}x as often as the shared bucket (${abuserPerThread.allowed} vs ${abuserShared.allowed}; about ${THREADS}x expected)`,
);
for (let c = 0; c < CLIENTS.length; c++) {
  if (c === ABUSER) continue;
  const t = shared.tallies[c]!;
  check(t.allowed >= 0.9 * t.sent, `shared TokenBucket: ${CLIENTS[c]!.name}, under the limit, was served (${t.allowed} of ${t.sent})`);
}
const oneToken = 1_000 / RATE;
check(
  abuserShared.waitsMs.every((w) => w > 0 && w <= oneToken + 1e-6) && Object.keys(abuserShared.retryAfter).every((v) => v === '1'),
  `shared TokenBucket: every 429 asked for at most one token's wait (${oneToken} ms, longest ${round(Math.max(...abuserShared.waitsMs), 2)} ms), sent as Retry-After: 1`,
);
const lag = Math.max(...shared.tallies.map((t) => t.maxLagMs), ...perThread.tallies.map((t) => t.maxLagMs));
console.log(`(the threads answered each request at most ${round(lag)} ms after its arrival time)`);

// ---- Part 2: the edge of two windows -----------------------------------------

const LIMIT = 10;
const WINDOW_MS = 1_000;
console.log(
  `\nPart 2: ${LIMIT} requests per ${WINDOW_MS} ms, and requests at the edge of two windows (a ManualClock: the same result every run)\n`,
);

/** A fixed-window counter, as most in-memory limiters keep (rate-limiter-flexible's windows start at a key's first request): LIMIT per window [k W, (k+1) W). */
class FixedWindow {
  private window = -1;
  private count = 0;
  constructor(private readonly clock: ManualClock) {}
  tryAcquire(): boolean {
    const w = Math.floor(this.clock.now() / WINDOW_MS);
    if (w !== this.window) [this.window, this.count] = [w, 0];
    return this.count < LIMIT && ++this.count > 0;
  }
}

const clock = new ManualClock();
const limiters: { readonly label: string; tryAcquire(): boolean }[] = (() => {
  const bucket = new TokenBucket({ burst: LIMIT, refillPerSecond: (LIMIT * 1_000) / WINDOW_MS, capacity: 4, clock });
  const approximate = new SlidingWindow({ limit: LIMIT, windowMs: WINDOW_MS, mode: 'approximate', capacity: 4, clock });
  const exact = new SlidingWindow({ limit: LIMIT, windowMs: WINDOW_MS, mode: 'exact', capacity: 4, clock });
  const fixed = new FixedWindow(clock);
  return [
    { label: 'fixed window', tryAcquire: () => fixed.tryAcquire() },
    { label: `TokenBucket (${LIMIT}, ${LIMIT}/s)`, tryAcquire: () => bucket.tryAcquire('client') },
    { label: 'SlidingWindow approximate', tryAcquire: () => approximate.tryAcquire('client') },
    { label: 'SlidingWindow exact', tryAcquire: () => exact.tryAcquire('client') },
  ];
})();

/** Bursts of LIMIT requests, 10 ms apart, at these times: the end of window [0, 1 s), the start of the next, and so on. */
const BURSTS_MS = [900, 1_000, 1_900, 2_000];
const allowedAt: number[][] = limiters.map(() => []);
const edgeRows: Row[] = [];
for (const at of BURSTS_MS) {
  const row: Row = { requests: `${LIMIT} at ${at}-${at + 90} ms` };
  const counts = limiters.map(() => 0);
  for (let i = 0; i < LIMIT; i++) {
    clock.set(at + 10 * i);
    limiters.forEach((l, j) => {
      if (!l.tryAcquire()) return;
      counts[j]!++;
      allowedAt[j]!.push(clock.now());
    });
  }
  limiters.forEach((l, j) => (row[l.label] = counts[j]!));
  edgeRows.push(row);
}
/** The most requests allowed in any window [t, t + WINDOW_MS). */
const mostInAnyWindow = (times: readonly number[]): number =>
  Math.max(0, ...times.map((t) => times.filter((u) => u >= t && u < t + WINDOW_MS).length));
const most = allowedAt.map(mostInAnyWindow);
edgeRows.push({ requests: `most allowed in any ${WINDOW_MS} ms`, ...Object.fromEntries(limiters.map((l, j) => [l.label, most[j]!])) });
printTable(edgeRows);
console.log(
  `The fixed window counts per calendar window, so ${LIMIT} at the end of one and ${LIMIT} at the start of the next all pass: ${most[0]} in 190 ms. ` +
    `The bucket admits its burst plus what refills (at most ${LIMIT} + ${LIMIT}/s x t). ` +
    `The approximate window weighs the previous window's count; the exact one keeps the last ${LIMIT} times and admits a request only once the ${LIMIT}th latest is ${WINDOW_MS} ms old.\n`,
);
check(most[0] === 2 * LIMIT, `the fixed window let ${most[0]} through within ${WINDOW_MS} ms (twice its limit of ${LIMIT})`);
check(most[3]! <= LIMIT, `SlidingWindow exact: never more than ${LIMIT} in any ${WINDOW_MS} ms (most: ${most[3]})`);
check(
  edgeRows[2]![limiters[3]!.label] === LIMIT,
  `SlidingWindow exact: refused nothing once the earlier burst was ${WINDOW_MS} ms old (${edgeRows[2]![limiters[3]!.label]} of ${LIMIT} at 1900-1990 ms)`,
);

// ---- Part 3: a slow report behind a cache -----------------------------------

const REPORT_IDS = 40;
const PER_THREAD = quick ? 30 : 60;
const WORK_MS = quick ? 5 : 8;
console.log(
  `\nPart 3: ${THREADS} worker threads serve ${THREADS * PER_THREAD} report requests (${REPORT_IDS} reports, a few popular); a report takes ${WORK_MS} ms of CPU to build\n`,
);

// Popularity: Zipf (s = 1) over the reports; every thread opens report 0 (the dashboard) first, at the same moment.
const random = seededRandom(4); // the same report requests on every run
const weights = Array.from({ length: REPORT_IDS }, (_, i) => 1 / (i + 1));
const total = sum(weights);
function popularReport(): number {
  let x = random() * total;
  for (let i = 0; i < REPORT_IDS; i++) if ((x -= weights[i]!) < 0) return i;
  return REPORT_IDS - 1;
}
const requests = deal(Array.from({ length: THREADS * (PER_THREAD - 1) }, popularReport)).map((ids) => [0, ...ids]);
const distinct = new Set(requests.flat()).size;

interface ReportsRun {
  readonly builds: number;
  readonly latenciesMs: number[];
  readonly wrong: number;
  readonly ms: number;
  readonly joins: number | null;
  readonly loads: number | null;
}
async function serveReports(version: 'none' | 'per-thread' | 'shared'): Promise<ReportsRun> {
  const cache = new Cache<string>({ capacity: 256, maxKeyBytes: 16, maxValueBytes: 256, codec: 'string' });
  const builds = int32(1);
  const start = int32(START_WORDS);
  const started = nowMs();
  const results = (await Promise.all(
    requests.map((ids) =>
      pool.run(reportsTask({ kind: 'reports', version, ids, cache: cache.handle, workMs: WORK_MS, builds, start, parties: THREADS })),
    ),
  )) as ReportsResult[];
  const stats = cache.stats();
  return {
    builds: Atomics.load(builds, 0),
    latenciesMs: results.flatMap((r) => r.latenciesMs),
    wrong: sum(results.map((r) => r.wrong)),
    ms: nowMs() - started,
    joins: version === 'shared' ? stats.joins : null,
    loads: version === 'shared' ? stats.loads : null,
  };
}
const none = await serveReports('none');
const mapped = await serveReports('per-thread');
const cached = await serveReports('shared');
await pool.destroy();

const reportRow = (label: string, run: ReportsRun): Row => ({
  cache: label,
  requests: run.latenciesMs.length,
  'reports built': run.builds,
  'hit ratio': `${Math.round((1 - run.builds / run.latenciesMs.length) * 100)}%`,
  'waited for a build in flight': run.joins,
  'median µs': Math.round(quantile(run.latenciesMs, 0.5) * 1_000),
  'p95 µs': Math.round(quantile(run.latenciesMs, 0.95) * 1_000),
  'total ms': Math.round(run.ms),
});
printTable([reportRow('none', none), reportRow('a Map per thread', mapped), reportRow('sabre Cache, shared (getOrCompute)', cached)]);
console.log(
  `${distinct} different reports were requested. hit ratio = requests served without building. ` +
    `Every thread asks for report 0 first, at the same moment: with the shared cache one thread builds it and the others wait for that build ` +
    `(single-flight) instead of building it too.\n`,
);
check(
  [none, mapped, cached].every((r) => r.wrong === 0),
  `every report served was the right one (${none.wrong + mapped.wrong + cached.wrong} wrong)`,
);
check(none.builds === THREADS * PER_THREAD, `no cache: every request built its report (${none.builds} of ${THREADS * PER_THREAD})`);
check(
  cached.builds === distinct,
  `shared Cache: each of the ${distinct} reports built once for all ${THREADS} threads (${cached.builds} builds; a Map per thread: ${mapped.builds})`,
);
check(cached.loads === cached.builds, `Cache.stats(): loads = builds (${cached.loads})`);
check(
  quantile(cached.latenciesMs, 0.5) * 5 < quantile(none.latenciesMs, 0.5),
  `shared Cache: median latency well under no cache's (${round(quantile(cached.latenciesMs, 0.5), 3)} ms vs ${round(quantile(none.latenciesMs, 0.5), 2)} ms)`,
);
if (cached.joins === 0)
  console.log('note shared Cache: no request found a build in flight this time (the threads did not overlap on a miss)');

if (failures.length > 0) {
  console.error(`\n${failures.length} check(s) failed`);
  process.exit(1);
}
console.log('\nall checks passed');
