/**
 * The chaos suite: `npm run chaos` (CI runs it with SABRE_SOAK=1; `npm test`
 * runs a short version through test/chaos/chaos.test.ts).
 *
 * For each scenario (scenarios.ts), a few worker threads (and, for the Mutex,
 * also the threads of a Piscina pool, running the step in tasks) repeat the
 * scenario's step while this controller kills one of them at random moments
 * (`worker.terminate()`, anywhere; `process.exit(1)` or an uncaught exception
 * at one of the step's die points, critical sections included) and starts a
 * replacement, for a bounded time. Then every worker is stopped, the
 * invariant is checked from shared memory, and the recovery latency (from a
 * worker's exit to the next step any thread completes) is reported.
 *
 * Usage: tsx chaos/run.ts [--seconds N] [--workers N] [--kill-every MS] [--only Mutex,LeaseLock]
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Worker } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { spawnWorker } from '../src/threads/spawn.js';
import { ThreadRegistry } from '../src/threads/registry.js';
import { SCENARIOS, SLOTS, UNSAFE_TWINS, type Verdict } from './scenarios.js';
import { ALIVE, EXIT, KILL, NEXT_SLOT, OPS, STOP, THROW, controlBuffer, tidWord } from './control.js';
import type { ChaosTask } from './task.js';
import { BOOTSTRAP, tsTask } from '../workers/ts-task.js';

export interface ChaosOptions {
  /** How long each scenario runs under kills. */
  readonly durationMs: number;
  /** Worker threads kept running. */
  readonly workers: number;
  /** Mean time between kills. */
  readonly killEveryMs: number;
  /** Only these scenarios (by name); default all. */
  readonly only?: readonly string[];
  /** Run the unsafe twins instead (the meta-test: each must break its invariant). */
  readonly twins?: boolean;
  /** Also run these scenarios on a Piscina pool, whose threads die inside tasks (default: Mutex). */
  readonly piscina?: readonly string[];
}

export interface ChaosResult extends Verdict {
  readonly scenario: string;
  readonly invariant: string;
  readonly kills: { terminate: number; exit: number; throw: number };
  readonly steps: number;
  /** Milliseconds from a killed worker's exit to the next completed step, each kill. */
  readonly recoveryMs: number[];
}

const WORKER = new URL('./worker.ts', import.meta.url);

interface Running {
  readonly worker: Worker;
  readonly slot: number;
  readonly exited: Promise<void>;
  ready: boolean;
}

/** Runs every scenario in turn; resolves with one result each. */
export async function runChaos(options: ChaosOptions): Promise<ChaosResult[]> {
  const results: ChaosResult[] = [];
  for (const scenario of options.twins === true ? UNSAFE_TWINS : SCENARIOS) {
    if (options.only !== undefined && !options.only.includes(scenario.name)) continue;
    results.push(await runScenario(scenario.name, options));
  }
  if (options.twins !== true) {
    for (const name of options.piscina ?? ['Mutex']) {
      if (options.only === undefined || options.only.includes(name)) results.push(await runOnPiscina(name, options));
    }
  }
  return results;
}

async function runScenario(name: string, o: ChaosOptions): Promise<ChaosResult> {
  const scenario = [...SCENARIOS, ...UNSAFE_TWINS].find((s) => s.name === name)!;
  const state: unknown = scenario.setup();
  const control = controlBuffer(SLOTS);
  const c = new Int32Array(control);
  let nextSlot = 0;
  const running = new Set<Running>();
  const start = (): Running => {
    const slot = nextSlot++;
    const worker = spawnWorker(WORKER, { workerData: { name, state, control, slot } });
    const r: Running = {
      worker,
      slot,
      ready: false,
      // An exit by any means (a kill's uncaught exception is its 'error', then its 'exit').
      exited: new Promise<void>((resolve) => worker.once('exit', () => resolve())),
    };
    worker.on('error', () => {});
    worker.once('message', () => (r.ready = true));
    running.add(r);
    void r.exited.then(() => running.delete(r));
    return r;
  };
  const first = Array.from({ length: o.workers }, () => start());
  // The clock starts once the first workers run (starting a thread that loads TypeScript takes a while).
  await Promise.all(first.map((r) => new Promise<void>((resolve) => r.worker.once('message', () => resolve()))));

  const kills = { terminate: 0, exit: 0, throw: 0 };
  const recoveryMs: number[] = [];
  const deadline = Date.now() + o.durationMs;
  while (Date.now() < deadline) {
    await sleep(o.killEveryMs * (0.5 + Math.random()));
    // Kill only while another worker is running, so recovery is the primitive's, not a thread's start-up.
    const ready = [...running].filter((r) => r.ready);
    if (ready.length < 2) continue;
    const victim = ready[Math.floor(Math.random() * ready.length)]!;
    const how = Math.random();
    if (how < 1 / 3) {
      kills.terminate++;
      await victim.worker.terminate();
    } else {
      if (how < 2 / 3) kills.exit++;
      else kills.throw++;
      Atomics.store(c, KILL + victim.slot, how < 2 / 3 ? EXIT : THROW);
      // It dies at its next die point; one blocked in a wait never reaches one: terminate it then.
      if (!(await Promise.race([victim.exited.then(() => true), sleep(500).then(() => false)]))) {
        await victim.worker.terminate();
      }
    }
    start();
    recoveryMs.push(await untilProgress(c));
  }

  Atomics.store(c, STOP, 1);
  for (const r of running) Atomics.store(c, KILL + r.slot, ALIVE);
  await Promise.all(
    [...running].map(async (r) => {
      if (!(await Promise.race([r.exited.then(() => true), sleep(5000).then(() => false)]))) await r.worker.terminate();
    }),
  );
  const verdict = await scenario.check(state);
  return { scenario: name, invariant: scenario.invariant, kills, steps: Atomics.load(c, OPS), recoveryMs, ...verdict };
}

