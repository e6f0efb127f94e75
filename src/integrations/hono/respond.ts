/**
 * A refusal (`http/refusal.ts`) as a Hono response.
 */
import type { Context } from 'hono';
import { refusalReply, type Refusal } from '../../http/refusal.js';

/** The response for `r`: problem details when `problemDetails`, else plain text. */
export function refuse(c: Context, r: Refusal, problemDetails: boolean): Response {
  const { headers, body } = refusalReply(r, problemDetails);
  return c.body(body, r.status, headers);
}
