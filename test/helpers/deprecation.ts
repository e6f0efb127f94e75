/** Watching the deprecation warnings of renamed options and properties. */
import { vi } from 'vitest';
import { resetDeprecationsForTesting } from '../../src/options/deprecate.js';

/**
 * Runs `fn` (which may return a promise) from a clean slate (no warning given
 * yet in this process) and returns the code of every warning it emitted, in
 * order: `['SABRE_DEP_TIMEOUT']` for an old name used any number of times.
 */
export async function deprecationsDuring(fn: () => unknown): Promise<string[]> {
  resetDeprecationsForTesting();
  const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
  try {
    await fn();
    return warn.mock.calls.map((call) => {
      const options = call[1];
      return options?.type === 'DeprecationWarning' && options.code !== undefined ? options.code : `not a deprecation: ${String(call[0])}`;
    });
  } finally {
    warn.mockRestore();
  }
}
