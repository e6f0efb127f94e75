/**
 * idempotency: Hono middleware for the `Idempotency-Key` request header
 * (IETF draft-ietf-httpapi-idempotency-key-header) with Stripe's semantics,
 * over an IdempotencyStore shared by every thread. On the methods it covers
 * (POST and PATCH by default):
 * - no key: 400 (unless `required: false`: the request runs unrecorded);
 *   an empty, malformed or too long key: 400;
 * - the first request with a key runs, and its response (status, headers,
 *   body) is recorded;
 * - a retry after it completed gets that response again, with
 *   `Idempotent-Replayed: true`, and the handler does not run;
 * - a retry while it still runs: 409 with a `Retry-After` of about one
 *   request's time;
 * - the same key with another method, path, query or body: 422;
 * - a handler that throws records nothing: the key stays retryable (and the
 *   app's error handler answers).
 * The key and the outcome are in `c.var.idempotency`.
 *
 * @example
 * ```ts
 * import { Hono } from 'hono';
 * import { IdempotencyStore } from 'sabre';
 * import { idempotency, type IdempotencyEnv } from 'sabre/hono';
 *
 * const store = new IdempotencyStore({ capacity: 100_000, leaseMs: 30_000, retentionMs: 86_400_000 }); // store.handle: every worker
 * const api = new Hono<IdempotencyEnv>(); // types c.var.idempotency
 * api.use('/payments', idempotency({ store, problemDetails: true }));
 * api.post('/payments', async (c) => {
 *   const { key } = c.var.idempotency; // pass it on to the bank, which then charges once
 *   return c.json({ id: `pay_${key}` }, 201);
 * });
 * ```
 */
import type { HonoRequest, MiddlewareHandler } from 'hono';
import { createMiddleware } from 'hono/factory';
import { InvalidArgumentError } from '../../../errors.js';
import { boolean, custom, fn, integer } from '../../../options/field.js';
import { defineOptions } from '../../../options/schema.js';
import { MAX_IDEMPOTENCY_KEY_LENGTH } from '../../../store/idempotency-store.js';
import {
  checkStore,
  idempotent,
  type IdempotencyOutcome,
  type IdempotencyStoreLike,
  type IdempotentRequest,
} from '../../../store/idempotency-http.js';
import { describeValue } from '../../../validate.js';
import { refusalText } from '../../../http/refusal.js';

export interface IdempotencyMiddlewareOptions {
  /** The store every thread shares (`IdempotencyStore.from(handle)` in a worker), or a `RedisIdempotencyStore` every process shares. */
  readonly store: IdempotencyStoreLike;
  /** Refuse a covered request without a key with 400 (default true); when false, it runs unrecorded. */
  readonly required?: boolean;
  /** The methods covered (default POST and PATCH: the ones that are not idempotent by themselves). */
  readonly methods?: readonly string[];
  /** How to fingerprint a request (default: method, path with query, and body). */
  readonly fingerprint?: (request: IdempotentRequest) => string;
  /** The longest key accepted, in characters (1 .. 255, default 255). */
  readonly maxKeyLength?: number;
  /** Answer refusals (400, 409, 422, 503) as RFC 9457 problem details instead of plain text (default false). */
  readonly problemDetails?: boolean;
}

/** What the middleware leaves in `c.var.idempotency`. */
export interface IdempotencyVariable {
  /** The request's key (undefined for a request it does not cover, or without one when not required). */
  readonly key: string | undefined;
  /** How it was answered (`'executed'` while the handler runs). */
  readonly outcome: IdempotencyOutcome | 'not-covered';
  /**
   * True when an earlier request with this key was cut off before it
   * completed (its thread died, or it outlived the lease): look upstream for
   * what it did (the charge made under this key) before doing it again.
   */
  readonly recovered: boolean;
}

/** The `Env` of an app using the middleware: `new Hono<IdempotencyEnv>()` types `c.var.idempotency`. */
export interface IdempotencyEnv {
  Variables: { idempotency: IdempotencyVariable };
}

const OPTIONS = defineOptions('idempotency(options)', {
  store: custom<IdempotencyStoreLike>(checkStore),
  required: boolean(true),
  methods: custom<readonly string[]>(
    (v, name) => {
      if (Array.isArray(v) && v.length > 0 && v.every((m) => typeof m === 'string' && /^[A-Za-z]+$/.test(m)))
        return v.map((m: string) => m.toUpperCase());
      throw new InvalidArgumentError(`${name} must be a non-empty array of HTTP method names, got ${describeValue(v)}`);
    },
    ['POST', 'PATCH'],
  ),
  fingerprint: fn<(request: IdempotentRequest) => string>(),
  maxKeyLength: integer({ min: 1, max: MAX_IDEMPOTENCY_KEY_LENGTH, default: MAX_IDEMPOTENCY_KEY_LENGTH }),
  problemDetails: boolean(false),
});

