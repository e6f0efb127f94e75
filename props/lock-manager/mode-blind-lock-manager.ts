/**
 * Test-only twin: a LockManager that grants a shared request at once, without
 * looking at the held modes (or the queue): a shared holder can then meet an
 * exclusive one. Exclusive requests, releases and the queue are the real
 * manager's. Used to show that the exclusion property sees a manager that
 * does not check held modes.
 */
import { threadId } from 'node:worker_threads';
import { LockManager, type LockManagerHandle } from '../../src/lock/lock-manager.js';
import * as records from '../../src/lock/lock-record.js';
import type { SharedHashTable } from '../../src/table/shared-hash-table.js';

interface Inside {
  table: SharedHashTable<records.LockRecord>;
  requestStep(ask: { key: Uint8Array; mode: string }, id: number): records.RequestStep;
}

/** Opens `handle` as a manager whose shared requests skip the grant rules. */
export function openModeBlindLockManager(handle: LockManagerHandle): LockManager {
  const lm = LockManager.from(handle);
  // The twin reaches into a private method on purpose: the same manager, minus the mode check.
  const inside = lm as unknown as Inside;
  // eslint-disable-next-line @typescript-eslint/unbound-method -- called below as original.call(this, …)
  const original = inside.requestStep;
  inside.requestStep = function (this: Inside, ask, id) {
    if (ask.mode !== 'shared') return original.call(this, ask, id);
    const entry: records.LockEntry = { thread: threadId, id, flags: records.SHARED, at: performance.now() };
    let step!: records.RequestStep;
    this.table.compute(ask.key, (current) => {
      const r = current ?? { flags: 0, held: [], queue: [] };
      const next = { flags: r.flags, held: [...r.held, entry], queue: r.queue }; // the bug: granted whatever is held
      step = { next, outcome: records.GRANTED, entry };
      return next;
    });
    return step;
  };
  return lm;
}
