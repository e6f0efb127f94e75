/**
 * Piscina task for `examples/05-circuit-breaker.ts`: one thread's share of a
 * load test against the flaky upstream. The thread issues calls at a fixed
 * rate (an open loop: callers keep arriving whether or not the upstream
 * answers, as users of a web service do), each call guarded as the mode
 * says, and returns one record per call and the breaker transitions it saw.
 *
 * Every thread of a run waits at a start line, then starts on the same
 * instant `t0` of the process-wide monotonic clock (the clock the breaker and
 * the upstream read too), so the records of all threads and the upstream's
 * log line up on one timeline.
 * The load is bounded: `durationMs × ratePerSecond / 1000` calls at most,
 * at most `maxInFlight` of them at once, each ending by its timeout.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { threadId } from 'node:worker_threads';
import { isSabreError } from '../../src/errors.js';
import {
  CircuitBreaker,
  type BreakerTransition,
  type CircuitBreakerHandle,
  type CircuitBreakerOptions,
} from '../../src/resilience/circuit-breaker.js';
import { retry } from '../../src/resilience/retry.js';
import { RetryBudget, type RetryBudgetHandle } from '../../src/resilience/retry-budget.js';

/**
 * How a call is guarded:
 * - `none`: one request with a timeout;
 * - `per-thread`: a CircuitBreaker this thread made for itself (its own memory);
 * - `shared`: the CircuitBreaker every thread opened from one handle;
 * - `retry`: `retry()` with exponential backoff, no breaker, no budget;
 * - `retry-budget`: the same, drawing on a RetryBudget shared by every thread.
 */
export type LoadMode = 'none' | 'per-thread' | 'shared' | 'retry' | 'retry-budget';

/** Breaker options that travel as data (the per-thread mode builds its breaker from them). */
export type BreakerSettings = Required<
  Pick<CircuitBreakerOptions, 'failureThreshold' | 'resetTimeoutMs' | 'halfOpenMaxCalls' | 'timeoutMs'>
>;

export interface RetrySettings {
  readonly retries: number;
  readonly baseMs: number;
  readonly maxMs: number;
}

/** Int32 words of a run's start line: threads ready, and set once the time zero is published. */
export const READY = 0,
  GO = 1,
  START_WORDS = 2;

/** One thread's share of a run. */
export interface LoadTask {
  readonly kind: 'load';
  readonly mode: LoadMode;
  readonly url: string;
  /** The start line (START_WORDS Int32 words): each thread adds itself to READY, then waits for GO. */
  readonly start: Int32Array;
  /** Written before GO: the run's time zero on the process-wide clock (ms); calls start at t0 + offsetMs. */
  readonly t0: Float64Array;
  readonly offsetMs: number;
  readonly durationMs: number;
  readonly ratePerSecond: number;
  readonly maxInFlight: number;
  /** A request's own timeout when no breaker times it (modes none, retry, retry-budget). */
  readonly callTimeoutMs: number;
  /** `shared`: the breaker's handle. */
  readonly breaker: CircuitBreakerHandle | null;
  /** `per-thread`: the options of this thread's own breaker. */
  readonly breakerSettings: BreakerSettings;
  readonly retry: RetrySettings;
  /** `retry-budget`: the budget's handle. */
  readonly budget: RetryBudgetHandle | null;
}

export type BreakerTask =
  /** Imports this module and opens a connection to the upstream, outside the timings. */
  { readonly kind: 'warm-up'; readonly url: string } | LoadTask;

/** How a call ended, for its caller. */
export type Outcome = 'ok' | 'upstream-error' | 'timeout' | 'failed-fast' | 'network-error' | 'shed';

export interface CallRecord {
  /** ms after t0 when the call was issued and when it settled. */
  readonly startMs: number;
  readonly endMs: number;
  readonly outcome: Outcome;
  /** A HALF_OPEN probe: its outcome closes or reopens the breaker. */
  readonly probe: boolean;
  /** Requests sent for this call (1 + the retries made). */
  readonly requests: number;
  /** Retries the shared budget refused (0 or 1: a refused retry ends the call). */
  readonly refused: number;
}

export interface LoadResult {
  readonly threadId: number;
  readonly calls: CallRecord[];
  /** The transitions this thread's subscription saw (`shared`: of the shared breaker; `per-thread`: of its own). */
  readonly transitions: BreakerTransition[];
}

