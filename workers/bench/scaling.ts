/**
 * The scaling benchmark's worker (`bench/scaling.ts`): one primitive's
 * operation in a loop until STOP, on handles every thread of the run
 * shares, counting into the bench control block (bench/lib/control.ts).
 */
import { threadId } from 'node:worker_threads';
import { AtomicCounter, type AtomicCounterHandle } from '../../src/atomic/counter.js';
import { Mutex, type MutexHandle } from '../../src/sync/mutex.js';
import { TokenBucket, type TokenBucketHandle } from '../../src/limit/token-bucket.js';
import { Cache, type CacheHandle } from '../../src/store/cache.js';
import { IdempotencyStore, type IdempotencyStoreHandle } from '../../src/store/idempotency-store.js';
import { GO, READY, STOP, countWord, type TaskMessage } from '../../bench/lib/control.js';
import { serveBench } from './serve.js';

export type ScalingTask =
  | { readonly kind: 'counter'; readonly handle: AtomicCounterHandle }
  | { readonly kind: 'mutex'; readonly handle: MutexHandle; readonly data: SharedArrayBuffer }
  | { readonly kind: 'bucket'; readonly handle: TokenBucketHandle; readonly keys: number }
  | { readonly kind: 'cache'; readonly handle: CacheHandle; readonly keys: number }
  | { readonly kind: 'idempotency'; readonly handle: IdempotencyStoreHandle; readonly keys: number };

function barrier(ctl: Int32Array): void {
  Atomics.add(ctl, READY, 1);
  Atomics.notify(ctl, READY);
  while (Atomics.load(ctl, GO) === 0) Atomics.wait(ctl, GO, 0, 50);
}

function counterLoop(ctl: Int32Array, count: number, c: AtomicCounter<number | bigint>): number {
  let ops = 0;
  while (Atomics.load(ctl, STOP) === 0) {
    c.increment();
    ctl[count] = ++ops;
  }
  return ops;
}

function mutexLoop(ctl: Int32Array, count: number, m: Mutex, data: Int32Array): number {
  let ops = 0;
  while (Atomics.load(ctl, STOP) === 0) {
    m.lock();
    data[0] = data[0]! + 1;
    m.unlock();
    ctl[count] = ++ops;
  }
  return ops;
}

function bucketLoop(ctl: Int32Array, count: number, b: TokenBucket, keys: readonly string[]): number {
  let ops = 0;
  while (Atomics.load(ctl, STOP) === 0) {
    b.tryAcquire(keys[ops % keys.length]!);
    ctl[count] = ++ops;
  }
  return ops;
}

function cacheLoop(ctl: Int32Array, count: number, c: Cache<string>, keys: readonly string[]): number {
  let ops = 0;
  while (Atomics.load(ctl, STOP) === 0) {
    c.get(keys[ops % keys.length]!);
    ctl[count] = ++ops;
  }
  return ops;
}

/** begin + complete on keys that cycle: a key comes round again after its record lapsed (a store of short retention), so each op takes it anew. */
function idempotencyLoop(ctl: Int32Array, count: number, s: IdempotencyStore, keys: readonly string[]): number {
  let ops = 0;
  const response = { status: 201, body: '{"id":"pay_1"}' };
  while (Atomics.load(ctl, STOP) === 0) {
    const b = s.begin(keys[ops % keys.length]!, 'fp');
    if (b.status === 'new') s.complete(b.token, response);
    ctl[count] = ++ops;
  }
  return ops;
}

function run({ task, control, slot }: TaskMessage<ScalingTask>): number {
  const ctl = new Int32Array(control);
  const count = countWord(slot);
  const keysOf = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  switch (task.kind) {
    case 'counter': {
      const c = AtomicCounter.from(task.handle);
      barrier(ctl);
      return counterLoop(ctl, count, c);
    }
    case 'mutex': {
      const m = Mutex.from(task.handle);
      const data = new Int32Array(task.data);
      barrier(ctl);
      return mutexLoop(ctl, count, m, data);
    }
    case 'bucket': {
      const b = TokenBucket.from(task.handle);
      const keys = keysOf(task.keys, `t${threadId}:`); // each thread its own clients
      barrier(ctl);
      return bucketLoop(ctl, count, b, keys);
    }
    case 'cache': {
      const c = Cache.from<string>(task.handle);
      const keys = keysOf(task.keys, 'k');
      barrier(ctl);
      return cacheLoop(ctl, count, c, keys);
    }
    case 'idempotency': {
      const s = IdempotencyStore.from(task.handle);
      const keys = keysOf(task.keys, `t${threadId}:`);
      barrier(ctl);
      return idempotencyLoop(ctl, count, s, keys);
    }
  }
}

serveBench(run);
