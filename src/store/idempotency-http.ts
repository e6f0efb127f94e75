/**
 * The HTTP face of IdempotencyStore: the `Idempotency-Key` request header
 * (IETF draft-ietf-httpapi-idempotency-key-header) with Stripe's semantics,
 * as one framework-agnostic function.
 */
import { InvalidArgumentError, UnavailableError, isSabreError } from '../errors.js';
import { boolean, custom, fn, integer, withDefault } from '../options/field.js';
import { retryAfterSeconds } from '../http/retry-after.js';
import { defineOptions } from '../options/schema.js';
import { describeValue, isInstance, plainObject } from '../validate.js';
import {
  IdempotencyStore,
  MAX_IDEMPOTENCY_KEY_LENGTH,
  type IdempotencyBegin,
  type IdempotencyResponse,
  type IdempotencyToken,
} from './idempotency-store.js';
import { headerOf, type RequestHeaders } from '../http/header.js';

/**
 * What `idempotent` needs of a store: an `IdempotencyStore` (shared memory)
 * or a `RedisIdempotencyStore`, whose calls answer by promises.
 */
export interface IdempotencyStoreLike {
  begin(key: string, fingerprint: string): IdempotencyBegin | PromiseLike<IdempotencyBegin>;
  complete(token: IdempotencyToken, response: IdempotencyResponse): void | PromiseLike<void>;
  abort(token: IdempotencyToken): void | PromiseLike<void>;
}

/** `store`, checked: an IdempotencyStore, or an object with its three calls. */
export function checkStore(store: unknown, name: string): IdempotencyStoreLike {
  if (isInstance(store, IdempotencyStore)) return store;
  const s = store as Partial<IdempotencyStoreLike> | null;
  if (
    typeof s === 'object' &&
    s !== null &&
    typeof s.begin === 'function' &&
    typeof s.complete === 'function' &&
    typeof s.abort === 'function'
  ) {
    return s as IdempotencyStoreLike;
  }
  throw new InvalidArgumentError(`${name} must be an IdempotencyStore or a RedisIdempotencyStore, got ${describeValue(store)}`);
}

/** The request header that carries the key. */
export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
/** The response header a replay carries (as Stripe's API sets it). */
export const IDEMPOTENT_REPLAYED_HEADER = 'Idempotent-Replayed';

/** Request headers: a fetch `Headers`, Node's `req.headers`, or any record (names are matched case-insensitively). */
export type IdempotentRequestHeaders = RequestHeaders;

/** What `idempotent` needs of a request. */
export interface IdempotentRequest {
  readonly method: string;
  /** The path (with the query, if it is part of what the request means). */
  readonly path: string;
  readonly headers: IdempotentRequestHeaders;
  /** The raw body, as read from the wire. */
  readonly body?: string | Uint8Array;
}

export interface IdempotentOptions {
  /** Refuse a request without the key with 400 (default true); when false, such a request simply runs. */
  readonly required?: boolean;
  /** The header to read (default `Idempotency-Key`). */
  readonly header?: string;
  /** How to fingerprint a request (default `IdempotencyStore.fingerprint` of method, path and body). */
  readonly fingerprint?: (request: IdempotentRequest) => string;
  /** A URL documenting the API's idempotency: the `type` of the problem bodies, and a `Link` on 400 and 422. */
  readonly documentation?: string;
  /** The longest key accepted, in characters (1 .. 255, default 255); a longer one is a 400. */
  readonly maxKeyLength?: number;
}

/** A non-empty string (a header name, a URL). */
const text = (what: string) =>
  custom<string>((v, name) => {
    if (typeof v !== 'string' || v.length === 0) throw new InvalidArgumentError(`${name} must be ${what}, got ${describeValue(v)}`);
    return v;
  });

const OPTIONS = defineOptions('idempotent(store, request, handler, options)', {
  required: boolean(true),
  header: withDefault(text('a header name (a non-empty string)'), IDEMPOTENCY_KEY_HEADER),
  fingerprint: fn<(request: IdempotentRequest) => string>(),
  documentation: withDefault(text('a URL (a non-empty string)'), undefined),
  maxKeyLength: integer({ min: 1, max: MAX_IDEMPOTENCY_KEY_LENGTH, default: MAX_IDEMPOTENCY_KEY_LENGTH }),
});

