/**
 * The chaos suite's scenarios: for each primitive, the step that worker
 * threads repeat while the controller (run.ts) kills them, and the
 * invariant checked from shared memory once every worker has stopped.
 *
 * A step calls `die(point)` between its shared-memory steps, including
 * inside critical sections: that is where a kill set by the controller
 * takes effect (`process.exit`, or an uncaught exception); `terminate()`
 * kills a worker anywhere, blocked waits included. So every scenario meets
 * a thread dying at each point of its protocol, and its invariant must hold
 * anyway: that is sabre's owner-death contract, checked from outside.
 *
 * Scenario state is plain data (handles and SharedArrayBuffers) so it can be
 * sent to every worker; each scenario opens it in its own thread.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { threadId } from 'node:worker_threads';
import {
  IdempotencyStore,
  LeaseLock,
  Mutex,
  Semaphore,
  ThreadRegistry,
  TokenBucket,
  VoteRegistry,
  isSabreError,
  type IdempotencyStoreHandle,
  type LeaseLockHandle,
  type MutexHandle,
  type SemaphoreHandle,
  type TokenBucketHandle,
  type VoteRegistryHandle,
} from '../src/index.js';

/** Where a step may be killed: the controller's kill word is read here. */
export type Die = (point: string) => void;

/** What a scenario reports after a run. */
export interface Verdict {
  /** Each broken invariant, in words (empty when all held). */
  readonly violations: string[];
  /** What was checked, with its figures. */
  readonly checked: string;
}

export interface Scenario<S, O> {
  readonly name: string;
  /** What the invariant is, in words (the report's column). */
  readonly invariant: string;
  /** Makes the shared state (main thread). */
  setup(): S;
  /** Opens it in a worker. */
  open(state: S): O;
  /** One operation, by the worker in slot `slot`. */
  step(o: O, slot: number, die: Die): void;
  /** Checks the invariant after every worker stopped (main thread; may wait for recovery). */
  check(state: S): Promise<Verdict>;
}

/** Slots for worker bookkeeping: more than the workers ever started in one run. */
export const SLOTS = 4096;

const alive = (tid: number): boolean => ThreadRegistry.current.isAlive(tid);
/** An error that is not sabre's is a test failure or a kill: pass it on. */
const rethrowForeign = (e: unknown): void => {
  if (!isSabreError(e)) throw e;
};

// ---- Mutex: no lost update, at most one holder ------------------------------

/** Words of the mutex scenario's data. */
const COUNTER = 0,
  INSIDE = 1,
  INTENT = 2, // 1 while an update is half done: OLD_COUNTER, SLOT and OLD_DONE say how to redo it
  OLD_COUNTER = 3,
  INTENT_SLOT = 4,
  OLD_DONE = 5,
  BOTH_INSIDE = 6, // times a thread found another inside
  DONE = 8; // then one word per slot: updates it made

interface MutexState {
  readonly mutex: MutexHandle;
  readonly data: SharedArrayBuffer;
}

const mutexScenario: Scenario<MutexState, { m: Mutex; d: Int32Array }> = {
  name: 'Mutex',
  invariant: 'no lost update (counter = updates made), at most one holder',
  setup: () => ({ mutex: new Mutex().handle, data: new SharedArrayBuffer((DONE + SLOTS) * 4) }),
  open: (s) => ({ m: Mutex.from(s.mutex), d: new Int32Array(s.data) }),
  step: mutexStep(repairMutexData),
  async check(s) {
    const m = Mutex.from(s.mutex);
    const d = new Int32Array(s.data);
    // The last holder may have died: the lock recovers and the intent is redone, as a worker would.
    for (;;) {
      try {
        await m.lockAsync({ timeoutMs: 2000 });
        break;
      } catch (e) {
        rethrowForeign(e);
        if (!isSabreError(e, 'ERR_OWNER_DIED')) throw e;
        await m.lockAsync({ ignorePoison: true, timeoutMs: 2000 });
        repairMutexData(d);
        m.clearPoison();
        break;
      }
    }
    repairMutexData(d);
    m.unlock();
    let done = 0;
    for (let i = 0; i < SLOTS; i++) done += d[DONE + i]!;
    const violations: string[] = [];
    if (d[COUNTER] !== done) violations.push(`counter ${d[COUNTER]} but ${done} updates made`);
    if (d[BOTH_INSIDE] !== 0) violations.push(`${d[BOTH_INSIDE]} times two live threads held the lock`);
    return { violations, checked: `${done} updates` };
  },
};

