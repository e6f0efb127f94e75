import { describe, expect, it } from 'vitest';
import { RegistryTable, SLOT_COUNT } from '../../src/threads/registry-table.js';

const os = (id: number) => ({ tid: 100_000 + id, start: id });

describe('RegistryTable', () => {
  it('scans stop past the highest slot ever claimed, and still find every registered thread', () => {
    const t = RegistryTable.create();
    expect([...t.registered()]).toEqual([]);
    for (let id = 1; id <= 40; id++) expect(t.register(id, os(id))).toBe(true);
    // Freed low slots are claimed again first; the highest claimed stays where it was.
    for (let id = 1; id <= 10; id++) t.setDead(id);
    for (let id = 41; id <= 45; id++) expect(t.register(id, os(id))).toBe(true);
    const ids = [...t.registered()].map(([id]) => id).sort((a, b) => a - b);
    expect(ids).toEqual([...Array.from({ length: 30 }, (_, i) => 11 + i), 41, 42, 43, 44, 45]);
    expect(t.slotOf(40)).toBeGreaterThan(t.slotOf(45));
    expect(t.identityAt(t.slotOf(40), 40)).toEqual(os(40));
    // A second view of the same memory (another thread's) sees the same, without its own slot cache.
    const other = RegistryTable.open(t.buffer)!;
    expect(other.slotOf(40)).toBe(t.slotOf(40));
    expect([...other.registered()]).toHaveLength(35);
  });

  it('fills every slot, the last one included, and refuses one more', () => {
    const t = RegistryTable.create();
    for (let id = 1; id <= SLOT_COUNT; id++) expect(t.register(id, os(id))).toBe(true);
    expect(t.register(SLOT_COUNT + 1, os(SLOT_COUNT + 1))).toBe(false);
    expect(RegistryTable.open(t.buffer)!.slotOf(SLOT_COUNT)).toBeGreaterThan(0);
    expect([...t.registered()]).toHaveLength(SLOT_COUNT);
  });
});
