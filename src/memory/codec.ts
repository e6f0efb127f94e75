/**
 * Codecs: how a stored value becomes bytes in shared memory and back.
 *
 * Every structure that stores values (VersionedCell, the keyed tables and
 * stores) takes a codec by name or a user `Codec<T>`:
 *
 * | name       | values                         | notes |
 * |------------|--------------------------------|-------|
 * | `'v8'`     | anything `postMessage` accepts | the default; `node:v8` serialize/deserialize (structured clone) |
 * | `'json'`   | JSON values                    | `JSON.stringify` + `TextEncoder.encodeInto` straight into the target; no `v8.serialize` |
 * | `'string'` | strings                        | UTF-8; lone surrogates become U+FFFD; a leading U+FEFF is kept |
 * | `'bytes'`  | `Uint8Array`                   | a copy of the bytes; decodes to a plain (non-shared) `Uint8Array` |
 *
 * A user codec is any `{ encode, decode }` object, optionally with the
 * `encodeInto` fast path. It cannot travel in a handle (functions are not
 * structured-cloneable), so handles record the codec's name, or `'custom'`,
 * and the user passes the codec again when re-opening.
 *
 * Decoding never parses shared memory in place: a parser that reads bytes a
 * concurrent writer is changing may throw or, worse, return a value mixed from
 * two writes. The `'v8'` codec copies shared bytes into private memory before
 * deserializing; `'json'` and `'string'` decode through `TextDecoder`, whose
 * result (a string) is already private; `'bytes'` always returns a copy.
 * Structures still copy out and validate (e.g. a version re-check) before
 * calling `decode`: a private copy of torn bytes is still torn.
 */
import { deserialize, serialize } from 'node:v8';
import { types } from 'node:util';
import { HandleError, InvalidArgumentError } from '../errors.js';
import { describeValue, isBytes } from '../validate.js';
import type { Field } from '../options/field.js';

/** Turns values into bytes and back. */
export interface Codec<T> {
  /** The bytes of `value` (the caller may keep them; they are not reused). @throws InvalidArgumentError if `value` cannot be encoded. */
  encode(value: T): Uint8Array;
  /** The value of `bytes` (which the codec must not keep: the caller may reuse them). */
  decode(bytes: Uint8Array): T;
  /**
   * Optional fast path: encodes `value` straight into `target` and returns the
   * number of bytes written, or -1 if it does not fit (the content of
   * `target` is then unspecified). Must write the same bytes as `encode`.
   */
  encodeInto?(value: T, target: Uint8Array): number;
}

/** The built-in codecs, by name. */
export type CodecName = 'v8' | 'json' | 'string' | 'bytes';
/** Names of the built-in codecs, for validation and handles. */
export const CODEC_NAMES: readonly CodecName[] = Object.freeze(['v8', 'json', 'string', 'bytes'] as const);

/** A codec and the name a handle records for it (`'custom'` for a user codec). */
export interface ResolvedCodec<T> {
  readonly name: CodecName | 'custom';
  readonly codec: Codec<T>;
}

const encoder = new TextEncoder();
// ignoreBOM: keep a leading U+FEFF (it is text the caller stored), as Buffer does.
const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/**
 * UTF-8 bytes to a string, invalid sequences as U+FFFD. Node's Buffer
 * `utf8Slice` (what `buffer.toString()` calls) works on any Uint8Array,
 * shared memory included, and costs about half a `TextDecoder.decode` of a
 * short string on Node 20 (~85 against ~160 ns for 16 bytes).
 */
const nativeUtf8Slice = (Buffer.prototype as unknown as { utf8Slice?: (this: Uint8Array, start: number, end: number) => string }).utf8Slice;
const decodeUtf8: (bytes: Uint8Array) => string =
  typeof nativeUtf8Slice === 'function' ? (bytes) => nativeUtf8Slice.call(bytes, 0, bytes.length) : (bytes) => decoder.decode(bytes);

/** `bytes` itself when it is private memory, else a private copy. */
function privateBytes(bytes: Uint8Array): Uint8Array {
  return types.isSharedArrayBuffer(bytes.buffer) ? bytes.slice() : bytes;
}

function checkBytes(codec: string, bytes: unknown): Uint8Array {
  if (!isBytes(bytes)) throw new InvalidArgumentError(`the '${codec}' codec decodes a Uint8Array, got ${describeType(bytes)}`);
  return bytes;
}

function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'symbol') return 'a symbol';
  if (typeof v === 'object') return ArrayBuffer.isView(v) ? `a ${v.constructor.name}` : describeValue(v);
  return `${typeof v} ${describeValue(v)}`;
}

/** Writes the UTF-8 of `s` into `target`; -1 if it does not fit. */
function utf8Into(s: string, target: Uint8Array): number {
  // Every UTF-16 code unit takes at least one UTF-8 byte: a cheap early refusal.
  if (s.length > target.length) return -1;
  const { read, written } = encoder.encodeInto(s, target);
  return read === s.length ? written : -1;
}

