/**
 * 05: a circuit breaker shared by every worker thread, under a load test.
 *
 * A flaky upstream, a real HTTP server on 127.0.0.1, follows a script: it is
 * healthy, then down (every request answered 503), then slow (it answers
 * after a second, well past the callers' timeout), then recovered. Four
 * Piscina worker threads call it at a fixed rate (an open loop: callers keep
 * coming whether or not the upstream answers), in bounded runs of a few
 * seconds, each run with another guard around the call.
 *
 * Part 1. One `CircuitBreaker` shared by the four threads: the first failures
 * open it for all of them, every caller then fails fast with
 * `CircuitOpenError`, and after `resetTimeoutMs` a single probe (across all
 * threads) asks the upstream whether it is back; a timed-out probe counts as
 * a failure. A timeline (a table here, and an SVG drawn with Vega under
 * examples/out/) shows the transitions CLOSED → OPEN → HALF_OPEN → OPEN …
 * → CLOSED, the calls failed fast, the probes and the recovery. Then the
 * same load with a breaker per thread (each thread must learn of the outage
 * alone, and probes alone) and with none: the upstream requests made during
 * the outage, in a table.
 *
 * Part 2. Retries with exponential backoff (and full jitter) and no breaker:
 * without a budget every failing call turns into four requests, a retry storm
 * on an upstream that is already down; with a `RetryBudget` shared by every
 * thread, retries stay a small fraction of the calls.
 *
 * The example checks its own results and exits non-zero if the shared
 * breaker did not open during the outage and close after it, made an
 * illegal transition, let more than one probe through per HALF_OPEN period,
 * told a subscriber a different story than another, or counted other calls
 * than the workers saw; if it did not spare the upstream clearly more than
 * breakers per thread; or if the budget let the retries grow past its bound
 * or did not stop the storm.
 *
 *   npx tsx examples/05-circuit-breaker.ts [--quick]
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { CircuitBreaker, type BreakerStats, type BreakerTransition } from '../src/resilience/circuit-breaker.js';
import { RetryBudget, type RetryBudgetOptions } from '../src/resilience/retry-budget.js';
import {
  GO,
  READY,
  START_WORDS,
  type BreakerSettings,
  type BreakerTask,
  type CallRecord,
  type LoadMode,
  type LoadResult,
  type Outcome,
  type RetrySettings,
} from '../workers/tasks/breaker.js';
import { BOOTSTRAP, tsTask } from '../workers/ts-task.js';
import type { Span } from './breaker-chart.js';
import { printTable, type Row } from './table.js';

const quick = process.argv.includes('--quick');
const THREADS = 4;
/** Calls per second, per thread. */
const RATE = 25;
/** The upstream's script: how long each phase lasts, in order. */
const PHASES = quick ? { healthy: 100, down: 300, slow: 200, recovered: 550 } : { healthy: 200, down: 700, slow: 300, recovered: 700 };
type Phase = keyof typeof PHASES;
/** How long the slow upstream takes to answer. */
const SLOW_MS = 1_000;
const BREAKER: BreakerSettings = { failureThreshold: 5, resetTimeoutMs: 100, halfOpenMaxCalls: 1, timeoutMs: 250 };
/** The callers' timeout when no breaker times the call (the same as the breaker's). */
const CALL_TIMEOUT_MS = BREAKER.timeoutMs;
const RETRY: RetrySettings = { retries: 3, baseMs: 20, maxMs: 200 };
const BUDGET = { ratio: 0.1, minRetriesPerSecond: 5, windowMs: 1_000 } satisfies RetryBudgetOptions;
/** A thread never has more calls than this in flight (more are shed): the load stays bounded. */
const MAX_IN_FLIGHT = 100;
/** From the moment every thread waits at the start line to the run's time zero. */
const LEAD_MS = 20;
/** Rows of the text timeline, and slots of the chart. */
const ROW_MS = 100;
const SLOT_MS = 25;

