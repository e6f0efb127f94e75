/**
 * One thread deletes the table's keys (KEYS of them, all present when the
 * run starts) in a random order; the others take `entries()` snapshots and
 * check each one. A snapshot of a one-segment table is atomic, so it must
 * hold whole entries only (a known key, at most once, with its own value
 * { v: i, w: 2i }), every key whose delete had not begun, and no key whose
 * delete had returned. Each broken rule adds one to `words[ANOMALIES]`.
 *
 * A snapshot copies the key of every slot the index points at (a `get`
 * compares keys instead), one seam step per index position: the read that
 * shows a removal torn between freeing a slot and unlinking it.
 */
import { SharedHashTable, type SharedHashTableHandle } from '../../../src/table/shared-hash-table.js';
import { defineProgram } from '../../../src/testing/index.js';

export const KEYS = 6;
export const keyOf = (i: number): string => `key${i}`;
const NAMES = Array.from({ length: KEYS }, (_, i) => keyOf(i));
export const valueOf = (i: number): TableValue => ({ v: i, w: 2 * i });

export interface TableValue {
  readonly v: number;
  readonly w: number;
}

/** `words`: snapshots that broke a rule, and two bit sets of keys: deletes begun, deletes returned. */
export const ANOMALIES = 0,
  STARTED = 1,
  DONE = 2;
export const SCAN_WORDS = 3;

export interface ScanShared {
  readonly table: SharedHashTableHandle;
  readonly words: Int32Array;
}

/** 'delete': delete every key once; a number: take that many snapshots. */
export type ScanInput = 'delete' | number;

export default defineProgram<ScanShared, ScanInput, void>(({ shared, input, random }) => {
  const table = SharedHashTable.from<TableValue>(shared.table);
  const { words } = shared;
  // The bookkeeping uses Atomics directly: not seam steps, so it adds no schedule points.
  if (input === 'delete') {
    const order = Array.from({ length: KEYS }, (_, i) => i);
    for (let j = KEYS - 1; j > 0; j--) {
      const r = Math.floor(random() * (j + 1));
      [order[j], order[r]] = [order[r]!, order[j]!];
    }
    for (const i of order) {
      Atomics.or(words, STARTED, 1 << i);
      table.delete(keyOf(i));
      Atomics.or(words, DONE, 1 << i);
    }
    return;
  }
  for (let n = 0; n < input; n++) {
    const done = Atomics.load(words, DONE);
    let entries: [unknown, TableValue][];
    try {
      entries = [...table.entries()];
    } catch {
      Atomics.add(words, ANOMALIES, 1); // a value whose bytes do not decode
      continue;
    }
    const started = Atomics.load(words, STARTED);
    const seen = new Set<number>();
    let whole = true;
    for (const [key, value] of entries) {
      const i = NAMES.indexOf(key as string);
      if (i < 0 || seen.has(i) || value.v !== i || value.w !== 2 * i || (done & (1 << i)) !== 0) whole = false;
      seen.add(i);
    }
    for (let i = 0; i < KEYS; i++) if (!seen.has(i) && (started & (1 << i)) === 0) whole = false;
    if (!whole) Atomics.add(words, ANOMALIES, 1);
  }
});
