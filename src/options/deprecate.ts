/**
 * Deprecations: every name renamed in this release, and the one warning each
 * gives.
 *
 * A renamed option or method keeps working for one release and warns once
 * per process, as Node's own deprecations do: `process.emitWarning(message,
 * { type: 'DeprecationWarning', code })`, so `--no-deprecation`,
 * `--throw-deprecation` and `process.on('warning')` apply unchanged.
 *
 * Implementation notes
 *   "Once per process", not once per thread: the first thread that loads
 *   this module puts a small SharedArrayBuffer in `worker_threads` environment
 *   data (which every worker started afterwards inherits), one bit per entry
 *   of DEPRECATIONS. A thread warns only if its `or` set the bit. Bits are
 *   never cleared, except by the test-only `resetDeprecationsForTesting`.
 */
import { getEnvironmentData, setEnvironmentData } from 'node:worker_threads';
import { types } from 'node:util';
import * as seam from '../memory/atomics.js';

const { or, store } = seam;

/** Every deprecation of this release: code → what replaces the old name. */
export const DEPRECATIONS = {
  SABRE_DEP_TIMEOUT: 'the `timeout` option is now `timeoutMs` (every duration ends in Ms)',
  SABRE_DEP_BUCKET_CAPACITY: "TokenBucket's `capacity` option (tokens) is now `burst`; `capacity` counts keys",
  SABRE_DEP_LIMIT_KEYS: 'the `keys` option and property of TokenBucket and SlidingWindow are now `capacity`',
  SABRE_DEP_MAX_KEY_BYTES: 'key-size limits are now `maxKeyBytes` (was `maxResourceBytes`, `maxNameBytes` or `maxIdBytes`)',
  SABRE_DEP_POLLS: "VoteRegistry's `polls` option is now `maxPolls`",
  SABRE_DEP_WITH_LOCK: 'Mutex#withLock(fn) is now Mutex#runExclusiveSync(fn) (blocking forms of run… methods end in Sync)',
  SABRE_DEP_ACQUIRE_GUARD: 'Semaphore#acquireGuard/acquireGuardAsync are now acquire/acquireAsync, which return the guard',
  SABRE_DEP_WAIT_FOR_STATE:
    'CircuitBreaker#waitForState/waitForStateSync are now waitUntilAsync/waitUntil (waits block; …Async returns a promise)',
} as const;
export type DeprecationCode = keyof typeof DEPRECATIONS;

const CODES = Object.keys(DEPRECATIONS) as DeprecationCode[];
const ENV_KEY = 'sabre.deprecations.v1';
const WORDS = Math.ceil(CODES.length / 32) + 1; // +1: room to add codes without a new layout

function openOrCreate(): Int32Array {
  const found = getEnvironmentData(ENV_KEY);
  if (types.isSharedArrayBuffer(found) && found.byteLength === WORDS * 4) return new Int32Array(found);
  const buffer = new SharedArrayBuffer(WORDS * 4);
  setEnvironmentData(ENV_KEY, buffer);
  return new Int32Array(buffer);
}
const warned = openOrCreate();

/**
 * Emits the deprecation warning `code` unless some thread of this process
 * already has. `where` names the call site in the message (`new Mutex()`,
 * `lockAsync options`).
 */
export function deprecated(code: DeprecationCode, where?: string): void {
  const index = CODES.indexOf(code);
  const bit = 1 << (index & 31);
  if ((or(warned, index >> 5, bit) & bit) !== 0) return;
  process.emitWarning(
    `sabre: ${DEPRECATIONS[code]}${where === undefined ? '' : ` (in ${where})`}; the old name works until the next release`,
    {
      type: 'DeprecationWarning',
      code,
    },
  );
}

/** Forgets which warnings were given, so a test can watch one again. @internal */
export function resetDeprecationsForTesting(): void {
  for (let i = 0; i < warned.length; i++) store(warned, i, 0);
}
