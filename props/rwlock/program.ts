/**
 * Each thread makes `input.ops` entries into an RWLock-protected section,
 * each a write (chance `writeShare`) or a read, by a sync or async locker
 * (chance `asyncShare`). Inside, it counts itself into shared occupancy words
 * and counts a violation if a writer was not alone or a reader met a writer.
 *
 * Starvation measure: before a read acquisition starts, the reader notes how
 * many writes have completed (WRITES) and whether a writer has announced
 * itself and waits (`isWriterWaiting`). If one waits and, once inside, WRITES
 * has not moved, this read got in ahead of that waiting writer: an overtake,
 * counted against the write it overtook (`overtakes[w0]`). The property bounds
 * the overtakes of any one write.
 */
import { add, load, sub } from '../../src/memory/atomics.js';
import { RWLock, type RWLockHandle } from '../../src/sync/rwlock.js';
import { defineProgram } from '../../src/testing/index.js';
import { NoDrainRWLock } from './no-drain-rwlock.js';
import { ReaderPreferringRWLock } from './reader-preferring-rwlock.js';

export type RWLockUnderTest =
  | { readonly kind: 'rwlock'; readonly handle: RWLockHandle }
  | { readonly kind: 'no-drain' | 'reader-preferring'; readonly words: Int32Array };

export interface RWOccupancyShared {
  readonly lock: RWLockUnderTest;
  /** [READERS_IN, WRITERS_IN, VIOLATIONS, WRITES] */
  readonly words: Int32Array;
  /** Read acquisitions that overtook the write numbered by the index (writes completed before it). */
  readonly overtakes: Int32Array;
}
export const READERS_IN = 0,
  WRITERS_IN = 1,
  VIOLATIONS = 2,
  WRITES = 3;

export interface RWOccupancyInput {
  readonly ops: number;
  readonly writeShare: number;
  readonly asyncShare: number;
  /** Extra seam steps inside a read section (longer reads overlap more). */
  readonly readSteps: number;
}

interface RW {
  readonly isWriterWaiting: boolean;
  readLock(): void;
  readLockAsync(): Promise<void>;
  readUnlock(): void;
  writeLock(): void;
  writeLockAsync(): Promise<void>;
  writeUnlock(): void;
}

function open(lock: RWLockUnderTest): RW {
  if (lock.kind === 'rwlock') return RWLock.from(lock.handle);
  return lock.kind === 'no-drain' ? new NoDrainRWLock(lock.words) : new ReaderPreferringRWLock(lock.words);
}

export default defineProgram<RWOccupancyShared, RWOccupancyInput, void>(async (ctx) => {
  const { words, overtakes } = ctx.shared;
  const lock = open(ctx.shared.lock);
  const { ops, writeShare, asyncShare, readSteps } = ctx.input;
  for (let i = 0; i < ops; i++) {
    const sync = ctx.random() >= asyncShare;
    if (ctx.random() < writeShare) {
      if (sync) lock.writeLock();
      else await lock.writeLockAsync();
      if (add(words, WRITERS_IN, 1) !== 0 || load(words, READERS_IN) !== 0) add(words, VIOLATIONS, 1);
      load(words, READERS_IN); // a step inside, where a yield lets others try to enter
      if (load(words, READERS_IN) !== 0) add(words, VIOLATIONS, 1);
      add(words, WRITES, 1);
      sub(words, WRITERS_IN, 1);
      lock.writeUnlock();
    } else {
      const w0 = load(words, WRITES);
      const writerWaiting = lock.isWriterWaiting;
      if (sync) lock.readLock();
      else await lock.readLockAsync();
      add(words, READERS_IN, 1);
      if (load(words, WRITERS_IN) !== 0) add(words, VIOLATIONS, 1);
      if (writerWaiting && load(words, WRITES) === w0) add(overtakes, Math.min(w0, overtakes.length - 1), 1);
      for (let s = 0; s < readSteps; s++) load(words, WRITERS_IN);
      if (load(words, WRITERS_IN) !== 0) add(words, VIOLATIONS, 1);
      sub(words, READERS_IN, 1);
      lock.readUnlock();
    }
  }
});
