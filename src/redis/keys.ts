/**
 * Redis key names for sabre's keys: `<prefix>{<kind><key>}<suffix>`.
 *
 * The braces make the user's key the hash tag, so every Redis key of one
 * operation (a poll's ballots and its tally, a lease and its fencing
 * counter) lands in one Redis Cluster slot and one script may touch them
 * all. The kind keeps a string and a byte array with the same bytes apart,
 * as every shared-memory table does (`s`: a string, sent as its UTF-8; `b`:
 * bytes, sent as they are, in a Buffer). No escaping: any character or
 * byte may be in a key.
 */
import { InvalidArgumentError } from '../errors.js';
import type { TableKey } from '../table/key.js';
import { describeValue, isBytes, wellFormed } from '../validate.js';
import type { RedisArg } from './connection.js';

/**
 * The Redis key of `key` under `prefix`, with `suffix` after the hash tag
 * (another key of the same slot): a string for a string key (the clients
 * send it as UTF-8), a Buffer for bytes.
 * @throws InvalidArgumentError for a key that is not a string or bytes, is too long, or has a lone surrogate
 */
export function redisKey(prefix: string, key: TableKey, maxKeyBytes: number, what: string, suffix = ''): RedisArg {
  if (typeof key === 'string') {
    // Every UTF-16 unit is at most 3 UTF-8 bytes: most keys need no count.
    if (key.length * 3 > maxKeyBytes) tooLong(Buffer.byteLength(wellFormed(what, key)), maxKeyBytes, what);
    else wellFormed(what, key);
    return `${prefix}{s${key}}${suffix}`;
  }
  if (!isBytes(key)) throw new InvalidArgumentError(`a ${what} must be a string or a Uint8Array, got ${describeValue(key)}`);
  tooLong(key.length, maxKeyBytes, what);
  return Buffer.concat([Buffer.from(`${prefix}{b`), key, Buffer.from(`}${suffix}`)]);
}

function tooLong(bytes: number, maxKeyBytes: number, what: string): void {
  if (bytes > maxKeyBytes) throw new InvalidArgumentError(`${what} is too long: ${bytes} bytes, and maxKeyBytes is ${maxKeyBytes}`);
}

/** A prefix option: a string that ends the namespace (`'sabre:bucket:'`), with no brace (it would take the hash tag). */
export function prefixOf(value: unknown, name: string): string {
  if (typeof value !== 'string' || /[{}]/.test(value)) {
    throw new InvalidArgumentError(`${name} must be a string without braces (the key takes the hash tag), got ${describeValue(value)}`);
  }
  return value;
}
