/**
 * Table keys: a string (stored as UTF-8) or a Uint8Array (stored as is), at
 * most `maxKeyBytes` bytes. A string with a lone surrogate is refused: it has
 * no UTF-8 form, and encoding it as U+FFFD would make `'k\uD800'` and
 * `'k\uDC00'` one key. A string and a byte array with the same bytes are
 * different keys, as in a `Map`: the key word records which one it was.
 *
 * `KeyBuffer` encodes a key into private memory once per operation, so the
 * hash and the comparisons read a plain array. Short ASCII strings, the usual
 * key ("user:42", "GET /orders"), take a loop of `charCodeAt` instead of
 * `TextEncoder.encodeInto`, which costs more than the hash for them.
 */
import { InvalidArgumentError } from '../errors.js';
import { describeValue, isBytes, wellFormed } from '../validate.js';

/** A key of a SharedHashTable and of the structures built on it. */
export type TableKey = string | Uint8Array;

/** The key word's flag for a Uint8Array key; the low bits hold the byte length. */
export const BYTES_KEY = 1 << 30;

/** Strings up to this length try the ASCII loop first. */
const ASCII_LOOP_MAX = 64;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class KeyBuffer {
  /** The last encoded key's bytes (the first `length` of them). */
  readonly bytes: Uint8Array;

  constructor(readonly maxKeyBytes: number) {
    this.bytes = new Uint8Array(maxKeyBytes);
  }

  /**
   * Encodes `key` into `bytes`; returns its key word (byte length, with
   * BYTES_KEY for a Uint8Array).
   * @throws InvalidArgumentError for a key that is too long or not a string or Uint8Array
   */
  encode(key: TableKey): number {
    if (typeof key === 'string') return this.encodeString(key);
    if (isBytes(key)) {
      if (key.length > this.maxKeyBytes) throw this.tooLong(key.length);
      this.bytes.set(key);
      return key.length | BYTES_KEY;
    }
    throw new InvalidArgumentError(`a key must be a string or a Uint8Array, got ${describeValue(key)}`);
  }

  private encodeString(key: string): number {
    const n = key.length;
    const bytes = this.bytes;
    if (n <= ASCII_LOOP_MAX && n <= this.maxKeyBytes) {
      let i = 0;
      for (; i < n; i++) {
        const c = key.charCodeAt(i);
        if (c > 0x7f) break;
        bytes[i] = c;
      }
      if (i === n) return n;
    }
    wellFormed('key', key); // ASCII never has a surrogate: only this path needs the check
    // Every UTF-16 code unit takes at least one byte: a cheap early refusal.
    if (n > this.maxKeyBytes) throw this.tooLong(encoder.encode(key).length);
    const { read, written } = encoder.encodeInto(key, bytes);
    if (read !== n) throw this.tooLong(encoder.encode(key).length);
    return written;
  }

  private tooLong(bytes: number): InvalidArgumentError {
    return new InvalidArgumentError(`key is too long: ${bytes} bytes, and maxKeyBytes is ${this.maxKeyBytes}`);
  }

  /** The key stored as `bytes` (a private copy). */
  static decode(bytes: Uint8Array, isBytes: boolean): TableKey {
    return isBytes ? bytes : decoder.decode(bytes);
  }
}