// The pool's task, a TypeScript module run through one bootstrap (see workers/ts-task.ts).
const breakerTask = tsTask<BreakerTask>(new URL('../workers/tasks/breaker.ts', import.meta.url));
const REPO = fileURLToPath(new URL('..', import.meta.url));
const SVG_FILE = fileURLToPath(new URL('./out/05-circuit-breaker.svg', import.meta.url));

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const round = (n: number): number => Math.round(n);

const failures: string[] = [];
function check(ok: boolean, what: string): void {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures.push(what);
}

// ---- The upstream's script -------------------------------------------------

const SPANS: readonly (Span & { readonly label: Phase })[] = (() => {
  let at = 0;
  return (Object.keys(PHASES) as Phase[]).map((label) => ({ label, startMs: at, endMs: (at += PHASES[label]) }));
})();
const span = (phase: Phase): Span => SPANS.find((s) => s.label === phase)!;
const DURATION_MS = SPANS[SPANS.length - 1]!.endMs;
const OUTAGE = { startMs: span('down').startMs, endMs: span('slow').endMs };
const RECOVERY_MS = span('recovered').startMs;
const inOutage = (ms: number): boolean => ms >= OUTAGE.startMs && ms < OUTAGE.endMs;
const phaseAt = (ms: number): Phase => SPANS.find((s) => ms < s.endMs)?.label ?? 'recovered';

interface Arrival {
  /** ms after the run's start. */
  readonly atMs: number;
  readonly phase: Phase;
}

