/**
 * Benchmarks 19 and 20: what the resilience primitives cost when nothing fails.
 * 19. `CircuitBreaker.execute` on the success path (CLOSED, an async function
 *     that resolves), against cockatiel's `circuitBreaker(...).execute` and
 *     opossum's `fire()`, and against a bare `await fn()`: per call, and the
 *     overhead above the bare call. Also sabre with a call timeout (against
 *     opossum's default, which sets a timer per call) and in failure-rate
 *     mode, and `executeSync` against a bare synchronous call.
 * 20. `retry(fn)` when fn succeeds at once, against a bare `await fn()` (and
 *     with a shared RetryBudget, which records the call), with cockatiel's
 *     retry policy for reference.
 */
import { circuitBreaker, ConsecutiveBreaker, ExponentialBackoff, handleAll, retry as cockatielRetry } from 'cockatiel';
import Opossum from 'opossum';
import { CircuitBreaker } from '../src/resilience/circuit-breaker.js';
import { retry } from '../src/resilience/retry.js';
import { RetryBudget } from '../src/resilience/retry-budget.js';
import { fmtNs, fmtRatio, interleave, median, timeLoop, timeLoopAsync, type Section } from './lib/stats.js';

export interface ResilienceConfig {
  readonly rounds: number;
  readonly sampleMs: number;
}

const BATCH = 1000;
const work = async (): Promise<number> => 1;
const workSync = (): number => 1;

/** Median over rounds of (a[r] − base[r]) ÷ (b[r] − base[r]): overheads above the same bare call, round by round. */
function pairedOverheadRatio(a: readonly number[], b: readonly number[], base: readonly number[]): number {
  return median(a.map((x, i) => (x - base[i]!) / (b[i]! - base[i]!)));
}
const overhead = (a: readonly number[], base: readonly number[]): number => median(a.map((x, i) => x - base[i]!));
const ratioTo = (a: readonly number[], b: readonly number[]): number => median(a.map((x, i) => x / b[i]!));

export async function breakerOverhead(cfg: ResilienceConfig): Promise<Section> {
  const sabre = new CircuitBreaker({ failureThreshold: 5, resetTimeoutMs: 10_000 });
  const sabreTimed = new CircuitBreaker({ failureThreshold: 5, resetTimeoutMs: 10_000, timeoutMs: 10_000 });
  const sabreRate = new CircuitBreaker({ resetTimeoutMs: 10_000, failureRate: { threshold: 0.5, minimumCalls: 20, windowMs: 10_000 } });
  const cockatiel = circuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) });
  const opossum = new Opossum(work, { resetTimeout: 10_000 }); // default timeout: 10 s, a timer per call
  const opossumUntimed = new Opossum(work, { resetTimeout: 10_000, timeout: false });
  const variants = [
    () =>
      timeLoopAsync(
        async (n) => {
          for (let i = 0; i < n; i++) await work();
        },
        cfg.sampleMs,
        BATCH,
      ),
    () =>
      timeLoopAsync(
        async (n) => {
          for (let i = 0; i < n; i++) await sabre.execute(work);
        },
        cfg.sampleMs,
        BATCH,
      ),
    () =>
      timeLoopAsync(
        async (n) => {
          for (let i = 0; i < n; i++) await cockatiel.execute(work);
        },
        cfg.sampleMs,
        BATCH,
      ),
    () =>
      timeLoopAsync(
        async (n) => {
          for (let i = 0; i < n; i++) await opossumUntimed.fire();
        },
        cfg.sampleMs,
        BATCH,
      ),
    () =>
      timeLoopAsync(
        async (n) => {
          for (let i = 0; i < n; i++) await opossum.fire();
        },
        cfg.sampleMs,
        BATCH,
      ),
    () =>
      timeLoopAsync(
        async (n) => {
          for (let i = 0; i < n; i++) await sabreTimed.execute(work);
        },
        cfg.sampleMs,
        BATCH,
      ),
    () =>
      timeLoopAsync(
        async (n) => {
          for (let i = 0; i < n; i++) await sabreRate.execute(work);
        },
        cfg.sampleMs,
        BATCH,
      ),
    () =>
      timeLoop(
        (n) => {
          for (let i = 0; i < n; i++) workSync();
        },
        cfg.sampleMs,
        BATCH,
      ),
    () =>
      timeLoop(
        (n) => {
          for (let i = 0; i < n; i++) sabre.executeSync(workSync);
        },
        cfg.sampleMs,
        BATCH,
      ),
  ];
  for (const v of variants) await v();
  const [bare, s, c, ou, ot, st, sr, bareSync, ss] = (await interleave(cfg.rounds, variants)) as [
    number[],
    number[],
    number[],
    number[],
    number[],
    number[],
    number[],
    number[],
    number[],
  ];
  if (sabre.stats().successes === 0 || sabre.state !== 'CLOSED') throw new Error('the sabre breaker did not run its calls');
  const vsCockatiel = pairedOverheadRatio(c, s, bare);
  const perCall = ratioTo(c, s);
  const row = (name: string, xs: number[], base = bare): string[] => [
    name,
    fmtNs(median(xs)),
    fmtNs(overhead(xs, base)),
    fmtRatio(ratioTo(xs, s)),
  ];
  return {
    title: '19. CircuitBreaker.execute on the success path vs cockatiel and opossum (one thread)',
    intro: `One thread, a CLOSED breaker, \`await x.execute(fn)\` of \`async () => 1\` in a loop; ${cfg.rounds} interleaved rounds of ${cfg.sampleMs} ms; medians. "Overhead" is per call above a bare \`await fn()\` measured in the same round (median of per-round differences); the last column is per call relative to sabre's \`execute\` (paired).`,
    header: ['variant', 'per call', 'overhead', 'vs sabre `execute`'],
    rows: [
      row('bare `await fn()`', bare),
      row('sabre `execute` (consecutive failures; state shared by all threads)', s),
      row('cockatiel `circuitBreaker(handleAll, ConsecutiveBreaker).execute` (one thread)', c),
      row('opossum `fire()`, `timeout: false` (one thread)', ou),
      row('opossum `fire()`, default 10 s timeout: a timer per call', ot),
      row('sabre `execute` with `timeoutMs` (a deadline per call, one timer per breaker)', st),
      row('sabre `execute`, failure-rate mode (a bucket CAS per call)', sr),
      ['bare synchronous call', fmtNs(median(bareSync)), '–', '–'],
      ['sabre `executeSync` (for CPU-bound workers)', fmtNs(median(ss)), fmtNs(overhead(ss, bareSync)), '–'],
    ],
    goals: [
      {
        text: "sabre `execute` adds at most half the overhead of cockatiel's `execute` on the success path, while shared by all threads",
        met: vsCockatiel >= 2,
        detail: `overhead above a bare await: sabre ${fmtNs(overhead(s, bare))}, cockatiel ${fmtNs(overhead(c, bare))}, paired ratio ${fmtRatio(vsCockatiel)}; per call cockatiel ÷ sabre ${fmtRatio(perCall)}`,
      },
    ],
    notes: [
      "On the success path sabre reads the shared state word once, calls fn, and returns fn's own promise with one reaction attached (registered before the caller's await, so the outcome is counted before the caller resumes); the reaction checks the shared consecutive-failure word and adds to a per-thread statistics stripe. The handlers are made once per breaker period, not per call.",
      'Half the per-call time is the promise machinery every variant pays (a bare `await` of an async function); the overhead column is what each breaker adds to it.',
    ],
  };
}

