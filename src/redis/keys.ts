/**
 * Redis key names for sabre's keys: `<prefix>{<kind><key bytes>}<suffix>`.
 *
 * The braces make the user's key the hash tag, so every Redis key of one
 * operation (a poll's ballots and its tally, a lease and its fencing
 * counter) lands in one Redis Cluster slot and one script may touch them
 * all. The kind byte keeps a string and a byte array with the same bytes
 * apart, as every shared-memory table does (`s`: a string as UTF-8, `b`:
 * bytes). The key's bytes are sent as they are (a Buffer argument): no
 * escaping, any byte allowed.
 */
import { InvalidArgumentError } from '../errors.js';
import type { TableKey } from '../table/key.js';
import { describeValue, isBytes, wellFormed } from '../validate.js';

const STRING = Buffer.from('{s'),
  BYTES = Buffer.from('{b'),
  CLOSE = Buffer.from('}');

/** The user's key as bytes, checked as every keyed structure checks it. */
export function keyBytes(key: unknown, maxKeyBytes: number, what = 'key'): Buffer {
  let bytes: Buffer;
  if (typeof key === 'string') bytes = Buffer.from(wellFormed(what, key), 'utf8');
  else if (isBytes(key)) bytes = Buffer.from(key.buffer, key.byteOffset, key.length);
  else throw new InvalidArgumentError(`a ${what} must be a string or a Uint8Array, got ${describeValue(key)}`);
  if (bytes.length > maxKeyBytes) {
    throw new InvalidArgumentError(`${what} is too long: ${bytes.length} bytes, and maxKeyBytes is ${maxKeyBytes}`);
  }
  return bytes;
}

/** The Redis key of `key` under `prefix`, with `suffix` after the hash tag (another key of the same slot). */
export function redisKey(prefix: Buffer, key: TableKey, bytes: Buffer, suffix?: Buffer): Buffer {
  const parts = [prefix, typeof key === 'string' ? STRING : BYTES, bytes, CLOSE];
  if (suffix !== undefined) parts.push(suffix);
  return Buffer.concat(parts);
}

/** A prefix option: a string that ends the namespace (`'sabre:bucket:'`), with no brace (it would take the hash tag). */
export function prefixOf(value: unknown, name: string): Buffer {
  if (typeof value !== 'string' || /[{}]/.test(value)) {
    throw new InvalidArgumentError(`${name} must be a string without braces (the key takes the hash tag), got ${describeValue(value)}`);
  }
  return Buffer.from(value, 'utf8');
}
