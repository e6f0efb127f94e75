/**
 * Benchmarks 16 to 18: the shared rate limits.
 * - 16: `TokenBucket.tryAcquire` against rate-limiter-flexible's
 *   `RateLimiterMemory.consume`, allowed and denied decisions separately,
 *   one thread.
 * - 17: the same bucket against a central limiter in another thread, called
 *   through Comlink over a MessageChannel (one thread owns the limits, the
 *   others ask it): awaited one at a time, and with many calls in flight.
 * - 18: the bucket on 2 threads: distinct keys per thread, and the same keys.
 */
import { MessageChannel } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { TokenBucket } from '../src/limit/token-bucket.js';
import { spawnWorker } from '../src/threads/spawn.js';
import type { CentralLimiterApi, LimitsTask } from '../workers/bench/limits.js';
import { BenchThreads, throughput, type TimedRun } from './lib/threads.js';
import { fmtNs, fmtRate, fmtRatio, interleave, median, pairedRatio, timeLoop, timeLoopAsync, type Section } from './lib/stats.js';

const KEYS = 1000;
const BATCH = 1000;
const keys = Array.from({ length: KEYS }, (_, i) => `user:${i}`);
const WORKER_URL = new URL('../workers/bench/limits.ts', import.meta.url);

/** A bucket that allows every request of a run: a burst of 2^30, refilled at one token per ns. */
const roomy = (): TokenBucket => new TokenBucket({ burst: 2 ** 30, refillPerSecond: 1e9, capacity: 4 * KEYS });
/** A bucket whose keys are all empty for the run: one token, refilled every 1000 s. */
function drained(): TokenBucket {
  const bucket = new TokenBucket({ burst: 1, refillPerSecond: 1e-3, capacity: 4 * KEYS });
  for (const k of keys) bucket.tryAcquire(k);
  return bucket;
}

// ---- 16. tryAcquire vs RateLimiterMemory.consume ---------------------------

export interface LimitsSingleConfig {
  readonly rounds: number;
  readonly sampleMs: number;
}

export async function limitsSingle(cfg: LimitsSingleConfig): Promise<Section> {
  const allowBucket = roomy();
  const denyBucket = drained();
  const allowPeer = new RateLimiterMemory({ points: 1e9, duration: 3600 });
  const denyPeer = new RateLimiterMemory({ points: 1, duration: 3600 });
  for (const k of keys) await denyPeer.consume(k);
  let allowed = 0,
    denied = 0;
  const sabre = (bucket: TokenBucket) => () =>
    timeLoop(
      (n) => {
        for (let i = 0; i < n; i++)
          if (bucket.tryAcquire(keys[i % KEYS]!)) allowed++;
          else denied++;
      },
      cfg.sampleMs,
      BATCH,
    );
  const sabreCheck = () =>
    timeLoop(
      (n) => {
        for (let i = 0; i < n; i++) if (allowBucket.check(keys[i % KEYS]!).allowed) allowed++;
      },
      cfg.sampleMs,
      BATCH,
    );
  // The peer's API: a promise per decision, resolved when allowed and rejected (with a RateLimiterRes) when not.
  const peer = (limiter: RateLimiterMemory) => () =>
    timeLoopAsync(
      async (n) => {
        for (let i = 0; i < n; i++) {
          try {
            await limiter.consume(keys[i % KEYS]!);
            allowed++;
          } catch {
            denied++;
          }
        }
      },
      cfg.sampleMs,
      BATCH,
    );
  const variants = [sabre(allowBucket), sabre(denyBucket), sabreCheck, peer(allowPeer), peer(denyPeer)];
  for (const v of variants) await v();
  const [sa, sd, sc, pa, pd] = (await interleave(cfg.rounds, variants)) as [number[], number[], number[], number[], number[]];
  if (allowed === 0 || denied === 0) throw new Error('a variant did not decide as set up');
  const allowRatio = pairedRatio(pa, sa),
    denyRatio = pairedRatio(pd, sd),
    denyVsAllow = pairedRatio(sd, sa);
  return {
    title: '16. TokenBucket.tryAcquire vs rate-limiter-flexible (one thread)',
    intro: `One thread, ${KEYS} keys like "user:123" in turn, ${cfg.rounds} interleaved rounds of ${cfg.sampleMs} ms; per decision; medians; "paired" = median of per-round ratios. Allowed: limits that never run out; denied: every key already spent.`,
    header: ['decision', 'per decision', 'paired vs sabre (same decision)'],
    rows: [
      ['sabre `tryAcquire`, allowed', fmtNs(median(sa)), '1.00×'],
      ['sabre `tryAcquire`, denied', fmtNs(median(sd)), '1.00×'],
      ['sabre `check`, allowed (a decision object with remaining, reset)', fmtNs(median(sc)), fmtRatio(pairedRatio(sc, sa))],
      ['rate-limiter-flexible `RateLimiterMemory.consume`, allowed (awaited)', fmtNs(median(pa)), fmtRatio(allowRatio)],
      ['rate-limiter-flexible `RateLimiterMemory.consume`, denied (a rejection, caught)', fmtNs(median(pd)), fmtRatio(denyRatio)],
    ],
    goals: [
      {
        text: '`tryAcquire` at least 2× faster than `RateLimiterMemory.consume` on allowed decisions, while shared by all threads',
        met: allowRatio >= 2,
        detail: `consume ÷ tryAcquire, paired: ${fmtRatio(allowRatio)}`,
      },
      {
        text: '`tryAcquire` at least 2× faster than `RateLimiterMemory.consume` on denied decisions',
        met: denyRatio >= 2,
        detail: `consume ÷ tryAcquire, paired: ${fmtRatio(denyRatio)}`,
      },
      {
        text: 'a denied decision costs no more than an allowed one (within 5%)',
        met: denyVsAllow <= 1.05,
        detail: `denied ÷ allowed, paired: ${fmtRatio(denyVsAllow)} (rate-limiter-flexible: ${fmtRatio(pairedRatio(pd, pa))})`,
      },
    ],
    notes: [
      "The bucket is one SharedArrayBuffer that every thread opens by handle: a decision reads the clock (`process.hrtime.bigint()`), finds the key's slot (a per-thread map of validated references in front of the shared table), loads the key's 64-bit word and its slot's incarnation number, and, when allowed, makes one compare-and-swap. A denial is the same minus the CAS, and is returned as `false` (or a decision object), so it costs no more than an acceptance.",
      "rate-limiter-flexible keeps its counters in one thread's memory and answers with a promise; a denial rejects that promise with a `RateLimiterRes`, and the rejection and its catch are most of a denied decision's cost.",
    ],
  };
}

