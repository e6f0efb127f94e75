/**
 * The mutation suite: `npm run mutants`. Hunts every mutant of the catalog
 * with each strategy (at most BUDGET runs each), after checking that the
 * original code passes FALSE_ALARM_RUNS runs of each, then writes the
 * figures to props/mutants/results.json and the table in props/README.md
 * (between its `mutants` markers). About a minute on 2 cores.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { closeThreads } from '../../src/testing/index.js';
import { MUTANTS } from './catalog.js';
import { hunt, stepsOf, STRATEGIES, type Strategy } from './hunt.js';
import { ROOT, sandbox } from './sandbox.js';

export const BUDGET = 1_000;
const FALSE_ALARM_RUNS = 100;

export interface MutantResult {
  readonly id: string;
  /** The mutant's file, from the repository's root (for the replay command). */
  readonly source: string;
  readonly title: string;
  readonly file: string;
  /** Steps of one run (PCT's k). */
  readonly steps: number;
  /** The run at which each strategy first found it; null: not within BUDGET. */
  readonly found: Readonly<Record<Strategy, number | null>>;
}

const cell = (n: number | null): string => (n === null ? `not in ${BUDGET.toLocaleString('en-US')}` : String(n));

/** The command that replays a result's fastest deterministic find (controlled schedules or PCT). */
export function replayCommand(r: MutantResult): string | undefined {
  const best = (['schedules', 'pct'] as Strategy[]).filter((s) => r.found[s] !== null).sort((a, b) => r.found[a]! - r.found[b]!)[0];
  return best === undefined ? undefined : `npx tsx props/mutants/try.ts ${r.source} --replay ${best} ${r.found[best]}`;
}

function table(results: readonly MutantResult[]): string {
  const rows = results.map(
    (r) =>
      `| ${r.id} | ${r.title} | \`${r.file}\` | ${r.steps} | ${STRATEGIES.map((s) => cell(r.found[s])).join(' | ')} | \`${replayCommand(r) ?? '-'}\` |`,
  );
  return [
    '| mutant | the bug | file | steps per run | random stress | controlled schedules | PCT | replay |',
    '|---|---|---|---:|---:|---:|---:|---|',
    ...rows,
  ].join('\n');
}

async function main(): Promise<void> {
  const results: MutantResult[] = [];
  for (const m of MUTANTS) {
    const original = sandbox(m, { original: true }),
      mutated = sandbox(m);
    const steps = await stepsOf(m, original);
    const found = {} as Record<Strategy, number | null>;
    for (const s of STRATEGIES) {
      const alarm = await hunt(m, original, s, FALSE_ALARM_RUNS, steps);
      if (alarm !== undefined)
        throw new Error(`${m.id}: the original code shows the bug under ${s} at run ${alarm}: its program or check is wrong`);
      found[s] = (await hunt(m, mutated, s, BUDGET, steps)) ?? null;
    }
    const result: MutantResult = { id: m.id, source: `props/mutants/${m.id}.ts`, title: m.title, file: m.file, steps, found };
    console.log(`${m.id}: ${STRATEGIES.map((s) => `${s} ${cell(found[s])}`).join(', ')}; replay: ${replayCommand(result) ?? 'none'}`);
    results.push(result);
  }
  await closeThreads();
  writeFileSync(join(ROOT, 'props/mutants/results.json'), `${JSON.stringify(results, null, 2)}\n`);
  const readme = join(ROOT, 'props/README.md');
  const text = readFileSync(readme, 'utf8');
  const begin = '<!-- mutants:begin -->',
    end = '<!-- mutants:end -->';
  const i = text.indexOf(begin),
    j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`props/README.md has no ${begin} … ${end} section`);
  writeFileSync(readme, `${text.slice(0, i + begin.length)}\n${table(results)}\n${text.slice(j)}`);
  const missed = results.filter((r) => STRATEGIES.every((s) => r.found[s] === null));
  console.log(
    `wrote props/mutants/results.json and the table in props/README.md${missed.length > 0 ? `; NOT FOUND: ${missed.map((r) => r.id).join(', ')}` : ''}`,
  );
  if (missed.length > 0) process.exitCode = 1;
}

await main();
