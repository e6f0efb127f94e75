/**
 * Threads make optimistic writes to one VersionedCell, `input` times each:
 * read the value and its version, then write from that version. Each returns
 * the versions it wrote from successfully: a version is current for exactly
 * one write, so across all threads no version may appear twice.
 */
import { VersionedCell, type VersionedCellHandle } from '../../../src/atomic/versioned-cell.js';
import { ErrorCode, isSabreError } from '../../../src/errors.js';
import { defineProgram } from '../../../src/testing/index.js';

export interface VersionedCellShared {
  readonly cell: VersionedCellHandle;
}

export default defineProgram<VersionedCellShared, number, number[]>((ctx) => {
  const cell = VersionedCell.from<number>(ctx.shared.cell);
  const wroteFrom: number[] = [];
  for (let i = 0; i < ctx.input; i++) {
    const { version } = cell.read();
    try {
      cell.write(ctx.thread, version);
      wroteFrom.push(version);
    } catch (e) {
      if (!isSabreError(e, ErrorCode.CONFLICT)) throw e;
    }
  }
  return wroteFrom;
});
