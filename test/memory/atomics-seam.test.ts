import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { setYieldHook, type AtomicOp } from '../../src/memory/atomics.js';
import { Mutex } from '../../src/sync/mutex.js';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const SEAM = join(SRC, 'memory', 'atomics.ts');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return tsFiles(path);
    return /\.[mc]?ts$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/**
 * Blanks out comments, keeping strings, template literals and line numbers.
 * (A regex literal holding a quote could confuse it; none in src/ does, and a
 * confusion would show up as a false alarm, not a miss of real code.)
 */
function stripComments(source: string): string {
  let out = '';
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    const next = source[i + 1];
    if (c === '/' && next === '/') {
      while (i < source.length && source[i] !== '\n') i++;
    } else if (c === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      const stop = end < 0 ? source.length : end + 2;
      out += source.slice(i, stop).replace(/[^\n]/g, ' ');
      i = stop;
    } else if (c === '"' || c === "'" || c === '`') {
      let j = i + 1;
      while (j < source.length && source[j] !== c) j += source[j] === '\\' ? 2 : 1;
      out += source.slice(i, j + 1);
      i = j + 1;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

describe('the atomics seam', () => {
  it('the comment stripper keeps code and drops comments', () => {
    const src = 'a(); // Atomics.load\n/* Atomics.wait\n */ Atomics.store(x, 0, 1);\nconst s = "// not a comment"; Atomics.add(y, 0, 1);';
    const stripped = stripComments(src);
    expect(stripped.match(/Atomics\./g)).toHaveLength(2);
    expect(stripped.split('\n')).toHaveLength(src.split('\n').length);
    expect(stripped).toContain('"// not a comment"');
  });

  it('no file of src/ but memory/atomics.ts calls Atomics.* directly', () => {
    const files = tsFiles(SRC).filter((f) => f !== SEAM);
    expect(files.length).toBeGreaterThan(5);
    const offenders: string[] = [];
    for (const file of files) {
      const lines = stripComments(readFileSync(file, 'utf8')).split('\n');
      lines.forEach((line, n) => {
        if (/\bAtomics\s*(\.|\[)/.test(line)) offenders.push(`${relative(SRC, file)}:${n + 1}: ${line.trim()}`);
      });
    }
    expect(offenders, `route these through src/memory/atomics.ts:\n${offenders.join('\n')}`).toEqual([]);
  });

  describe('the yield hook', () => {
    afterEach(() => setYieldHook(null));

    it('sees every step of a Mutex lock/unlock while installed, and nothing after removal', () => {
      const seen: AtomicOp[] = [];
      const m = new Mutex();
      setYieldHook((op) => seen.push(op));
      m.lock();
      const afterLock = seen.length;
      m.unlock();
      setYieldHook(null);
      expect(afterLock).toBeGreaterThanOrEqual(1);
      expect(seen.length).toBeGreaterThan(afterLock);
      expect(seen).toContain('cas');
      const before = seen.length;
      m.lock();
      m.unlock();
      expect(seen.length).toBe(before);
    });

    it('sees the slow path too (tryLock that fails, unlock of an unlocked mutex)', () => {
      const counts = new Map<AtomicOp, number>();
      const m = new Mutex();
      m.lock();
      setYieldHook((op) => counts.set(op, (counts.get(op) ?? 0) + 1));
      expect(m.tryLock()).toBe(false);
      m.unlock();
      expect(() => m.unlock()).toThrow();
      setYieldHook(null);
      expect(counts.get('cas')).toBeGreaterThanOrEqual(3);
      expect(counts.get('load')).toBeGreaterThanOrEqual(1);
    });

    it('a hook can throw to abandon a step (the step does not run)', () => {
      const m = new Mutex();
      setYieldHook(() => {
        throw new Error('stop');
      });
      expect(() => m.tryLock()).toThrow('stop');
      setYieldHook(null);
      expect(m.isLocked).toBe(false);
    });
  });
});
