/**
 * Test-only twins of the lease machinery, each missing one safeguard:
 * - `CheckThenSetLeases`: acquire reads the record and, seeing it free,
 *   writes its own in a separate step: two threads that both read "free"
 *   both hold the resource.
 * - `openDeafLeaseLock`: a real LeaseLock that never asks whether a holder's
 *   thread is alive: a dead holder's lease blocks everyone until it expires
 *   (with a frozen clock: forever).
 * - `CheckThenWriteFence`: reads the stored token, compares, then writes in
 *   a separate step: a writer that pauses between the two (the program
 *   passes its pause in) lands a stale write after a newer holder's.
 */
import { threadId } from 'node:worker_threads';
import { add } from '../../src/memory/atomics.js';
import { LeaseLock, type LeaseLockHandle } from '../../src/lock/lease-lock.js';
import { SharedHashTable } from '../../src/table/shared-hash-table.js';

interface Rec {
  holder: number;
  token: number;
}

export class CheckThenSetLeases {
  constructor(
    private readonly table: SharedHashTable<Rec>,
    private readonly tokens: Int32Array,
  ) {}
  acquire(resource: string): { fencingToken: number; release(): void } | null {
    if (this.table.get(resource) !== undefined) return null;
    const token = add(this.tokens, 0, 1) + 1;
    this.table.set(resource, { holder: threadId + 1, token }); // the bug: not the same step as the read
    return { fencingToken: token, release: () => void this.table.delete(resource) };
  }
}

class DeafLeaseLock extends LeaseLock {}
Object.defineProperty(DeafLeaseLock.prototype, 'live', { value: (r: { expiresAt: number }, now: number) => r.expiresAt > now });

/** A LeaseLock that treats a dead holder's lease as live. */
export function openDeafLeaseLock(handle: LeaseLockHandle): LeaseLock {
  return Object.setPrototypeOf(LeaseLock.from(handle), DeafLeaseLock.prototype) as LeaseLock;
}

export class CheckThenWriteFence {
  constructor(private readonly table: SharedHashTable<{ token: number; value: number }>) {}
  /** `between` runs after the check and before the write: where a writer's pause (GC, preemption) can fall. */
  write(key: string, token: number, value: number, between?: () => void): void {
    const r = this.table.get(key);
    if (r !== undefined && token < r.token) throw new Error('stale');
    between?.();
    this.table.set(key, { token, value }); // the bug: the check and the write are two steps
  }
  read(key: string): { token: number; value: number } | undefined {
    return this.table.get(key);
  }
}
