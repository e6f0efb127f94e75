/**
 * Threads run random operations on a few keys of one SharedHashTable (get,
 * has, set, delete, setIfAbsent, compareAndSet), each recorded with the
 * argument shape of `mapModel` for the linearizability check. Values are
 * small integers, written as `{ v, w, pad }` records with w = 2v and a pad
 * whose length depends on v (so writes move entries between heap size
 * classes and page chains), so a torn read (two writes' bytes mixed) shows
 * as w !== 2v or a wrong pad and is counted in `shared.words[TORN]`.
 *
 * A 'table' target made with the 'string' codec stores the records as
 * "v:w" strings (the codec whose decoded values the table caches per instance).
 *
 * `target.kind`: 'table' (the real one), 'check-then-act'
 * (props/table-linearizable/check-then-act-table.ts, the same table with its conditional
 * writes made of a read and a separate write), or 'no-recovery'
 * (props/table-linearizable/no-recovery-table.ts: segment locks that a dead holder keeps forever),
 * or 'no-heap-repair' (props/table-linearizable/no-heap-repair-table.ts: a repair that
 * leaves the heap as the dead writer left it).
 */
import { add } from '../../src/memory/atomics.js';
import { SharedHashTable, type SharedHashTableHandle } from '../../src/table/shared-hash-table.js';
import { defineProgram } from '../../src/testing/index.js';
import { CheckThenActTable, PADS, type TableOps, type TableRecord } from './check-then-act-table.js';
import { openNoRecoveryTable } from './no-recovery-table.js';
import { openNoHeapRepairTable } from './no-heap-repair-table.js';

export type { TableRecord };
export { PADS };

export interface TableShared {
  readonly target: { readonly kind: 'table' | 'check-then-act' | 'no-recovery' | 'no-heap-repair'; readonly table: SharedHashTableHandle };
  /** [TORN] */
  readonly words: Int32Array;
}
export const TORN = 0;
export const TABLE_WORDS = 1;

export interface TableInput {
  readonly ops: number;
  /** How many distinct keys the thread draws from (fewer: more conflicts). */
  readonly keys: number;
  /** Only writing operations (set, delete, setIfAbsent, compareAndSet): a thread to kill mid-write. */
  readonly writesOnly?: boolean;
  /** Instead of random operations: `set('k0', record(v))` for each v in turn (a script whose seam steps are the same every run). */
  readonly sets?: readonly number[];
}

const OPS = ['get', 'has', 'set', 'delete', 'setIfAbsent', 'compareAndSet'] as const;
const WRITES = ['set', 'delete', 'setIfAbsent', 'compareAndSet'] as const;
const rec = (v: number): TableRecord => ({ v, w: 2 * v, pad: PADS[v]! });

/** The same records as "v:w" strings, through a 'string'-codec table (the codec whose decoded values it caches). */
function stringRecords(table: SharedHashTable<string>): TableOps {
  const text = (r: TableRecord): string => `${r.v}:${r.w}:${r.pad}`;
  const parse = (s: string | undefined): TableRecord | undefined => (s === undefined ? undefined : parseRecord(s));
  return {
    get: (key) => parse(table.get(key)),
    has: (key) => table.has(key),
    set: (key, value) => table.set(key, text(value)),
    delete: (key) => table.delete(key),
    setIfAbsent: (key, value) => table.setIfAbsent(key, text(value)),
    compareAndSet: (key, expected, next) => table.compareAndSet(key, text(expected), text(next)),
  };
}

/** A record in the 'string' codec's form, "v:w:pad". */
export function parseRecord(s: string): TableRecord {
  const [v, w] = s.split(':', 2).map(Number);
  return { v: v!, w: w!, pad: s.slice(s.indexOf(':', s.indexOf(':') + 1) + 1) };
}

/** True if a record read back is one that was written (not two writes' bytes mixed). */
export function isWhole(r: TableRecord): boolean {
  return r.w === 2 * r.v && r.pad === PADS[r.v];
}

export default defineProgram<TableShared, TableInput, void>(({ shared, input, random, record }) => {
  const { kind } = shared.target;
  const table =
    kind === 'no-recovery'
      ? openNoRecoveryTable<TableRecord>(shared.target.table)
      : kind === 'no-heap-repair'
        ? openNoHeapRepairTable<TableRecord>(shared.target.table)
        : SharedHashTable.from<TableRecord>(shared.target.table);
  const t: TableOps =
    kind === 'check-then-act'
      ? new CheckThenActTable(table)
      : shared.target.table.options.codec === 'string'
        ? stringRecords(SharedHashTable.from<string>(shared.target.table))
        : table;
  const pick = (n: number): number => Math.floor(random() * n);
  /** Reads are checked for tearing and recorded by their `v` only. */
  const value = (r: TableRecord | undefined): number | undefined => {
    if (r !== undefined && !isWhole(r)) add(shared.words, TORN, 1);
    return r?.v;
  };
  if (input.sets !== undefined) {
    for (const v of input.sets) record('set', { key: 'k0', value: v }, () => void t.set('k0', rec(v)));
    return;
  }
  for (let i = 0; i < input.ops; i++) {
    const key = `k${pick(input.keys)}`;
    const v = pick(3);
    switch (input.writesOnly === true ? WRITES[pick(WRITES.length)]! : OPS[pick(OPS.length)]!) {
      case 'get':
        record('get', { key }, () => value(t.get(key)));
        break;
      case 'has':
        record('has', { key }, () => t.has(key));
        break;
      case 'set':
        record('set', { key, value: v }, () => void t.set(key, rec(v)));
        break;
      case 'delete':
        record('delete', { key }, () => t.delete(key));
        break;
      case 'setIfAbsent':
        record('setIfAbsent', { key, value: v }, () => t.setIfAbsent(key, rec(v)));
        break;
      case 'compareAndSet':
        record('compareAndSet', { key, expected: v, next: (v + 1) % 3 }, () => t.compareAndSet(key, rec(v), rec((v + 1) % 3)));
        break;
    }
  }
});
