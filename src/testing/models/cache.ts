import type { Operation } from '../history.js';
import type { Model } from '../model.js';
import { sameData } from '../state-hash.js';
import { accept, byKey, unknownOperation } from './steps.js';

/** One key's entry of a cache model, and the model clock's time. */
export interface CacheEntryState {
  readonly present: boolean;
  readonly value?: unknown;
  /** On the model clock; Infinity: never. */
  readonly expiresAt: number;
  readonly now: number;
}

/**
 * A cache (Cache's contract) partitioned by key: a keyed map whose entries
 * may vanish at any moment (eviction: a `get` may miss, a `delete` may find
 * nothing), and which must never return an entry at or after its expiry.
 * `advance({ ms })` moves the model clock; it belongs to every partition, so
 * record advances from one thread only (their order is then fixed).
 *
 * Sound for TTLs: a `set` takes its expiry from the clock at its
 * linearization point, the latest time the real cache could have read, so
 * the model's expiry is never earlier than the real one; a value returned
 * after it is a real violation, and expiring early is allowed (as eviction).
 */
export function cacheModel(): Model<CacheEntryState> {
  const advances = (op: Operation): boolean => op.name === 'advance';
  return {
    init: () => ({ present: false, expiresAt: Infinity, now: 0 }),
    partition(ops) {
      const clockOps = ops.filter(advances);
      const parts = byKey('cacheModel', ops, clockOps);
      return parts.length === 0 ? [clockOps] : parts;
    },
    step(state, op, output) {
      if (output?.error !== undefined) return accept(state);
      const arg = op.arg as { key: string; value?: unknown; ttlMs?: number; ms?: number };
      const live = state.present && state.now < state.expiresAt;
      const gone: CacheEntryState = { present: false, expiresAt: Infinity, now: state.now };
      // A miss is always allowed, and afterwards the entry can never be read
      // again (until a new set): it was evicted, or it expired, perhaps
      // earlier than the model's expiry (a set reads the clock before its
      // linearization point) and then may still be there for a delete.
      const missed = (st: CacheEntryState): CacheEntryState => (st.present ? { ...st, expiresAt: Math.min(st.expiresAt, st.now) } : st);
      switch (op.name) {
        case 'advance':
          return accept({ ...state, now: state.now + (arg.ms ?? 0) });
        case 'get':
          if (output === undefined) return accept(state);
          if (output.value === undefined) return accept(missed(state));
          return { ok: live && sameData(state.value, output.value), state };
        case 'has':
          if (output === undefined) return accept(state);
          if (output.value === false) return accept(missed(state));
          return { ok: live, state };
        case 'set':
          return accept({
            present: true,
            value: arg.value,
            expiresAt: arg.ttlMs === undefined ? Infinity : state.now + arg.ttlMs,
            now: state.now,
          });
        case 'delete':
          // True only if the entry was there (expired or not); false is always allowed (it may have been evicted).
          return { ok: output === undefined || output.value === false || state.present, state: gone };
        default:
          return unknownOperation('cacheModel', op, 'get, has, set, delete, advance');
      }
    },
  };
}