/**
 * How long a request takes, as this thread has seen it for each store (an
 * exponentially weighted mean of completed handler runs): a 409 asks the
 * client to come back after about that long, not after the rest of the
 * first request's lease (which is sized for the slowest request, and would
 * keep a client of a 100 ms endpoint waiting half a minute).
 */
const typicalRun = new WeakMap<IdempotencyStoreLike, number>();
/** The guess before this thread has seen a request of the store complete. */
const FIRST_GUESS_MS = 1_000;
/** The weight of the newest run in the mean. */
const RUN_WEIGHT = 0.2;

function recordRun(store: IdempotencyStoreLike, ms: number): void {
  const mean = typicalRun.get(store);
  typicalRun.set(store, mean === undefined ? ms : mean + RUN_WEIGHT * (ms - mean));
}

/** The 409's wait: about one typical run, never past the first request's lease. */
function conflictWaitMs(store: IdempotencyStoreLike, leaseLeftMs: number): number {
  return Math.min(leaseLeftMs, typicalRun.get(store) ?? FIRST_GUESS_MS);
}

/**
 * How the request was answered:
 * - `'executed'`: the handler ran and its response was recorded;
 * - `'replayed'`: a completed request with this key answered again (handler not run);
 * - `'conflict'`: 409, a request with this key is still running;
 * - `'mismatch'`: 422, the key was used with another request (method, path or body);
 * - `'missing-key'`, `'invalid-key'`: 400;
 * - `'unkeyed'`: no key and `required: false`, the handler ran unrecorded;
 * - `'lease-lost'`: the handler ran past `leaseMs` and a retry took the key
 *   over; this is the handler's own response, not recorded (raise `leaseMs`);
 * - `'full'`: 503, the store (made with `whenFull: 'fail-closed'`) has no room
 *   for a new key; the handler did not run;
 * - `'unavailable'`: 503, the store (Redis) did not answer in time; the handler
 *   did not run (an idempotent request never runs unrecorded);
 * - `'unrecorded'`: the handler ran, and the store could not record its
 *   response (Redis did not answer in time): this is the handler's own
 *   response; a retry after the lease gets the key with `recovered: true`.
 */
export type IdempotencyOutcome =
  | 'executed'
  | 'replayed'
  | 'conflict'
  | 'mismatch'
  | 'missing-key'
  | 'invalid-key'
  | 'unkeyed'
  | 'lease-lost'
  | 'full'
  | 'unavailable'
  | 'unrecorded';

/** The response to send, and how it came about. */
export interface IdempotentReply {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body?: string | Uint8Array;
  readonly outcome: IdempotencyOutcome;
}

/** What the handler learns: the key (undefined for an unkeyed request), e.g. to pass on to a payment provider. */
export interface IdempotentContext {
  readonly key: string | undefined;
  /**
   * True when an earlier request with this key was cut off (its thread died,
   * or it outlived the lease) before it completed: it may have reached the
   * upstream, so look there first (the charge made under this key) rather
   * than doing the work again.
   */
  readonly recovered: boolean;
}

/**
 * The key in a header value: the draft makes it a Structured Field string
 * (`"8e03978e-…"`, RFC 8941), while many clients send it bare (Stripe's);
 * both are accepted. Returns undefined for a malformed quoted string.
 */
function parseKey(value: string): string | undefined {
  const v = value.trim();
  if (!v.startsWith('"')) return v;
  let out = '';
  for (let i = 1; i < v.length; i++) {
    const c = v[i]!;
    if (c === '\\') {
      const next = v[++i];
      if (next !== '"' && next !== '\\') return undefined;
      out += next;
    } else if (c === '"') {
      return i === v.length - 1 ? out : undefined;
    } else {
      out += c;
    }
  }
  return undefined;
}

