/**
 * Test fixture: a worker that runs CircuitBreaker, Bulkhead and RetryBudget
 * operations when asked (driven through test/threads/remote.ts). Each request
 * `{ id, op, arg }` gets `{ id, ok: true, value }` or `{ id, ok: false, error }`.
 */
import { parentPort, threadId } from 'node:worker_threads';
import { CircuitBreaker, type BreakerTransition, type CircuitBreakerHandle } from '../src/resilience/circuit-breaker.js';
import { Bulkhead, type BulkheadHandle } from '../src/resilience/bulkhead.js';
import { RetryBudget, type RetryBudgetHandle } from '../src/resilience/retry-budget.js';

/** Cells of `cell` (an Int32Array the test passes): STARTED is set and notified when a held call has started. */
export const STARTED = 0;

interface Arg {
  breaker: CircuitBreakerHandle;
  bulkhead: BulkheadHandle;
  budget: RetryBudgetHandle;
  n: number;
  outcome: 'ok' | 'fail';
  cell: Int32Array;
  code: number;
}

const subscriptions: BreakerTransition[] = [];
let unsubscribe: (() => void) | undefined;
const never = new Promise<never>(() => {});

function started(cell: Int32Array): void {
  Atomics.add(cell, STARTED, 1);
  Atomics.notify(cell, STARTED);
}

/** What an operation threw, by code (errors keep their code across threads anyway; this keeps answers short). */
async function outcomeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return (e as { code?: string }).code ?? (e as Error).message;
  }
}

const ops: Record<string, (arg: Arg) => unknown> = {
  threadId: () => threadId,
  /** n failing calls through execute; answers the state after them. */
  breakerFail: async ({ breaker, n }) => {
    const b = CircuitBreaker.from(breaker);
    for (let i = 0; i < n; i++) await b.execute(() => Promise.reject(new Error('upstream down'))).catch(() => {});
    return b.state;
  },
  /** One call that succeeds or fails; answers 'ok' or the error's code or message. */
  breakerCall: ({ breaker, outcome }) =>
    outcomeOf(
      CircuitBreaker.from(breaker).execute(() => (outcome === 'ok' ? Promise.resolve(1) : Promise.reject(new Error('upstream down')))),
    ),
  breakerState: ({ breaker }) => CircuitBreaker.from(breaker).state,
  /** Starts a call that never settles (a probe, in HALF_OPEN) and answers once it runs (or with its refusal). */
  breakerHang: async ({ breaker, cell }) => {
    const b = CircuitBreaker.from(breaker);
    let probe = false;
    const p = b.execute((call) => {
      probe = call.probe;
      started(cell);
      return never;
    });
    p.catch(() => {});
    await Promise.resolve();
    if (Atomics.load(cell, STARTED) === 0) return outcomeOf(p);
    return probe ? 'probe' : 'running';
  },
  /** Subscribes to transitions; `seen` answers what arrived. */
  subscribe: ({ breaker }) => {
    unsubscribe = CircuitBreaker.from(breaker).onStateChange((t) => subscriptions.push(t));
  },
  seen: () => subscriptions,
  unsubscribe: () => unsubscribe?.(),
  /** Takes a bulkhead slot and holds it forever (answers once the call runs, or with the refusal). */
  bulkheadHold: async ({ bulkhead, cell }) => {
    const p = Bulkhead.from(bulkhead).execute(() => {
      started(cell);
      return never;
    });
    p.catch(() => {});
    await Promise.resolve();
    return Atomics.load(cell, STARTED) === 0 ? outcomeOf(p) : 'running';
  },
  /** One quick call through the bulkhead: 'ok' or the error code. */
  bulkheadRun: ({ bulkhead }) => outcomeOf(Bulkhead.from(bulkhead).execute(() => 1)),
  /** One quick call through the blocking form (waits for a slot for at most n ms). */
  bulkheadRunSync: ({ bulkhead, n }) => {
    try {
      Bulkhead.from(bulkhead).executeSync(() => 1, n);
      return 'ok';
    } catch (e) {
      return (e as { code?: string }).code;
    }
  },
  deposit: ({ budget, n }) => {
    const b = RetryBudget.from(budget);
    for (let i = 0; i < n; i++) b.deposit();
  },
  /** Tries n withdrawals; answers how many were granted. */
  withdraw: ({ budget, n }) => {
    const b = RetryBudget.from(budget);
    let granted = 0;
    for (let i = 0; i < n; i++) if (b.tryWithdraw()) granted++;
    return granted;
  },
  exit: ({ code }) => process.exit(code),
};

async function answer(request: { id: number; op: string; arg: Arg }): Promise<void> {
  try {
    const op = ops[request.op];
    if (op === undefined) throw new TypeError(`fixture-resilience: unknown op ${request.op}`);
    const value = await op(request.arg);
    parentPort!.postMessage({ id: request.id, ok: true, value });
  } catch (error) {
    parentPort!.postMessage({ id: request.id, ok: false, error });
  }
}
// Not awaited: answer() replies to every request, its errors included.
parentPort!.on('message', (request: { id: number; op: string; arg: Arg }) => void answer(request));
parentPort!.postMessage({ ready: true, threadId });
