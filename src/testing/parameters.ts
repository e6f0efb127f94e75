/**
 * fast-check parameters for properties that run real threads, with the
 * environment switches every sabre property honours (no dependency on
 * fast-check itself: the object is plain and structurally one of its
 * `Parameters`).
 *
 *   SABRE_SEED=<n>    fast-check seed to replay (printed on failure as "seed")
 *   SABRE_PATH=<p>    fast-check path to replay (printed with the seed)
 *   SABRE_SOAK=1      long mode: `soakRuns` runs instead of `numRuns`
 */

import { inspect } from 'node:util';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What fast-check hands a plugin after the runs (the fields read here). */
interface RunDetailsLike {
  readonly failed: boolean;
  readonly seed: number;
  readonly counterexamplePath: string | null;
  readonly counterexample: unknown;
  readonly numRuns: number;
  readonly numShrinks: number;
  readonly errorInstance: unknown;
}

export interface PropertyParameters {
  readonly numRuns: number;
  readonly seed?: number;
  readonly path?: string;
  /** Stop at the first failure without shrinking (real-thread runs shrink slowly and noisily). */
  readonly endOnFailure: boolean;
  /** With `file`: a fast-check plugin whose failure message ends with the command that replays the counterexample. */
  readonly plugins?: (() => { onAllRunsComplete(details: RunDetailsLike): void })[];
}

/**
 * The error a failed property throws when `propertyParameters` knows its
 * file: the property's own error, then the counterexample and the command
 * that replays it (SABRE_SEED and SABRE_PATH).
 */
function replayError(details: RunDetailsLike, file: string): Error {
  const cause = details.errorInstance;
  const message = cause instanceof Error ? cause.message : String(cause);
  const path = details.counterexamplePath ?? '';
  const where = relative(process.cwd(), file.startsWith('file:') ? fileURLToPath(file) : file);
  const shrunk = details.numShrinks > 0 ? `, shrunk ${details.numShrinks} times` : '';
  return new Error(
    `${message}\n\nProperty failed at run ${details.numRuns}${shrunk}. Counterexample: ${inspect(details.counterexample, { depth: 4, breakLength: 120 })}\n` +
      `Replay: SABRE_SEED=${details.seed} SABRE_PATH=${path} npx vitest run ${where}`,
    { cause },
  );
}

/**
 * Parameters for a real-thread property: `numRuns` normally, `soakRuns` under
 * `SABRE_SOAK=1`, the replay seed and path from `SABRE_SEED` / `SABRE_PATH`.
 * Shrinking is off unless `shrink: true`. With `file` (the test file's
 * `import.meta.url`), a failure ends with the command that replays it.
 */
export function propertyParameters(
  options: { numRuns?: number; soakRuns?: number; shrink?: boolean; file?: string | URL } = {},
): PropertyParameters {
  const env = process.env;
  const numRuns = options.numRuns ?? 25;
  const soak = env.SABRE_SOAK === '1' || env.SABRE_SOAK === 'true';
  const seed = env.SABRE_SEED !== undefined && env.SABRE_SEED !== '' ? Number(env.SABRE_SEED) : undefined;
  if (seed !== undefined && !Number.isSafeInteger(seed))
    throw new TypeError(`SABRE_SEED must be an integer, got ${JSON.stringify(env.SABRE_SEED)}`);
  const path = env.SABRE_PATH !== undefined && env.SABRE_PATH !== '' ? env.SABRE_PATH : undefined;
  return {
    numRuns: soak ? (options.soakRuns ?? numRuns * 20) : numRuns,
    ...(seed !== undefined ? { seed } : {}),
    ...(path !== undefined ? { path } : {}),
    endOnFailure: options.shrink !== true,
    ...(options.file !== undefined
      ? {
          plugins: [
            () => ({
              onAllRunsComplete(details: RunDetailsLike): void {
                if (details.failed) throw replayError(details, String(options.file));
              },
            }),
          ],
        }
      : {}),
  };
}
