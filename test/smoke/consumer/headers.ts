// rateLimitHeaders' result goes to the frameworks as is (the packed types,
// under exactOptionalPropertyTypes). The repo's own copy of this check, on
// src/, is test/limit/headers.types.ts.
import type { ServerResponse } from 'node:http';
import { rateLimitHeaders, type RateLimitDecision, type RateLimitHeaders, type RateLimitPolicy } from 'sabre';

declare const decision: RateLimitDecision;
declare const policy: RateLimitPolicy;
declare const res: ServerResponse;
/** Hono's `c.header(name, value)` (hono 4's Context). */
declare const c: { header(name: string, value: string | undefined, options?: { append?: boolean }): void };

const headers: RateLimitHeaders = rateLimitHeaders(decision, policy);
const record: Record<string, string> = headers;
export const fetchHeaders = new Headers(headers);
export const response = new Response(null, { status: 429, headers });
res.writeHead(429, headers);
for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
for (const [name, value] of Object.entries(headers)) c.header(name, value);
export const retryAfter: string | undefined = headers['Retry-After'];
export const named: string = headers['RateLimit-Policy'] + headers.RateLimit;
export const fields: number = Object.keys(record).length;
