import { describe, expect, it } from 'vitest';
import { renderChaos, runChaos } from '../../chaos/run.js';

// The short version of `npm run chaos`: every primitive under kills for a little while. The full
// run (longer, more kills) is `npm run chaos`, run in CI with SABRE_SOAK=1.
describe('chaos: workers killed at random moments, invariants checked from shared memory', () => {
  it('every invariant holds', { timeout: 120_000 }, async () => {
    const results = await runChaos({ durationMs: 1000, workers: 3, killEveryMs: 100 });
    const table = renderChaos(results);
    for (const r of results) {
      expect(r.violations, `${r.scenario}\n${table}`).toEqual([]);
      expect(r.steps, `${r.scenario} made no progress\n${table}`).toBeGreaterThan(0);
    }
    expect(results.reduce((n, r) => n + r.kills.terminate + r.kills.exit + r.kills.throw, 0)).toBeGreaterThan(results.length);
  });

  it('the checks bite: the unsafe twin (a recovery that does not redo a half-done update) is caught', { timeout: 90_000 }, async () => {
    // A run in which no worker died at its kill point proves nothing either way (on a loaded
    // machine, workers may start too late in 2 s): run again, at most three times.
    let [twin] = await runChaos({ durationMs: 2000, workers: 3, killEveryMs: 80, twins: true });
    for (let attempt = 1; attempt < 3 && twin!.kills.exit + twin!.kills.throw === 0; attempt++) {
      [twin] = await runChaos({ durationMs: 2000, workers: 3, killEveryMs: 80, twins: true });
    }
    expect(twin!.kills.exit + twin!.kills.throw).toBeGreaterThan(0);
    expect(twin!.violations.join('\n')).toMatch(/counter \d+ but \d+ updates made/);
  });
});
