import { describe, expect, it } from 'vitest';
import { seamFixtureReport } from '../helpers/seam-fixture.js';
import type { ValidatedReadsReport } from '../../workers/fixtures/validated-reads.js';

// Optimistic readers copy shared words plainly and then re-check a sequence word. Under the
// JavaScript memory model (and on ARM64) that is sound only if the re-check is a read-modify-write
// and every change of the sequence word is one too (see the "Memory model" notes of
// double-buffer.ts and shared-hash-table.ts): a load re-check can pass while the plain reads before
// it saw a later write. No x86 machine shows that reordering, so this checks the shape that rules
// it out, step by step, through the hooked atomics seam.
describe('validated reads are sound under the JavaScript memory model', async () => {
  const report = await seamFixtureReport<ValidatedReadsReport>(new URL('../../workers/fixtures/validated-reads.ts', import.meta.url));

  it.each(Object.entries(report.reads))('%s loads the sequence word first and re-checks it last with an RMW', (_name, read) => {
    expect(read).toEqual({ first: 'load', last: 'rmw', lastOnSameWord: true });
  });

  it.each(Object.entries(report.writes))('%s changes the sequence word only by RMWs', (_name, ops) => {
    expect(ops.filter((op) => op === 'rmw').length).toBeGreaterThanOrEqual(2);
    expect(ops.filter((op) => op !== 'rmw' && op !== 'load' && op !== 'cas')).toEqual([]);
  });

  it('covers every optimistic read and write path', () => {
    expect(Object.keys(report.reads)).toHaveLength(8);
    expect(Object.keys(report.writes)).toHaveLength(6);
  });
});