/** The flaky upstream: an HTTP server that follows the script from the time zero it is given. */
class FlakyUpstream {
  url = '';
  private t0 = Infinity;
  private arrivals: Arrival[] = [];
  private readonly server = createServer((req, res) => this.handle(req, res));

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/quote`;
  }

  /** Starts the script at `t0` (the process-wide clock, ms) and a fresh log of arrivals. */
  begin(t0: number): void {
    this.t0 = t0;
    this.arrivals = [];
  }

  /** Ends the run: the requests that arrived during it. */
  end(): Arrival[] {
    const arrivals = this.arrivals;
    this.t0 = Infinity;
    this.arrivals = [];
    return arrivals;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (req.url?.endsWith('?warm-up')) {
      reply(res, 200);
      return;
    }
    const atMs = nowMs() - this.t0;
    const phase = phaseAt(atMs);
    this.arrivals.push({ atMs, phase });
    if (phase === 'down') {
      reply(res, 503);
      return;
    }
    if (phase === 'slow') {
      const timer = setTimeout(() => reply(res, 200), SLOW_MS);
      res.once('close', () => clearTimeout(timer)); // the caller gave up and closed the connection
      return;
    }
    reply(res, 200);
  }
}

function reply(res: ServerResponse, status: number): void {
  const body = status === 200 ? '{"price":42}' : '{"error":"unavailable"}';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

// ---- One run: the load under one guard --------------------------------------

const LABELS: Record<LoadMode, string> = {
  none: 'no breaker',
  'per-thread': `a CircuitBreaker per thread (${THREADS})`,
  shared: 'one CircuitBreaker shared by all',
  retry: `retry x${RETRY.retries} with backoff, no budget`,
  'retry-budget': `retry x${RETRY.retries} with backoff + RetryBudget`,
};

interface Run {
  readonly mode: LoadMode;
  readonly label: string;
  readonly calls: readonly CallRecord[];
  readonly threads: number;
  readonly arrivals: readonly Arrival[];
  /** Each thread's subscription, times in ms after the start. */
  readonly perThread: readonly (readonly BreakerTransition[])[];
  /** `shared`: the main thread's subscription, times in ms after the start. */
  readonly transitions: readonly BreakerTransition[];
  readonly stats: BreakerStats | undefined;
}

const relativeTo =
  (t0: number) =>
  (t: BreakerTransition): BreakerTransition => ({ ...t, at: t.at - t0 });

async function runLoad(pool: Piscina, upstream: FlakyUpstream, mode: LoadMode): Promise<Run> {
  const breaker = mode === 'shared' ? new CircuitBreaker(BREAKER) : undefined;
  const seen: BreakerTransition[] = [];
  const unsubscribe = breaker?.onStateChange((t) => seen.push(t));
  const budget = mode === 'retry-budget' ? new RetryBudget(BUDGET) : undefined;
  const start = new Int32Array(new SharedArrayBuffer(4 * START_WORDS));
  const zero = new Float64Array(new SharedArrayBuffer(8));
  const task = (i: number): BreakerTask => ({
    kind: 'load',
    mode,
    url: upstream.url,
    start,
    t0: zero,
    offsetMs: (i * 1000) / RATE / THREADS, // the threads' calls interleave evenly
    durationMs: DURATION_MS,
    ratePerSecond: RATE,
    maxInFlight: MAX_IN_FLIGHT,
    callTimeoutMs: CALL_TIMEOUT_MS,
    breaker: breaker?.handle ?? null,
    breakerSettings: BREAKER,
    retry: RETRY,
    budget: budget?.handle ?? null,
  });
  const running = Promise.all(Array.from({ length: THREADS }, (_, i) => pool.run(breakerTask(task(i))))) as Promise<LoadResult[]>;
  // Every thread at the start line: publish the time zero, start the upstream's script, go.
  const deadline = nowMs() + 10_000;
  while (Atomics.load(start, READY) < THREADS && nowMs() < deadline) await sleep(1);
  const t0 = nowMs() + LEAD_MS;
  zero[0] = t0;
  upstream.begin(t0);
  Atomics.store(start, GO, 1);
  const results = await running;
  const arrivals = upstream.end();
  await sleep(20); // the last transition's delivery to this thread
  unsubscribe?.();
  return {
    mode,
    label: LABELS[mode],
    calls: results.flatMap((r) => r.calls),
    threads: new Set(results.map((r) => r.threadId)).size,
    arrivals,
    perThread: results.map((r) => r.transitions.map(relativeTo(t0))),
    transitions: seen.map(relativeTo(t0)),
    stats: breaker?.stats(),
  };
}

// ---- Reading a run -----------------------------------------------------------

const OUTCOME_LABELS: Record<Outcome, string> = {
  ok: 'ok',
  'upstream-error': 'upstream 5xx',
  timeout: 'timed out',
  'failed-fast': 'failed fast',
  'network-error': 'network error',
  shed: 'shed',
};
const count = (calls: readonly CallRecord[], outcome: Outcome): number => calls.filter((c) => c.outcome === outcome).length;
const sum = <T>(list: readonly T[], f: (x: T) => number): number => list.reduce((n, x) => n + f(x), 0);
/** Requests the upstream received while it was down or slow. */
const outageRequests = (run: Run): number => run.arrivals.filter((a) => a.phase === 'down' || a.phase === 'slow').length;
const opened = (ts: readonly BreakerTransition[]): readonly BreakerTransition[] => ts.filter((t) => t.from === 'CLOSED' && t.to === 'OPEN');
const lastClosed = (ts: readonly BreakerTransition[]): BreakerTransition | undefined => ts.filter((t) => t.to === 'CLOSED').at(-1);
const errorsSeen = (calls: readonly CallRecord[]): number => calls.filter((c) => c.outcome !== 'ok').length;

/** The shared breaker's states as spans (for the chart), from its transitions. */
function stateSpans(ts: readonly BreakerTransition[]): Span[] {
  const spans: Span[] = [];
  let state = 'CLOSED',
    since = 0;
  for (const t of ts) {
    spans.push({ label: state, startMs: since, endMs: Math.max(since, t.at) });
    state = t.to;
    since = Math.max(since, t.at);
  }
  spans.push({ label: state, startMs: since, endMs: DURATION_MS });
  return spans;
}

/** The breaker's state at `ms` after the start. */
const stateAt = (ts: readonly BreakerTransition[], ms: number): string => ts.filter((t) => t.at <= ms).at(-1)?.to ?? 'CLOSED';

/** The breaker column of a timeline row: the state at its start, then every transition inside it. */
function breakerCell(ts: readonly BreakerTransition[], from: number, to: number): string {
  const before = ts.filter((t) => t.at < from).at(-1);
  const inside = ts.filter((t) => t.at >= from && t.at < to);
  return [before?.to ?? 'CLOSED', ...inside.map((t) => t.to)].join('→').replaceAll('HALF_OPEN', 'HALF');
}

function timelineRows(run: Run): Row[] {
  const rows: Row[] = [];
  for (let from = 0; from < DURATION_MS; from += ROW_MS) {
    const to = from + ROW_MS;
    const calls = run.calls.filter((c) => c.startMs >= from && c.startMs < to);
    const probes = calls.filter((c) => c.probe);
    const phases = [...new Set(SPANS.filter((s) => s.startMs < to && s.endMs > from).map((s) => s.label))];
    rows.push({
      ms: `${from}-${to}`,
      upstream: phases.join('→'),
      breaker: breakerCell(run.transitions, from, to),
      calls: calls.length,
      ok: count(calls, 'ok'),
      '5xx': count(calls, 'upstream-error'),
      'timed out': count(calls, 'timeout'),
      'failed fast': count(calls, 'failed-fast'),
      probes: probes.length === 0 ? '' : probes.map((p) => OUTCOME_LABELS[p.outcome]).join(', '),
      'upstream requests': run.arrivals.filter((a) => a.atMs >= from && a.atMs < to).length,
    });
  }
  return rows;
}

// ---- The runs ----------------------------------------------------------------

const upstream = new FlakyUpstream();
await upstream.listen();
const startedAt = nowMs();
const pool = new Piscina({ filename: BOOTSTRAP, minThreads: THREADS, maxThreads: THREADS, atomics: 'async' });
// The chart module loads Vega (a second or so): meanwhile, while the workers start.
const chartModule = import('./breaker-chart.js');

// Each worker imports the task module and opens a connection once, outside the runs.
await Promise.all(Array.from({ length: THREADS }, () => pool.run(breakerTask({ kind: 'warm-up', url: upstream.url }))));

const script = SPANS.map((s) => `${s.label} ${s.startMs}-${s.endMs} ms`).join(', ');
console.log(`A flaky upstream on ${upstream.url}: ${script}${quick ? ' (--quick)' : ''}.`);
console.log(
  `down = every request answered 503; slow = answered after ${SLOW_MS} ms, past the callers' ${CALL_TIMEOUT_MS} ms timeout.\n` +
    `${THREADS} worker threads call it, ${RATE} calls/s each (${THREADS * RATE}/s in all), whatever the answers; five runs, one guard each.\n`,
);

