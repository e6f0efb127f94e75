/**
 * Every renamed name keeps working for a release and warns once per process
 * (README, Conventions). Each one's behaviour is tested next to its
 * primitive (`describe('… deprecated names')`); this file checks that the
 * table of deprecations and those tests agree, and the once-per-process rule
 * across threads.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DEPRECATIONS, deprecated, resetDeprecationsForTesting, type DeprecationCode } from '../../src/options/deprecate.js';

const root = fileURLToPath(new URL('../', import.meta.url));
const testFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? testFiles(join(dir, d.name)) : d.name.endsWith('.test.ts') ? [join(dir, d.name)] : [],
  );

describe('deprecations', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    resetDeprecationsForTesting();
  });

  it.each(Object.keys(DEPRECATIONS))('%s is asserted by a test of the old name', (code) => {
    const asserting = testFiles(root).filter((f) => !f.endsWith('deprecations.test.ts') && readFileSync(f, 'utf8').includes(`'${code}'`));
    expect(asserting, `no test expects ${code}`).not.toEqual([]);
  });

  it('warns once per process: the first thread to use an old name warns, the others do not', async () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    deprecated('SABRE_DEP_POLLS', 'here');
    deprecated('SABRE_DEP_POLLS', 'here again');
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]![1]).toEqual({ type: 'DeprecationWarning', code: 'SABRE_DEP_POLLS' });
    // A worker of this process (it inherits the shared bitmap through environment data) stays silent.
    const source = new URL('../../src/options/deprecate.ts', import.meta.url).href;
    const code = `
      const { register } = await import('tsx/esm/api'); register();
      const { parentPort } = await import('node:worker_threads');
      let warnings = 0; process.emitWarning = () => void warnings++;
      const { deprecated } = await import(${JSON.stringify(source)});
      deprecated('SABRE_DEP_POLLS', 'a worker'); deprecated('SABRE_DEP_WITH_LOCK', 'a worker');
      parentPort.postMessage(warnings);`;
    const worker = new Worker(code, { eval: true, execArgv: [] });
    const warnings = await new Promise<number>((resolve, reject) => worker.once('message', resolve).once('error', reject));
    await worker.terminate();
    expect(warnings).toBe(1); // SABRE_DEP_WITH_LOCK only: SABRE_DEP_POLLS was given by this thread
  });

  it("the codes follow Node's form", () => {
    for (const code of Object.keys(DEPRECATIONS) as DeprecationCode[]) expect(code).toMatch(/^SABRE_DEP_[A-Z_]+$/);
  });
});
