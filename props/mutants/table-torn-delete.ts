import { SharedHashTable } from '../../src/table/shared-hash-table.js';
import type { Mutant } from './mutant.js';
import { ANOMALIES, KEYS, SCAN_WORDS, keyOf, valueOf, type ScanInput, type ScanShared, type TableValue } from './programs/table-scan.js';

/**
 * Invariant: a reader never sees a write half made. Every write of a segment
 * runs with its SEQ odd (a seqlock): a lock-free reader that saw SEQ move
 * while it read throws its copy away. The mutant's delete frees and unlinks
 * the slot without that window, as if a reader that met a freed slot failed
 * its key check anyway. A `get` does compare the key, and answers absent,
 * which the delete allows. But freeing the slot's heap block writes the
 * block's free-list link over the key's first bytes while the slot is still
 * indexed, and a snapshot (`entries()`), which copies each indexed slot's key
 * rather than comparing it, returns the torn key with the deleted value.
 *
 * (Reordering the steps inside the window changes nothing a thread can see:
 * writers wait on the segment lock, and readers throw their copy away; and a
 * `get` probes in one go between two seam steps, so no schedule puts an
 * unlink's backward shift in the middle of it.)
 */
export const tableTornDelete: Mutant<ScanShared, ScanInput> = {
  id: 'table-torn-delete',
  title: 'SharedHashTable.delete frees and unlinks the slot without making its segment SEQ odd',
  file: 'src/table/shared-hash-table.ts',
  find: '        if (answer === REMOVE) this.remove(seg, slot, pos);\n        else if',
  replace: [
    '        if (answer === REMOVE) {',
    '          this.release(seg, slot);',
    '          this.unindex(seg, pos);',
    '          this.i32[seg + COUNT] = this.i32[seg + COUNT]! - 1;',
    '          sub(this.i32, SIZE, 1);',
    '        } else if',
  ].join('\n'),
  program: 'table-scan.ts',
  threads: ['delete', 2, 2],
  setup: () => {
    // Capacity 8: one segment (an atomic snapshot), an index of 32 positions.
    const table = new SharedHashTable<TableValue>({ capacity: 8, maxKeyBytes: 4, maxValueBytes: 32, codec: 'json' });
    for (let i = 0; i < KEYS; i++) table.set(keyOf(i), valueOf(i));
    return { table: table.handle, words: new Int32Array(new SharedArrayBuffer(4 * SCAN_WORDS)) };
  },
  found: (run) => run.shared.words[ANOMALIES]! > 0,
};