const runs = new Map<LoadMode, Run>();
const warmedAt = nowMs();
for (const mode of ['none', 'per-thread', 'shared', 'retry', 'retry-budget'] as const) runs.set(mode, await runLoad(pool, upstream, mode));
await pool.destroy();
await upstream.close();
const runsMs = nowMs() - warmedAt;

const shared = runs.get('shared')!;
const perThread = runs.get('per-thread')!;
const none = runs.get('none')!;
const storm = runs.get('retry')!;
const budgeted = runs.get('retry-budget')!;

// ---- Part 1: the shared breaker's timeline ------------------------------------

console.log(
  `Part 1: one CircuitBreaker shared by the ${THREADS} threads ` +
    `(failureThreshold ${BREAKER.failureThreshold}, resetTimeoutMs ${BREAKER.resetTimeoutMs}, halfOpenMaxCalls ${BREAKER.halfOpenMaxCalls}, timeoutMs ${BREAKER.timeoutMs})\n`,
);
printTable(timelineRows(shared), { title: `Timeline: calls by the ${ROW_MS} ms in which they were issued, and how they ended` });
const sharedOpened = opened(shared.transitions);
const sharedClosed = lastClosed(shared.transitions);
const halfOpenPeriods = shared.transitions.filter((t) => t.to === 'HALF_OPEN').length;
const sharedProbes = shared.calls.filter((c) => c.probe);
console.log(
  `breaker: the state at the row's start, then each transition inside it (HALF = HALF_OPEN). ${shared.transitions.length} transitions: ` +
    `opened at ${sharedOpened.map((t) => `${round(t.at)} ms`).join(', ') || 'never'}, ` +
    `${halfOpenPeriods} HALF_OPEN periods with ${sharedProbes.length} probes in all (${sharedProbes.filter((p) => p.outcome === 'ok').length} ok), ` +
    `CLOSED again at ${sharedClosed === undefined ? 'never' : `${round(sharedClosed.at)} ms, ${round(sharedClosed.at - RECOVERY_MS)} ms after the upstream recovered`}.\n`,
);