export async function retryOverhead(cfg: ResilienceConfig): Promise<Section> {
  const options = { retries: 3, baseMs: 100, maxMs: 10_000, jitter: 'full' } as const;
  const budget = new RetryBudget({ ratio: 0.2 });
  const withBudget = { ...options, budget };
  const peer = cockatielRetry(handleAll, { maxAttempts: 3, backoff: new ExponentialBackoff() });
  const variants = [
    () =>
      timeLoopAsync(
        async (n) => {
          for (let i = 0; i < n; i++) await work();
        },
        cfg.sampleMs,
        BATCH,
      ),
    () =>
      timeLoopAsync(
        async (n) => {
          for (let i = 0; i < n; i++) await retry(work, options);
        },
        cfg.sampleMs,
        BATCH,
      ),
    () =>
      timeLoopAsync(
        async (n) => {
          for (let i = 0; i < n; i++) await retry(work, withBudget);
        },
        cfg.sampleMs,
        BATCH,
      ),
    () =>
      timeLoopAsync(
        async (n) => {
          for (let i = 0; i < n; i++) await peer.execute(work);
        },
        cfg.sampleMs,
        BATCH,
      ),
  ];
  for (const v of variants) await v();
  const [bare, r, rb, p] = (await interleave(cfg.rounds, variants)) as [number[], number[], number[], number[]];
  const ratio = ratioTo(r, bare);
  return {
    title: '20. retry when the first call succeeds, vs a bare call',
    intro: `One thread, \`await retry(fn, { retries: 3, baseMs: 100, maxMs: 10_000, jitter: 'full' })\` of \`async () => 1\` in a loop (one options constant, checked on every call and answered from the schema's memo); ${cfg.rounds} interleaved rounds of ${cfg.sampleMs} ms; medians; ratios paired.`,
    header: ['variant', 'per call', 'overhead', 'vs bare'],
    rows: [
      ['bare `await fn()`', fmtNs(median(bare)), '–', '1.00×'],
      ['sabre `retry`', fmtNs(median(r)), fmtNs(overhead(r, bare)), fmtRatio(ratio)],
      [
        'sabre `retry` with a shared `RetryBudget` (one deposit per call)',
        fmtNs(median(rb)),
        fmtNs(overhead(rb, bare)),
        fmtRatio(ratioTo(rb, bare)),
      ],
      [
        'cockatiel `retry(handleAll, { maxAttempts: 3 }).execute` (for reference)',
        fmtNs(median(p)),
        fmtNs(overhead(p, bare)),
        fmtRatio(ratioTo(p, bare)),
      ],
    ],
    goals: [
      {
        text: '`retry` of a call that succeeds costs at most 2× a bare awaited call',
        met: ratio <= 2,
        detail: `paired: ${fmtRatio(ratio)}, ${fmtNs(overhead(r, bare))} more per call`,
      },
    ],
    notes: [
      "The first attempt runs with no await of retry's own: fn's promise gets one rejection handler, and everything else (the loop, the waits, the budget's withdrawals) is in the slow path. With a budget, each call also deposits its share of a retry: one compare-and-swap on the budget's current bucket, shared by all threads.",
    ],
  };
}
