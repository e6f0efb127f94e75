/**
 * sleep: a timer as a promise that an AbortSignal ends early (with
 * AbortError, the signal's reason as its cause). What `retry` waits with
 * between attempts, and `RedisLeaseLock#acquireAsync` between tries.
 */
import { AbortError } from './errors.js';

/** Resolves after `ms`; rejects with AbortError (`<what> aborted`) if `signal` fires first or has fired. */
export function sleep(ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortError(`${what} aborted`, signal.reason));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortError(`${what} aborted while waiting`, signal!.reason));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
