/**
 * Test-only twin of SharedHashTable's conditional writes: each is a read and
 * a separate write, as code built on a plain get/set store does. Between the
 * two, another thread can act on the same key: two `setIfAbsent`s both
 * answer true, a `compareAndSet` overwrites a value it never compared, a
 * `delete` answers true for a key someone else removed. `get`, `has` and
 * `set` are the table's own.
 */
import type { SharedHashTable } from '../../src/table/shared-hash-table.js';

/**
 * The record the table-ops program stores: w = 2v and `pad` is PADS[v], so a
 * torn read shows; the pads put the three values in three of the heap's
 * size classes (one of them a chain of pages).
 */
export interface TableRecord {
  readonly v: number;
  readonly w: number;
  readonly pad: string;
}

/** `pad` for each value v = 0, 1, 2: entries of about 30, 330 and 4,530 bytes (a page and a tail block). */
export const PADS: readonly string[] = ['', 'p'.repeat(300), 'q'.repeat(4500)];
/** maxValueBytes that holds every record. */
export const TABLE_RECORD_BYTES = 4600;

/** The surface the program uses; the real table and this twin both have it. */
export interface TableOps {
  get(key: string): TableRecord | undefined;
  has(key: string): boolean;
  set(key: string, value: TableRecord): unknown;
  delete(key: string): boolean;
  setIfAbsent(key: string, value: TableRecord): boolean;
  compareAndSet(key: string, expected: TableRecord, next: TableRecord): boolean;
}

export class CheckThenActTable implements TableOps {
  constructor(private readonly table: SharedHashTable<TableRecord>) {}

  get(key: string): TableRecord | undefined {
    return this.table.get(key);
  }
  has(key: string): boolean {
    return this.table.has(key);
  }
  set(key: string, value: TableRecord): unknown {
    return this.table.set(key, value);
  }
  delete(key: string): boolean {
    if (!this.table.has(key)) return false;
    this.table.delete(key);
    return true;
  }
  setIfAbsent(key: string, value: TableRecord): boolean {
    if (this.table.has(key)) return false;
    this.table.set(key, value);
    return true;
  }
  compareAndSet(key: string, expected: TableRecord, next: TableRecord): boolean {
    if (this.table.get(key)?.v !== expected.v) return false;
    this.table.set(key, next);
    return true;
  }
}
