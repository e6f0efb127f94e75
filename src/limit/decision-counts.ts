/**
 * A limiter's decisions as `stats()` counts them (allowed, denied: striped
 * counters in its region, every thread's) and as `sabre:limit:denied`
 * tells them (to this thread's subscribers). Shared by TokenBucket and
 * SlidingWindow.
 */
import type { StripedCounter } from '../atomic/striped-counter.js';
import { counterSet, counterSetBytes, sums } from '../atomic/counter-set.js';
import type { Region } from '../memory/region.js';
import { limitDenied } from '../observe/channels.js';
import type { TableKey } from '../table/key.js';
import type { RateLimitDecision } from './decision.js';

const NAMES = ['allowed', 'denied'] as const;

/** Bytes the counts take in a limiter's region. */
export const DECISION_COUNTS_BYTES = counterSetBytes(NAMES.length);

export class DecisionCounts {
  private readonly counters: Record<(typeof NAMES)[number], StripedCounter>;

  constructor(
    region: Region,
    byteOffset: number,
    mode: 'create' | 'open',
    private readonly limiter: object,
  ) {
    this.counters = counterSet(region, byteOffset, NAMES, mode);
  }

  /** Counts an allowed request; true. */
  allowed(): true {
    this.counters.allowed.increment();
    return true;
  }

  /** Counts a refusal and publishes it; false. */
  denied(key: TableKey, n: number, decision: RateLimitDecision | undefined): false {
    this.counters.denied.increment();
    if (limitDenied.hasSubscribers) limitDenied.publish({ limiter: this.limiter, key, n, decision });
    return false;
  }

  /** Counts `d` (a `check`'s decision) and returns it. */
  count(key: TableKey, n: number, d: RateLimitDecision): RateLimitDecision {
    if (d.allowed) this.counters.allowed.increment();
    else this.denied(key, n, d);
    return d;
  }

  sums(): { readonly allowed: number; readonly denied: number } {
    return sums(this.counters);
  }
}
