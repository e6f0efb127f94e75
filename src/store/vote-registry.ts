/**
 * VoteRegistry: at most one vote per (poll, user), across every thread, with
 * tallies that always equal the ballots.
 */
import { CACHE_LINE_BYTES } from '../memory/cache-line.js';
import { fnv1a } from '../memory/fnv.js';
import type { Codec } from '../memory/codec.js';
import { definePrimitive, type HandleOf, type OpenedOf } from '../memory/primitive.js';
import type { SharedArena } from '../memory/arena.js';
import { Mutex, MUTEX_WORDS } from '../sync/mutex.js';
import { AlreadyVotedError, InvalidArgumentError } from '../errors.js';
import { boolean, custom, integer, oneOf, withDefault } from '../options/field.js';
import { WHEN_FULL_CLOSED, type KeyedStats } from '../table/when-full.js';
import { defineOptions } from '../options/schema.js';
import { SharedHashTable, TABLE_FULL } from '../table/shared-hash-table.js';
import { describeValue } from '../validate.js';

/*
 * Implementation notes
 *
 * Region body:
 *   STRIPES blocks of 128 B, each an embedded Mutex: a poll's votes are
 *     serialized by the stripe its name hashes to
 *   the ballots: a SharedHashTable from (poll, user) to the chosen choice's index
 *   the tallies: a SharedHashTable from poll to one Int32 count per choice
 *
 * A vote changes two records (the ballot and the poll's tally) that live in
 * different table segments, so no single table step can do it. The poll's
 * stripe lock makes the pair one step: under it, a vote ensures the poll has
 * a tally record (so the step cannot fail half-way for capacity), writes the
 * ballot, then moves the tally. Linearization point: the tally write (the
 * ballot write before it is invisible to `tally`, which also takes the lock).
 *
 * Owner death: a voter that dies between its ballot write and its tally
 * write leaves them disagreeing, and the stripe lock poisoned. The next
 * thread to take that stripe (to vote, retract or read a tally) sees the
 * poison and recounts the tallies of the stripe's polls from the ballots
 * (a scan of the ballot table: only on death), then clears the poison. So a
 * tally read always equals its ballots, and the dead voter's vote counts
 * exactly when its ballot was written.
 */

const STRIPES = 16;
const STRIPE_BYTES = CACHE_LINE_BYTES;
const TABLES_AT = STRIPES * STRIPE_BYTES;

/** Default `maxKeyBytes`: the longest poll id and user id, each in UTF-8 bytes. */
export const DEFAULT_MAX_VOTE_KEY_BYTES = 128;
/** @deprecated Use `DEFAULT_MAX_VOTE_KEY_BYTES` (the option is `maxKeyBytes`). */
export const DEFAULT_MAX_ID_BYTES = DEFAULT_MAX_VOTE_KEY_BYTES;
/** Largest `maxKeyBytes` (a ballot's key holds both ids). */
export const MAX_VOTE_KEY_BYTES = 16_384;
/** Most choices a poll can have. */
export const MAX_CHOICES = 64;

export interface VoteRegistryOptions {
  /** Ballots it holds ((poll, user) pairs). */
  readonly capacity: number;
  /** The allowed answers (1 to 64 distinct strings). */
  readonly choices: readonly string[];
  /** Polls with a tally at once (default: `capacity`). */
  readonly maxPolls?: number;
  /** Longest poll id and longest user id, in UTF-8 bytes (default 128 each). */
  readonly maxKeyBytes?: number;
  /**
   * What a vote gets when its ballot (or its poll's tally) finds no room:
   * `'throw'` a CapacityError (default), or `'fail-closed'`: not recorded,
   * `{ accepted: false, full: true }`, without the cost of an error. There is
   * no `'fail-open'`: a vote that is not recorded is not counted.
   * `stats().refusedWhenFull` counts each.
   */
  readonly whenFull?: 'throw' | 'fail-closed';
  readonly arena?: SharedArena;
  /** @deprecated Use `maxPolls` (`SABRE_DEP_POLLS`). */
  readonly polls?: number;
  /** @deprecated Use `maxKeyBytes` (`SABRE_DEP_MAX_KEY_BYTES`). */
  readonly maxIdBytes?: number;
}

