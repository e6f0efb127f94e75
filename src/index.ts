/**
 * sabre: shared-memory concurrency and reliability primitives for Node.js
 * worker threads. Every primitive's state lives in a SharedArrayBuffer; its
 * `handle` re-opens it in any thread with `P.from(handle)`.
 *
 * Integrations are subpath exports, each for an optional peer dependency:
 * `sabre/piscina` (task arguments), `sabre/comlink` (transfer handlers). This
 * entry imports neither package, nor their types. The verification toolkit is
 * `sabre/testing`.
 *
 * Each class's numeric limits and defaults are its static `limits`
 * (`TokenBucket.limits.capacity`), read off its declared options.
 */
export * from './errors.js';
export { systemClock, ManualClock, type Clock, type ClockOption, type ManualClockOptions, type ManualClockHandle } from './clock.js';
export type { Handle } from './memory/region.js';
export { SharedArena, type SharedArenaOptions, type SharedArenaHandle } from './memory/arena.js';
export { ThreadRegistry, type DeathListener } from './threads/registry.js';
export { watchWorker, watchPool, type WatchablePool } from './threads/watch.js';
export { spawnWorker, sibling } from './threads/spawn.js';
export {
  Mutex,
  MutexGuard,
  type MutexOptions,
  type MutexHandle,
  type MutexStats,
  type LockOptions,
  type LockAsyncOptions,
  type MutexAsyncOptions,
  type WaitForUnlockOptions,
} from './sync/mutex.js';
export {
  AtomicCounter,
  type AtomicCounterConstructor,
  type AtomicCounterOptions,
  type AtomicCounter32Options,
  type AtomicCounter64Options,
  type AtomicCounterHandle,
  type CounterBits,
  type CounterValue,
  type CounterInput,
} from './atomic/counter.js';
export { StripedCounter, type StripedCounterOptions, type StripedCounterHandle } from './atomic/striped-counter.js';
export {
  VersionedCell,
  type VersionedCellOptions,
  type VersionedCellHandle,
  type Versioned,
  type VersionedUpdate,
  type UpdateOptions,
} from './atomic/versioned-cell.js';
export type { Codec, CodecName } from './memory/codec.js';
export {
  Semaphore,
  SemaphoreGuard,
  type SemaphoreOptions,
  type SemaphoreHandle,
  type SemaphoreStats,
  type AcquireOptions,
  type AcquireAsyncOptions,
} from './sync/semaphore.js';
export { Latch, type LatchOptions, type LatchHandle, type LatchWaitOptions, type LatchWaitAsyncOptions } from './sync/latch.js';
export { Once, type OnceOptions, type OnceHandle, type OnceRunOptions, type OnceRunAsyncOptions } from './sync/once.js';
export { SeqLock, type SeqLockOptions, type SeqLockHandle, type SeqLockWriteOptions } from './atomic/seqlock.js';
export { RWLock, RWLockGuard, type RWLockOptions, type RWLockHandle, type RWLockStats } from './sync/rwlock.js';
export { Guard } from './sync/guard.js';
export {
  Condition,
  type ConditionOptions,
  type ConditionHandle,
  type ConditionWaitOptions,
  type ConditionWaitAsyncOptions,
} from './sync/condition.js';
export { SharedHashTable, type SharedHashTableOptions, type SharedHashTableHandle } from './table/shared-hash-table.js';
export type { TableKey } from './table/key.js';
export type { HashKey } from './table/hash.js';
export {
  LeaseLock,
  Lease,
  type LeaseLockOptions,
  type LeaseLockHandle,
  type AcquireLeaseOptions,
  type AcquireLeaseAsyncOptions,
} from './lock/lease-lock.js';
export { FencedResource, type FencedResourceOptions, type FencedResourceHandle } from './lock/fenced-resource.js';
export {
  LockManager,
  type LockManagerOptions,
  type LockManagerHandle,
  type LockRequestOptions,
  Lock,
  type LockInfo,
  type LockManagerSnapshot,
  type LockMode,
  type LockGrantedCallback,
} from './lock/lock-manager.js';
export { OnceRegistry, type OnceRegistryOptions, type OnceRegistryHandle, type Claim, type ClaimOptions } from './store/once-registry.js';
export {
  VoteRegistry,
  type VoteRegistryOptions,
  type VoteRegistryHandle,
  type VoteOptions,
  type VoteResult,
} from './store/vote-registry.js';
export {
  Cache,
  type CacheOptions,
  type CacheHandle,
  type CachePolicy,
  type CacheSetOptions,
  type GetOrComputeOptions,
  type CacheStats,
} from './store/cache.js';
export {
  BookingTable,
  type BookingTableOptions,
  type BookingTableHandle,
  type Booking,
  type Hold,
  type HoldOptions,
} from './store/booking-table.js';
export {
  IdempotencyStore,
  type IdempotencyStoreOptions,
  type IdempotencyStoreHandle,
  type IdempotencyResponse,
  type IdempotencyToken,
  type IdempotencyBegin,
  type IdempotencyFingerprintInput,
  type IdempotencyStats,
  type IdempotencyCounts,
} from './store/idempotency-store.js';
export {
  idempotent,
  IDEMPOTENCY_KEY_HEADER,
  IDEMPOTENT_REPLAYED_HEADER,
  type IdempotentRequest,
  type IdempotentRequestHeaders,
  type IdempotentOptions,
  type IdempotentReply,
  type IdempotentContext,
  type IdempotencyOutcome,
} from './store/idempotency-http.js';
export {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitBreakerLocalOptions,
  type CircuitBreakerHandle,
  type FailureRateOptions,
  type BreakerCall,
  type BreakerStats,
  type BreakerState,
  type BreakerTransition,
  type TransitionListener,
  type WaitForStateOptions,
} from './resilience/circuit-breaker.js';
export {
  retry,
  backoffDelay,
  retryAfterMsOf,
  parseRetryAfter,
  neverStarted,
  type RetryOptions,
  type RetryCall,
  type RetryInfo,
  type GiveUpInfo,
  type GiveUpReason,
  type Jitter,
  type RetryBudgetLike,
} from './resilience/retry.js';
export { RetryBudget, type RetryBudgetOptions, type RetryBudgetHandle, type RetryBudgetStats } from './resilience/retry-budget.js';
export {
  Bulkhead,
  type BulkheadOptions,
  type BulkheadHandle,
  type BulkheadExecuteOptions,
  type BulkheadStats,
} from './resilience/bulkhead.js';
export { TokenBucket, type TokenBucketOptions, type TokenBucketHandle } from './limit/token-bucket.js';
// eslint-disable-next-line @typescript-eslint/no-deprecated -- still exported, for code written against the old options
export type { LegacyTokenBucketOptions } from './limit/token-bucket.js';
export { SlidingWindow, type SlidingWindowOptions, type SlidingWindowHandle, type SlidingWindowMode } from './limit/sliding-window.js';
export {
  rateLimitHeaders,
  type RateLimitHeaders,
  type RateLimitDraft6Headers,
  type RateLimitDraft,
  type RateLimitHeadersOptions,
} from './limit/headers.js';
export {
  httpRateLimit,
  type HttpRateLimitOptions,
  type HttpRequestLike,
  type LimiterLike,
  type RateLimitGateOptions,
  type RateLimitVerdict,
} from './http/rate-limit.js';
export { addressKey } from './http/client-key.js';
export {
  httpCircuitBreaker,
  type BreakerAdmitted,
  type BreakerLike,
  type BreakerRefused,
  type HttpCircuitBreakerOptions,
} from './http/circuit-breaker.js';
export type { LimiterStats, RateLimitDecision, RateLimitPolicy } from './limit/decision.js';
export type { KeyedStats, WhenFull } from './table/when-full.js';
export {} from './limit/keyed-slots.js';
export type {
  BreakerStateMessage,
  BulkheadRejectedMessage,
  IdempotencyOutcomeMessage,
  LimitDeniedMessage,
  OwnerDiedMessage,
  RetryAttemptMessage,
  RetryGiveUpMessage,
} from './observe/channels.js';
