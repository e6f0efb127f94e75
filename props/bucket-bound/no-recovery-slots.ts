/**
 * Test-only twin of TokenBucket whose sweeps never recover the claims of a
 * dead thread: a thread killed between claiming a slot for a new key and
 * publishing it leaves that slot claimed forever, and the table holds one
 * key less for good.
 */
import { TokenBucket, type TokenBucketHandle } from '../../src/limit/token-bucket.js';
import { KeyedSlots } from '../../src/limit/keyed-slots.js';

class NoRecoverySlots extends KeyedSlots {
  protected override claimerDied(): boolean {
    return false;
  }
}

/** Opens `handle` as the twin. */
export function openNoRecoveryBucket(handle: TokenBucketHandle): TokenBucket {
  const bucket = TokenBucket.from(handle);
  Object.setPrototypeOf((bucket as unknown as { slots: KeyedSlots }).slots, NoRecoverySlots.prototype);
  return bucket;
}
