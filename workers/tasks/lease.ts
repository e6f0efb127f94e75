/**
 * Piscina tasks for part 5 of `examples/01-concurrency-control.ts`: two
 * holders of a lease on one account, the first of which stalls past its TTL.
 *   - 'A': lease the account, read the balance, stall (a stand-in for a long
 *     GC pause: this thread sleeps, knowing nothing of time passing), then
 *     write its update anyway with its old fencing token and release;
 *   - 'B': wait for the lease while A holds it, take it once A's lease has
 *     lapsed, read, write its update with its (larger) token, release;
 *   - 'warm-up': nothing (each worker imports this module outside the timings).
 *
 * The account is a `FencedResource` (writes carry the lease's token and the
 * store refuses a stale one) or, to show what fencing prevents, a plain shared
 * Int32Array cell that takes every write. The leases are real in both cases:
 * A's expires on the system clock and B gets the account only after that.
 *
 * The shared flags only order the story (B starts waiting once A holds the
 * lease; A's pause lasts until B is done); what happens to A's late write is
 * up to the store.
 */
import { threadId } from 'node:worker_threads';
import { FencedResource, LeaseLock, isSabreError, type FencedResourceHandle, type LeaseLockHandle } from '../../src/index.js';

/** Int32 words of the `flags` array shared with the example (zeroed per run). */
export const A_HOLDS = 0; // 1 once A holds the lease and has read the balance
export const B_DONE = 1; //  1 once B has written and released
export const FOREVER = 2; // never changes: A sleeps on it
export const FLAG_WORDS = 3;

/** Where the account's balance lives. */
export type AccountStore =
  { readonly kind: 'fenced'; readonly handle: FencedResourceHandle } | { readonly kind: 'plain'; readonly cell: Int32Array };

export type LeaseTask =
  | { readonly role: 'warm-up' }
  | {
      readonly role: 'A' | 'B';
      readonly leases: LeaseLockHandle;
      readonly store: AccountStore;
      /** The resource leased and the account's key in the store. */
      readonly resource: string;
      readonly flags: Int32Array;
      readonly ttlMs: number;
      /** What this holder takes off the balance it read. */
      readonly withdraw: number;
      /** A's pause: at least this long (and until B is done). */
      readonly stallMs: number;
      /** Give up on the other worker after this long (a broken run must not hang). */
      readonly hangMs: number;
    };

export interface LeaseEvent {
  /** `process.hrtime` in ms: one monotonic clock for all threads (the lease lock's system clock). */
  readonly atMs: number;
  readonly worker: 'A' | 'B';
  readonly event: string;
  readonly token: number | null;
  readonly result: string;
}

