import { VersionedCell } from '../../src/atomic/versioned-cell.js';
import type { Mutant } from './mutant.js';
import type { VersionedCellShared } from './programs/versioned-cell.js';

/**
 * The version is checked by a load, and the write then bumps whatever version
 * is current: two steps instead of the claim that decides the write. Two
 * writers that both read version v both pass the check and both write (as
 * v + 1 and v + 2), each told it wrote from v.
 */
export const versionOutsideCas: Mutant<VersionedCellShared, number, number[]> = {
  id: 'versioned-cell-version-outside-cas',
  title: 'VersionedCell.write checks the version, then bumps it in a separate step',
  file: 'src/atomic/versioned-cell.ts',
  find: 'const found = this.buffers.write(value, Infinity, stable);\n    if (found !== stable) throw this.conflict(expected, found);',
  replace:
    'const found = this.buffers.seq.load();\n    if (found !== stable) throw this.conflict(expected, found);\n    this.buffers.write(value, Infinity);',
  program: 'versioned-cell.ts',
  threads: [3, 3, 3],
  setup: () => ({ cell: new VersionedCell<number>({ maxBytes: 16, codec: 'json', initial: -1 }).handle }),
  // Each version is current for exactly one successful write: a version written from twice is two writes that both won.
  found: (run) => {
    const versions = run.results.flatMap((r) => r ?? []);
    return new Set(versions).size !== versions.length;
  },
};
