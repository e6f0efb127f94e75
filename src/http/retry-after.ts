/**
 * `Retry-After` as sabre sends it (RFC 9110 delay-seconds): whole seconds,
 * rounded up and at least 1, so a client that waits what it is told never
 * comes back early, and never sees 0 or NaN.
 */
export function retryAfterSeconds(ms: number): number {
  return Number.isFinite(ms) && ms > 0 ? Math.max(1, Math.ceil(ms / 1000)) : 1;
}