/** An error reply: an RFC 9457 problem body, with a `Link` to the documentation on 400 and 422 when there is one. */
function reply(
  status: number,
  title: string,
  detail: string,
  outcome: IdempotencyOutcome,
  documentation: string | undefined,
  extra: Record<string, string> = {},
): IdempotentReply {
  const headers: Record<string, string> = { 'content-type': 'application/problem+json', ...extra };
  if (documentation !== undefined && status !== 409) headers.link = `<${documentation}>; rel="describedby"`;
  return { status, headers, body: JSON.stringify({ type: documentation ?? 'about:blank', title, status, detail }), outcome };
}

/**
 * Runs `handler` once per idempotency key, across every thread sharing
 * `store`, and answers duplicates as the IETF Idempotency-Key draft and
 * Stripe do:
 *
 * | request | reply |
 * |---|---|
 * | no `Idempotency-Key` (and `required`) | 400, problem+json |
 * | a key that is empty, longer than 255 characters or malformed | 400 |
 * | first with its key | the handler's response, recorded |
 * | same key and fingerprint, first one completed | the recorded status, headers and body, plus `Idempotent-Replayed: true` |
 * | same key and fingerprint, first one still running | 409 with `Retry-After`: about as long as a request takes (this thread's mean of completed runs, 1 s before the first), at most the rest of the first one's lease |
 * | same key, another method, path or body | 422 |
 * | a new key, the store full (made with `whenFull: 'fail-closed'`) | 503 with `Retry-After` (seconds until the first record may lapse) |
 * | the store (Redis) does not answer in time | 503 with `Retry-After: 1`; the handler does not run |
 *
 * Whatever the handler returns is recorded, error statuses included (as
 * Stripe records a 500): return a response to make it final. If the handler
 * throws, the key is given up (`abort`) and the error rethrown, so the
 * client may retry: throw only when nothing was done. A response the store
 * cannot hold (larger than `maxResponseBytes`, malformed) also gives the key
 * up and throws InvalidArgumentError: size the store for the largest response.
 *
 * The returned reply is framework-neutral: copy `status`, `headers` and
 * `body` into your framework's response; `outcome` says which case it was
 * (for logs and metrics).
 *
 * @throws whatever `handler` throws (after giving up the key)
 * @throws InvalidArgumentError for a request without method, path or
 *   headers, a response the store refuses, or a bad or unknown option (the
 *   handler does not run)
 * @throws CapacityError when the store is full of live records
 *
 * @example
 * ```ts
 * // node:http, the store made on the main thread and shared with workers
 * const body = await text(req);
 * const reply = await idempotent(store, { method: req.method!, path: req.url!, headers: req.headers, body },
 *   async ({ key }) => {
 *     const charge = await provider.charge(JSON.parse(body), { idempotencyKey: key });
 *     return { status: 201, headers: { 'content-type': 'application/json' }, body: JSON.stringify(charge) };
 *   });
 * res.writeHead(reply.status, reply.headers).end(reply.body);
 *
 * // Hono
 * app.post('/charges', async (c) => {
 *   const body = await c.req.text();
 *   const r = await idempotent(store, { method: c.req.method, path: c.req.path, headers: c.req.raw.headers, body }, () => charge(body));
 *   return new Response(r.body, { status: r.status, headers: r.headers });
 * });
 * ```
 * @remarks Since 0.1
 */