const v8Codec: Codec<unknown> = Object.freeze({
  encode(value: unknown): Uint8Array {
    if (typeof value === 'function' || typeof value === 'symbol') {
      throw new InvalidArgumentError(`the 'v8' codec encodes structured-cloneable values, got ${describeType(value)}`);
    }
    try {
      return serialize(value);
    } catch (e) {
      // DataCloneError: functions, symbols, SharedArrayBuffers (which cannot be
      // stored by value), class instances with native state...
      throw new InvalidArgumentError(`the 'v8' codec cannot encode this value (structured clone refused it): ${(e as Error).message}`);
    }
  },
  decode(bytes: Uint8Array): unknown {
    const own = privateBytes(checkBytes('v8', bytes));
    try {
      return deserialize(own);
    } catch (e) {
      throw new InvalidArgumentError(`the 'v8' codec cannot decode these ${own.length} bytes: ${(e as Error).message}`);
    }
  },
});

function jsonText(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    // TypeError: a BigInt, or a cycle.
    throw new InvalidArgumentError(`the 'json' codec cannot encode this value: ${(e as Error).message}`);
  }
  if (text === undefined) throw new InvalidArgumentError(`the 'json' codec encodes JSON values, got ${describeType(value)}`);
  return text;
}

const jsonCodec: Codec<unknown> = Object.freeze({
  encode(value: unknown): Uint8Array {
    return encoder.encode(jsonText(value));
  },
  encodeInto(value: unknown, target: Uint8Array): number {
    return utf8Into(jsonText(value), target);
  },
  decode(bytes: Uint8Array): unknown {
    const text = decodeUtf8(checkBytes('json', bytes));
    try {
      return JSON.parse(text) as unknown;
    } catch (e) {
      throw new InvalidArgumentError(`the 'json' codec cannot decode these ${bytes.length} bytes: ${(e as Error).message}`);
    }
  },
});

function checkString(value: unknown): string {
  if (typeof value !== 'string') throw new InvalidArgumentError(`the 'string' codec encodes strings, got ${describeType(value)}`);
  return value;
}

const stringCodec: Codec<string> = Object.freeze({
  encode(value: string): Uint8Array {
    return encoder.encode(checkString(value));
  },
  encodeInto(value: string, target: Uint8Array): number {
    return utf8Into(checkString(value), target);
  },
  decode(bytes: Uint8Array): string {
    return decodeUtf8(checkBytes('string', bytes));
  },
});

function checkUint8Array(value: unknown): Uint8Array {
  if (!isBytes(value)) throw new InvalidArgumentError(`the 'bytes' codec encodes a Uint8Array, got ${describeType(value)}`);
  return value;
}

const bytesCodec: Codec<Uint8Array> = Object.freeze({
  encode(value: Uint8Array): Uint8Array {
    return checkUint8Array(value).slice();
  },
  encodeInto(value: Uint8Array, target: Uint8Array): number {
    const v = checkUint8Array(value);
    if (v.length > target.length) return -1;
    target.set(v);
    return v.length;
  },
  decode(bytes: Uint8Array): Uint8Array {
    // Always a copy, in a plain ArrayBuffer: the caller may keep it.
    return new Uint8Array(checkBytes('bytes', bytes));
  },
});

const BUILT_IN: Readonly<Record<CodecName, Codec<unknown>>> = Object.freeze({
  v8: v8Codec,
  json: jsonCodec,
  string: stringCodec,
  bytes: bytesCodec,
});

/** The built-in codec called `name`. @throws InvalidArgumentError for an unknown name. */
export function codecByName(name: CodecName): Codec<unknown> {
  const codec = (BUILT_IN as Record<string, Codec<unknown>>)[name as string];
  if (codec === undefined || !Object.hasOwn(BUILT_IN, name)) {
    throw new InvalidArgumentError(
      `codec must be one of ${CODEC_NAMES.map((n) => `'${n}'`).join(', ')} or a { encode, decode } object, got ${describeValue(name)}`,
    );
  }
  return codec;
}

/** True if `v` looks like a user codec (`encode` and `decode` functions). */
export function isCodec(v: unknown): v is Codec<unknown> {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as Codec<unknown>).encode === 'function' &&
    typeof (v as Codec<unknown>).decode === 'function'
  );
}

/**
 * Resolves a codec option: `undefined` is `'v8'`, a name is a built-in codec,
 * an object with `encode` and `decode` is a user codec (`name: 'custom'`).
 * @throws InvalidArgumentError for anything else (an unknown name, an object
 * without `encode`/`decode`, or an `encodeInto` that is not a function)
 */
export function resolveCodec(codec: 'string'): ResolvedCodec<string>;
export function resolveCodec(codec: 'bytes'): ResolvedCodec<Uint8Array>;
export function resolveCodec<T = unknown>(codec?: CodecName | Codec<T>): ResolvedCodec<T>;
export function resolveCodec<T = unknown>(codec?: CodecName | Codec<T>): ResolvedCodec<T> {
  if (codec === undefined) return { name: 'v8', codec: v8Codec as Codec<T> };
  if (typeof codec === 'string') return { name: codec, codec: codecByName(codec) as Codec<T> };
  if (isCodec(codec)) {
    const into = (codec as { encodeInto?: unknown }).encodeInto; // read to check it, never called here
    if (into !== undefined && typeof into !== 'function') {
      throw new InvalidArgumentError(`codec.encodeInto must be a function when present, got ${describeType(into)}`);
    }
    return { name: 'custom', codec };
  }
  throw new InvalidArgumentError(
    `codec must be one of ${CODEC_NAMES.map((n) => `'${n}'`).join(', ')} or a { encode, decode } object, got ${describeType(codec)}`,
  );
}

