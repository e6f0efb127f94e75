/**
 * The record a Cache stores per key: the user's value (through the user's
 * codec), its expiry, and its tags (for invalidation by tag).
 *
 * Bytes: [expiresAt: float64 LE][tagBytes: uint16 LE][tags][value], where
 * tags are [length: uint8][UTF-8 bytes] each. `expiresAt` is on the cache's
 * clock (Infinity: never). The tags sit before the value so that eviction
 * (which reads the expiry) and invalidation by tag (which reads the tags)
 * never decode the value.
 */
import { encodeInto, type Codec } from '../memory/codec.js';
import { InvalidArgumentError } from '../errors.js';
import { describeValue } from '../validate.js';

export interface CacheRecord<T> {
  readonly expiresAt: number;
  readonly tags: readonly string[];
  readonly value: T;
}

/** Bytes before the tags. */
export const RECORD_HEAD_BYTES = 10;
/** Longest tag, in UTF-8 bytes. */
export const MAX_TAG_BYTES = 255;

const NO_TAGS: readonly string[] = Object.freeze([]);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The encoded tags (validated), or an empty array. @throws InvalidArgumentError */
export function encodeTags(tags: unknown, maxTagBytes: number): Uint8Array {
  if (tags === undefined) return new Uint8Array(0);
  if (!Array.isArray(tags)) throw new InvalidArgumentError(`tags must be an array of strings, got ${describeValue(tags)}`);
  const parts: Uint8Array[] = [];
  let total = 0;
  for (const tag of tags) {
    if (typeof tag !== 'string' || tag.length === 0)
      throw new InvalidArgumentError(`a tag must be a non-empty string, got ${describeValue(tag)}`);
    const bytes = encoder.encode(tag);
    if (bytes.length > MAX_TAG_BYTES) throw new InvalidArgumentError(`a tag is too long: ${bytes.length} bytes, at most ${MAX_TAG_BYTES}`);
    parts.push(bytes);
    total += 1 + bytes.length;
  }
  if (total > maxTagBytes) {
    throw new InvalidArgumentError(
      `tags take ${total} bytes (1 + length each), and maxTagBytes is ${maxTagBytes}; create the cache with a larger maxTagBytes`,
    );
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out[at++] = p.length;
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** True if the encoded record `bytes` carries the encoded tag `tag` (its UTF-8 bytes). */
export function recordHasTag(bytes: Uint8Array, tag: Uint8Array): boolean {
  if (bytes.length < RECORD_HEAD_BYTES) return false;
  const end = RECORD_HEAD_BYTES + (bytes[8]! | (bytes[9]! << 8));
  for (let at = RECORD_HEAD_BYTES; at < end && at < bytes.length;) {
    const n = bytes[at]!;
    if (n === tag.length) {
      let same = true;
      for (let i = 0; i < n && same; i++) same = bytes[at + 1 + i] === tag[i];
      if (same) return true;
    }
    at += 1 + n;
  }
  return false;
}

/** Scratch for reading a little-endian float64 from unaligned bytes. */
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const bigEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 0;

/** The expiry in the head of an encoded record. */
export function recordExpiry(head: Uint8Array): number {
  if (bigEndian) for (let i = 0; i < 8; i++) f64Bytes[7 - i] = head[i]!;
  else for (let i = 0; i < 8; i++) f64Bytes[i] = head[i]!;
  return f64[0]!;
}

/**
 * The codec of records around the user's codec `inner`. `set` stages the
 * encoded tags in `record.tags` as given by `encodeTags` (the record written
 * carries `tagBytes`, not the strings), so a write encodes its tags once.
 * A value may take at most `maxValueBytes`, whatever room the tags leave.
 */
export function recordCodec<T>(inner: Codec<T>, maxValueBytes: number): Codec<CacheRecord<T>> & { tagBytes: Uint8Array } {
  let view: DataView | undefined;
  let viewOf: Uint8Array | undefined;
  const codec = {
    /** The encoded tags of the record being written (set by the cache before each write). */
    tagBytes: new Uint8Array(0),
    encode(record: CacheRecord<T>): Uint8Array {
      const value = inner.encode(record.value);
      const out = new Uint8Array(RECORD_HEAD_BYTES + codec.tagBytes.length + value.length);
      const n = codec.encodeInto(record, out);
      if (n < 0) throw new Error('sabre: cache record does not fit its own encoding');
      return out;
    },
    encodeInto(record: CacheRecord<T>, target: Uint8Array): number {
      const tags = codec.tagBytes;
      const head = RECORD_HEAD_BYTES + tags.length;
      if (target.length < head) return -1;
      if (viewOf !== target) {
        view = new DataView(target.buffer, target.byteOffset, target.byteLength);
        viewOf = target;
      }
      view!.setFloat64(0, record.expiresAt, true);
      view!.setUint16(8, tags.length, true);
      target.set(tags, RECORD_HEAD_BYTES);
      const n = encodeInto(inner, record.value, target.subarray(head, head + maxValueBytes));
      return n < 0 ? -1 : head + n;
    },
    // The hot path of every read: no DataView, no freezing (the record never
    // leaves the cache; only its value does).
    decode(bytes: Uint8Array): CacheRecord<T> {
      const expiresAt = recordExpiry(bytes);
      const tagLen = bytes[8]! | (bytes[9]! << 8);
      let tags = NO_TAGS;
      if (tagLen > 0) {
        const list: string[] = [];
        for (let at = RECORD_HEAD_BYTES; at < RECORD_HEAD_BYTES + tagLen; at += 1 + bytes[at]!) {
          list.push(decoder.decode(bytes.subarray(at + 1, at + 1 + bytes[at]!)));
        }
        tags = list;
      }
      return { expiresAt, tags, value: inner.decode(bytes.subarray(RECORD_HEAD_BYTES + tagLen)) };
    },
  };
  return codec;
}
