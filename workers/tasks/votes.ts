/**
 * Piscina task for part 1 of `examples/03-double-voting.ts`: one worker
 * thread's share of a stream of user actions, in two phases (every thread
 * finishes phase 1 before any starts phase 2):
 *   phase 1: first votes in a poll, likes of posts, daily-reward claims and
 *            coupon redemptions, many of them sent twice or three times (a
 *            double click, a retry) and landing on different threads;
 *   phase 2: vote changes.
 *
 * Two versions of the same request handlers:
 *   - 'map': each thread remembers what it has seen in its own `Map`s (the
 *     state of a single-threaded server, copied into every worker);
 *   - 'sabre': every thread uses one `VoteRegistry` and one `OnceRegistry`
 *     in shared memory.
 * The task counts, per kind of action, what it accepted and what it refused.
 */
import { threadId } from 'node:worker_threads';
import { OnceRegistry, VoteRegistry, isSabreError, type OnceRegistryHandle, type VoteRegistryHandle } from '../../src/index.js';
import { startLine } from '../start-line.js';

export const CHOICES = ['pizza', 'sushi', 'tacos'] as const;
export const POLL = 'poll:lunch';
export const COUPON = 'SPRING10';
export const DAY_MS = 24 * 3600_000;

export const ACTION_KINDS = ['vote', 'change', 'like', 'reward', 'coupon'] as const;
export type ActionKind = (typeof ACTION_KINDS)[number];

/** One request: [kind, user, choice or post] (a tuple: thousands of them cross to the workers). */
export type Action = readonly [kind: ActionKind, user: number, arg: number];

export interface VotesTask {
  readonly version: 'map' | 'sabre';
  readonly phase1: readonly Action[];
  readonly phase2: readonly Action[];
  readonly votes: VoteRegistryHandle;
  readonly claims: OnceRegistryHandle;
  /** How many times the coupon may be redeemed in all. */
  readonly couponUses: number;
  /** Start line and the line between the phases (zeroed per run). */
  readonly start: Int32Array;
  readonly middle: Int32Array;
  readonly parties: number;
}

export interface VotesResult {
  readonly threadId: number;
  readonly accepted: Record<ActionKind, number>;
  readonly refused: Record<ActionKind, number>;
  /** The 'map' version: this thread's own vote counts, by choice. */
  readonly tally: number[];
}

/** The request handlers: each says whether it accepted the action. */
interface Handlers {
  vote(user: number, choice: number): boolean;
  change(user: number, choice: number): boolean;
  like(user: number, post: number): boolean;
  reward(user: number): boolean;
  coupon(user: number): boolean;
}

/** What a single-threaded server keeps: correct in one thread, per thread in many. */
function mapHandlers(couponUses: number, tally: number[]): Handlers {
  const ballots = new Map<number, number>();
  const liked = new Set<string>();
  const lastReward = new Map<number, number>();
  let couponsUsed = 0;
  return {
    vote(user, choice) {
      if (ballots.has(user)) return false;
      ballots.set(user, choice);
      tally[choice]!++;
      return true;
    },
    change(user, choice) {
      const previous = ballots.get(user);
      if (previous !== undefined) tally[previous]!--;
      ballots.set(user, choice);
      tally[choice]!++;
      return true;
    },
    like(user, post) {
      const key = `${post}:${user}`;
      if (liked.has(key)) return false;
      liked.add(key);
      return true;
    },
    reward(user) {
      const now = Date.now();
      const last = lastReward.get(user);
      if (last !== undefined && now - last < DAY_MS) return false;
      lastReward.set(user, now);
      return true;
    },
    coupon() {
      if (couponsUsed >= couponUses) return false;
      couponsUsed++;
      return true;
    },
  };
}

function sabreHandlers(task: VotesTask): Handlers {
  const votes = VoteRegistry.from(task.votes);
  const claims = OnceRegistry.from(task.claims);
  return {
    vote(user, choice) {
      try {
        votes.vote(POLL, `user:${user}`, CHOICES[choice]!);
        return true;
      } catch (e) {
        if (isSabreError(e, 'ERR_ALREADY_VOTED')) return false;
        throw e;
      }
    },
    change(user, choice) {
      return votes.vote(POLL, `user:${user}`, CHOICES[choice]!, { allowChange: true }).accepted;
    },
    like: (user, post) => claims.claim(`like:${post}:${user}`).claimed,
    reward: (user) => claims.claimWithin(`daily:${user}`, DAY_MS).claimed,
    coupon: () => claims.claim(`coupon:${COUPON}`, { maxUses: task.couponUses }).claimed,
  };
}

const zeros = (): Record<ActionKind, number> => ({ vote: 0, change: 0, like: 0, reward: 0, coupon: 0 });

export default function run(task: VotesTask): VotesResult {
  const tally = CHOICES.map(() => 0);
  const handlers = task.version === 'map' ? mapHandlers(task.couponUses, tally) : sabreHandlers(task);
  const accepted = zeros(),
    refused = zeros();
  const handle = (actions: readonly Action[]): void => {
    for (const [kind, user, arg] of actions) {
      const ok = kind === 'vote' || kind === 'change' || kind === 'like' ? handlers[kind](user, arg) : handlers[kind](user);
      (ok ? accepted : refused)[kind]++;
    }
  };
  startLine(task.start, task.parties);
  handle(task.phase1);
  startLine(task.middle, task.parties);
  handle(task.phase2);
  return { threadId, accepted, refused, tally };
}
