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

export interface PropertyParameters {
  readonly numRuns: number;
  readonly seed?: number;
  readonly path?: string;
  /** Stop at the first failure without shrinking (real-thread runs shrink slowly and noisily). */
  readonly endOnFailure: boolean;
}

/**
 * Parameters for a real-thread property: `numRuns` normally, `soakRuns` under
 * `SABRE_SOAK=1`, the replay seed and path from `SABRE_SEED` / `SABRE_PATH`.
 * Shrinking is off unless `shrink: true`.
 */
export function propertyParameters(options: { numRuns?: number; soakRuns?: number; shrink?: boolean } = {}): PropertyParameters {
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
  };
}
