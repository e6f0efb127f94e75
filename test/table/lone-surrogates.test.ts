/**
 * A lone surrogate has no UTF-8 form: encoded as U+FFFD, 'k\uD800',
 * 'k\uDC00' and 'k\uFFFD' would be one key. Every keyed structure refuses
 * such a key with InvalidArgumentError, stores nothing, and keeps working;
 * 'k\uFFFD' itself is an ordinary key. (LockManager keeps names as UTF-16,
 * lone surrogates distinct: see its conformance suite.)
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/errors.js';
import { SharedHashTable } from '../../src/table/shared-hash-table.js';
import { Cache } from '../../src/store/cache.js';
import { TokenBucket } from '../../src/limit/token-bucket.js';
import { SlidingWindow } from '../../src/limit/sliding-window.js';
import { LeaseLock } from '../../src/lock/lease-lock.js';
import { OnceRegistry } from '../../src/store/once-registry.js';
import { VoteRegistry } from '../../src/store/vote-registry.js';
import { IdempotencyStore } from '../../src/store/idempotency-store.js';
import { BookingTable } from '../../src/store/booking-table.js';
import { expectCode } from '../helpers/errors.js';

const LONE = ['k\uD800', 'k\uDC00', 'k\uDBFF\uDBFF', '\uDFFFk'];
const REPLACEMENT = 'k\uFFFD';

/** A store, a way to use it with a key, and how many keys it holds. */
interface Case {
  name: string;
  make: () => { use: (key: string) => unknown; size: () => number };
}

const cases: Case[] = [
  {
    name: 'SharedHashTable',
    make: () => {
      const t = new SharedHashTable<string>({ capacity: 8, maxKeyBytes: 16, maxValueBytes: 16, codec: 'string' });
      return { use: (k) => t.set(k, 'v'), size: () => t.size };
    },
  },
  {
    name: 'Cache',
    make: () => {
      const c = new Cache<string>({ capacity: 8, maxKeyBytes: 16, maxValueBytes: 16, codec: 'string' });
      return { use: (k) => c.set(k, 'v'), size: () => c.size };
    },
  },
  {
    name: 'TokenBucket',
    make: () => {
      const b = new TokenBucket({ burst: 5, refillPerSecond: 1, capacity: 8 });
      return { use: (k) => b.tryAcquire(k), size: () => b.size };
    },
  },
  {
    name: 'SlidingWindow',
    make: () => {
      const w = new SlidingWindow({ limit: 5, windowMs: 1000, capacity: 8 });
      return { use: (k) => w.tryAcquire(k), size: () => w.size };
    },
  },
  {
    name: 'LeaseLock',
    make: () => {
      const l = new LeaseLock({ capacity: 8 });
      let held = 0;
      return {
        use: (k) => {
          if (l.acquire(k, { ttlMs: 60_000 }) !== null) held++;
        },
        size: () => held,
      };
    },
  },
  {
    name: 'OnceRegistry',
    make: () => {
      const r = new OnceRegistry({ capacity: 8 });
      let claimed = 0;
      return {
        use: (k) => {
          if (r.claim(k).claimed) claimed++;
        },
        size: () => claimed,
      };
    },
  },
  {
    name: 'VoteRegistry (user id)',
    make: () => {
      const v = new VoteRegistry({ capacity: 8, choices: ['yes', 'no'] });
      return { use: (k) => v.vote('poll', k, 'yes'), size: () => v.tally('poll').yes ?? 0 };
    },
  },
  {
    name: 'VoteRegistry (poll id)',
    make: () => {
      const v = new VoteRegistry({ capacity: 8, choices: ['yes', 'no'] });
      const polls: string[] = [];
      return {
        use: (k) => {
          v.vote(k, 'bob', 'yes');
          polls.push(k);
        },
        size: () => polls.reduce((n, p) => n + (v.tally(p).yes ?? 0), 0),
      };
    },
  },
  {
    name: 'IdempotencyStore',
    make: () => {
      const s = new IdempotencyStore({ capacity: 8, leaseMs: 60_000 });
      let fresh = 0;
      return {
        use: (k) => {
          if (s.begin(k, 'fp').status === 'new') fresh++;
        },
        size: () => fresh,
      };
    },
  },
  {
    name: 'BookingTable (resource)',
    make: () => {
      const b = new BookingTable({ capacity: 8 });
      let booked = 0;
      return {
        use: (k) => {
          b.book(k, 0, 10, 'holder');
          booked++;
        },
        size: () => booked,
      };
    },
  },
];

describe.each(cases)('$name', (c) => {
  it('refuses every key with a lone surrogate, stores nothing, and keeps working', () => {
    const store = c.make();
    for (const key of LONE) expectCode(() => store.use(key), ErrorCode.INVALID_ARG, /lone surrogate/);
    expect(store.size()).toBe(0);
    store.use(REPLACEMENT); // U+FFFD itself is an ordinary character
    store.use('plain');
    expect(store.size()).toBe(2);
  });
});

it('Cache.invalidatePrefix refuses a prefix with a lone surrogate rather than match U+FFFD keys', () => {
  const c = new Cache<string>({ capacity: 8, maxKeyBytes: 16, maxValueBytes: 16, codec: 'string' });
  c.set(REPLACEMENT, 'v');
  expectCode(() => c.invalidatePrefix('k\uD800'), ErrorCode.INVALID_ARG, /prefix .* lone surrogate/);
  expect(c.get(REPLACEMENT)).toBe('v');
  expect(c.invalidatePrefix('k\uFFFD')).toBe(1);
});
