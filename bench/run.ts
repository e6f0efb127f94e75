/**
 * sabre's benchmarks against its peers: `npm run bench` (about 2–3 minutes,
 * writes `bench/README.md`), `tsx bench/run.ts --quick` (a smoke run in
 * seconds, prints only; add `--write` to write the README anyway).
 *
 * Every comparison is measured side by side in the same run, interleaved
 * over several rounds, and reported as medians and ratios of medians. The
 * machine's speed may swing within seconds, so no number fails the run: each
 * goal prints "met" or "NOT met".
 */
import { cpus, totalmem } from 'node:os';
import { writeFileSync } from 'node:fs';
import { uncontendedMutex, seam } from './uncontended.js';
import { contended } from './contended.js';
import { runExclusive } from './run-exclusive.js';
import { striped } from './striped.js';
import { BenchThreads } from './lib/threads.js';
import { readMostly, semaphore } from './sync.js';
import { tableSingle, tableThreads } from './table.js';
import { lockManager } from './lock-manager.js';
import { cacheHitRatio, cacheSingle, cacheThreads } from './cache.js';
import { idempotency } from './idempotency.js';
import { breakerOverhead, retryOverhead } from './resilience.js';
import { optionsCost } from './options.js';
import { idleWaiters } from './idle.js';
import { reclaim } from './reclaim.js';
import { memoryPerRecord } from './memory.js';
import { limitsComlink, limitsSingle, limitsThreads } from './limits.js';
import { renderSection, type Section } from './lib/stats.js';
import { httpMiddleware } from './http.js';
import { scaling } from './scaling.js';
import { redisLimiters } from './redis.js';
import { checker } from './checker.js';
import { recording } from './recording.js';
import { renderCharts, writeCharts, writeResults } from './lib/charts.js';
import { node24 } from './lib/node24.js';
import { nodeLocks } from '../workers/bench/lock-manager.js';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const quick = process.argv.includes('--quick');
const write = process.argv.includes('--write') || !quick;

// Full: ~3 min on 2 cores (table 22 alone idles 45 s). Single-thread sections take many short rounds
// (the machine's swings are short); threaded ones fewer, longer rounds.
const cfg = quick
  ? {
      singleRounds: 3,
      sampleMs: 30,
      seamRounds: 5,
      seamMs: 20,
      rounds: 3,
      threadMs: 150,
      contendedMs: 300,
      windowMs: 50,
      stripedMs: 150,
      cacheRounds: 3,
      cacheSampleMs: 20,
      traceLength: 60_000,
      cacheThreadRounds: 3,
      cacheThreadMs: 150,
      firstLookups: 100,
      idleRounds: 1,
      idleMs: 500,
      reclaimRounds: 2,
      reclaimInserts: 200,
      reclaimCapacity: 10_000,
      memoryCapacity: 10_000,
      http: { rounds: 1, seconds: 1, connections: 10 },
      scaling: { rounds: 1, durationMs: 100, windowMs: 50, threads: [1, 2, 4, 8] },
      redis: { rounds: 5, durationMs: 150, concurrency: 16 },
      checkerRounds: 1,
      recording: { rounds: 3, ops: 50_000 },
    }
  : {
      singleRounds: 15,
      sampleMs: 80,
      seamRounds: 21,
      seamMs: 50,
      rounds: 8,
      threadMs: 600,
      contendedMs: 1050,
      windowMs: 150,
      stripedMs: 500,
      cacheRounds: 9,
      cacheSampleMs: 60,
      traceLength: 250_000,
      cacheThreadRounds: 5,
      cacheThreadMs: 600,
      firstLookups: 1_000,
      idleRounds: 3,
      idleMs: 5_000,
      reclaimRounds: 5,
      reclaimInserts: 2_000,
      reclaimCapacity: 100_000,
      memoryCapacity: 100_000,
      http: { rounds: 5, seconds: 3, connections: 20 },
      scaling: { rounds: 3, durationMs: 500, windowMs: 100, threads: [1, 2, 4, 8] },
      redis: { rounds: 21, durationMs: 300, concurrency: 16 },
      checkerRounds: 5,
      recording: { rounds: 7, ops: 200_000 },
    };

/**
 * Benchmark 11 where Node's own Web Locks are: in this process on Node
 * 24.5+, else (a full run) in a child process under Node 24; a quick run on
 * an older Node measures sabre's rows only and says so.
 */
async function lockManagerSection(c: Parameters<typeof lockManager>[0]): Promise<Section> {
  if (nodeLocks !== undefined || quick) return lockManager(c);
  const node = await node24();
  if ('reason' in node) {
    const s = await lockManager(c);
    return { ...s, notes: [...(s.notes ?? []), `Node's Web Locks were not measured: ${node.reason}.`] };
  }
  const child = fileURLToPath(new URL('./lock-manager-child.ts', import.meta.url));
  const { stdout } = await promisify(execFile)(node.path, ['--import', 'tsx', child, JSON.stringify(c)], { maxBuffer: 1 << 22 });
  const s = JSON.parse(stdout) as Section;
  const version = (await promisify(execFile)(node.path, ['--version'])).stdout.trim();
  return {
    ...s,
    notes: [
      ...(s.notes ?? []),
      `This section ran in a child process under Node ${version} (this run's Node, ${process.version}, has no \`worker_threads.locks\`).`,
    ],
  };
}

