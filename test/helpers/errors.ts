/** Helpers for asserting sabre's typed errors, shared by the test suites. */
import { expect } from 'vitest';
import { isSabreError, type ErrorCode } from '../../src/errors.js';

/** What `fn` threw, or `undefined` if it returned. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** What `p` rejected with, or `undefined` if it fulfilled. */
export async function rejected(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  return undefined;
}

/**
 * Asserts that `fnOrError` (a function to call, or an error already caught)
 * is a sabre error with `code` and, if given, a message matching `message`.
 * Returns the error.
 */
export function expectCode(fnOrError: unknown, code: ErrorCode, message?: RegExp): unknown {
  const e = typeof fnOrError === 'function' ? thrown(fnOrError as () => unknown) : fnOrError;
  expect(isSabreError(e, code), `expected ${code}, got ${String(e)}`).toBe(true);
  if (message) expect((e as Error).message).toMatch(message);
  return e;
}
