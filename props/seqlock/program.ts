/**
 * Writers and readers of one SeqLock holding a record whose fields must agree:
 * a writer stores [n, 2n, 3n] (n unique per write), a reader checks every
 * record it reads and counts the torn ones in `shared.words[TORN]`. Reads and
 * writes are recorded (`write` n, `read` → n) for the linearizability check.
 *
 * `target.kind`: 'float64' (writeFrom/readInto), 'json' (write/read of
 * { n, double, triple }), or 'torn' (props/seqlock/torn-seqlock.ts).
 *
 * Role 'hold' (SeqLock targets only): starts a write and stops mid-way,
 * holding the write claim with the sequence odd (`_abandonWriteForTesting`),
 * then waits until `shared.words[RELEASE]` is set. Its first seam step after
 * abandoning is step HOLD_STEPS + 1: `kill: { atStep: HOLD_STEPS + 1 }` ends
 * the thread right there, a writer dead mid-write.
 */
import { SeqLock, type SeqLockHandle } from '../../src/atomic/seqlock.js';
import { add, load, wait } from '../../src/memory/atomics.js';
import { defineProgram } from '../../src/testing/index.js';
import { TornSeqLock } from './torn-seqlock.js';

export type SeqLockTarget =
  { readonly kind: 'float64' | 'json'; readonly lock: SeqLockHandle } | { readonly kind: 'torn'; readonly words: Int32Array };

export interface SeqLockShared {
  readonly target: SeqLockTarget;
  /** Int32 counters: TORN. */
  readonly words: Int32Array;
}

export interface SeqLockInput {
  readonly role: 'writer' | 'reader' | 'hold';
  /** Writes, or reads, this thread makes. */
  readonly ops: number;
}

/** Indexes in `shared.words`: torn records seen by readers; set to 1 to let a 'hold' thread return. */
export const TORN = 0,
  RELEASE = 1;
export const SHARED_WORDS = 2;
/** Seam steps of an uncontended `_abandonWriteForTesting` (claim CAS, load SEQ, store SEQ, store LEN). */
export const HOLD_STEPS = 4;
/** The record's field count. */
export const FIELDS = 3;
/** Writer `thread`'s i-th write stores n = thread * STRIDE + i (unique across writers). */
export const STRIDE = 1_000_000;

interface Record3 {
  n: number;
  double: number;
  triple: number;
}

export default defineProgram<SeqLockShared, SeqLockInput, void>(({ thread, input, shared, record }) => {
  const { target } = shared;
  const torn = target.kind === 'torn' ? new TornSeqLock(target.words, FIELDS) : undefined;
  const lock = target.kind === 'torn' ? undefined : SeqLock.from<Record3>(target.lock);
  const out = new Float64Array(FIELDS);

  const write = (n: number): void => {
    if (torn !== undefined) torn.writeFrom([n, 2 * n, 3 * n]);
    else if (target.kind === 'float64') lock!.writeFrom([n, 2 * n, 3 * n]);
    else lock!.write({ n, double: 2 * n, triple: 3 * n });
  };
  const read = (): number => {
    let n: number, double: number, triple: number;
    if (torn !== undefined || target.kind === 'float64') {
      (torn ?? lock!).readInto(out);
      [n, double, triple] = out as unknown as [number, number, number];
    } else {
      ({ n, double, triple } = lock!.read());
    }
    if (double !== 2 * n || triple !== 3 * n) add(shared.words, TORN, 1);
    return n;
  };

  if (input.role === 'hold') {
    lock!._abandonWriteForTesting();
    while (load(shared.words, RELEASE) === 0) wait(shared.words, RELEASE, 0, 5);
    return;
  }
  for (let i = 1; i <= input.ops; i++) {
    if (input.role === 'writer') {
      const n = thread * STRIDE + i;
      record('write', n, () => write(n));
    } else {
      record('read', null, read);
    }
  }
});