export interface LeaseResult {
  readonly worker: 'A' | 'B';
  readonly threadId: number;
  readonly token: number;
  /** When the lease was taken and when it lapses (unless released), on the lease lock's clock. */
  readonly acquiredAtMs: number;
  readonly expiresAtMs: number;
  readonly balanceRead: number;
  readonly balanceWritten: number;
  /** 'written', or the code of the error the write threw. */
  readonly write: string;
  readonly writeMessage: string;
  /** 'released', or the code of the error release() threw. */
  readonly release: string;
  readonly releaseMessage: string;
  readonly events: readonly LeaseEvent[];
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

interface Account {
  read(): number;
  write(token: number, balance: number): void;
}

function openAccount(store: AccountStore, key: string): Account {
  if (store.kind === 'fenced') {
    const fenced = FencedResource.from<number>(store.handle);
    return { read: () => fenced.read(key)!.value, write: (token, balance) => fenced.write(key, token, balance) };
  }
  const cell = store.cell;
  // A plain store has no use for the token: every write lands.
  return { read: () => Atomics.load(cell, 0), write: (_token, balance) => Atomics.store(cell, 0, balance) };
}

/** Sleeps until `flags[word]` is 1 or `ms` have passed. */
function waitFlag(flags: Int32Array, word: number, ms: number): boolean {
  const deadline = nowMs() + ms;
  for (let t = nowMs(); Atomics.load(flags, word) === 0 && t < deadline; t = nowMs()) Atomics.wait(flags, word, 0, deadline - t);
  return Atomics.load(flags, word) !== 0;
}

function raise(flags: Int32Array, word: number): void {
  Atomics.store(flags, word, 1);
  Atomics.notify(flags, word);
}

export default async function run(task: LeaseTask): Promise<LeaseResult | null> {
  if (task.role === 'warm-up') return null;
  const { role: worker, resource, flags, ttlMs, withdraw } = task;
  const leases = LeaseLock.from(task.leases);
  const account = openAccount(task.store, resource);
  const events: LeaseEvent[] = [];
  const log = (event: string, token: number | null, result: string, atMs = nowMs()): void => {
    events.push({ atMs, worker, event, token, result });
  };

  if (worker === 'B' && !waitFlag(flags, A_HOLDS, task.hangMs)) throw new Error(`B: A did not take the lease within ${task.hangMs} ms`);
  if (worker === 'B') {
    const holder = leases.holder(resource);
    log(
      'waits for the lease (acquireAsync)',
      null,
      holder ? `held by thread ${holder.threadId} with token ${holder.fencingToken}` : 'free',
    );
  }
  const lease =
    worker === 'A' ? leases.acquire(resource, { ttlMs }) : await leases.acquireAsync(resource, { ttlMs, timeoutMs: task.hangMs });
  if (lease === null) throw new Error(`${worker}: ${resource} stayed leased`);
  const token = lease.fencingToken;
  const acquiredAtMs = lease.expiresAt - ttlMs; // the lock's clock when the lease was taken
  log(`acquires ${resource} (ttl ${ttlMs} ms)`, token, `acquired token ${token}`, acquiredAtMs);

  const balanceRead = account.read();
  log('reads the balance', token, String(balanceRead));
  const balanceWritten = balanceRead - withdraw;

  if (worker === 'A') {
    raise(flags, A_HOLDS);
    log('stalls (GC pause)', token, `for at least ${task.stallMs} ms`);
    // The pause: this thread runs nothing, so it cannot renew, nor notice the lease lapse.
    const stalledAt = nowMs();
    waitFlag(flags, B_DONE, task.hangMs);
    const left = stalledAt + task.stallMs - nowMs();
    if (left > 0) Atomics.wait(flags, FOREVER, 0, left);
    log('wakes', token, `after ${(nowMs() - stalledAt).toFixed(0)} ms, unaware its lease lapsed`);
  }

  let write = 'written',
    writeMessage = '';
  try {
    account.write(token, balanceWritten);
    log(`writes balance ${balanceWritten} (${balanceRead} - ${withdraw})`, token, 'written');
  } catch (e) {
    if (!isSabreError(e, 'ERR_CONFLICT')) throw e;
    [write, writeMessage] = [e.code, e.message];
    log(`writes balance ${balanceWritten} (${balanceRead} - ${withdraw})`, token, `refused: ${e.name}, stale fencing token`);
  }

  let release = 'released',
    releaseMessage = '';
  try {
    lease.release();
    log('releases the lease', token, 'released');
  } catch (e) {
    if (!isSabreError(e, 'ERR_NOT_OWNER')) throw e;
    [release, releaseMessage] = [e.code, e.message];
    log('releases the lease', token, `threw ${e.name}${lease.expiresAt <= nowMs() ? ': lease expired' : ''}`);
  }
  if (worker === 'B') raise(flags, B_DONE);

  return {
    worker,
    threadId,
    token,
    acquiredAtMs,
    expiresAtMs: lease.expiresAt,
    balanceRead,
    balanceWritten,
    write,
    writeMessage,
    release,
    releaseMessage,
    events,
  };
}