/**
 * Encodes `value` into `target` with `codec`'s fast path when it has one,
 * else through `encode` and a copy. Returns the bytes written, or -1 when the
 * encoding is longer than `target` (the content of `target` is then unspecified).
 * @throws InvalidArgumentError (or the user codec's own error) when `value` cannot be encoded
 */
export function encodeInto<T>(codec: Codec<T>, value: T, target: Uint8Array): number {
  if (codec.encodeInto !== undefined) {
    const n = codec.encodeInto(value, target);
    if (n !== -1 && !(Number.isInteger(n) && n >= 0 && n <= target.length)) {
      throw new InvalidArgumentError(`codec.encodeInto must return the bytes written (0..${target.length}) or -1, got ${describeValue(n)}`);
    }
    return n;
  }
  const bytes = codec.encode(value);
  if (!isBytes(bytes)) throw new InvalidArgumentError(`codec.encode must return a Uint8Array, got ${describeType(bytes)}`);
  if (bytes.length > target.length) return -1;
  target.set(bytes);
  return bytes.length;
}

/** The encoded length of `value`, for messages ("needs 300 bytes"). */
export function encodedLength<T>(codec: Codec<T>, value: T): number {
  return codec.encode(value).length;
}

/**
 * The codec a primitive re-opened from a handle uses. A handle records only
 * the codec's name, so a user codec (`'custom'`) must be given again; a
 * built-in one may be given again only as itself.
 * @param kind the class name, for messages ("SharedHashTable")
 * @throws HandleError for a missing custom codec, or a codec other than the recorded one
 */
export function reopenedCodec<T>(kind: string, recorded: CodecName | 'custom', given: unknown): Codec<T> {
  if (recorded === 'custom') {
    if (!isCodec(given)) {
      throw new HandleError(
        `this ${kind} was made with a custom codec, which cannot travel in a handle: pass it again with ${kind}.from(handle, { codec }), got ${given === undefined ? 'no codec' : describeValue(given)}`,
      );
    }
    return resolveCodec(given as Codec<T>).codec;
  }
  if (given !== undefined && given !== recorded) {
    throw new HandleError(`this ${kind} uses the '${recorded}' codec, got ${typeof given === 'string' ? `'${given}'` : 'a custom codec'}`);
  }
  return codecByName(recorded) as Codec<T>;
}

/**
 * A codec for fixed records of numbers: each named field is one float64,
 * little-endian, in the order given (a lease's holder, token and expiry; a
 * claim's uses and time). Exact for every safe integer and every double, no
 * allocation but the decoded object, no parsing.
 */
export function float64Record<K extends string>(...fields: readonly K[]): Codec<Record<K, number>> {
  const bytes = 8 * fields.length;
  const codec: Codec<Record<K, number>> = {
    encode(record) {
      const out = new Uint8Array(bytes);
      codec.encodeInto!(record, out);
      return out;
    },
    encodeInto(record, target) {
      if (target.length < bytes) return -1;
      const view = new DataView(target.buffer, target.byteOffset, bytes);
      for (let i = 0; i < fields.length; i++) view.setFloat64(8 * i, record[fields[i]!], true);
      return bytes;
    },
    decode(data) {
      const view = new DataView(data.buffer, data.byteOffset, bytes);
      const record = {} as Record<K, number>;
      for (let i = 0; i < fields.length; i++) record[fields[i]!] = view.getFloat64(8 * i, true);
      return record;
    },
  };
  return codec;
}

/**
 * The `codec` option of a primitive that stores values: a built-in codec's
 * name (default `'v8'`) or a user codec. The handle records the name, or
 * `'custom'`; a user codec is given again to `P.from(handle, { codec })`.
 * @param kind the class name, for messages
 */
export function codecOption<T = unknown>(kind: string, fallback: CodecName = 'v8'): Field<ResolvedCodec<T>, CodecName | 'custom'> {
  return {
    parse: (v) => resolveCodec(v as CodecName | Codec<T>),
    fallback: resolveCodec<T>(fallback),
    place: 'handle',
    reopen: true,
    toHandle: (r) => r.name,
    fromHandle: (raw, name) => {
      if (raw === 'custom' || (CODEC_NAMES as readonly unknown[]).includes(raw)) return raw as CodecName | 'custom';
      throw new InvalidArgumentError(
        `${name} must be one of ${[...CODEC_NAMES, 'custom'].map((n) => `'${n}'`).join(', ')}, got ${describeValue(raw)}`,
      );
    },
    revive: (recorded, given) => ({ name: recorded, codec: reopenedCodec<T>(kind, recorded, given) }),
  };
}
