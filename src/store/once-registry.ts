/**
 * OnceRegistry: actions that may happen once (or `maxUses` times, or once
 * per window) per key, across every thread: likes, one-time coupons, daily
 * rewards.
 */
import { float64Record, type Codec } from '../memory/codec.js';
import { definePrimitive, type HandleOf, type OpenedOf } from '../memory/primitive.js';
import type { SharedArena } from '../memory/arena.js';
import { clock, type Clock } from '../clock.js';
import { InvalidArgumentError } from '../errors.js';
import { describeValue } from '../validate.js';
import { integer, oneOf } from '../options/field.js';
import { WHEN_FULL, type KeyedStats, type WhenFull } from '../table/when-full.js';
import { defineOptions } from '../options/schema.js';
import { SharedHashTable, TABLE_FULL } from '../table/shared-hash-table.js';
import type { TableKey } from '../table/key.js';

/*
 * Implementation notes
 *
 * A SharedHashTable (nested region) from key to a 16-byte record [uses,
 * lastAt] (float64s; lastAt on the registry's clock). Every operation is one
 * `compute` on the key's record, under its table segment's lock: that
 * compute is the linearization point, so "has it been claimed?" and "claim
 * it" cannot be separated by another thread (the check-then-act race that
 * lets a like or a coupon count twice). A thread dying inside one leaves the
 * table to repair itself: the claim happened whole or not at all, and it is
 * counted exactly when it happened.
 */

const RECORD_BYTES = 16;

/** Default longest key, in UTF-8 bytes. */
export const DEFAULT_MAX_CLAIM_KEY_BYTES = 256;

export interface OnceRegistryOptions {
  /** Keys it holds (a key with no claims left takes no room). */
  readonly capacity: number;
  /** Longest key in UTF-8 bytes (default 256). */
  readonly maxKeyBytes?: number;
  /** The clock `claimWithin` windows run on (default `systemClock`; a `ManualClock` for tests). */
  readonly clock?: Clock;
  /**
   * What a claim on a new key gets when every key holds claims: `'throw'` a
   * CapacityError (default); `'fail-closed'` not claimed (`{ claimed:
   * false, full: true, retryAfterMs: Infinity }`: no reward is given twice,
   * and none is given); `'fail-open'` claimed but not recorded (`{ claimed:
   * true, full: true }`: the action runs, and a second claim of the key
   * would run it again). `stats().refusedWhenFull` counts each.
   */
  readonly whenFull?: WhenFull;
  readonly arena?: SharedArena;
}

/** The answer to a claim. */
export interface Claim {
  /** True if this call took the claim. */
  readonly claimed: boolean;
  /** Claims the key holds now (this one included, if taken). */
  readonly uses: number;
  /** 0 when claimed; when refused, ms until a `claimWithin` could succeed (Infinity: `maxUses` is spent). */
  readonly retryAfterMs: number;
  /** The registry clock's time of the decision. */
  readonly at: number;
  /** Present when the key found no room (`whenFull`): `claimed` is then the policy's answer, not a record. */
  readonly full?: true;
}

export interface ClaimOptions {
  /** How many claims the key allows in all (default 1). */
  readonly maxUses?: number;
}

interface UseRecord {
  readonly uses: number;
  readonly lastAt: number;
}

const recordCodec: Codec<UseRecord> = float64Record('uses', 'lastAt');

const tableSizes = (o: { readonly capacity: number; readonly maxKeyBytes: number }) => ({
  capacity: o.capacity,
  maxKeyBytes: o.maxKeyBytes,
  maxValueBytes: RECORD_BYTES,
});

const DEF = definePrimitive(
  'OnceRegistry',
  1,
  {
    capacity: integer({ max: 2 ** 24 }),
    maxKeyBytes: integer({ max: 65_535, default: DEFAULT_MAX_CLAIM_KEY_BYTES }),
    clock: clock(),
    whenFull: oneOf(WHEN_FULL, 'throw'),
  },
  {
    bodyBytes: (o) => SharedHashTable.byteLength(tableSizes(o)),
  },
);
export type OnceRegistryHandle = HandleOf<typeof DEF>;

export const CLAIM_OPTIONS = defineOptions('registry.claim(key, options)', {
  maxUses: integer({ default: 1 }),
});

export function windowOf(v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
    throw new InvalidArgumentError(`windowMs must be a finite number of milliseconds > 0, got ${describeValue(v)}`);
  return v;
}

