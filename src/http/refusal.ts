/**
 * The refusals sabre's HTTP gates answer with (rate limit, circuit breaker,
 * idempotency key): a status, a `Retry-After` when the client should come
 * back, and a body that is plain text or, when the app asks for it, RFC 9457
 * problem details (`application/problem+json`). The Hono middleware and the
 * plain `(request) => verdict` forms both write them here.
 */
import { retryAfterSeconds } from './retry-after.js';

/** What a refusal says. */
export interface Refusal {
  readonly status: 400 | 409 | 422 | 429 | 503 | 504;
  /** A short summary (problem details' `title`). */
  readonly title: string;
  /** What happened to this request (problem details' `detail`). */
  readonly detail: string;
  /** How long the client should wait, in ms; absent or not finite: no `Retry-After`. */
  readonly retryAfterMs?: number | undefined;
  /** Problem details' `type` (default `about:blank`). */
  readonly type?: string;
  /** Extension members of the problem details (`violated-policies`). */
  readonly extensions?: Readonly<Record<string, unknown>>;
}

/** A refusal's plain-text body (when the app did not ask for problem details). */
export function refusalText(title: string, detail: string): string {
  return `${title}: ${detail}`;
}

/** The fields and body for `r`: problem details when `problemDetails`, else plain text. */
export function refusalReply(r: Refusal, problemDetails: boolean): { headers: Record<string, string>; body: string } {
  const headers: Record<string, string> = {};
  if (r.retryAfterMs !== undefined && Number.isFinite(r.retryAfterMs) && r.retryAfterMs >= 0)
    headers['Retry-After'] = String(retryAfterSeconds(r.retryAfterMs));
  if (!problemDetails) {
    headers['Content-Type'] = 'text/plain; charset=UTF-8';
    return { headers, body: refusalText(r.title, r.detail) };
  }
  headers['Content-Type'] = 'application/problem+json';
  const problem = { type: r.type ?? 'about:blank', title: r.title, status: r.status, detail: r.detail, ...r.extensions };
  return { headers, body: JSON.stringify(problem) };
}
