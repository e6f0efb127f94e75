/**
 * Tries one mutant, for whoever writes one: `npx tsx props/mutants/try.ts <file of the mutant> [budget]`
 * (e.g. props/mutants/semaphore-lost-notify.ts). Checks that its text is found once, that the
 * original passes 100 runs of each strategy, and prints the run at which each strategy finds the mutant.
 *
 * Replays one run: `npx tsx props/mutants/try.ts <file> --replay <strategy> <run>` (the command
 * `npm run mutants` prints for each find): that run of the mutant, whether it shows the bug, and its schedule.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { closeThreads } from '../../src/testing/index.js';
import { hunt, scheduleOf, shows, stepsOf, STRATEGIES, type Strategy } from './hunt.js';
import type { Mutant } from './mutant.js';
import { mutatedSource, sandbox } from './sandbox.js';

const [file, budgetText, strategyText, runText] = process.argv.slice(2);
if (file === undefined) throw new Error('usage: npx tsx props/mutants/try.ts <mutant file> [budget | --replay <strategy> <run>]');
const module = (await import(pathToFileURL(resolve(file)).href)) as Record<string, Mutant>;
if (budgetText === '--replay') {
  const strategy = strategyText as Strategy;
  const run = Number(runText);
  if (!STRATEGIES.includes(strategy) || !Number.isSafeInteger(run) || run < 1) {
    throw new Error(`--replay takes a strategy (${STRATEGIES.join(', ')}) and a run number >= 1, got ${strategyText} ${runText}`);
  }
  for (const m of Object.values(module)) {
    const steps = await stepsOf(m, sandbox(m, { original: true }));
    const schedule = scheduleOf(strategy, run, m.threads.length, steps, m.depth ?? 2);
    const seen = await shows(m, sandbox(m), strategy, run, steps);
    console.log(
      `${m.id}, ${strategy} run ${run}: ${seen ? 'shows the bug' : 'does not show the bug'}; schedule ${JSON.stringify(schedule ?? 'none (random yields)')}`,
    );
  }
  await closeThreads();
  process.exit(0);
}
const budget = Number(budgetText ?? 1000);
for (const m of Object.values(module)) {
  mutatedSource(m); // throws unless the text occurs once
  const original = sandbox(m, { original: true }),
    mutated = sandbox(m);
  const steps = await stepsOf(m, original);
  console.log(`${m.id}: ${m.title} (${steps} steps in a run)`);
  for (const s of STRATEGIES) {
    const started = performance.now();
    const falseAlarm = await hunt(m, original, s, 100, steps);
    const found = await hunt(m, mutated, s, budget, steps);
    console.log(
      `  ${s.padEnd(9)} original: ${falseAlarm === undefined ? 'passes 100 runs' : `SHOWS THE BUG at run ${falseAlarm} (the program or check is wrong)`}; ` +
        `mutant: ${found === undefined ? `not found in ${budget} runs` : `found at run ${found}`} (${((performance.now() - started) / 1000).toFixed(1)} s)`,
    );
  }
}
await closeThreads();