/** A vote that found no room (`whenFull: 'fail-closed'`). */
const NO_ROOM: VoteResult = Object.freeze({ accepted: false, previous: null, full: true });

export interface VoteOptions {
  /** Let a user who already voted change their vote (default false: AlreadyVotedError). */
  readonly allowChange?: boolean;
}
export interface VoteResult {
  /** True once the vote is recorded; false only with `whenFull: 'fail-closed'` when there was no room (`full`). */
  readonly accepted: boolean;
  /** The user's previous choice, or null for a first vote. */
  readonly previous: string | null;
  /** Present when the vote found no room (`whenFull: 'fail-closed'`): nothing changed. */
  readonly full?: true;
}

const int32Codec: Codec<number> = {
  encode: (n) => new Uint8Array(Int32Array.of(n).buffer),
  decode: (b) => new DataView(b.buffer, b.byteOffset, 4).getInt32(0, true),
};
const countsCodec: Codec<Int32Array> = {
  encode: (c) => new Uint8Array(c.buffer.slice(c.byteOffset, c.byteOffset + c.byteLength)),
  decode: (b) => new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer),
};

/** The sizes the layout depends on; `maxPolls` absent means `capacity`. */
interface Sizes {
  readonly capacity: number;
  readonly choices: readonly string[];
  readonly maxPolls?: number | undefined;
  readonly maxKeyBytes: number;
}
const ballotSizes = (o: Sizes) => ({ capacity: o.capacity, maxKeyBytes: 2 * o.maxKeyBytes + 8, maxValueBytes: 4 });
const tallySizes = (o: Sizes) => ({ capacity: o.maxPolls ?? o.capacity, maxKeyBytes: o.maxKeyBytes, maxValueBytes: 4 * o.choices.length });
const talliesAt = (o: Sizes) => TABLES_AT + SharedHashTable.byteLength(ballotSizes(o));

export function checkChoices(choices: unknown, name: string): readonly string[] {
  if (!Array.isArray(choices) || choices.length === 0 || choices.length > MAX_CHOICES || !choices.every((c) => typeof c === 'string')) {
    throw new InvalidArgumentError(`${name} must be an array of 1 to ${MAX_CHOICES} strings, got ${describeValue(choices)}`);
  }
  if (new Set(choices).size !== choices.length) throw new InvalidArgumentError(`${name} must be distinct, got ${JSON.stringify(choices)}`);
  return Object.freeze<string[]>([...choices]);
}

const DEF = definePrimitive(
  'VoteRegistry',
  1,
  {
    capacity: integer({ max: 2 ** 24 }),
    choices: custom((v, name) => checkChoices(v, name)),
    // Absent (and absent from the handle): as many polls as ballots.
    maxPolls: withDefault(integer({ max: 2 ** 24 }), undefined),
    maxKeyBytes: integer({ max: MAX_VOTE_KEY_BYTES, default: DEFAULT_MAX_VOTE_KEY_BYTES }),
    whenFull: oneOf(WHEN_FULL_CLOSED, 'throw'),
  },
  {
    renamed: {
      polls: { to: 'maxPolls', code: 'SABRE_DEP_POLLS' },
      maxIdBytes: { to: 'maxKeyBytes', code: 'SABRE_DEP_MAX_KEY_BYTES' },
    },
    bodyBytes: (o) => talliesAt(o) + SharedHashTable.byteLength(tallySizes(o)),
  },
);
export type VoteRegistryHandle = HandleOf<typeof DEF>;

export const VOTE_OPTIONS = defineOptions('votes.vote(poll, user, choice, options)', {
  allowChange: boolean(false),
});

export function id(name: string, v: unknown, maxBytes: number): string {
  if (typeof v !== 'string') throw new InvalidArgumentError(`${name} must be a string, got ${describeValue(v)}`);
  if (v.length > maxBytes || Buffer.byteLength(v) > maxBytes) {
    throw new InvalidArgumentError(`${name} is too long: ${Buffer.byteLength(v)} bytes, and maxKeyBytes is ${maxBytes}`);
  }
  return v;
}

