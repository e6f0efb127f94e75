/**
 * Hono middleware (`sabre/hono`): sabre's shared policies where an HTTP API
 * meets them. `hono` is an optional peer dependency of sabre: only this
 * entry imports it.
 */
export { circuitBreaker, type BreakerLike, type CircuitBreakerMiddlewareOptions } from './circuit-breaker/index.js';
export { idempotency, type IdempotencyEnv, type IdempotencyMiddlewareOptions, type IdempotencyVariable } from './idempotency/index.js';
export { rateLimit, type RateLimitEnv, type RateLimitMiddlewareOptions, type RateLimitVariable } from './rate-limit/index.js';
