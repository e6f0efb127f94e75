/**
 * sabre/redis: the keyed policies on Redis, for limits, records and leases
 * shared by several processes or machines. Each class has the calls and
 * answers of its shared-memory namesake, as promises (`await limiter.check(key)`
 * runs unchanged on either), and takes a connected ioredis or node-redis
 * client (RESP2 or RESP3). Each operation is one Lua script, run by SHA.
 */
export { RedisTokenBucket, type RedisTokenBucketOptions } from './token-bucket.js';
export { RedisSlidingWindow, type RedisSlidingWindowOptions } from './sliding-window.js';
export type { RedisLimiterOptions, RedisLimiterStats, LocalLimiter, WhenUnavailable } from './limiter.js';
export { RedisIdempotencyStore, type RedisIdempotencyStoreOptions, type RedisIdempotencyStats } from './idempotency-store.js';
export { RedisVoteRegistry, type RedisVoteRegistryOptions } from './vote-registry.js';
export { RedisOnceRegistry, type RedisOnceRegistryOptions } from './once-registry.js';
export { RedisLeaseLock, RedisLease, type RedisLeaseLockOptions } from './lease-lock.js';
export { RedisCircuitBreaker, type RedisCircuitBreakerOptions, type RedisBreakerSnapshot } from './circuit-breaker.js';
export type { RedisClientLike } from './connection.js';
export {
  TwoLevelLimiter,
  type TwoLevelLimiterOptions,
  type TwoLevelLimiterLocalOptions,
  type TwoLevelLimiterHandle,
  type TwoLevelStats,
} from './two-level-limiter.js';