/** The Mutex scenario's step; `recover` repairs what a holder that died left (the unsafe twin drops it instead). */
function mutexStep(recover: (d: Int32Array) => void): (o: { m: Mutex; d: Int32Array }, slot: number, die: Die) => void {
  return ({ m, d }, slot, die) => {
    die('before lock');
    try {
      m.lock();
    } catch (e) {
      rethrowForeign(e);
      // OwnerDiedError: the previous holder died inside. Take the lock anyway and repair what it left.
      m.lock({ ignorePoison: true });
      recover(d);
      m.clearPoison();
    }
    const me = threadId + 1;
    const other = Atomics.compareExchange(d, INSIDE, 0, me);
    if (other !== 0 && alive(other - 1)) Atomics.add(d, BOTH_INSIDE, 1);
    Atomics.store(d, INSIDE, me);
    die('inside, before the update');
    // A two-word update made crash-safe by an intent record (redo on recovery).
    Atomics.store(d, OLD_COUNTER, d[COUNTER]!);
    Atomics.store(d, INTENT_SLOT, slot);
    Atomics.store(d, OLD_DONE, d[DONE + slot]!);
    Atomics.store(d, INTENT, 1);
    die('inside, intent written');
    Atomics.store(d, COUNTER, d[OLD_COUNTER]! + 1);
    die('inside, counter written');
    Atomics.store(d, DONE + slot, d[OLD_DONE]! + 1);
    Atomics.store(d, INTENT, 0);
    die('inside, done');
    Atomics.store(d, INSIDE, 0);
    m.unlock();
  };
}

function repairMutexData(d: Int32Array): void {
  if (Atomics.load(d, INTENT) === 1) {
    Atomics.store(d, COUNTER, d[OLD_COUNTER]! + 1);
    Atomics.store(d, DONE + d[INTENT_SLOT]!, d[OLD_DONE]! + 1);
    Atomics.store(d, INTENT, 0);
  }
  Atomics.store(d, INSIDE, 0);
}

// ---- Semaphore: at most `permits` holders, every permit back ---------------

const PERMITS = 3;
const OVER = 0,
  HOLDING = 1; // then one word per slot: threadId + 1 while it holds a permit

interface SemaphoreState {
  readonly semaphore: SemaphoreHandle;
  readonly data: SharedArrayBuffer;
}

const semaphoreScenario: Scenario<SemaphoreState, { s: Semaphore; d: Int32Array }> = {
  name: 'Semaphore',
  invariant: `at most ${PERMITS} live holders, every permit back`,
  setup: () => ({ semaphore: new Semaphore(PERMITS).handle, data: new SharedArrayBuffer((HOLDING + SLOTS) * 4) }),
  open: (s) => ({ s: Semaphore.from(s.semaphore), d: new Int32Array(s.data) }),
  step({ s, d }, slot, die) {
    die('before acquire');
    s.acquire(1);
    Atomics.store(d, HOLDING + slot, threadId + 1);
    die('holding');
    let holders = 0;
    for (let i = 0; i < SLOTS; i++) {
      const t = Atomics.load(d, HOLDING + i);
      if (t !== 0 && alive(t - 1)) holders++;
    }
    if (holders > PERMITS) Atomics.add(d, OVER, 1);
    die('holding, counted');
    Atomics.store(d, HOLDING + slot, 0);
    s.release(1);
  },
  async check(st) {
    const s = Semaphore.from(st.semaphore);
    const d = new Int32Array(st.data);
    // Dead holders' permits come back when an acquirer lacks permits and proves them dead: ask for all of them.
    let all = false;
    for (let i = 0; i < 40 && !all; i++) {
      all = s.tryAcquire(PERMITS);
      if (!all) await sleep(50);
    }
    if (all) s.release(PERMITS);
    const violations: string[] = [];
    if (!all || s.available !== PERMITS) violations.push(`${s.available} of ${PERMITS} permits available after every worker stopped`);
    if (d[OVER] !== 0) violations.push(`${d[OVER]} times more than ${PERMITS} live threads held a permit`);
    return { violations, checked: `${s.available} of ${PERMITS} permits back` };
  },
};

// ---- IdempotencyStore: one live holder per key, every key completed once retried ----

const KEYS = 12;
const FP = 'f'.repeat(64);
const TWO_HOLDERS = 0,
  HOLDER = 1, // then one word per key: threadId + 1 of the thread that was told 'new'
  CHARGED = HOLDER + KEYS; // then one word per key: charges committed (with their complete)

