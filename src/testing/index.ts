/**
 * sabre/testing: run concurrent code on real threads, perturb it, and record
 * what happened, so that properties can check invariants under interleavings
 * that an ordinary test never sees.
 *
 * The harness, step by step:
 * 1. Write the threads' code as a program module: its default export is
 *    `defineProgram(async (ctx) => …)`. `ctx` has the thread index, its input,
 *    the shared value (handles), a seeded PRNG and `record(name, arg, fn)`,
 *    which appends invoke/return events to the run's history.
 * 2. Call `runThreads({ threads: inputs, program: url, setup, seed, yields })`
 *    from a test. The threads run on warm workers (started once per process,
 *    reused by every run: a property runs hundreds of cases in seconds), meet
 *    at a start barrier so they really overlap, and are perturbed at sabre's
 *    atomics seam: before each shared-memory step, with `yields.probability`,
 *    a short spin or sleep drawn from a PRNG seeded by (seed, thread). (The
 *    workers start with `SABRE_SEAM=hooks`, which loads the hooked build of the
 *    seam; every other thread loads the plain one, which has no hook to call.)
 *    `kill: { thread, atStep }` ends one thread just before a given seam step
 *    (a crash at a precise point); the harness replaces its worker.
 * 3. A run that does not finish within `timeoutMs` is a `TimeoutError` naming
 *    the threads that hung and their last seam step: the usual causes are a
 *    deadlock or a lost wake-up. Their workers are terminated and replaced.
 * 4. Call `closeThreads()` in `afterAll`.
 *
 * Or take turns: `schedule` (schedule.ts) runs one thread at a time and
 * decides at every seam step which runs next: a list of switches (drawn and
 * shrunk by fast-check, or reported by a run: it replays exactly), random
 * switches, or PCT. A blocked thread hands its turn on, time is virtual,
 * and every thread blocked is a DeadlockError at once.
 *
 * Checking: `record` what each thread does, then `checkLinearizable(history,
 * model)` (porcupine's algorithm; models in models/, or your own, possibly
 * nondeterministic), or `expectLinearizable`, which on failure writes the
 * history as an HTML page (`renderHistory`) and names it in the error.
 *
 * Failing and replaying: draw the seed, the yield settings or the schedule
 * with fast-check inside a property; with `propertyParameters({ file:
 * import.meta.url })` a failure ends with the shrunk counterexample and the
 * command that replays it (`SABRE_SEED=<seed> SABRE_PATH=<path>`). Under
 * yields the OS still schedules the threads, so a replay reproduces the
 * conditions of the failure, not the exact interleaving; under a schedule,
 * the interleaving itself. `SABRE_SOAK=1` switches properties to their long
 * mode (many more runs).
 *
 * @example
 * ```ts
 * // file: count.ts
 * export default defineProgram<{ counter: AtomicCounterHandle }, number>((ctx) => {
 *   const c = AtomicCounter.from(ctx.shared.counter);
 *   for (let i = 0; i < ctx.input; i++) c.increment();
 * });
 * // file: count.mjs (the threads load JavaScript: this registers tsx, then loads count.ts)
 * import { register } from 'tsx/esm/api';
 * register();
 * export default (await import('./count.ts')).default;
 * // file: count.prop.ts
 * test.prop([fc.integer(), fc.integer({ min: 2, max: 4 })], propertyParameters())('no lost updates', async (seed, n) => {
 *   const { shared } = await runThreads({ threads: Array(n).fill(100), program: new URL('./count.mjs', import.meta.url),
 *     setup: () => ({ counter: new AtomicCounter().handle }), seed, yields: { probability: 0.1, maxDelayMs: 0.1 } });
 *   expect(AtomicCounter.from(shared.counter).get()).toBe(100 * n);
 * });
 * ```
 */
export {
  defineProgram,
  type Program,
  type ThreadContext,
  type HistoryEvent,
  type RecordedError,
  type YieldSettings,
  type ThreadReport,
} from './program.js';
export {
  runThreads,
  closeThreads,
  warmThreads,
  MAX_THREADS,
  DEFAULT_TIMEOUT_MS,
  STARTUP_TIMEOUT_MS,
  type RunThreadsOptions,
  type RunThreadsResult,
} from './run-threads.js';
/**
 * The atomics seam: a program's own shared-memory steps made through these
 * (`atomics.load(words, i)`, …) are perturbed like sabre's own.
 */
export * as atomics from '../memory/atomics.js';
export { seededRandom } from './random.js';
export { formatSwitches, parseSwitches, type Schedule, type ScheduleTaken, type Switch } from './schedule.js';
export { propertyParameters, type PropertyParameters } from './parameters.js';
export {
  checkLinearizable,
  operationsOf,
  describeOperation,
  sameData,
  hashData,
  nondeterministicModel,
  type Model,
  type NondeterministicModel,
  type ModelOutput,
  type Operation,
  type StepResult,
  type CheckOptions,
  type CheckResult,
  type PartialLinearization,
} from './linearizability.js';
export {
  registerModel,
  counterModel,
  mapModel,
  cacheModel,
  kvModel,
  mutexModel,
  semaphoreModel,
  queueModel,
  idempotencyModel,
  type IdempotencyKeyState,
  type MapEntryState,
  type CacheEntryState,
  type KvState,
} from './models/index.js';
export { renderHistory, expectLinearizable, type RenderHistoryOptions, type RenderedHistory } from './report.js';
/** A real `redis-server` on a free loopback port, for tests of the Redis backends (`sabre/redis`). */
export { startRedisServer, type RedisServer, type RedisServerOptions } from './redis-server.js';