export async function idempotent(
  store: IdempotencyStoreLike,
  request: IdempotentRequest,
  handler: (context: IdempotentContext) => IdempotencyResponse | Promise<IdempotencyResponse>,
  options?: IdempotentOptions,
): Promise<IdempotentReply> {
  checkStore(store, 'store');
  const req = plainObject('request', request) as Partial<IdempotentRequest>;
  if (typeof req.method !== 'string' || typeof req.path !== 'string' || typeof req.headers !== 'object' || req.headers === null) {
    throw new InvalidArgumentError('request must be { method, path, headers, body? } with string method and path');
  }
  if (typeof handler !== 'function') throw new InvalidArgumentError(`handler must be a function, got ${describeValue(handler)}`);
  const o = OPTIONS.parse(options);
  const docs = o.documentation;
  const name = o.header;

  const raw = headerOf(req.headers, name);
  if (raw === undefined) {
    if (!o.required) return { ...normalize(await handler({ key: undefined, recovered: false })), outcome: 'unkeyed' };
    return reply(
      400,
      `${name} is missing`,
      `This operation is idempotent: it requires an ${name} header (a unique value, such as a UUID, reused on every retry).`,
      'missing-key',
      docs,
    );
  }
  const key = parseKey(raw);
  if (key === undefined || key.length === 0 || key.length > o.maxKeyLength) {
    return reply(
      400,
      `${name} is invalid`,
      `The ${name} must be a non-empty string of at most ${o.maxKeyLength} characters.`,
      'invalid-key',
      docs,
    );
  }
  const fingerprint =
    o.fingerprint !== undefined ? o.fingerprint(req as IdempotentRequest) : IdempotencyStore.fingerprint(req as IdempotentRequest);

  let begun: IdempotencyBegin;
  try {
    begun = await store.begin(key, fingerprint);
  } catch (e) {
    if (e instanceof UnavailableError) {
      return reply(
        503,
        'The idempotency store is unavailable',
        'The idempotency records cannot be reached; retry later.',
        'unavailable',
        docs,
        {
          'retry-after': '1',
        },
      );
    }
    // A key too long in UTF-8 for the store's maxKeyBytes: the client's fault, like any invalid key.
    if (isSabreError(e, 'ERR_INVALID_ARG') && (e as Error).message.includes('key is too long')) {
      return reply(400, `${name} is invalid`, `The ${name} is too long.`, 'invalid-key', docs);
    }
    throw e;
  }
  switch (begun.status) {
    case 'replay': {
      const stored = begun.response;
      return { ...normalize(stored), headers: { ...stored.headers, [IDEMPOTENT_REPLAYED_HEADER]: 'true' }, outcome: 'replayed' };
    }
    case 'in-flight':
      return reply(
        409,
        `A request is outstanding for this ${name}`,
        'A request with the same key is still being processed; retry later.',
        'conflict',
        docs,
        { 'retry-after': String(retryAfterSeconds(conflictWaitMs(store, begun.retryAfterMs))) },
      );
    case 'full':
      // Only with the store's whenFull: 'fail-closed': every record is live; retry once one may have lapsed.
      return reply(503, 'The idempotency store is full', 'Every idempotency record is in use; retry later.', 'full', docs, {
        'retry-after': String(retryAfterSeconds(begun.retryAfterMs)),
      });
    case 'mismatch':
      return reply(
        422,
        `${name} is already used`,
        `This ${name} was used with a different request (method, path or body); a key must not be reused across different requests.`,
        'mismatch',
        docs,
      );
    case 'new':
      break;
  }
  const token = begun.token;
  let response: IdempotencyResponse;
  const started = performance.now();
  try {
    response = await handler({ key, recovered: begun.recovered });
  } catch (e) {
    await giveUp(store, token);
    throw e;
  }
  recordRun(store, performance.now() - started);
  try {
    await store.complete(token, response);
  } catch (e) {
    if (isSabreError(e, 'ERR_NOT_OWNER')) return { ...normalize(response), outcome: 'lease-lost' };
    if (e instanceof UnavailableError) return { ...normalize(response), outcome: 'unrecorded' };
    await giveUp(store, token);
    throw e;
  }
  return { ...normalize(response), outcome: 'executed' };
}

/**
 * Aborts `token`, unless a retry has taken its key over already (then there
 * is nothing to give up) or the store cannot be reached (then the lease
 * lapses by itself).
 */
async function giveUp(store: IdempotencyStoreLike, token: IdempotencyToken): Promise<void> {
  try {
    await store.abort(token);
  } catch (e) {
    if (!isSabreError(e, 'ERR_NOT_OWNER') && !(e instanceof UnavailableError)) throw e;
  }
}

function normalize(r: IdempotencyResponse): { status: number; headers: Record<string, string>; body?: string | Uint8Array } {
  const out: { status: number; headers: Record<string, string>; body?: string | Uint8Array } = {
    status: r.status,
    headers: { ...r.headers },
  };
  if (r.body !== undefined) out.body = r.body;
  return out;
}
