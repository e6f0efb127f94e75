/**
 * FencedResource: shared state that only the newest lease holder can write.
 */
import { codecOption, encodeInto, type Codec, type CodecName } from '../memory/codec.js';
import { definePrimitive, type HandleOf, type OpenedOf } from '../memory/primitive.js';
import type { SharedArena } from '../memory/arena.js';
import { integer } from '../options/field.js';
import { ConflictError, InvalidArgumentError } from '../errors.js';
import { describeValue } from '../validate.js';
import { SharedHashTable } from '../table/shared-hash-table.js';
import type { TableKey } from '../table/key.js';

/*
 * Implementation notes
 *
 * A SharedHashTable (nested region) from key to [token float64 | value
 * bytes of the user's codec]. `write` is one `compute` on the key: it
 * compares the caller's token with the stored one and replaces both, or
 * throws, under the key's segment lock; that compute is the linearization
 * point, so "check the token" and "write the value" cannot be separated by
 * another writer (the race that makes a check-then-write fence useless).
 * A thread dying inside it leaves the table to repair itself: the write
 * happened whole or not at all.
 */

const TOKEN_BYTES = 8;

export interface FencedResourceOptions<T> {
  /** Keys (resources) it holds. */
  readonly capacity: number;
  /** Longest key, in UTF-8 bytes. */
  readonly maxKeyBytes: number;
  /** Longest encoded value, in bytes. */
  readonly maxValueBytes: number;
  /** `'v8'` (default), `'json'`, `'string'`, `'bytes'`, or a `Codec<T>`. */
  readonly codec?: CodecName | Codec<T>;
  readonly arena?: SharedArena;
}
interface Fenced<T> {
  readonly token: number;
  readonly value: T;
}

/** The stored record's codec: the token, then the value through the user's codec. */
function fencedCodec<T>(inner: Codec<T>, maxValueBytes: number): Codec<Fenced<T>> {
  const scratch = new Uint8Array(TOKEN_BYTES + maxValueBytes);
  const codec: Codec<Fenced<T>> = {
    encode(r) {
      const n = codec.encodeInto!(r, scratch);
      if (n < 0) throw new InvalidArgumentError(`value is too large: it encodes to more than maxValueBytes (${maxValueBytes}) bytes`);
      return scratch.slice(0, n);
    },
    encodeInto(r, target) {
      if (target.length < TOKEN_BYTES) return -1;
      new DataView(target.buffer, target.byteOffset, TOKEN_BYTES).setFloat64(0, r.token, true);
      const n = encodeInto(inner, r.value, target.subarray(TOKEN_BYTES, TOKEN_BYTES + maxValueBytes));
      if (n < 0) throw new InvalidArgumentError(`value is too large: it encodes to more than maxValueBytes (${maxValueBytes}) bytes`);
      return TOKEN_BYTES + n;
    },
    decode(bytes) {
      const token = new DataView(bytes.buffer, bytes.byteOffset, TOKEN_BYTES).getFloat64(0, true);
      return { token, value: inner.decode(bytes.subarray(TOKEN_BYTES)) };
    },
  };
  return codec;
}

const tableSizes = (o: { readonly capacity: number; readonly maxKeyBytes: number; readonly maxValueBytes: number }) => ({
  capacity: o.capacity,
  maxKeyBytes: o.maxKeyBytes,
  maxValueBytes: o.maxValueBytes + TOKEN_BYTES,
});

const DEF = definePrimitive(
  'FencedResource',
  1,
  {
    capacity: integer({ max: 2 ** 24 }),
    maxKeyBytes: integer({ max: 65_535 }),
    maxValueBytes: integer({ max: 2 ** 24 - TOKEN_BYTES }),
    codec: codecOption('FencedResource'),
  },
  { bodyBytes: (o) => SharedHashTable.byteLength(tableSizes(o)) },
);
export type FencedResourceHandle = HandleOf<typeof DEF>;

function tokenOf(v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new InvalidArgumentError(`token must be a fencing token (a safe integer >= 0), got ${describeValue(v)}`);
  return v;
}

/**
 * Keyed values guarded by fencing tokens: `write(key, token, value)` stores
 * the value only if `token` is at least the largest token written to that
 * key so far, and throws `ConflictError` otherwise. Give it the
 * `fencingToken` of the `Lease` that protects the key: a holder that stalled
 * past its expiry, while a newer holder wrote, is refused (Kleppmann,
 * "How to do distributed locking"). The check and the write are one atomic step.
 *
 * Memory synchronization: a `write` happens-before every `read` that returns it.
 *
 * @throws ConflictError (`ERR_CONFLICT`) for a write with a stale token (nothing changes)
 * @throws InvalidArgumentError (`ERR_INVALID_ARG`) for a bad token, key or value
 * @throws CapacityError (`ERR_CAPACITY`) for a new key when full
 *
 * @example
 * ```ts
 * const leases = new LeaseLock({ capacity: 100 });
 * const accounts = LeaseLock.guard<number>({ capacity: 100, maxKeyBytes: 32, maxValueBytes: 16, codec: 'json' });
 * const lease = leases.acquire('acct:7', { ttlMs: 100 })!;
 * accounts.write('acct:7', lease.fencingToken, 250);   // refused if a newer lease has written
 * ```
 * @remarks Since 0.1
 */
export class FencedResource<T = unknown> {
  /** The bounds and defaults of its numeric options, read off their declaration. */
  static readonly limits = DEF.limits;
  readonly handle: FencedResourceHandle;
  private readonly table: SharedHashTable<Fenced<T>>;

  constructor(options: FencedResourceOptions<T> | OpenedOf<typeof DEF>) {
    const { region, options: o, created } = DEF.resolve(options);
    this.handle = region.handle;
    this.table = SharedHashTable.nested(
      region,
      0,
      tableSizes(o),
      fencedCodec(o.codec.codec as Codec<T>, o.maxValueBytes),
      created ? 'create' : 'open',
    );
  }

  /**
   * Re-opens it from its handle (with `{ codec }` again, if it was made with a custom one).
   * @throws HandleError
   * @throws InvalidArgumentError for an option other than `codec`
   */
  static from<T = unknown>(handle: FencedResourceHandle, options?: { readonly codec?: CodecName | Codec<T> }): FencedResource<T> {
    return new FencedResource<T>(DEF.open(handle, options));
  }

  /** Bytes it takes for these options; the same options as the constructor. */
  static byteLength(options: FencedResourceOptions<unknown>): number {
    return DEF.byteLength(options);
  }

  /**
   * Stores `value` under `key` if `token` is not older than the last writer's.
   * @throws ConflictError if a write with a larger token came first
   */
  write(key: TableKey, token: number, value: T): void {
    const t = tokenOf(token);
    // Linearization point: this compute (check and write under one lock).
    this.table.compute(key, (r) => {
      if (r !== undefined && t < r.token) {
        throw new ConflictError(
          `stale fencing token ${t} for ${typeof key === 'string' ? JSON.stringify(key) : 'this key'}: a holder with token ${r.token} has written since; this lease has expired`,
        );
      }
      return { token: t, value };
    });
  }

  /** The value and the token that wrote it, or `undefined` if never written. */
  read(key: TableKey): { value: T; token: number } | undefined {
    const r = this.table.get(key);
    return r === undefined ? undefined : { value: r.value, token: r.token };
  }
}
