/**
 * Owner-death recovery whatever the order in which threads and sabre start:
 * each case is a child process whose threads start before sabre is loaded
 * (`workers/fixtures/late-import.ts` describes them). Every observer must get
 * OwnerDiedError well inside its 3 s timeout.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fixture = fileURLToPath(new URL('../../workers/fixtures/late-import.ts', import.meta.url));

interface Report {
  who: string;
  outcome: string;
  ms?: number;
}

function run(mode: string): Promise<{ reports: Report[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', fixture, mode], { cwd: root, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${mode}: ${error.message}\n${stderr}`));
      else
        resolve({
          reports: stdout
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as Report),
          stderr,
        });
    });
  });
}

describe('a holder dies in a thread started before sabre was loaded', () => {
  it('plain workers started first: main (async) and another worker (blocking) get OwnerDiedError', async () => {
    const { reports } = await run('worker-first');
    expect(reports.map((r) => [r.who, r.outcome])).toEqual([
      ['main (lockAsync)', 'ERR_OWNER_DIED'],
      ['worker B (blocking lock)', 'ERR_OWNER_DIED'],
    ]);
  });

  it('a Piscina pool started first: main gets OwnerDiedError, and again once the pool has recycled the thread', async () => {
    const { reports } = await run('pool-first');
    expect(reports.map((r) => [r.who, r.outcome])).toEqual([
      ['main (lockAsync)', 'ERR_OWNER_DIED'],
      ['main, after recycling (lockAsync)', 'ERR_OWNER_DIED'],
      ['pool', 'recycled'],
    ]);
  });

  it("a worker's worker creates and holds the Mutex: main, which never started it, gets OwnerDiedError", async () => {
    const { reports } = await run('nested');
    expect(reports.map((r) => [r.who, r.outcome])).toEqual([['main (lockAsync), holder nested', 'ERR_OWNER_DIED']]);
  });

  it('where there is no /proc, the first liveness question sabre cannot answer warns once, loudly', async () => {
    const { reports, stderr } = await run('blind');
    expect(reports).toEqual([{ who: 'main', outcome: 'true SABRE_LIVENESS_BLIND' }]);
    expect(stderr.match(/SABRE_LIVENESS_BLIND/g)).toHaveLength(1);
    expect(stderr).toMatch(/no \/proc.*watchWorker\(worker\)/s);
  });
});
