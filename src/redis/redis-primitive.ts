/**
 * What every Redis-backed primitive holds: its connection (a client with a
 * deadline per call), its key namespace, its longest key, and the count of
 * calls Redis could not answer, each published on `sabre:redis:unavailable`.
 */
import { UnavailableError } from '../errors.js';
import { redisUnavailable, type RedisUnavailableMessage } from '../observe/channels.js';
import type { TableKey } from '../table/key.js';
import { RedisConnection, type RedisArg, type Script } from './connection.js';
import { prefixOf, redisKey } from './keys.js';
import { custom, duration, integer } from '../options/field.js';

/** The options every Redis primitive takes (with `prefixField(default)` as `prefix`). */
export const REDIS_FIELDS = {
  client: custom<unknown>((v) => v),
  maxKeyBytes: integer({ max: 65_535, default: 256 }),
  commandTimeoutMs: duration({ positive: true, infinite: false, default: 1_000 }),
};

export const prefixField = (fallback: string) => custom<string>((v, name) => prefixOf(v, name), fallback);

export abstract class RedisPrimitive {
  /** Calls Redis did not answer within `commandTimeoutMs`. */
  protected unavailableCount = 0;
  protected readonly connection: RedisConnection;
  readonly prefix: string;
  readonly maxKeyBytes: number;

  constructor(o: { readonly client: unknown; readonly commandTimeoutMs: number; readonly prefix: string; readonly maxKeyBytes: number }) {
    this.connection = new RedisConnection(o.client, o.commandTimeoutMs, 'options.client');
    this.prefix = o.prefix;
    this.maxKeyBytes = o.maxKeyBytes;
  }

  /** The Redis key of `key` (checked: a string or bytes of at most maxKeyBytes), with `suffix` in the same slot. */
  protected keyOf(key: TableKey, what = 'key', suffix = ''): RedisArg {
    return redisKey(this.prefix, key, this.maxKeyBytes, what, suffix);
  }

  /** Runs `script`; an UnavailableError is counted and published (as decided by `decidedBy`) before it is thrown. */
  protected async run(
    script: Script,
    keys: readonly RedisArg[],
    args: readonly (string | Buffer)[],
    decidedBy: RedisUnavailableMessage['decidedBy'] = 'throw',
  ): Promise<unknown> {
    try {
      return await this.connection.run(script, keys, args);
    } catch (e) {
      if (e instanceof UnavailableError) {
        this.unavailableCount++;
        if (redisUnavailable.hasSubscribers) redisUnavailable.publish({ source: this, error: e, decidedBy });
      }
      throw e;
    }
  }
}