/** The ballot key of (poll, user): the poll's length first, so no two pairs share a key. */
const ballotKey = (poll: string, user: string): string => `${poll.length}:${poll}:${user}`;
const pollOfKey = (key: string): string => {
  const colon = key.indexOf(':');
  return key.slice(colon + 1, colon + 1 + Number(key.slice(0, colon)));
};

function stripeOf(poll: string): number {
  return fnv1a(poll) % STRIPES;
}

const IGNORE_POISON = Object.freeze({ ignorePoison: true });

/**
 * Votes shared by every thread: at most one ballot per (poll, user), vote
 * changing when allowed, retraction, and per-poll tallies that always equal
 * the ballots, even when a voting thread dies mid-vote.
 *
 * Memory synchronization: a `vote` or `retract` happens-before every `tally`
 * or `ballot` read that sees it.
 *
 * @throws AlreadyVotedError (`ERR_ALREADY_VOTED`) for a second vote without `allowChange`
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`) for a choice not in `choices`,
 *   an id (poll or user) that is not a string or is longer than `maxKeyBytes`,
 *   a bad or unknown option (named, with the one likely meant)
 * @throws CapacityError (`ERR_CAPACITY`) when the ballots (or polls) are full;
 *   nothing is counted then
 *
 * @example
 * ```ts
 * const votes = new VoteRegistry({ capacity: 100_000, choices: ['yes', 'no'], maxPolls: 1_000 });
 * votes.vote('poll:7', 'user:42', 'yes');                         // { accepted: true, previous: null }
 * votes.vote('poll:7', 'user:42', 'no');                          // throws AlreadyVotedError
 * votes.vote('poll:7', 'user:42', 'no', { allowChange: true });  // { accepted: true, previous: 'yes' }
 * votes.tally('poll:7');                                          // { yes: 0, no: 1 }
 * ```
 * @remarks Since 0.1
 */
export class VoteRegistry {
  /** The bounds and defaults of its numeric options, read off their declaration. */
  static readonly limits = DEF.limits;
  readonly handle: VoteRegistryHandle;
  readonly choices: readonly string[];
  private readonly maxKeyBytes: number;
  private readonly locks: readonly Mutex[];
  private readonly ballots: SharedHashTable<number>;
  private readonly failClosed: boolean;
  private readonly tallies: SharedHashTable<Int32Array>;

  constructor(options: VoteRegistryOptions | OpenedOf<typeof DEF>) {
    const { region, options: o, created } = DEF.resolve(options);
    const mode = created ? 'create' : 'open';
    this.handle = region.handle;
    this.choices = o.choices;
    this.maxKeyBytes = o.maxKeyBytes;
    const words = region.i32(0, (STRIPES * STRIPE_BYTES) / 4);
    this.locks = Array.from({ length: STRIPES }, (_, s) =>
      Mutex.embedded(words.subarray((s * STRIPE_BYTES) / 4, (s * STRIPE_BYTES) / 4 + MUTEX_WORDS)),
    );
    this.ballots = SharedHashTable.nested(region, TABLES_AT, ballotSizes(o), int32Codec, mode);
    this.failClosed = o.whenFull === 'fail-closed';
    this.tallies = SharedHashTable.nested(region, talliesAt(o), tallySizes(o), countsCodec, mode);
  }

  /** Ballots recorded, ballot capacity, and votes refused for want of room (ballots or tallies). */
  stats(): KeyedStats {
    const b = this.ballots.stats();
    const t = this.tallies.stats();
    return {
      ...b,
      refusedWhenFull: b.refusedWhenFull + t.refusedWhenFull,
      bytesInUse: b.bytesInUse + t.bytesInUse,
      maxBytes: b.maxBytes + t.maxBytes,
    };
  }

  /** Re-opens a registry from its handle, in any thread. @throws HandleError */
  static from(handle: VoteRegistryHandle): VoteRegistry {
    return new VoteRegistry(DEF.open(handle));
  }

  /** Bytes a registry of these options takes. */
  static byteLength(options: VoteRegistryOptions): number {
    return DEF.byteLength(options);
  }

