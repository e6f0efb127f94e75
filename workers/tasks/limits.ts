/**
 * Piscina task for part 1 of `examples/04-rate-limit-cache.ts`: one worker
 * thread's share of a stream of API requests from several clients, each
 * answered 200 or 429 by a rate limit of `rate` requests per second per
 * client (burst `capacity`).
 *
 * Two versions of the limit, the same token bucket (GCRA) in both:
 *   - 'per-thread': this thread's own bucket per client, in a `Map` (what an
 *     in-memory limiter such as rate-limiter-flexible's `RateLimiterMemory`
 *     amounts to once there are several threads: each counts only the
 *     requests it serves);
 *   - 'shared': one sabre `TokenBucket` in shared memory for every thread.
 * Both answer a refusal with the fields of `rateLimitHeaders`.
 *
 * Each request is served at its arrival time (measured from `startAtMs`, on
 * `process.hrtime`, one clock for every thread); a thread that falls behind
 * serves its backlog at once, as a server does. The task sums, per client,
 * what it allowed and refused and the `Retry-After` it sent with each 429.
 */
import { threadId } from 'node:worker_threads';
import { TokenBucket, type TokenBucketHandle } from '../../src/limit/token-bucket.js';
import { rateLimitHeaders, type RateLimitHeaders } from '../../src/limit/headers.js';
import type { RateLimitDecision, RateLimitPolicy } from '../../src/limit/decision.js';
import { startLine } from '../start-line.js';

/** Int32 words of the start line. */
export { START_WORDS } from '../start-line.js';

/** One request: [client index, arrival in ms after the start] (a tuple: thousands of them cross to the workers). */
export type Arrival = readonly [client: number, atMs: number];

export type LimitsTask =
  | { readonly kind: 'warm-up' }
  | {
      readonly kind: 'traffic';
      readonly version: 'per-thread' | 'shared';
      readonly clients: readonly string[];
      /** This thread's requests, in arrival order. */
      readonly arrivals: readonly Arrival[];
      /** `process.hrtime` in ms at which arrival time 0 falls. */
      readonly startAtMs: number;
      /** The limit per client: a burst of `capacity`, then `rate` requests per second. */
      readonly capacity: number;
      readonly rate: number;
      /** The shared version's bucket. */
      readonly bucket: TokenBucketHandle;
      /** What the 429s advertise (`rateLimitHeaders`). */
      readonly policy: RateLimitPolicy;
      readonly start: Int32Array;
      readonly parties: number;
    };

/** One client's requests as this thread served them. */
export interface ClientTally {
  sent: number;
  allowed: number;
  rejected: number;
  /** `process.hrtime` ms just before this thread's first decision for the client and just after its last (NaN: none). */
  firstMs: number;
  lastMs: number;
  /** How often each `Retry-After` value (whole seconds) was sent with a 429. */
  retryAfter: Record<string, number>;
  /** The exact waits behind them (ms), for their median. */
  waitsMs: number[];
  /** The longest delay from a request's arrival time to its answer (ms): how far behind this thread fell. */
  maxLagMs: number;
}

export interface LimitsResult {
  readonly threadId: number;
  readonly tallies: ClientTally[];
  /** The fields of the first 429 this thread sent (shared version). */
  readonly sample: { readonly client: string; readonly headers: RateLimitHeaders } | null;
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Blocks this worker until `process.hrtime` reaches `atMs` (a worker may block: it serves nothing else meanwhile). */
function sleepUntil(atMs: number): void {
  for (let left = atMs - nowMs(); left > 0; left = atMs - nowMs()) Atomics.wait(sleeper, 0, 0, left);
}

/**
 * A token bucket per key in this thread's memory: the same GCRA as
 * `TokenBucket` (a key's state is the time its bucket is full again), in
 * float milliseconds, seen by this thread only.
 */
class LocalBucket {
  private readonly fullAt = new Map<string, number>();
  /** Ms per token, and the burst's worth of them. */
  private readonly interval: number;
  private readonly tolerance: number;
  constructor(
    private readonly capacity: number,
    rate: number,
  ) {
    this.interval = 1_000 / rate;
    this.tolerance = capacity * this.interval;
  }
  check(key: string): RateLimitDecision {
    const now = nowMs();
    const base = Math.max(this.fullAt.get(key) ?? now, now);
    const next = base + this.interval;
    const allowed = next - now <= this.tolerance;
    if (allowed) this.fullAt.set(key, next);
    const ahead = (allowed ? next : base) - now;
    return {
      allowed,
      remaining: Math.max(0, Math.floor((this.tolerance - ahead) / this.interval)),
      retryAfterMs: allowed ? 0 : next - this.tolerance - now,
      resetMs: ahead,
      limit: this.capacity,
      at: now,
    };
  }
}

/** One limiter's decision for a client's request. */
type Decide = (client: string) => RateLimitDecision;

function limiterOf(task: Extract<LimitsTask, { kind: 'traffic' }>): Decide {
  if (task.version === 'shared') {
    const bucket = TokenBucket.from(task.bucket);
    return (client) => bucket.check(client);
  }
  const mine = new LocalBucket(task.capacity, task.rate);
  return (client) => mine.check(client);
}

export default function run(task: LimitsTask): LimitsResult | null {
  if (task.kind === 'warm-up') return null;
  const decide = limiterOf(task);
  const tallies: ClientTally[] = task.clients.map(() => ({
    sent: 0,
    allowed: 0,
    rejected: 0,
    firstMs: NaN,
    lastMs: NaN,
    retryAfter: {},
    waitsMs: [],
    maxLagMs: 0,
  }));
  let sample: LimitsResult['sample'] = null;
  startLine(task.start, task.parties);
  for (const [c, atMs] of task.arrivals) {
    sleepUntil(task.startAtMs + atMs);
    const client = task.clients[c]!;
    const t = tallies[c]!;
    const beforeMs = nowMs();
    const d = decide(client);
    const headers = rateLimitHeaders(d, task.policy); // sent with every answer, 200 or 429
    const doneMs = nowMs();
    t.sent++;
    if (Number.isNaN(t.firstMs)) t.firstMs = beforeMs;
    t.lastMs = doneMs;
    t.maxLagMs = Math.max(t.maxLagMs, doneMs - (task.startAtMs + atMs));
    if (d.allowed) {
      t.allowed++;
      continue;
    }
    const retryAfter = headers['Retry-After']!;
    t.rejected++;
    t.retryAfter[retryAfter] = (t.retryAfter[retryAfter] ?? 0) + 1;
    t.waitsMs.push(d.retryAfterMs);
    if (sample === null && task.version === 'shared') sample = { client, headers };
  }
  return { threadId, tallies, sample };
}