/** The upstream answered with an HTTP error status. */
class UpstreamError extends Error {
  constructor(readonly status: number) {
    super(`upstream answered ${status}`);
  }
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** One request; the body is read to the end so the connection goes back to the pool. */
async function request(url: string, signal: AbortSignal | undefined): Promise<void> {
  const response = await fetch(url, signal === undefined ? {} : { signal });
  await response.arrayBuffer();
  if (!response.ok) throw new UpstreamError(response.status);
}

function outcomeOf(error: unknown): Outcome {
  if (error instanceof UpstreamError) return 'upstream-error';
  if (isSabreError(error, 'ERR_CIRCUIT_OPEN')) return 'failed-fast';
  if (isSabreError(error, 'ERR_TIMEOUT') || (error instanceof Error && error.name === 'TimeoutError')) return 'timeout';
  return 'network-error';
}

export default async function run(task: BreakerTask): Promise<LoadResult | number> {
  if (task.kind === 'warm-up') {
    // A few requests through a breaker and retry: the first run then finds the code compiled.
    const breaker = new CircuitBreaker({ failureThreshold: 5, resetTimeoutMs: 1_000, timeoutMs: 5_000 });
    for (let i = 0; i < 20; i++)
      await retry(() => breaker.execute((c) => request(`${task.url}?warm-up`, c.signal)), { retries: 1, idempotent: true });
    return threadId;
  }
  return load(task);
}

async function load(task: LoadTask): Promise<LoadResult> {
  const { mode, url } = task;
  const breaker =
    mode === 'shared' ? CircuitBreaker.from(task.breaker!) : mode === 'per-thread' ? new CircuitBreaker(task.breakerSettings) : undefined;
  const transitions: BreakerTransition[] = [];
  const unsubscribe = breaker?.onStateChange((t) => transitions.push(t));
  const sharedBudget = mode === 'retry-budget' ? RetryBudget.from(task.budget!) : undefined;
  const calls: CallRecord[] = [];

  // The start line: the time zero is set only once every thread is here and waiting, so that no
  // thread starts late and catches up with a burst. Plain Atomics: this is the example's harness.
  Atomics.add(task.start, READY, 1);
  while (Atomics.load(task.start, GO) === 0) await sleep(1);
  const t0 = task.t0[0]!;

  async function call(startMs: number): Promise<void> {
    let probe = false;
    let requests = 0;
    let refused = 0;
    let outcome: Outcome = 'ok';
    try {
      if (breaker !== undefined) {
        await breaker.execute((c) => {
          probe = c.probe;
          requests++;
          return request(url, c.signal); // the breaker's timeoutMs aborts it
        });
      } else if (mode === 'none') {
        requests++;
        await request(url, AbortSignal.timeout(task.callTimeoutMs));
      } else {
        // Counts the budget's refusals; retry() needs only deposit() and tryWithdraw().
        const budget =
          sharedBudget === undefined
            ? undefined
            : {
                deposit: () => sharedBudget.deposit(),
                tryWithdraw: () => {
                  const granted = sharedBudget.tryWithdraw();
                  if (!granted) refused++;
                  return granted;
                },
              };
        await retry(
          () => {
            requests++;
            return request(url, AbortSignal.timeout(task.callTimeoutMs));
          },
          // A GET: safe to repeat, so a timeout is retried too.
          { ...task.retry, jitter: 'full', idempotent: true, ...(budget === undefined ? {} : { budget }) },
        );
      }
    } catch (e) {
      outcome = outcomeOf(e);
    }
    calls.push({ startMs, endMs: nowMs() - t0, outcome, probe, requests, refused });
  }

  // The open loop: call i is due at t0 + offsetMs + i / rate, whatever the earlier calls are doing.
  const intervalMs = 1000 / task.ratePerSecond;
  const count = Math.floor(task.durationMs / intervalMs);
  const inFlight = new Set<Promise<void>>();
  for (let i = 0; i < count; i++) {
    const dueMs = task.offsetMs + i * intervalMs;
    const wait = t0 + dueMs - nowMs();
    if (wait >= 1) await sleep(wait);
    const startMs = nowMs() - t0;
    if (inFlight.size >= task.maxInFlight) {
      calls.push({ startMs, endMs: startMs, outcome: 'shed', probe: false, requests: 0, refused: 0 });
      continue;
    }
    const p = call(startMs).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  await Promise.all(inFlight);
  // The last transitions reach this thread's subscription through its event loop: let it run once more.
  await sleep(20);
  unsubscribe?.();
  return { threadId, calls, transitions };
}