/** A problem+json reply of `idempotent()` as plain text (`title: detail`), for apps that did not ask for problem details. */
function asText(headers: Record<string, string>, body: string | Uint8Array | undefined): string {
  const { title, detail } = JSON.parse(typeof body === 'string' ? body : new TextDecoder().decode(body)) as {
    title: string;
    detail: string;
  };
  delete headers['content-type'];
  headers['Content-Type'] = 'text/plain; charset=UTF-8';
  return refusalText(title, detail);
}

/**
 * The body of a response that @hono/node-server made ready to send (what
 * `c.json()`, `c.text()` and `c.body()` give on Node): a string, bytes or
 * null, kept with its status and headers under a symbol described "cache".
 * Read there, the response stays as it is; reading it through
 * `arrayBuffer()` would build a full fetch Response and its stream first
 * (tens of µs per request). undefined for any other response (another
 * runtime, a stream, a `fetch`'s): those are read the standard way.
 */
let readyKey: symbol | undefined;
function readyBody(res: Response): string | Uint8Array | null | undefined {
  readyKey ??= Object.getOwnPropertySymbols(res).find((k) => k.description === 'cache');
  if (readyKey === undefined) return undefined;
  const entry = (res as unknown as Record<symbol, unknown>)[readyKey];
  if (!Array.isArray(entry)) return undefined;
  const body: unknown = entry[1];
  return body === null || typeof body === 'string' || body instanceof Uint8Array ? body : undefined;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The request's body, as bytes (what the fingerprint hashes: exact, never a
 * lossy decoding). A body that is UTF-8 text is also put in Hono's body
 * cache as text, so that the handler's `c.req.json()` or `text()` takes it
 * from there rather than decoding the bytes again through a Response.
 */
async function bodyOf(req: HonoRequest): Promise<Uint8Array> {
  const bytes = new Uint8Array(await req.arrayBuffer());
  // Hono keeps each read body as a promise under its kind (its d.ts types the values as the bodies).
  const cache = req.bodyCache as { text?: Promise<string> };
  if (cache.text === undefined) {
    try {
      cache.text = Promise.resolve(utf8.decode(bytes));
    } catch {
      // not UTF-8: the handler reads the bytes
    }
  }
  return bytes;
}

/** The outcomes whose reply `idempotent()` made itself (the handler's own response stands for the others). */
const REFUSALS = new Set<IdempotencyOutcome>(['conflict', 'mismatch', 'missing-key', 'invalid-key', 'full', 'unavailable']);

/**
 * The middleware (see the module's description).
 * @throws InvalidArgumentError for bad options, when it is made (not per request)
 */
export function idempotency(options: IdempotencyMiddlewareOptions): MiddlewareHandler<IdempotencyEnv> {
  const o = OPTIONS.parse(options);
  const covered = new Set(o.methods);
  const helperOptions = {
    required: o.required,
    maxKeyLength: o.maxKeyLength,
    ...(o.fingerprint !== undefined ? { fingerprint: o.fingerprint } : {}),
  };
  return createMiddleware<IdempotencyEnv>(async (c, next) => {
    if (!covered.has(c.req.method)) {
      c.set('idempotency', { key: undefined, outcome: 'not-covered', recovered: false });
      await next();
      return;
    }
    const url = new URL(c.req.url);
    const request: IdempotentRequest = {
      method: c.req.method,
      path: url.pathname + url.search,
      headers: c.req.raw.headers,
      body: await bodyOf(c.req), // Hono keeps it: the handler reads it again from its cache
    };
    let threw = false;
    const reply = await idempotent(
      o.store,
      request,
      async ({ key, recovered }) => {
        c.set('idempotency', { key, outcome: key === undefined ? 'unkeyed' : 'executed', recovered });
        await next();
        if (c.error !== undefined) {
          threw = true;
          throw c.error; // nothing recorded: the key stays retryable
        }
        const res = c.res;
        const headers: Record<string, string> = {};
        res.headers.forEach((value, name) => (headers[name] = value));
        const ready = readyBody(res);
        if (ready !== undefined) return { status: res.status, headers, body: ready ?? '' };
        // Read once and answered from the bytes, not cloned: a clone turns the response into a
        // stream that the server writes in pieces.
        const body = new Uint8Array(await res.arrayBuffer());
        c.res = undefined; // so that the next assignment replaces it rather than merging into it
        c.res = new Response(body.byteLength === 0 ? null : body, { status: res.status, headers: res.headers });
        return { status: res.status, headers, body };
      },
      helperOptions,
    ).catch((e: unknown) => {
      if (threw) return undefined; // the app's error handler has answered
      throw e;
    });
    if (reply === undefined) return;
    c.set('idempotency', { key: c.var.idempotency?.key, outcome: reply.outcome, recovered: c.var.idempotency?.recovered ?? false });
    if (reply.outcome === 'executed' || reply.outcome === 'unkeyed' || reply.outcome === 'lease-lost' || reply.outcome === 'unrecorded')
      return; // the handler's response
    const headers = { ...reply.headers };
    const body = REFUSALS.has(reply.outcome) && !o.problemDetails ? asText(headers, reply.body) : reply.body;
    return new Response(body, { status: reply.status, headers }); // next() was not called: this is the response
  });
}