interface IdempotencyState {
  readonly store: IdempotencyStoreHandle;
  readonly data: SharedArrayBuffer;
}

const idempotencyScenario: Scenario<IdempotencyState, { store: IdempotencyStore; d: Int32Array }> = {
  name: 'IdempotencyStore',
  invariant: 'one live holder per key; each key charged once, completed once retried',
  setup: () => ({
    // A dead owner's record is retryable at once; a live one's lease outlasts the run.
    store: new IdempotencyStore({ capacity: 64, leaseMs: 60_000, reclaimOnOwnerDeath: true }).handle,
    data: new SharedArrayBuffer((CHARGED + KEYS) * 4),
  }),
  open: (s) => ({ store: IdempotencyStore.from(s.store), d: new Int32Array(s.data) }),
  step({ store, d }, _slot, die) {
    const k = Math.floor(Math.random() * KEYS);
    const b = store.begin(`key-${k}`, FP);
    if (b.status !== 'new') return;
    const prev = Atomics.exchange(d, HOLDER + k, threadId + 1);
    if (prev !== 0 && alive(prev - 1)) Atomics.add(d, TWO_HOLDERS, 1);
    die('holding the key');
    // The charge commits with the record (as a transaction on the thread's own connection would):
    // a thread that dies before complete has charged nothing, and its key is retried.
    store.complete(b.token, { status: 201, body: `charged ${k}` });
    Atomics.add(d, CHARGED + k, 1);
    Atomics.compareExchange(d, HOLDER + k, threadId + 1, 0);
  },
  async check(s) {
    const store = IdempotencyStore.from(s.store);
    const d = new Int32Array(s.data);
    const violations: string[] = [];
    let completed = 0;
    for (let k = 0; k < KEYS; k++) {
      // Retry until the key is completed, as a client would (a dead owner's record is retryable at once).
      for (let tries = 0; ; tries++) {
        const b = store.begin(`key-${k}`, FP);
        if (b.status === 'replay') break;
        if (b.status === 'new') {
          store.complete(b.token, { status: 201, body: `charged ${k}` });
          Atomics.add(d, CHARGED + k, 1);
          break;
        }
        if (tries > 40) {
          violations.push(`key ${k} still ${b.status} after 2 s of retries`);
          break;
        }
        await sleep(50);
      }
      if (d[CHARGED + k] === 1) completed++;
      else violations.push(`key ${k} charged ${d[CHARGED + k]} times`);
    }
    if (d[TWO_HOLDERS] !== 0) violations.push(`${d[TWO_HOLDERS]} times two live threads held one key`);
    return { violations, checked: `${completed} of ${KEYS} keys charged exactly once` };
  },
};

// ---- VoteRegistry: tallies equal ballots --------------------------------------

const USERS = 200;
const CHOICES = ['red', 'green', 'blue'];

interface VoteState {
  readonly votes: VoteRegistryHandle;
}

const voteScenario: Scenario<VoteState, VoteRegistry> = {
  name: 'VoteRegistry',
  invariant: 'every tally equals its ballots',
  setup: () => ({ votes: new VoteRegistry({ capacity: USERS, choices: CHOICES }).handle }),
  open: (s) => VoteRegistry.from(s.votes),
  step(votes, _slot, die) {
    const user = `user-${Math.floor(Math.random() * USERS)}`;
    die('before voting');
    if (Math.random() < 0.2) votes.retract('poll', user);
    else votes.vote('poll', user, CHOICES[Math.floor(Math.random() * CHOICES.length)]!, { allowChange: true });
  },
  check(s) {
    const votes = VoteRegistry.from(s.votes);
    const counted: Record<string, number> = Object.fromEntries(CHOICES.map((c) => [c, 0]));
    for (let u = 0; u < USERS; u++) {
      const c = votes.ballot('poll', `user-${u}`);
      if (c !== null) counted[c]!++;
    }
    const tally = votes.tally('poll');
    const violations = CHOICES.filter((c) => (tally[c] ?? 0) !== counted[c]).map(
      (c) => `tally of ${c} is ${tally[c] ?? 0}, ballots say ${counted[c]}`,
    );
    const ballots = Object.values(counted).reduce((a, b) => a + b, 0);
    return Promise.resolve({ violations, checked: `${ballots} ballots` });
  },
};

// ---- LeaseLock: fencing tokens strictly increase per resource ---------------

const RESOURCES = 3;
const STALE = 0,
  LAST = 1; // then one word per resource: the largest token seen