// ---- Part 1: shared versus per-thread versus none ----------------------------

/** The breakers of a run, each as the transitions it made: one per thread, the shared one, or none. */
const breakersOf = (run: Run): readonly (readonly BreakerTransition[])[] =>
  run.mode === 'per-thread' ? run.perThread : run.mode === 'shared' ? [run.transitions] : [];
const compareRow = (run: Run): Row => {
  const breakers = breakersOf(run);
  const closes = breakers.map((ts) => lastClosed(ts)?.at);
  const guarded = breakers.length > 0;
  return {
    guard: run.label,
    calls: run.calls.length,
    'upstream requests in outage': outageRequests(run),
    'vs shared': `${(outageRequests(run) / Math.max(1, outageRequests(shared))).toFixed(1)}x`,
    'failed fast': count(run.calls, 'failed-fast'),
    probes: guarded ? run.calls.filter((c) => c.probe).length : null,
    'times opened': guarded ? sum(breakers, (ts) => opened(ts).length) : null,
    transitions: guarded ? sum(breakers, (ts) => ts.length) : null,
    'closed again (ms after recovery)':
      !guarded || closes.includes(undefined) ? null : round(Math.max(...(closes as number[])) - RECOVERY_MS),
    '5xx + timeouts seen': count(run.calls, 'upstream-error') + count(run.calls, 'timeout'),
  };
};
printTable([compareRow(none), compareRow(perThread), compareRow(shared)]);
console.log(
  `outage = ${OUTAGE.startMs}-${OUTAGE.endMs} ms (down, then slow). A breaker per thread must see ${BREAKER.failureThreshold} failures in every thread ` +
    `before that thread stops calling, and each thread sends its own probe every reset period: ${THREADS} probes where the shared breaker sends 1.\n` +
    `per-thread: times opened, transitions and probes are summed over the ${THREADS} breakers; closed again = when the last of them closed.\n`,
);

// Checks of Part 1.
const LEGAL = new Set(['CLOSED>OPEN', 'OPEN>HALF_OPEN', 'HALF_OPEN>OPEN', 'HALF_OPEN>CLOSED']);
const story = (ts: readonly BreakerTransition[]): string => ts.map((t) => `${t.seq}:${t.from}>${t.to}`).join(' ');
const legal = (ts: readonly BreakerTransition[]): boolean =>
  ts.every((t, i) => LEGAL.has(`${t.from}>${t.to}`) && t.seq === i + 1 && (i === 0 ? t.from === 'CLOSED' : t.from === ts[i - 1]!.to));
