/**
 * Piscina task for part 3 of `examples/04-rate-limit-cache.ts`: one worker
 * thread's share of `GET /reports/:id` requests, where a report takes
 * `workMs` of CPU to build. Three versions:
 *   - 'none': every request builds its report;
 *   - 'per-thread': a `Map` in this thread remembers the reports it built
 *     (what an in-process cache amounts to once there are several threads);
 *   - 'shared': one sabre `Cache` for every thread, through `getOrCompute`
 *     (single-flight: a report that several threads miss at once is built by
 *     one of them; the others wait for it).
 * Each build adds 1 to `builds` (shared by the run's threads). The task
 * answers each request's latency and checks every report it served against
 * the one its id must give.
 */
import { createHash } from 'node:crypto';
import { threadId } from 'node:worker_threads';
import { Cache, type CacheHandle } from '../../src/store/cache.js';
import { startLine } from '../start-line.js';

export { START_WORDS } from '../start-line.js';

export type ReportsTask =
  | { readonly kind: 'warm-up' }
  | {
      readonly kind: 'reports';
      readonly version: 'none' | 'per-thread' | 'shared';
      /** This thread's requests: report ids, in order (each sent as soon as the previous one is answered). */
      readonly ids: readonly number[];
      readonly cache: CacheHandle;
      /** CPU time a report takes to build. */
      readonly workMs: number;
      /** Int32 word 0: reports built by every thread of the run. */
      readonly builds: Int32Array;
      readonly start: Int32Array;
      readonly parties: number;
    };

export interface ReportsResult {
  readonly threadId: number;
  /** Each request's latency, ms. */
  readonly latenciesMs: number[];
  /** Reports served that differ from the one their id gives (must be 0). */
  readonly wrong: number;
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

/** The report of `id`, without the work: what every answer for `id` must equal. */
export function expectedReport(id: number): string {
  const digest = createHash('sha256').update(`report:${id}`).digest('hex');
  return JSON.stringify({ id, title: `Monthly report ${id}`, rows: 100 + id, checksum: digest });
}

/** Builds report `id`: `workMs` of CPU (hashing, a stand-in for queries and rendering), then the report. */
function buildReport(id: number, workMs: number, builds: Int32Array): string {
  const until = nowMs() + workMs;
  let h = createHash('sha256');
  while (nowMs() < until) h = createHash('sha256').update(h.digest()).update(String(id));
  Atomics.add(builds, 0, 1);
  return expectedReport(id);
}

export default async function run(task: ReportsTask): Promise<ReportsResult | null> {
  if (task.kind === 'warm-up') return null;
  const { workMs, builds } = task;
  let serve: (id: number) => string | Promise<string>;
  if (task.version === 'none') {
    serve = (id) => buildReport(id, workMs, builds);
  } else if (task.version === 'per-thread') {
    const mine = new Map<number, string>();
    serve = (id) => {
      let report = mine.get(id);
      if (report === undefined) mine.set(id, (report = buildReport(id, workMs, builds)));
      return report;
    };
  } else {
    const cache = Cache.from<string>(task.cache);
    serve = (id) => cache.getOrCompute(`report:${id}`, () => buildReport(id, workMs, builds));
  }
  const latenciesMs: number[] = [];
  let wrong = 0;
  startLine(task.start, task.parties);
  for (const id of task.ids) {
    const t0 = nowMs();
    const report = await serve(id);
    latenciesMs.push(nowMs() - t0);
    if (report !== expectedReport(id)) wrong++;
  }
  return { threadId, latenciesMs, wrong };
}
