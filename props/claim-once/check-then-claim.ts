/**
 * Test-only twin of OnceRegistry: reads the key's record, decides, then
 * writes the new record in a separate step. Two threads that read the same
 * record both claim: a second like, a coupon redeemed past maxUses, two
 * daily rewards in one day.
 */
import type { Clock } from '../../src/clock.js';
import type { SharedHashTable } from '../../src/table/shared-hash-table.js';

interface UseRecord {
  uses: number;
  lastAt: number;
}
interface Claim {
  claimed: boolean;
  uses: number;
  at: number;
}

export class CheckThenClaim {
  constructor(
    private readonly table: SharedHashTable<UseRecord>,
    private readonly clock: Clock,
  ) {}

  claim(key: string, options: { maxUses?: number } = {}): Claim {
    return this.take(key, (r) => r === undefined || r.uses < (options.maxUses ?? 1));
  }

  claimWithin(key: string, windowMs: number): Claim {
    return this.take(key, (r, now) => r === undefined || now - r.lastAt >= windowMs);
  }

  private take(key: string, allowed: (r: UseRecord | undefined, now: number) => boolean): Claim {
    const r = this.table.get(key);
    const now = this.clock.now();
    if (!allowed(r, now)) return { claimed: false, uses: r!.uses, at: now };
    const uses = (r?.uses ?? 0) + 1;
    this.table.set(key, { uses, lastAt: now }); // the bug: not the same step as the read
    return { claimed: true, uses, at: now };
  }
}