check(
  shared.threads === THREADS && perThread.threads === THREADS && [...runs.values()].every((r) => r.threads === THREADS),
  `every run used all ${THREADS} worker threads (${[...runs.values()].map((r) => r.threads).join(', ')})`,
);
check(legal(shared.transitions), `the shared breaker took only legal edges, in order (${shared.transitions.length} transitions)`);
check(
  sharedOpened.some((t) => t.at < OUTAGE.endMs) && stateAt(shared.transitions, OUTAGE.endMs) !== 'CLOSED',
  `the shared breaker opened when the upstream went down and stayed open or half-open through the outage ` +
    `(opened at ${sharedOpened.map((t) => `${round(t.at)} ms`).join(', ') || 'never'}; outage ${OUTAGE.startMs}-${OUTAGE.endMs} ms)`,
);
check(
  shared.transitions.some((t) => t.from === 'HALF_OPEN' && t.to === 'OPEN' && inOutage(t.at)),
  `probes during the outage failed and reopened it (${shared.transitions.filter((t) => t.from === 'HALF_OPEN' && t.to === 'OPEN').length} times)`,
);
check(
  sharedClosed !== undefined &&
    sharedClosed.at >= RECOVERY_MS &&
    shared.transitions.at(-1)?.to === 'CLOSED' &&
    shared.stats?.state === 'CLOSED',
  `a probe after the recovery closed it for good (at ${sharedClosed === undefined ? '-' : round(sharedClosed.at)} ms; recovery at ${RECOVERY_MS} ms; state at the end ${shared.stats?.state})`,
);
check(
  sharedProbes.length >= 1 && sharedProbes.length <= halfOpenPeriods * BREAKER.halfOpenMaxCalls,
  `at most ${BREAKER.halfOpenMaxCalls} probe per HALF_OPEN period across all threads (${sharedProbes.length} probes, ${halfOpenPeriods} periods)`,
);
check(
  shared.perThread.every((ts) => story(ts) === story(shared.transitions)),
  `every thread's onStateChange saw the same ${shared.transitions.length} transitions as the main thread's`,
);
const failedFast = count(shared.calls, 'failed-fast');
const failedCalls = count(shared.calls, 'upstream-error') + count(shared.calls, 'timeout') + count(shared.calls, 'network-error');
check(
  shared.stats?.rejections === failedFast &&
    shared.stats.successes === count(shared.calls, 'ok') &&
    shared.stats.failures === failedCalls &&
    shared.stats.timeouts === count(shared.calls, 'timeout'),
  `stats() over all threads matches the calls: ${shared.stats?.successes} successes, ${shared.stats?.failures} failures (${shared.stats?.timeouts} timeouts), ` +
    `${shared.stats?.rejections} rejections = ${failedFast} failed fast`,
);
check(
  perThread.perThread.every((ts) => opened(ts).some((t) => inOutage(t.at))),
  `every thread's own breaker had to open by itself (${perThread.perThread.map((ts) => opened(ts).length).join(', ')} times)`,
);
check(
  1.5 * outageRequests(shared) <= outageRequests(perThread) && outageRequests(perThread) < outageRequests(none),
  `the shared breaker sent the upstream clearly fewer requests during the outage: ${outageRequests(shared)}, ` +
    `against ${outageRequests(perThread)} with a breaker per thread and ${outageRequests(none)} with none`,
);

// ---- Part 2: retries, with and without the shared budget ----------------------

console.log(
  `\nPart 2: retry (${RETRY.retries} retries, backoff from ${RETRY.baseMs} ms to ${RETRY.maxMs} ms, full jitter), no breaker; ` +
    `then with a RetryBudget shared by the ${THREADS} threads (ratio ${BUDGET.ratio}, minRetriesPerSecond ${BUDGET.minRetriesPerSecond}, windowMs ${BUDGET.windowMs})\n`,
);
const totalRequests = (run: Run): number => run.arrivals.length;
const retriesMade = (run: Run): number => sum(run.calls, (c) => Math.max(0, c.requests - 1));
const refusals = (run: Run): number => sum(run.calls, (c) => c.refused);
const perCall = (run: Run): number => totalRequests(run) / Math.max(1, run.calls.length);
const retryRow = (run: Run, label: string): Row => ({
  policy: label,
  calls: run.calls.length,
  'upstream requests': totalRequests(run),
  'requests per call': Math.round(perCall(run) * 100) / 100,
  'of them in outage': outageRequests(run),
  'retries made': retriesMade(run),
  'refused by budget': run.mode === 'retry-budget' ? refusals(run) : null,
  'calls failed': errorsSeen(run.calls),
  'calls ok': count(run.calls, 'ok'),
});
printTable([retryRow(none, 'no retry'), retryRow(storm, LABELS.retry), retryRow(budgeted, LABELS['retry-budget'])]);
console.log(
  `Without a budget each call that fails tries ${RETRY.retries + 1} times: the upstream gets several times the load just when it is down. ` +
    `With the budget, retries are at most ${BUDGET.ratio} of the calls plus ${BUDGET.minRetriesPerSecond}/s over any ${BUDGET.windowMs} ms, ` +
    `counted across all threads; a refused retry ends its call with the last error.\n` +
    `Retries do rescue calls whose last tries land after the recovery (calls failed): in an outage of seconds rather than ` +
    `milliseconds they rescue none, and the storm goes on as long as the outage.\n`,
);

