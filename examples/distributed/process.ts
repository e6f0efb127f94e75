/**
 * A cluster worker (a Node process) of examples/06-distributed-rate-limit.ts:
 * makes what its threads share in this process (the per-process bucket, or
 * the two-level limiter's allowance), starts its worker threads, and sends
 * the primary their reports (with the two-level limiter's count of
 * decisions that waited on Redis).
 */
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { spawnWorker } from '../../src/threads/spawn.js';
import { TokenBucket } from '../../src/limit/token-bucket.js';
import { TwoLevelLimiter } from '../../src/redis/index.js';
import type { ThreadReport, ThreadTask } from './thread.js';

export interface ProcessTask extends Omit<ThreadTask, 'arrivals' | 'handle'> {
  /** Each thread's share of the requests. */
  readonly arrivals: ThreadTask['arrivals'][];
  readonly batch: number;
}
export interface ProcessReport {
  readonly threads: ThreadReport[];
  /** Two-level: decisions of this process that waited on Redis. */
  readonly twoLevelRoundTrips: number;
}

process.send!({ ready: true });
process.once('message', (task: ProcessTask) => {
  void (async () => {
    let handle: ThreadTask['handle'];
    let twoLevel: TwoLevelLimiter | undefined;
    const redis = task.version === 'two-level' ? new Redis(task.redisUrl) : undefined;
    if (task.version === 'per-process')
      handle = new TokenBucket({ burst: task.burst, refillPerSecond: task.refillPerSecond, capacity: 64 }).handle;
    if (task.version === 'two-level') {
      twoLevel = new TwoLevelLimiter({
        client: redis!,
        prefix: task.prefix,
        burst: task.burst,
        refillPerSecond: task.refillPerSecond,
        batch: task.batch,
      });
      handle = twoLevel.handle;
    }
    const workers = task.arrivals.map((arrivals) => {
      const data: ThreadTask = { ...task, arrivals, ...(handle ? { handle } : {}) };
      return spawnWorker(new URL('./thread.ts', import.meta.url), { workerData: data });
    });
    await Promise.all(workers.map((w) => once(w, 'message')));
    // Every thread is ready: the primary gives the start time once every process is.
    process.send!({ ready: true });
    const [startAt] = (await once(process, 'message')) as [number];
    for (const w of workers) w.postMessage(startAt);
    const threads = await Promise.all(
      workers.map(async (w) => {
        const [report] = (await once(w, 'message')) as [ThreadReport];
        await w.terminate();
        return report;
      }),
    );
    redis?.disconnect();
    const report: ProcessReport = { threads, twoLevelRoundTrips: twoLevel?.stats().remote ?? 0 };
    process.send!(report, () => process.exit(0));
  })();
});
