/**
 * RedisVoteRegistry: `VoteRegistry` on Redis, one vote per user and poll
 * across every process.
 */
import { AlreadyVotedError, InvalidArgumentError } from '../errors.js';
import { custom, integer } from '../options/field.js';
import { defineOptions } from '../options/schema.js';
import {
  DEFAULT_MAX_VOTE_KEY_BYTES,
  MAX_VOTE_KEY_BYTES,
  VOTE_OPTIONS,
  checkChoices,
  id,
  type VoteOptions,
  type VoteResult,
} from '../store/vote-registry.js';
import { describeValue } from '../validate.js';
import { Script, type RedisArg, type RedisClientLike } from './connection.js';
import { prefixField, REDIS_FIELDS, RedisPrimitive } from './redis-primitive.js';

/*
 * Implementation notes
 *
 * A poll is two hashes in one slot (the poll id is the hash tag): its
 * ballots (':b', user -> choice number) and its tally (':t', choice number
 * -> votes). `vote` and `retract` change the ballot and the tally in one
 * script, so the tally always equals the count of the ballots, whoever
 * reads it and whatever dies when (a client dying mid-call leaves either
 * the whole script done or nothing). Linearization point: the script.
 */

const VOTE = new Script(`
local prev = redis.call('HGET', KEYS[1], ARGV[1])
if prev and ARGV[3] ~= '1' then return { 'voted', prev } end
if prev == ARGV[2] then return { 'ok', prev } end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if prev then redis.call('HINCRBY', KEYS[2], prev, -1) end
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
return { 'ok', prev or '' }
`);

const RETRACT = new Script(`
local prev = redis.call('HGET', KEYS[1], ARGV[1])
if not prev then return '' end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HINCRBY', KEYS[2], prev, -1)
return prev
`);

const BALLOT = new Script(`return redis.call('HGET', KEYS[1], ARGV[1]) or ''`);
const TALLY = new Script(`return redis.call('HGETALL', KEYS[1])`);

const BALLOTS = ':b',
  TALLIES = ':t';

export interface RedisVoteRegistryOptions {
  /** A connected ioredis client or Cluster, or a node-redis client. */
  readonly client: RedisClientLike;
  /** The choices of every poll (1 to 64 distinct strings). */
  readonly choices: readonly string[];
  /** Longest poll or user id, in UTF-8 bytes (default 128). */
  readonly maxKeyBytes?: number;
  /** The namespace of the registry's Redis keys (default `'sabre:votes:'`). */
  readonly prefix?: string;
  /** The deadline of each call to Redis, in ms (default 1,000). */
  readonly commandTimeoutMs?: number;
}

const OPTIONS = defineOptions('new RedisVoteRegistry(options)', {
  ...REDIS_FIELDS,
  prefix: prefixField('sabre:votes:'),
  maxKeyBytes: integer({ max: MAX_VOTE_KEY_BYTES, default: DEFAULT_MAX_VOTE_KEY_BYTES }),
  choices: custom((v, name) => checkChoices(v, name)),
});

/**
 * Polls on Redis: `VoteRegistry`'s calls and answers, as promises (`vote`,
 * `retract`, `ballot`, `tally`), one vote per user and poll across every
 * process that uses the same `prefix` on the same Redis. There is no key
 * table to fill: a poll takes two Redis hashes.
 *
 * @throws AlreadyVotedError if the user has voted and `allowChange` is not set (nothing changes)
 * @throws InvalidArgumentError for an unknown choice, an id that is not a string or too long, bad options
 * @throws UnavailableError when Redis does not answer within `commandTimeoutMs`
 */
export class RedisVoteRegistry extends RedisPrimitive {
  readonly choices: readonly string[];

  constructor(options: RedisVoteRegistryOptions) {
    const o = OPTIONS.parse(options);
    super(o);
    this.choices = o.choices;
  }

  /** This object's calls that Redis could not answer. */
  stats(): { readonly unavailable: number } {
    return { unavailable: this.unavailableCount };
  }

  /** Records `user`'s vote in `poll`, as `VoteRegistry#vote`. */
  async vote(poll: string, user: string, choice: string, options?: VoteOptions): Promise<VoteResult> {
    const c = this.choices.indexOf(choice);
    if (c < 0) throw new InvalidArgumentError(`choice must be one of ${JSON.stringify(this.choices)}, got ${describeValue(choice)}`);
    const { allowChange } = VOTE_OPTIONS.parse(options);
    const [keys, u] = this.keysOf(poll, user);
    const r = (await this.run(VOTE, keys, [u, String(c), allowChange ? '1' : '0'])) as [string, string];
    const previous = r[1] === '' ? null : this.choices[Number(r[1])]!;
    if (r[0] === 'voted') {
      throw new AlreadyVotedError(
        `user ${JSON.stringify(user)} has already voted in poll ${JSON.stringify(poll)} (for ${JSON.stringify(previous)}); pass { allowChange: true } to change it`,
      );
    }
    return { accepted: true, previous };
  }

  /** Withdraws `user`'s vote in `poll`; its choice, or null if there was none. */
  async retract(poll: string, user: string): Promise<string | null> {
    const [keys, u] = this.keysOf(poll, user);
    return this.choiceOf(await this.run(RETRACT, keys, [u]));
  }

  /** The user's choice in `poll`, or null. */
  async ballot(poll: string, user: string): Promise<string | null> {
    const [keys, u] = this.keysOf(poll, user);
    return this.choiceOf(await this.run(BALLOT, [keys[0]], [u]));
  }

  /** The poll's count per choice (zeros for a poll without votes). */
  async tally(poll: string): Promise<Record<string, number>> {
    const p = id('pollId', poll, this.maxKeyBytes);
    const flat = (await this.run(TALLY, [this.keyOf(p, 'pollId', TALLIES)], [])) as string[];
    const counts = new Map<number, number>();
    for (let i = 0; i < flat.length; i += 2) counts.set(Number(flat[i]), Number(flat[i + 1]));
    return Object.fromEntries(this.choices.map((choice, i) => [choice, counts.get(i) ?? 0]));
  }

  private keysOf(poll: string, user: string): [[RedisArg, RedisArg], string] {
    const p = id('pollId', poll, this.maxKeyBytes);
    const u = id('userId', user, this.maxKeyBytes);
    return [[this.keyOf(p, 'pollId', BALLOTS), this.keyOf(p, 'pollId', TALLIES)], u];
  }

  private choiceOf(reply: unknown): string | null {
    return reply === '' || reply === null ? null : this.choices[Number(reply)]!;
  }
}
