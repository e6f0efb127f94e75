/**
 * Sequential models for `checkLinearizable`: what a register, a counter and a
 * keyed map do when operations run one at a time. Operation names and
 * arguments are those a program records with `ctx.record(name, arg, fn)`.
 *
 * | model            | operations (arg → value)                                                      |
 * |------------------|-------------------------------------------------------------------------------|
 * | `registerModel`  | `read` → v; `write(v)`; `cas({ expected, next })` → boolean                   |
 * | `counterModel`   | `get` → n; `add(d)` → n after; `increment` / `decrement` → n after; `set(n)`   |
 * | `mapModel`       | `get({ key })` → v or undefined; `has({ key })` → boolean; `set({ key, value })`; |
 * |                  | `delete({ key })` → boolean; `setIfAbsent({ key, value })` → boolean;          |
 * |                  | `compareAndSet({ key, expected, next })` → boolean (partitioned by key)        |
 * | `cacheModel`     | `get({ key })` → v or undefined; `has({ key })` → boolean;                     |
 * |                  | `set({ key, value, ttlMs? })`; `delete({ key })` → boolean; `advance({ ms })`  |
 * |                  | (the clock; in every partition). An entry may vanish at any moment (eviction) |
 * | `kvModel`        | `get({ key })` → string (`''` if absent); `put({ key, value })`;                |
 * |                  | `append({ key, value })` (partitioned by key; porcupine's key-value model)     |
 * | `mutexModel`     | `acquire`; `tryAcquire` → boolean; `release` (the owner is the recording thread) |
 * | `semaphoreModel` | `acquire(n?)`; `tryAcquire(n?)` → boolean; `release(n?)`                        |
 * | `queueModel`     | `enqueue(v)`; `offer(v)` → boolean; `dequeue` / `poll` → v or undefined;        |
 * |                  | `take` (blocking) → v; `peek` → v or undefined; `size` → n                     |
 * | `idempotencyModel` | `begin({ key, fingerprint })` → `{ status }` (new, in-flight, replay + body,   |
 * |                  | mismatch); `complete({ key, body })`; `abort({ key })` (partitioned by key)       |
 *
 * An operation that returned an error is taken as having had no effect (it
 * fits any state and changes nothing): sabre's operations refuse before
 * they change anything. What `write` and `set` return is not checked, nor
 * what `add` returns when the program recorded none (`undefined`). An
 * operation whose output is unknown (indeterminate) is checked for its
 * effect alone. A specification with several possible outcomes per step is
 * written with `nondeterministicModel` (model.ts).
 */
export { registerModel } from './register.js';
export { counterModel } from './counter.js';
export { mapModel, type MapEntryState } from './map.js';
export { cacheModel, type CacheEntryState } from './cache.js';
export { kvModel, type KvState } from './kv.js';
export { mutexModel } from './mutex.js';
export { semaphoreModel } from './semaphore.js';
export { queueModel } from './queue.js';
export { idempotencyModel, type IdempotencyKeyState } from './idempotency.js';
