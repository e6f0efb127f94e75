/**
 * The eviction hook of SharedHashTable (internal): how a structure built on
 * the table (the Cache) says which entry to drop when an insert finds the
 * table full. The table samples; the policy judges.
 */

/** LIVE slots sampled per eviction (Redis samples 5; 8 measured closer to exact LRU on a Zipf trace). */
export const EVICTION_SAMPLE = 8;
/** Random slots looked at, at most, to find those samples (bounds an eviction in a sparse segment). */
export const EVICTION_SCAN = 64;

/** @internal */
export interface EvictionPolicy {
  /**
   * Picks the victim among `candidates[0 .. n)` (slot word indexes of LIVE
   * slots of one segment, whose lock the caller holds). Reads them through
   * the table's `stampOf`, `bornOf`, `hashOf` and `valueHead`; must not use
   * the table otherwise.
   */
  victim(candidates: Int32Array, n: number): number;
  /** Told of the victim (its slot still LIVE) just before it is removed. */
  evicted(at: number): void;
}
