/**
 * runHolding: calls a function while something is held (a lock, permits, a
 * bulkhead slot) and releases it when the function's result settles: at once
 * for a value or a throw, when the promise settles for a thenable. The one
 * "run while holding" of every `runExclusive`, `runRead` / `runWrite` and
 * `Bulkhead.run`.
 */
import { isThenable } from '../validate.js';

/** Calls `fn`, then `release()` once its result settles; returns `fn`'s value (a promise when `fn` returned a thenable). */
export function runHolding<T>(fn: () => T | PromiseLike<T>, release: () => void): T | Promise<T> {
  let result: T | PromiseLike<T>;
  try {
    result = fn();
  } catch (e) {
    release();
    throw e;
  }
  if (!isThenable(result)) {
    release();
    return result;
  }
  return Promise.resolve(result).then(
    (value) => {
      release();
      return value;
    },
    (error: unknown) => {
      release();
      throw error;
    },
  );
}
