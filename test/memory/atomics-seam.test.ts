import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { hooksEnabled, SEAM_ENV, SEAM_HOOKS, setYieldHook } from '../../src/memory/atomics.js';
import { ErrorCode } from '../../src/errors.js';
import { spawnWorker } from '../../src/threads/spawn.js';
import { expectCode } from '../helpers/errors.js';
import type { SeamHookReport } from '../../workers/fixture-seam-hook.js';

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
    it('is off in a thread that loaded the plain seam: installing one is a clear error, removing one is fine', () => {
      expect(hooksEnabled).toBe(false);
      expectCode(() => setYieldHook(() => {}), ErrorCode.INVALID_ARG, /SABRE_SEAM=hooks/);
      expect(() => setYieldHook(null)).not.toThrow();
    });

    // The hooked seam is chosen when sabre loads, so these checks run in a worker started with it.
    it('in a thread started with SABRE_SEAM=hooks: sees every step while installed, the slow path too, and can stop a step', async () => {
      const worker = spawnWorker(new URL('../../workers/fixture-seam-hook.ts', import.meta.url), {
        env: { ...process.env, [SEAM_ENV]: SEAM_HOOKS },
      });
      const r = await new Promise<SeamHookReport>((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      });
      await worker.terminate();
      expect(r.hooksEnabled).toBe(true);
      expect(r.afterLock).toBeGreaterThanOrEqual(1);
      expect(r.afterUnlock).toBeGreaterThan(r.afterLock);
      expect(r.lockOps).toContain('cas');
      expect(r.afterRemoval).toBe(r.afterUnlock);
      expect(r.slowPath.cas).toBeGreaterThanOrEqual(3);
      expect(r.slowPath.load).toBeGreaterThanOrEqual(1);
      expect(r.throwingHook).toEqual({ message: 'stop', lockedAfter: false });
    });
  });
});
