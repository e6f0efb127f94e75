/**
 * Type-level test, checked by `npm run typecheck` (tsc over test/): what
 * `rateLimitHeaders` returns is accepted as is by the APIs users hand
 * headers to. Not run by vitest; a type that stops fitting fails the
 * typecheck. (The smoke test checks the same against the packed types with
 * exactOptionalPropertyTypes on: test/smoke/consumer/headers.ts.)
 */
import type { ServerResponse } from 'node:http';
import { rateLimitHeaders, type RateLimitHeaders } from '../../src/limit/headers.js';
import type { RateLimitDecision, RateLimitPolicy } from '../../src/limit/decision.js';

declare const decision: RateLimitDecision;
declare const policy: RateLimitPolicy;
declare const res: ServerResponse;
/** Hono's `c.header(name, value)` (hono 4's Context). */
declare const c: { header(name: string, value: string | undefined, options?: { append?: boolean }): void };

const headers: RateLimitHeaders = rateLimitHeaders(decision, policy);

// A plain record of strings, with no undefined values.
export const record: Record<string, string> = headers;
// Fetch API (Node's global Headers and Response; Hono returns a Response too).
export const fetchHeaders = new Headers(headers);
export const response = new Response(null, { status: 429, headers });
// node:http.
res.writeHead(429, headers);
for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
// Hono's c.header loop.
for (const [name, value] of Object.entries(headers)) c.header(name, value);
// The named fields stay typed: the two always there, Retry-After only on a refusal.
export const always: string = headers['RateLimit-Policy'] + headers.RateLimit;
export const onRefusal: string | undefined = headers['Retry-After'];