// ---- 17. vs a central limiter behind Comlink --------------------------------

export interface LimitsComlinkConfig {
  readonly rounds: number;
  readonly sampleMs: number;
}

/** Calls in flight at once in the pipelined Comlink variant. */
const IN_FLIGHT = 32;

export async function limitsComlink(cfg: LimitsComlinkConfig): Promise<Section> {
  const server = spawnWorker(WORKER_URL, { workerData: { role: 'server' } });
  const { port1, port2 } = new MessageChannel();
  try {
    server.postMessage({ port: port1 }, [port1]);
    const central = Comlink.wrap<CentralLimiterApi>(nodeEndpoint(port2));
    const bucket = roomy();
    let allowed = 0;
    const rate = (nsPerOp: number) => 1e9 / nsPerOp;
    const sabre = () =>
      rate(
        timeLoop(
          (n) => {
            for (let i = 0; i < n; i++) if (bucket.tryAcquire(keys[i % KEYS]!)) allowed++;
          },
          cfg.sampleMs,
          BATCH,
        ),
      );
    const awaited = async () =>
      rate(
        await timeLoopAsync(
          async (n) => {
            for (let i = 0; i < n; i++) if (await central.tryAcquire(keys[i % KEYS]!)) allowed++;
          },
          cfg.sampleMs,
          50,
        ),
      );
    const pipelined = async () =>
      rate(
        await timeLoopAsync(
          async (n) => {
            for (let i = 0; i < n; i += IN_FLIGHT) {
              const answers = await Promise.all(Array.from({ length: IN_FLIGHT }, (_, j) => central.tryAcquire(keys[(i + j) % KEYS]!)));
              for (const a of answers) if (a) allowed++;
            }
          },
          cfg.sampleMs,
          10 * IN_FLIGHT,
        ),
      );
    const variants = [sabre, awaited, pipelined];
    for (const v of variants) await v();
    const [s, a, p] = (await interleave(cfg.rounds, variants)) as [number[], number[], number[]];
    if (allowed === 0) throw new Error('no decision was allowed');
    const vsAwaited = pairedRatio(s, a),
      vsPipelined = pairedRatio(s, p);
    return {
      title: '17. TokenBucket vs a central limiter behind Comlink',
      intro: `The calling thread (main) decides for ${KEYS} keys in turn, ${cfg.rounds} interleaved rounds of ${cfg.sampleMs} ms; decisions/s; medians; "paired" = median of per-round ratios. Central: one worker owns a TokenBucket and answers \`tryAcquire(key)\` through Comlink over a MessageChannel.`,
      header: ['variant', 'decisions/s', 'sabre ÷ variant, paired'],
      rows: [
        ['sabre `TokenBucket`, shared memory, in the calling thread', fmtRate(median(s)), '1.00×'],
        ['central limiter via Comlink, each call awaited', fmtRate(median(a)), fmtRatio(vsAwaited)],
        [`central limiter via Comlink, ${IN_FLIGHT} calls in flight`, fmtRate(median(p)), fmtRatio(vsPipelined)],
      ],
      goals: [
        {
          text: 'at least 500× the decisions/s of a central limiter behind Comlink (each call awaited, as a request handler does)',
          met: vsAwaited >= 500,
          detail: `paired: ${fmtRatio(vsAwaited)} (${fmtRatio(vsPipelined)} against ${IN_FLIGHT} calls in flight)`,
        },
      ],
      notes: [
        'A central limiter is the usual way to share limits between threads without shared memory: every decision is a message to the owning thread and a reply (two structured clones, a promise, two event-loop turns), and that thread serializes all decisions. The shared bucket decides in the calling thread, with no message and no other thread involved.',
        `With ${IN_FLIGHT} calls in flight the central thread answers back to back and the messaging overlaps; a request handler that awaits its decision before going on gets the first row's latency.`,
      ],
    };
  } finally {
    port2.close();
    await server.terminate();
  }
}