function machineLine(): string {
  const cpu = cpus();
  return `${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${process.version} (V8 ${process.versions.v8}), ${process.platform}-${process.arch}; ${new Date().toISOString().slice(0, 10)}`;
}

const HOW_TO_READ = `How to read: every table compares variants measured in the same run, interleaved (A, B, C, A, B, C, …, with the order rotated each round) so that a slow moment of the machine hits every variant alike; each figure is the median over the rounds and a ratio is a ratio of medians, except in columns marked "paired": the median over rounds of A ÷ B measured back to back in the same round, which cancels more of the machine's swings. Absolute numbers move by up to 2× from run to run on this shared 2-core machine; the ratios are what to compare. Threaded benchmarks run on warm workers behind a start barrier for a fixed duration, and check their shared counter afterwards ("exclusion held"). A goal prints met / NOT met and never fails the run. Re-run with \`npm run bench\` (about 2 minutes) or \`npx tsx bench/run.ts --quick\` (seconds, prints only).`;

async function main(): Promise<void> {
  const started = Date.now();
  const sections: Section[] = [];
  const show = (s: Section): void => {
    sections.push(s);
    console.log(`\n${renderSection(s)}\n`);
  };
  console.log(`sabre benchmarks${quick ? ' (--quick)' : ''}\n${machineLine()}`);

  show(await uncontendedMutex({ rounds: cfg.singleRounds, sampleMs: cfg.sampleMs }));
  show(await seam({ rounds: cfg.seamRounds, sampleMs: cfg.seamMs }));
  show(await semaphore({ rounds: cfg.singleRounds, sampleMs: cfg.sampleMs, durationMs: 0, windowMs: 0 }));
  show(await tableSingle({ rounds: cfg.singleRounds, sampleMs: cfg.sampleMs, durationMs: 0, windowMs: 0 }));
  show(await lockManagerSection({ rounds: cfg.rounds, sampleMs: cfg.sampleMs, threadMs: cfg.threadMs, windowMs: cfg.windowMs }));
  show(await cacheSingle({ rounds: cfg.cacheRounds, sampleMs: cfg.cacheSampleMs }));
  show(await cacheHitRatio({ length: cfg.traceLength }));
  show(
    await cacheThreads({
      rounds: cfg.cacheThreadRounds,
      durationMs: cfg.cacheThreadMs,
      windowMs: cfg.windowMs,
      firstLookups: cfg.firstLookups,
    }),
  );
  show(await idempotency({ rounds: cfg.singleRounds, sampleMs: cfg.sampleMs }));
  show(await limitsSingle({ rounds: cfg.singleRounds, sampleMs: cfg.sampleMs }));
  show(await limitsComlink({ rounds: cfg.rounds, sampleMs: cfg.sampleMs }));
  show(await limitsThreads({ rounds: cfg.rounds, durationMs: cfg.stripedMs, windowMs: cfg.windowMs }));
  show(await breakerOverhead({ rounds: cfg.singleRounds, sampleMs: cfg.sampleMs }));
  show(await retryOverhead({ rounds: cfg.singleRounds, sampleMs: cfg.sampleMs }));
  show(await optionsCost({ rounds: cfg.singleRounds, sampleMs: cfg.sampleMs }));
  show(await idleWaiters({ rounds: cfg.idleRounds, idleMs: cfg.idleMs }));
  show(await reclaim({ rounds: cfg.reclaimRounds, inserts: cfg.reclaimInserts, capacity: cfg.reclaimCapacity }));
  show(await memoryPerRecord({ capacity: cfg.memoryCapacity }));
  for (const s of await httpMiddleware(cfg.http)) show(s);
  show(await scaling(cfg.scaling));
  for (const s of await redisLimiters(cfg.redis)) show(s);
  show(await checker({ rounds: cfg.checkerRounds }));
  show(await recording(cfg.recording));
  const threads = await BenchThreads.start(2);
  try {
    for (const s of await contended(threads, { rounds: cfg.rounds, durationMs: cfg.contendedMs, windowMs: cfg.windowMs })) show(s);
    show(await runExclusive(threads, { rounds: cfg.rounds, sampleMs: cfg.sampleMs, threadMs: cfg.threadMs, windowMs: cfg.windowMs }));
    show(await striped(threads, { rounds: cfg.rounds, durationMs: cfg.stripedMs }));
    show(await readMostly(threads, { rounds: cfg.rounds, sampleMs: cfg.sampleMs, durationMs: cfg.stripedMs, windowMs: cfg.windowMs }));
    show(await tableThreads(threads, { rounds: cfg.rounds, sampleMs: cfg.sampleMs, durationMs: cfg.stripedMs, windowMs: cfg.windowMs }));
  } finally {
    await threads.close();
  }

  const order = (s: Section): number => Number(/^(\d+)/.exec(s.title)?.[1] ?? 99);
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  const summary = sections
    .sort((a, b) => order(a) - order(b))
    .flatMap((s) =>
      s.goals.map(
        (g) =>
          `| ${s.title.replace(/\|/g, '\\|')} | ${g.text.replace(/\|/g, '\\|')} | ${g.met ? 'met' : '**NOT met**'} | ${g.detail.replace(/\|/g, '\\|')} |`,
      ),
    );
  const goalsTable = ['| benchmark | goal | verdict | figures |', '|---|---|---|---|', ...summary].join('\n');
  console.log(`\nGoals\n${goalsTable}\n\n(${seconds} s)`);
  const date = new Date().toISOString().slice(0, 10);
  if (!write) {
    const svgs = await renderCharts(sections); // drawn, not written: proves the charts render
    console.log(`${svgs.length} charts rendered (not written: --quick)`);
    return;
  }
  const results = writeResults(date, machineLine(), sections);
  const charts = await writeCharts(date, sections);
  const readme = [
    '# sabre benchmarks',
    `Machine: ${machineLine()}. Full run: ${seconds} s.`,
    HOW_TO_READ,
    '## Goals',
    goalsTable,
    '## Charts',
    [
      `Drawn with Vega-Lite from \`results/${results}\` (every figure of this run, as numbers), on the machine above:`,
      ...charts.map(([title, file]) => `- [${title}](results/${file})`),
    ].join('\n'),
    '## Results',
    ...sections.map(renderSection),
    '## Files',
    [
      '- `run.ts`: the entry (`npm run bench`, `--quick`, `--write`).',
      '- `uncontended.ts`: tables 1 and 5 (single thread). `contended.ts`: tables 2 and 6. `run-exclusive.ts`: table 4. `striped.ts`: table 3. `sync.ts`: tables 7 (Semaphore) and 8 (RWLock, read-mostly).',
      "- `peers/drepper-mutex.ts`: the Drepper futex mutex. `peers/atomics-mutex.mjs`: the `--harmony-struct` child for V8's `Atomics.Mutex`.",
      '- `lib/threads.ts` + `lib/control.ts` + `../workers/bench/thread.ts`: warm workers, start barrier, fixed durations, per-window samples. `lib/backoff-switch.ts`: the Spin/NoSpin switch. `lib/stats.ts`: medians, interleaving, tables.',
      '- `cache.ts`: tables 12–14 (Cache vs lru-cache: get/set per codec; hit ratios of LRU and W-TinyLFU on Zipf and scan traces; 2 workers with one shared Cache, an lru-cache each, or a central one behind Comlink). `lib/zipf.ts`: seeded Zipf streams and scan-polluted traces. `../workers/bench/cache.ts`: its worker and the Comlink central cache.',
      '- `idempotency.ts`: table 15 (IdempotencyStore begin + complete, and replays, beside an in-thread Map store; SHA-256 fingerprint for scale).',
      '- `limits.ts`: tables 16–18 (TokenBucket.tryAcquire vs rate-limiter-flexible, allowed and denied; vs a central limiter behind Comlink; 2 threads on distinct and shared keys). `../workers/bench/limits.ts`: its bench worker and the Comlink central limiter.',
      '- `resilience.ts`: tables 19 and 20 (CircuitBreaker.execute overhead against cockatiel, opossum and a bare call; retry with no failure against a bare call).',
      '- `memory.ts` + `memory-child.ts`: table 24 (resident memory per record against a Map, lru-cache and rate-limiter-flexible, one process per variant).',
      '- `lock-manager.ts`: table 11; `lock-manager-child.ts` runs it under Node 24 (`lib/node24.ts` finds or installs it) when this Node has no `worker_threads.locks`.',
      '- `http.ts` + `../workers/bench/http-server.ts`: tables 25 and 26 (autocannon against the Hono middleware, and against hono-rate-limiter).',
      '- `scaling.ts` + `../workers/bench/scaling.ts`: table 27 (throughput by thread count: 1, 2, 4, 8).',
      "- `checker.ts`: table 30 (checkLinearizable on porcupine's published histories and on generated 10,000-operation ones).",
      '- `recording.ts` + `../workers/bench/recording.ts`: table 31 (what `ctx.record` adds per operation).',
      '- `lib/charts.ts`: `results/<date>.json` and the SVG charts (Vega-Lite, rendered headless).',
    ].join('\n'),
  ].join('\n\n');
  writeFileSync(new URL('./README.md', import.meta.url), `${readme}\n`);
  console.log('wrote bench/README.md');
}

await main();