/**
 * At most once per key, across every thread: the registry behind likes
 * ("one per user and post"), one-time coupons (`maxUses`) and daily rewards
 * (`claimWithin(key, 24 * 3600_000)`).
 *
 * `claim(key)` takes a claim if the key has fewer than `maxUses` (default 1);
 * `claimWithin(key, windowMs)` takes one if the key's last claim is at least
 * `windowMs` old on the registry's clock; `release(key)` gives one back (an
 * unlike, a coupon returned, a reward whose grant failed). Each is one
 * atomic step: two threads claiming the same key at once never both succeed
 * past the limit.
 *
 * Memory synchronization: a successful claim happens-before every later
 * claim of the key that sees it (and is refused because of it).
 *
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`) for a key too long, a
 *   maxUses or windowMs that is not positive, a bad or unknown option (named,
 *   with the one likely meant)
 * @throws CapacityError (`ERR_CAPACITY`) when a new key finds the registry full
 *
 * @example
 * ```ts
 * const likes = new OnceRegistry({ capacity: 1_000_000 });
 * if (likes.claim(`like:${postId}:${userId}`).claimed) await posts.increment(postId);
 * const rewards = new OnceRegistry({ capacity: 100_000 });
 * const r = rewards.claimWithin(`daily:${userId}`, 24 * 3600_000);
 * if (!r.claimed) reply(429, { retryAfterMs: r.retryAfterMs });
 * ```
 * @remarks Since 0.1
 */
export class OnceRegistry {
  /** The bounds and defaults of its numeric options, read off their declaration. */
  static readonly limits = DEF.limits;
  readonly handle: OnceRegistryHandle;
  readonly clock: Clock;
  private readonly table: SharedHashTable<UseRecord>;
  private readonly whenFull: WhenFull;

  constructor(options: OnceRegistryOptions | OpenedOf<typeof DEF>) {
    const { region, options: o, created } = DEF.resolve(options);
    this.clock = o.clock;
    this.handle = region.handle;
    this.table = SharedHashTable.nested(region, 0, tableSizes(o), recordCodec, created ? 'create' : 'open');
    this.whenFull = o.whenFull;
  }

  /** Keys with claims, capacity, and claims on new keys that found no room. */
  stats(): KeyedStats {
    return this.table.stats();
  }

  /** Re-opens a registry from its handle, in any thread. @throws HandleError */
  static from(handle: OnceRegistryHandle): OnceRegistry {
    return new OnceRegistry(DEF.open(handle));
  }

  /** Bytes a registry of these options takes. */
  static byteLength(options: OnceRegistryOptions): number {
    return DEF.byteLength(options);
  }

  /** Takes a claim on `key` if it has fewer than `maxUses` (default 1). */
  claim(key: TableKey, options?: ClaimOptions): Claim {
    const { maxUses } = CLAIM_OPTIONS.parse(options);
    return this.take(key, (r) => (r === undefined || r.uses < maxUses ? 0 : Infinity));
  }

  /** Takes a claim on `key` if its last claim is at least `windowMs` old (a daily reward: 24 h). */
  claimWithin(key: TableKey, windowMs: number): Claim {
    const w = windowOf(windowMs);
    return this.take(key, (r, now) => (r === undefined ? 0 : Math.max(0, r.lastAt + w - now)));
  }

  /** Gives back the key's latest claim. Returns false if it had none. */
  release(key: TableKey): boolean {
    let released = false;
    this.table.compute(key, (r) => {
      if (r === undefined) return undefined;
      released = true;
      return r.uses <= 1 ? undefined : { uses: r.uses - 1, lastAt: r.lastAt };
    });
    return released;
  }

  /** Claims `key` holds now (0 if none). */
  uses(key: TableKey): number {
    return this.table.get(key)?.uses ?? 0;
  }

  /** One claim attempt: `wait(record, now)` says how long until it may be taken (0: now). */
  private take(key: TableKey, wait: (r: UseRecord | undefined, now: number) => number): Claim {
    let claim!: Claim;
    // Linearization point: this compute (the check and the claim under one lock).
    const taken = this.table.computeIfRoom(
      key,
      (r) => {
        const now = this.clock.now();
        const retryAfterMs = wait(r, now);
        if (retryAfterMs > 0) {
          claim = { claimed: false, uses: r!.uses, retryAfterMs, at: now };
          return r;
        }
        const uses = (r?.uses ?? 0) + 1;
        claim = { claimed: true, uses, retryAfterMs: 0, at: now };
        return { uses, lastAt: now };
      },
      this.whenFull !== 'throw',
    );
    if (taken !== TABLE_FULL) return claim;
    const at = this.clock.now();
    return this.whenFull === 'fail-open'
      ? { claimed: true, uses: 1, retryAfterMs: 0, at, full: true }
      : { claimed: false, uses: 0, retryAfterMs: Infinity, at, full: true };
  }
}