// ---- 18. two threads ---------------------------------------------------------

export interface LimitsThreadsConfig {
  readonly rounds: number;
  readonly durationMs: number;
  readonly windowMs: number;
}

export async function limitsThreads(cfg: LimitsThreadsConfig): Promise<Section> {
  const threads = await BenchThreads.start(2, WORKER_URL);
  try {
    const n = threads.size;
    const once = (shared: boolean, count: number) => async (): Promise<TimedRun> => {
      const bucket = roomy();
      const tasks: LimitsTask[] = Array.from({ length: count }, (_, t) => ({
        handle: bucket.handle,
        prefix: shared ? 'shared:' : `t${t}:`,
        keys: KEYS,
      }));
      return threads.run(tasks, cfg.durationMs, cfg.windowMs);
    };
    const variants = [once(false, n), once(true, n), once(false, 1)];
    for (const v of variants) await v();
    const [distinct, same, one] = (await interleave<TimedRun>(cfg.rounds, variants)).map((runs) => runs.map(throughput)) as [
      number[],
      number[],
      number[],
    ];
    const scaling = pairedRatio(distinct, one);
    return {
      title: '18. TokenBucket on 2 threads: distinct and shared keys',
      intro: `${n} worker threads, ${cfg.rounds} interleaved rounds of ${cfg.durationMs} ms, each on a fresh bucket; each op is a \`tryAcquire\` (allowed: a CAS on the key's word); ${KEYS} keys per thread (distinct) or ${KEYS} keys for both (shared); total decisions/s; medians.`,
      header: ['variant', 'decisions/s', 'vs 1 thread'],
      rows: [
        ['1 thread', fmtRate(median(one)), '1.00×'],
        [`${n} threads, distinct keys`, fmtRate(median(distinct)), fmtRatio(scaling)],
        [`${n} threads, the same keys`, fmtRate(median(same)), fmtRatio(pairedRatio(same, one))],
      ],
      goals: [
        {
          text: 'decisions on different keys do not serialize: 2 threads at least 1.5× one',
          met: scaling >= 1.5,
          detail: `2 threads ÷ 1, paired: ${fmtRatio(scaling)}`,
        },
      ],
      notes: [
        'No lock anywhere on the path: threads on different keys touch different words, and keys started one after another sit on different 128-byte lines (the word array is interleaved), so they do not share a cache line. On the same keys the threads CAS the same words (a lost CAS retries at once).',
      ],
    };
  } finally {
    await threads.close();
  }
}
