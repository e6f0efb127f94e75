import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { propertyParameters } from '../../src/testing/index.js';

afterEach(() => vi.unstubAllEnvs());

describe('propertyParameters', () => {
  it('numRuns, or soakRuns under SABRE_SOAK=1; the replay seed and path from SABRE_SEED and SABRE_PATH', () => {
    expect(propertyParameters({ numRuns: 7 })).toEqual({ numRuns: 7, endOnFailure: true });
    vi.stubEnv('SABRE_SOAK', '1');
    vi.stubEnv('SABRE_SEED', '-12');
    vi.stubEnv('SABRE_PATH', '3:1');
    expect(propertyParameters({ numRuns: 7, soakRuns: 70, shrink: true })).toEqual({
      numRuns: 70,
      seed: -12,
      path: '3:1',
      endOnFailure: false,
    });
    vi.stubEnv('SABRE_SEED', 'x');
    expect(() => propertyParameters()).toThrow(/SABRE_SEED must be an integer, got "x"/);
  });

  it('with the test file: a failure ends with the counterexample and the command that replays it, and that replay fails the same way', async () => {
    const property = fc.asyncProperty(fc.integer({ min: 0, max: 1000 }), async (n) => {
      await Promise.resolve();
      if (n >= 500) throw new Error(`too big: ${n}`);
    });
    const error = await fc.assert(property, propertyParameters({ numRuns: 200, shrink: true, file: import.meta.url })).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/^too big: 500\n\nProperty failed at run \d+, shrunk \d+ times\. Counterexample: \[ 500 \]\n/);
    const replay = /Replay: SABRE_SEED=(-?\d+) SABRE_PATH=(\S+) npx vitest run test\/testing\/parameters\.test\.ts$/.exec(error!.message);
    expect(replay).not.toBeNull();
    vi.stubEnv('SABRE_SEED', replay![1]);
    vi.stubEnv('SABRE_PATH', replay![2]);
    const again = await fc.check(property, propertyParameters({ numRuns: 200 }));
    expect(again.numRuns).toBe(1); // the path goes straight to the counterexample
    expect(again.counterexample).toEqual([500]);
  });
});
