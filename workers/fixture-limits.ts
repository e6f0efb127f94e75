/**
 * Test fixture: a worker that makes rate-limit decisions when asked (driven
 * by test/limit/*.test.ts through test/threads/remote.ts). 'rush' waits at a
 * start line shared with the other threads, then asks for the same key
 * again and again, so that the threads really contend for one budget;
 * 'stream' asks once for each of many new keys, moving the shared
 * ManualClock on so that older keys go idle and must be reclaimed while
 * other threads do the same.
 */
import { parentPort, threadId } from 'node:worker_threads';
import { ManualClock, type ManualClockHandle } from '../src/clock.js';
import { TokenBucket, type TokenBucketHandle } from '../src/limit/token-bucket.js';
import { SlidingWindow, type SlidingWindowHandle } from '../src/limit/sliding-window.js';
import { startLine } from './start-line.js';

type Limiter = { readonly bucket: TokenBucketHandle } | { readonly window: SlidingWindowHandle };
type Arg = Limiter & {
  readonly key: string;
  readonly attempts: number;
  readonly n: number;
  readonly line: Int32Array;
  readonly parties: number;
  readonly prefix: string;
  readonly keys: number;
  readonly clock: ManualClockHandle;
  readonly stepMs: number;
};

const open = (arg: Limiter): TokenBucket | SlidingWindow =>
  'bucket' in arg ? TokenBucket.from(arg.bucket) : SlidingWindow.from(arg.window);

const ops: Record<string, (arg: Arg) => unknown> = {
  check: (arg) => open(arg).check(arg.key, arg.n ?? 1),
  /** Once every party is at the line, `attempts` tryAcquire(key, n); returns how many were allowed. */
  rush: (arg) => {
    const limiter = open(arg);
    startLine(arg.line, arg.parties);
    let allowed = 0;
    for (let i = 0; i < arg.attempts; i++) if (limiter.tryAcquire(arg.key, arg.n ?? 1)) allowed++;
    return allowed;
  },
  /** `keys` new keys `${prefix}${i}`, one tryAcquire each, the clock moved on by `stepMs` before each; returns [allowed, largest size seen]. */
  stream: (arg) => {
    const limiter = open(arg);
    const clock = ManualClock.from(arg.clock);
    startLine(arg.line, arg.parties);
    let allowed = 0,
      largest = 0;
    for (let i = 0; i < arg.keys; i++) {
      clock.advance(arg.stepMs);
      if (limiter.tryAcquire(`${arg.prefix}${i}`)) allowed++;
      largest = Math.max(largest, limiter.size);
    }
    return [allowed, largest];
  },
};

async function answer(request: { id: number; op: string; arg: Arg }): Promise<void> {
  try {
    const op = ops[request.op];
    if (op === undefined) throw new TypeError(`fixture-limits: unknown op ${request.op}`);
    const value = await op(request.arg);
    parentPort!.postMessage({ id: request.id, ok: true, value });
  } catch (error) {
    parentPort!.postMessage({ id: request.id, ok: false, error });
  }
}
// Not awaited: answer() replies to every request, its errors included.
parentPort!.on('message', (request: { id: number; op: string; arg: Arg }) => void answer(request));
parentPort!.postMessage({ ready: true, threadId });