// Checks of Part 2. The budget's bound over the run: every window of windowMs allows the
// reserve plus ratio x its calls; one window more than the run spans covers the buckets' edges.
const runSpanMs = Math.max(...budgeted.calls.map((c) => c.endMs));
const windows = Math.ceil(runSpanMs / BUDGET.windowMs) + 1;
const budgetBound = Math.floor(windows * BUDGET.minRetriesPerSecond * (BUDGET.windowMs / 1000) + BUDGET.ratio * budgeted.calls.length);
const stormFailed = storm.calls.filter((c) => c.outcome !== 'ok');
check(
  stormFailed.every((c) => c.requests === RETRY.retries + 1) && retriesMade(storm) > 0,
  `without a budget every call that failed had tried ${RETRY.retries + 1} times (${stormFailed.length} calls): ` +
    `${retriesMade(storm)} retries, ${perCall(storm).toFixed(2)} upstream requests per call`,
);
check(
  retriesMade(budgeted) <= budgetBound && refusals(budgeted) > 0,
  `the shared budget refused retries and kept them within its bound (${retriesMade(budgeted)} made, ${refusals(budgeted)} refused; bound ${budgetBound} over ${Math.round(runSpanMs)} ms)`,
);
check(
  1.5 * totalRequests(budgeted) <= totalRequests(storm),
  `the budget stopped the retry storm: ${totalRequests(budgeted)} upstream requests against ${totalRequests(storm)} without it`,
);
const network = sum([...runs.values()], (r) => count(r.calls, 'network-error') + count(r.calls, 'shed'));
if (network > 0)
  console.log(`note ${network} calls ended in a network error or were shed (more than ${MAX_IN_FLIGHT} in flight in a thread)`);

// ---- The SVG timeline -----------------------------------------------------------

const slots = Array.from({ length: Math.ceil(DURATION_MS / SLOT_MS) }, (_, i) => i * SLOT_MS);
const chartOutcomes = slots.flatMap((startMs) => {
  const calls = shared.calls.filter((c) => c.startMs >= startMs && c.startMs < startMs + SLOT_MS);
  return (['ok', 'upstream-error', 'timeout', 'failed-fast'] as const).map((o) => ({
    startMs,
    outcome: OUTCOME_LABELS[o],
    calls: count(calls, o),
  }));
});
const chartRuns = [none, perThread, shared, storm, budgeted];
const requests = chartRuns.flatMap((run) => {
  const times = run.arrivals.map((a) => a.atMs).sort((a, b) => a - b);
  let i = 0;
  return [...slots, DURATION_MS].map((atMs) => {
    while (i < times.length && times[i]! < atMs) i++;
    return { atMs, run: run.label, total: i };
  });
});
const { renderTimelineSvg } = await chartModule;
const svg = await renderTimelineSvg({
  title: `A flaky upstream, ${THREADS} worker threads at ${THREADS * RATE} calls/s: one shared CircuitBreaker`,
  durationMs: DURATION_MS,
  phases: SPANS,
  states: stateSpans(shared.transitions),
  slotMs: SLOT_MS,
  outcomes: chartOutcomes,
  probes: sharedProbes.map((p) => ({ atMs: p.startMs, result: OUTCOME_LABELS[p.outcome] })),
  requests,
});
mkdirSync(fileURLToPath(new URL('./out/', import.meta.url)), { recursive: true });
writeFileSync(SVG_FILE, svg);
console.log(`\nThe timeline as a chart: ${relative(REPO, SVG_FILE)} (${Math.round(svg.length / 1024)} KiB)`);
check(svg.startsWith('<svg') && svg.includes('shared breaker') && svg.includes('</svg>'), 'the SVG timeline was drawn');
console.log(
  `Five runs of ${DURATION_MS} ms took ${(runsMs / 1000).toFixed(1)} s, after a ${((warmedAt - startedAt) / 1000).toFixed(1)} s warm-up.`,
);

if (failures.length > 0) {
  console.error(`\n${failures.length} check(s) failed`);
  process.exit(1);
}
console.log('\nall checks passed');
