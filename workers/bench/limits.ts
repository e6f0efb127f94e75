/**
 * The limits benchmark's worker (`bench/limits.ts`), in two roles:
 *
 * - a bench thread (the default): the protocol of `workers/bench/thread.ts`
 *   (see `bench/lib/control.ts`), so that `BenchThreads` drives it. Its task
 *   asks one shared TokenBucket (opened by handle) for a token on each of
 *   its keys in turn until STOP.
 * - the central limiter (`workerData.role === 'server'`): owns one
 *   TokenBucket and exposes `CentralLimiterApi` through Comlink on every
 *   MessagePort it is sent: the design where one thread holds the limits
 *   and the others ask it.
 */
import { serveBench } from './serve.js';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { TokenBucket, type TokenBucketHandle } from '../../src/limit/token-bucket.js';
import { GO, READY, STOP, countWord } from '../../bench/lib/control.js';

/** What a bench thread of the limits benchmark runs: `tryAcquire` on keys `${prefix}0` .. `${prefix}${keys - 1}` in turn. */
export interface LimitsTask {
  readonly handle: TokenBucketHandle;
  readonly prefix: string;
  readonly keys: number;
}

/** What the central limiter exposes through Comlink. */
export interface CentralLimiterApi {
  tryAcquire(key: string): boolean;
}

function barrier(ctl: Int32Array): void {
  Atomics.add(ctl, READY, 1);
  Atomics.notify(ctl, READY);
  while (Atomics.load(ctl, GO) === 0) Atomics.wait(ctl, GO, 0, 50);
}

function run({ task, control, slot }: { task: LimitsTask; control: SharedArrayBuffer; slot: number }): number {
  const ctl = new Int32Array(control);
  const count = countWord(slot);
  const bucket = TokenBucket.from(task.handle);
  const keys = Array.from({ length: task.keys }, (_, i) => `${task.prefix}${i}`);
  for (const k of keys) bucket.tryAcquire(k); // each key has its state before the clock starts
  barrier(ctl);
  let ops = 0,
    allowed = 0;
  while (Atomics.load(ctl, STOP) === 0) {
    if (bucket.tryAcquire(keys[ops % keys.length]!)) allowed++;
    ctl[count] = ++ops;
  }
  if (allowed === 0 && ops > 0) throw new Error('the bench bucket refused every request: it is configured to allow them');
  return ops;
}

function serve(): void {
  // As the benchmark's shared bucket: room for every request of the run.
  const bucket = new TokenBucket({ burst: 2 ** 30, refillPerSecond: 1e9, capacity: 4096 });
  const api: CentralLimiterApi = { tryAcquire: (key) => bucket.tryAcquire(key) };
  parentPort!.on('message', (m: { port: MessagePort }) => Comlink.expose(api, nodeEndpoint(m.port)));
}

if ((workerData as { role?: string } | null)?.role === 'server') serve();
else serveBench(run);