interface LeaseState {
  readonly leases: LeaseLockHandle;
  readonly data: SharedArrayBuffer;
}

const leaseScenario: Scenario<LeaseState, { l: LeaseLock; d: Int32Array }> = {
  name: 'LeaseLock',
  invariant: 'fencing tokens strictly increase per resource, across deaths',
  setup: () => ({ leases: new LeaseLock({ capacity: 16 }).handle, data: new SharedArrayBuffer((LAST + RESOURCES) * 4) }),
  open: (s) => ({ l: LeaseLock.from(s.leases), d: new Int32Array(s.data) }),
  step({ l, d }, _slot, die) {
    const r = Math.floor(Math.random() * RESOURCES);
    const lease = l.acquire(`resource-${r}`, { ttlMs: 60_000, timeoutMs: 200 });
    if (lease === null) return;
    die('holding the lease');
    // A write fenced by the token: a store keeps the largest token; a smaller one is stale.
    for (;;) {
      const last = Atomics.load(d, LAST + r);
      if (lease.fencingToken <= last) {
        Atomics.add(d, STALE, 1);
        break;
      }
      if (Atomics.compareExchange(d, LAST + r, last, lease.fencingToken) === last) break;
    }
    die('wrote, before release');
    lease.release();
  },
  check(s) {
    const d = new Int32Array(s.data);
    const violations = d[STALE] === 0 ? [] : [`${d[STALE]} leases got a token not above an earlier one`];
    const tokens = Array.from({ length: RESOURCES }, (_, r) => d[LAST + r]!);
    return Promise.resolve({ violations, checked: `last tokens ${tokens.join(', ')}` });
  },
};

// ---- TokenBucket: the bound holds ---------------------------------------------

const BURST = 20;
const RATE = 500;
const ALLOWED = 0; // and the start time, as a float64 at byte 8

interface BucketState {
  readonly bucket: TokenBucketHandle;
  readonly data: SharedArrayBuffer;
}

const bucketScenario: Scenario<BucketState, { b: TokenBucket; d: Int32Array }> = {
  name: 'TokenBucket',
  invariant: `allowed ≤ burst + rate × elapsed`,
  setup: () => {
    const data = new SharedArrayBuffer(16);
    new Float64Array(data, 8, 1)[0] = performance.timeOrigin + performance.now();
    return { bucket: new TokenBucket({ burst: BURST, refillPerSecond: RATE, capacity: 4 }).handle, data };
  },
  open: (s) => ({ b: TokenBucket.from(s.bucket), d: new Int32Array(s.data) }),
  step({ b, d }, _slot, die) {
    die('before the decision');
    if (b.tryAcquire('client')) Atomics.add(d, ALLOWED, 1);
  },
  check(s) {
    const d = new Int32Array(s.data);
    const startedAt = new Float64Array(s.data, 8, 1)[0]!;
    const elapsedS = (performance.timeOrigin + performance.now() - startedAt) / 1000;
    const bound = BURST + RATE * elapsedS + 1;
    const allowed = d[ALLOWED]!;
    const violations = allowed <= bound ? [] : [`${allowed} allowed, more than the bound ${bound.toFixed(0)}`];
    return Promise.resolve({ violations, checked: `${allowed} allowed of at most ${bound.toFixed(0)}` });
  },
};

/**
 * The unsafe twin of the Mutex scenario, for the meta-test: its recovery
 * does not redo a half-done update, and its workers die only right after
 * writing the counter, so any death leaves a lost update the check must see.
 */
const mutexWithoutRepair: Scenario<MutexState, { m: Mutex; d: Int32Array }> = {
  ...mutexScenario,
  name: 'Mutex (unsafe twin: no repair)',
  step(o, slot, die) {
    const dropIntent = (d: Int32Array): void => {
      Atomics.store(d, INTENT, 0); // instead of redoing it: the dead thread's update is half lost
      Atomics.store(d, INSIDE, 0);
    };
    mutexStep(dropIntent)(o, slot, (point) => {
      if (point === 'inside, counter written') die(point);
    });
  },
};

/** Scenarios that must break their invariant (the meta-test of the checks). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each scenario has its own state types
export const UNSAFE_TWINS: readonly Scenario<any, any>[] = [mutexWithoutRepair];

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each scenario has its own state types
export const SCENARIOS: readonly Scenario<any, any>[] = [
  mutexScenario,
  semaphoreScenario,
  idempotencyScenario,
  voteScenario,
  leaseScenario,
  bucketScenario,
];
