import { fileURLToPath } from 'node:url';
import { ESLint, type Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
import { hooksEnabled, setYieldHook, tearCompareExchange } from '../../src/memory/atomics.js';
import { ErrorCode } from '../../src/errors.js';
import { expectCode } from '../helpers/errors.js';
import { seamFixtureReport } from '../helpers/seam-fixture.js';
import type { SeamHookReport } from '../../workers/fixtures/seam-hook.js';

const ROOT = new URL('../../', import.meta.url);

/** The repository's ESLint config module (plain JavaScript, so imported by URL, untyped). */
async function eslintConfig(): Promise<{ atomicsSeam: Linter.Config }> {
  return (await import(new URL('eslint.config.js', ROOT).href)) as { atomicsSeam: Linter.Config };
}

describe('the atomics seam', () => {
  // `npm run lint` holds every file of src/ to the seam rule of eslint.config.js (which replaced a
  // comment-stripping scan here). These check that the rule catches each spelling, and where it applies.
  it('lint reports every spelling of Atomics in src/ outside src/memory/atomics.ts', async () => {
    const { atomicsSeam } = await eslintConfig();
    const eslint = new ESLint({
      cwd: fileURLToPath(ROOT),
      overrideConfigFile: true,
      overrideConfig: [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } }, atomicsSeam],
    });
    const lint = async (code: string, filePath: string): Promise<(string | null)[]> => {
      const [result] = await eslint.lintText(`declare const a: Int32Array;\n${code}\n`, { filePath });
      return result!.messages.map((m) => m.ruleId);
    };
    expect(await lint('Atomics.load(a, 0);', 'src/sync/x.ts')).toEqual(['no-restricted-globals']);
    expect(await lint("Atomics['wait'](a, 0, 0);", 'src/sync/x.ts')).toEqual(['no-restricted-globals']);
    expect(await lint('const A = Atomics; A.notify(a, 0);', 'src/sync/x.ts')).toEqual(['no-restricted-globals']);
    expect(await lint('globalThis.Atomics.store(a, 0, 1);', 'src/store/x.ts')).toEqual(['no-restricted-properties']);
    expect(await lint('// Atomics.load in a comment\nconst s = "Atomics.load";', 'src/sync/x.ts')).toEqual([]);
    expect(await lint('Atomics.load(a, 0);', 'src/memory/atomics.ts')).toEqual([]);
    expect(await lint('Atomics.load(a, 0);', 'bench/x.ts')).toEqual([]);
  });

  it("the repository's config applies the seam rule to src/, except to the seam itself", async () => {
    const eslint = new ESLint({ cwd: fileURLToPath(ROOT) });
    const rules = async (file: string) => (await eslint.calculateConfigForFile(file))?.rules ?? {};
    expect((await rules('src/sync/mutex.ts'))['no-restricted-globals']).toEqual([2, expect.objectContaining({ name: 'Atomics' })]);
    expect((await rules('src/memory/atomics.ts'))['no-restricted-globals']).toBeUndefined();
  });

  describe('the yield hook', () => {
    it('is off in a thread that loaded the plain seam: installing one is a clear error, removing one is fine', () => {
      expect(hooksEnabled).toBe(false);
      expectCode(() => setYieldHook(() => {}), ErrorCode.INVALID_ARG, /SABRE_SEAM=hooks/);
      expect(() => setYieldHook(null)).not.toThrow();
      expectCode(() => tearCompareExchange(new Int32Array(new SharedArrayBuffer(4))), ErrorCode.INVALID_ARG, /SABRE_SEAM=hooks/);
      expect(() => tearCompareExchange(null)).not.toThrow();
    });

    // The hooked seam is chosen when sabre loads, so these checks run in a worker started with it.
    it('in a thread started with SABRE_SEAM=hooks: sees every step while installed, the slow path too, and can stop a step', async () => {
      const r = await seamFixtureReport<SeamHookReport>(new URL('../../workers/fixtures/seam-hook.ts', import.meta.url));
      expect(r.hooksEnabled).toBe(true);
      expect(r.afterLock).toBeGreaterThanOrEqual(1);
      expect(r.afterUnlock).toBeGreaterThan(r.afterLock);
      expect(r.lockOps).toContain('cas');
      expect(r.afterRemoval).toBe(r.afterUnlock);
      expect(r.slowPath.cas).toBeGreaterThanOrEqual(3);
      expect(r.slowPath.load).toBeGreaterThanOrEqual(1);
      expect(r.throwingHook).toEqual({ message: 'stop', lockedAfter: false });
      // Torn (for unsafe twins): it found 0, and its store of 1 overwrote the other thread's 7.
      expect(r.torn).toEqual({ found: 0, after: 1, restored: 2 });
    });
  });
});
