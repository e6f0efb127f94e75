/**
 * Runs the checks of test/atomic/validated-reads.test.ts in a thread started
 * with the hooked seam (SABRE_SEAM=hooks): records every shared-memory step
 * of each optimistic read and each write, and posts what it saw.
 */
import { parentPort } from 'node:worker_threads';
import { setYieldHook, type AtomicOp } from '../src/memory/atomics.js';
import { SeqLock } from '../src/atomic/seqlock.js';
import { VersionedCell } from '../src/atomic/versioned-cell.js';
import { SharedHashTable } from '../src/table/shared-hash-table.js';

interface Step {
  readonly op: AtomicOp;
  readonly buffer: ArrayBufferLike;
  readonly at: number; // byte address of the word
}

/** What one read did: its first step (the load of the sequence word) and its last. */
export interface ReadShape {
  readonly first: AtomicOp;
  readonly last: AtomicOp;
  /** True if the last step touched the word the first one loaded. */
  readonly lastOnSameWord: boolean;
}
export interface ValidatedReadsReport {
  readonly reads: Record<string, ReadShape>;
  /** Per write: the kinds of step that changed or read the sequence word. */
  readonly writes: Record<string, AtomicOp[]>;
}

function record(run: () => void): Step[] {
  const steps: Step[] = [];
  setYieldHook((op, array, index) => steps.push({ op, buffer: array.buffer, at: array.byteOffset + index * array.BYTES_PER_ELEMENT }));
  try {
    run();
  } finally {
    setYieldHook(null);
  }
  return steps;
}

const same = (a: Step, b: Step): boolean => a.buffer === b.buffer && a.at === b.at;

function shape(steps: Step[]): ReadShape {
  const first = steps[0]!;
  const last = steps[steps.length - 1]!;
  return { first: first.op, last: last.op, lastOnSameWord: same(first, last) };
}

/** The sequence word is the one the read's first step loaded; returns the kinds of the write's steps on it. */
function onWord(word: Step, steps: Step[]): AtomicOp[] {
  return steps.filter((s) => same(s, word)).map((s) => s.op);
}

function report(): ValidatedReadsReport {
  const reads: Record<string, ReadShape> = {};
  const writes: Record<string, AtomicOp[]> = {};

  const lock = new SeqLock<{ n: number }>({ maxBytes: 64, codec: 'json', initial: { n: 1 } });
  const seqOfLock = record(() => lock.read());
  reads['SeqLock.read'] = shape(seqOfLock);
  writes['SeqLock.write'] = onWord(
    seqOfLock[0]!,
    record(() => lock.write({ n: 2 })),
  );
  writes['SeqLock.tryWrite'] = onWord(
    seqOfLock[0]!,
    record(() => lock.tryWrite({ n: 3 })),
  );
  const records = new SeqLock({ maxBytes: 64 });
  writes['SeqLock.writeFrom'] = onWord(
    record(() => records.readInto(new Float64Array(8)))[0]!,
    record(() => records.writeFrom([1, 2])),
  );
  reads['SeqLock.readInto'] = shape(record(() => records.readInto(new Float64Array(8))));

  const cell = new VersionedCell<string>({ maxBytes: 64, codec: 'string', initial: 'a' });
  const seqOfCell = record(() => cell.read());
  reads['VersionedCell.read'] = shape(seqOfCell);
  writes['VersionedCell.write'] = onWord(
    seqOfCell[0]!,
    record(() => cell.write('b', 0)),
  );

  const json = new SharedHashTable<{ v: number }>({ capacity: 16, maxKeyBytes: 16, maxValueBytes: 32, codec: 'json' });
  json.set('k', { v: 1 });
  const seqOfSegment = record(() => json.get('k'));
  reads['SharedHashTable.get'] = shape(seqOfSegment);
  reads['SharedHashTable.get (absent)'] = shape(record(() => json.get('nobody')));
  reads['SharedHashTable.has'] = shape(record(() => json.has('k')));
  reads['SharedHashTable.entries'] = shape(record(() => [...json.entries()]));
  writes['SharedHashTable.set'] = onWord(
    seqOfSegment[0]!,
    record(() => json.set('k', { v: 2 })),
  );
  writes['SharedHashTable.delete'] = onWord(
    seqOfSegment[0]!,
    record(() => json.delete('k')),
  );

  const strings = new SharedHashTable<string>({ capacity: 16, maxKeyBytes: 16, maxValueBytes: 32, codec: 'string' });
  strings.set('k', 'v');
  strings.get('k'); // remembered: the next get is a memo hit
  reads['SharedHashTable.get (memo hit)'] = shape(record(() => strings.get('k')));
  return { reads, writes };
}

parentPort!.postMessage(report());
