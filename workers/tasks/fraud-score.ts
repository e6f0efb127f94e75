/**
 * Piscina task of the payments API (`examples/payments-api.ts`): the CPU
 * work of a request, done off the server's event loop. 'score' rates a
 * payment (a key stretch of the card and amount: about half a millisecond
 * of CPU at 1,000 rounds, deterministic, so a card always gets the same
 * score); 'report'
 * builds a report's text the same way.
 */
import { pbkdf2Sync } from 'node:crypto';

export type FraudTask =
  | { readonly kind: 'score'; readonly card: string; readonly amount: number; readonly iterations: number }
  | { readonly kind: 'report'; readonly id: string; readonly payments: number; readonly iterations: number };

export default function run(task: FraudTask): number | string {
  if (task.kind === 'score') {
    const digest = pbkdf2Sync(task.card, `amount:${task.amount}`, task.iterations, 8, 'sha256');
    return digest.readUInt32BE(0) / 2 ** 32; // in [0, 1)
  }
  const digest = pbkdf2Sync(task.id, 'report', task.iterations, 16, 'sha256');
  return `report ${task.id}: ${task.payments} payments recorded; checksum ${digest.toString('hex')}`;
}