// The pool's task, a TypeScript module run through one bootstrap (see workers/ts-task.ts).
const chaosTask = tsTask<ChaosTask>(new URL('./task.ts', import.meta.url));

/**
 * A scenario on a Piscina pool: tasks run its step; pool threads die by
 * `terminate()`, by `process.exit` inside a task, or by an uncaught
 * exception thrown after a task stopped mid-step, and the pool replaces them.
 */
async function runOnPiscina(name: string, o: ChaosOptions): Promise<ChaosResult> {
  const scenario = SCENARIOS.find((s) => s.name === name)!;
  const state: unknown = scenario.setup();
  const control = controlBuffer(SLOTS);
  const c = new Int32Array(control);
  const pool = new Piscina({ filename: BOOTSTRAP, minThreads: o.workers, maxThreads: o.workers, atomics: 'async' });
  pool.on('error', () => {}); // a thread's uncaught exception: the kill itself
  let running = true;
  const submit = (): void => {
    if (!running) return;
    pool.run(chaosTask({ name, state, control, ms: 50 })).then(submit, submit);
  };
  for (let i = 0; i < o.workers; i++) submit();
  while (Atomics.load(c, OPS) === 0) await sleep(10); // the first thread started
  const kills = { terminate: 0, exit: 0, throw: 0 };
  const recoveryMs: number[] = [];
  const deadline = Date.now() + o.durationMs;
  while (Date.now() < deadline) {
    await sleep(o.killEveryMs * (0.5 + Math.random()));
    // Kill only while another pool thread is running tasks, so recovery is the primitive's, not a thread's start-up.
    const slots = Array.from({ length: Atomics.load(c, NEXT_SLOT) }, (_, i) => i).filter((slot) => {
      const tid = Atomics.load(c, tidWord(SLOTS, slot));
      return tid !== 0 && Atomics.load(c, KILL + slot) === ALIVE && ThreadRegistry.current.isAlive(tid - 1);
    });
    if (slots.length < 2) continue;
    const how = Math.random();
    if (how < 1 / 3) {
      const threads = pool.threads;
      kills.terminate++;
      await threads[Math.floor(Math.random() * threads.length)]!.terminate();
    } else {
      if (how < 2 / 3) kills.exit++;
      else kills.throw++;
      Atomics.store(c, KILL + slots[Math.floor(Math.random() * slots.length)]!, how < 2 / 3 ? EXIT : THROW);
    }
    recoveryMs.push(await untilProgress(c));
  }
  running = false;
  Atomics.store(c, STOP, 1);
  await pool.destroy();
  const verdict = await scenario.check(state);
  return {
    scenario: `${name} (Piscina tasks)`,
    invariant: scenario.invariant,
    kills,
    steps: Atomics.load(c, OPS),
    recoveryMs,
    ...verdict,
  };
}

/** Milliseconds until some worker completes a step (at most 3 s: then reported as 3000). */
async function untilProgress(c: Int32Array): Promise<number> {
  const t0 = performance.now();
  const ops0 = Atomics.load(c, OPS);
  while (Atomics.load(c, OPS) === ops0 && performance.now() - t0 < 3000) await sleep(1);
  return performance.now() - t0;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]!;
};

/** The results as a Markdown table. */
export function renderChaos(results: readonly ChaosResult[]): string {
  const ms = (x: number) => (Number.isFinite(x) ? `${x.toFixed(0)} ms` : 'n/a');
  const rows = results.map((r) =>
    [
      r.scenario,
      `${r.kills.terminate} / ${r.kills.exit} / ${r.kills.throw}`,
      r.steps.toLocaleString('en-US'),
      `${ms(median(r.recoveryMs))} / ${ms(r.recoveryMs.length === 0 ? NaN : Math.max(...r.recoveryMs))}`,
      r.invariant,
      r.violations.length === 0 ? `held (${r.checked})` : `**BROKEN**: ${r.violations.join('; ')}`,
    ].join(' | '),
  );
  return [
    '| primitive | kills: terminate / exit / throw | steps | recovery: median / max | invariant | result |',
    '|---|---:|---:|---:|---|---|',
    ...rows.map((r) => `| ${r} |`),
  ].join('\n');
}

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const only = process.argv.indexOf('--only');
  const options: ChaosOptions = {
    durationMs: arg('seconds', 10) * 1000,
    workers: arg('workers', 3),
    killEveryMs: arg('kill-every', 150),
    ...(only >= 0 ? { only: process.argv[only + 1]!.split(',') } : {}),
  };
  console.log(
    `sabre chaos: ${options.workers} workers per primitive, a kill every ~${options.killEveryMs} ms, ${options.durationMs / 1000} s each`,
  );
  const results = await runChaos(options);
  console.log(`\n${renderChaos(results)}`);
  const broken = results.filter((r) => r.violations.length > 0);
  if (broken.length > 0) {
    console.error(`\n${broken.length} invariant(s) broken`);
    process.exitCode = 1;
  }
}