  /**
   * Records `user`'s vote in `poll`.
   * @throws AlreadyVotedError if the user has voted and `allowChange` is not set (nothing changes)
   */
  vote(poll: string, user: string, choice: string, options?: VoteOptions): VoteResult {
    const p = id('pollId', poll, this.maxKeyBytes);
    const key = ballotKey(p, id('userId', user, this.maxKeyBytes));
    const c = this.choices.indexOf(choice);
    if (c < 0) throw new InvalidArgumentError(`choice must be one of ${JSON.stringify(this.choices)}, got ${describeValue(choice)}`);
    const { allowChange } = VOTE_OPTIONS.parse(options);
    return this.locked(p, () => {
      const prev = this.ballots.get(key);
      if (prev !== undefined && !allowChange) {
        throw new AlreadyVotedError(
          `user ${JSON.stringify(user)} has already voted in poll ${JSON.stringify(poll)} (for ${JSON.stringify(this.choices[prev])}); pass { allowChange: true } to change it`,
        );
      }
      const previous = prev === undefined ? null : this.choices[prev]!;
      if (prev === c) return { accepted: true, previous };
      // Make sure the tally record exists before the ballot changes: a full
      // poll table then refuses the vote with nothing written.
      const quiet = this.failClosed;
      if (this.tallies.computeIfRoom(p, (t) => t ?? new Int32Array(this.choices.length), quiet) === TABLE_FULL) return NO_ROOM;
      if (this.ballots.computeIfRoom(key, () => c, quiet) === TABLE_FULL) return NO_ROOM;
      // Linearization point: the tally write.
      this.tallies.compute(p, (t) => {
        const next = t!.slice();
        if (prev !== undefined) next[prev]!--;
        next[c]!++;
        return next;
      });
      return { accepted: true, previous };
    });
  }

  /** Withdraws `user`'s vote in `poll`; returns its choice, or null if there was none. */
  retract(poll: string, user: string): string | null {
    const p = id('pollId', poll, this.maxKeyBytes);
    const key = ballotKey(p, id('userId', user, this.maxKeyBytes));
    return this.locked(p, () => {
      const prev = this.ballots.get(key);
      if (prev === undefined) return null;
      this.ballots.delete(key);
      this.tallies.compute(p, (t) => {
        const next = t!.slice();
        next[prev]!--;
        return next;
      });
      return this.choices[prev]!;
    });
  }

  /** The user's choice in `poll`, or null. */
  ballot(poll: string, user: string): string | null {
    const p = id('pollId', poll, this.maxKeyBytes);
    const c = this.locked(p, () => this.ballots.get(ballotKey(p, id('userId', user, this.maxKeyBytes))));
    return c === undefined ? null : this.choices[c]!;
  }

  /** The poll's count per choice (zeros for a poll without votes). */
  tally(poll: string): Record<string, number> {
    const p = id('pollId', poll, this.maxKeyBytes);
    const counts = this.locked(p, () => this.tallies.get(p));
    return Object.fromEntries(this.choices.map((choice, i) => [choice, counts?.[i] ?? 0]));
  }

  /** Runs `fn` holding `poll`'s stripe lock, repairing the stripe's tallies first if a voter died holding it. */
  private locked<T>(poll: string, fn: () => T): T {
    const s = stripeOf(poll);
    const mutex = this.locks[s]!;
    mutex.lock(IGNORE_POISON);
    try {
      if (mutex.isPoisoned) {
        this.recount(s);
        mutex.clearPoison();
      }
      return fn();
    } finally {
      mutex.unlock();
    }
  }

  /** Recomputes the tallies of every poll of stripe `s` from the ballots (after a voter's death). */
  private recount(s: number): void {
    const counts = new Map<string, Int32Array>();
    for (const [key, choice] of this.ballots.entries()) {
      const poll = pollOfKey(key as string);
      if (stripeOf(poll) !== s) continue;
      let c = counts.get(poll);
      if (c === undefined) counts.set(poll, (c = new Int32Array(this.choices.length)));
      c[choice]!++;
    }
    for (const [poll] of this.tallies.entries()) {
      if (stripeOf(poll as string) === s && !counts.has(poll as string)) this.tallies.delete(poll);
    }
    for (const [poll, c] of counts) this.tallies.set(poll, c);
  }
}
