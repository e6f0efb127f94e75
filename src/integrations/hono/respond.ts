/**
 * The refusals the Hono middlewares answer with: a status, a `Retry-After`
 * when the client should come back, and a body that is plain text or, when
 * the app asks for it, RFC 9457 problem details (`application/problem+json`).
 */
import type { Context } from 'hono';
import { retryAfterSeconds } from '../../http/retry-after.js';

/** What a refusal says. */
export interface Refusal {
  readonly status: 400 | 409 | 422 | 429 | 503 | 504;
  /** A short summary (problem details' `title`). */
  readonly title: string;
  /** What happened to this request (problem details' `detail`). */
  readonly detail: string;
  /** How long the client should wait, in ms; absent or not finite: no `Retry-After`. */
  readonly retryAfterMs?: number;
}

/** A refusal's plain-text body (when the app did not ask for problem details). */
export function refusalText(title: string, detail: string): string {
  return `${title}: ${detail}`;
}

/** The response for `r`: problem details when `problemDetails`, else plain text. */
export function refuse(c: Context, r: Refusal, problemDetails: boolean): Response {
  const headers: Record<string, string> = {};
  if (r.retryAfterMs !== undefined && Number.isFinite(r.retryAfterMs) && r.retryAfterMs >= 0)
    headers['Retry-After'] = String(retryAfterSeconds(r.retryAfterMs));
  if (!problemDetails) {
    headers['Content-Type'] = 'text/plain; charset=UTF-8';
    return c.body(refusalText(r.title, r.detail), r.status, headers);
  }
  headers['Content-Type'] = 'application/problem+json';
  return c.body(JSON.stringify({ type: 'about:blank', title: r.title, status: r.status, detail: r.detail }), r.status, headers);
}
