/**
 * The client population of the rate-limit examples (04 and 06): two
 * clients under their limit and one that sends 20 times it, each sending
 * evenly spaced requests.
 */
import type { Arrival } from '../workers/tasks/limits.js';

export type { Arrival };

/** The clients, for a limit of 100 requests per second. */
export const CLIENTS = [
  { name: 'alice', perSecond: 20, note: 'steady, under the limit' },
  { name: 'bob', perSecond: 60, note: 'busy, under the limit' },
  { name: 'mallory', perSecond: 2_000, note: 'abusive: 20x the limit' },
] as const;
/** The abusive client's index. */
export const ABUSER = CLIENTS.length - 1;

/** Every client's requests, evenly spaced over `runMs` (each client's own phase), in arrival order. */
export function arrivalsOver(runMs: number): Arrival[] {
  return CLIENTS.flatMap((c, i) => {
    const gap = 1_000 / c.perSecond;
    return Array.from({ length: Math.floor(runMs / gap) }, (_, k): Arrival => [i, (k + (i + 1) / (CLIENTS.length + 1)) * gap]);
  }).sort((a, b) => a[1] - b[1]);
}
