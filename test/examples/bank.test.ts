import { afterEach, describe, expect, it } from 'vitest';
import { Bank } from '../../examples/payments/bank.js';

const banks: Bank[] = [];
afterEach(async () => {
  await Promise.all(banks.splice(0).map((b) => b.stop()));
});
async function open(): Promise<{ bank: Bank; charge: (reference: string, amount?: number) => Promise<Response> }> {
  const bank = new Bank(7);
  banks.push(bank);
  const url = await bank.start();
  const charge = (reference: string, amount = 100) =>
    fetch(`${url}/charges`, { method: 'POST', headers: { 'idempotency-key': reference }, body: JSON.stringify({ amount }) });
  return { bank, charge };
}

describe('the flaky bank of the payments example', () => {
  it('charges, and keeps the books; without dedupe a repeated reference is charged again', async () => {
    const { bank, charge } = await open();
    expect((await charge('r1')).status).toBe(201);
    expect((await charge('r1')).status).toBe(201);
    expect(bank.ledger.map((c) => c.reference)).toEqual(['r1', 'r1']);
    expect(bank.chargedTwice()).toEqual(['r1']);
  });

  it('with dedupe, a repeated reference is answered with its first charge', async () => {
    const { bank, charge } = await open();
    bank.faults.dedupe = true;
    const first = (await (await charge('r1')).json()) as { id: string };
    const again = await charge('r1');
    expect(again.status).toBe(200);
    expect(((await again.json()) as { id: string }).id).toBe(first.id);
    expect(bank.ledger).toHaveLength(1);
  });

  it('down and failBefore refuse before charging; failAfter charges, then answers 503; stall charges, then answers late', async () => {
    const { bank, charge } = await open();
    bank.faults.down = true;
    expect((await charge('a')).status).toBe(503);
    bank.faults.down = false;
    bank.faults.failBefore = 1;
    expect((await charge('b')).status).toBe(503);
    expect(bank.ledger).toHaveLength(0);
    bank.faults.failBefore = 0;
    bank.faults.failAfter = 1;
    expect((await charge('c')).status).toBe(503);
    expect(bank.chargesOf('c')).toHaveLength(1); // charged, and told it failed
    bank.faults.failAfter = 0;
    bank.faults.stallMs = 200;
    const timedOut = await fetch(`${bank.url}/charges`, {
      method: 'POST',
      headers: { 'idempotency-key': 'd' },
      body: JSON.stringify({ amount: 5 }),
      signal: AbortSignal.timeout(20),
    }).catch((e: unknown) => (e as Error).name);
    expect(timedOut).toBe('TimeoutError');
    expect(bank.chargesOf('d')).toHaveLength(1); // the caller gave up; the charge stands
  });

  it('bad requests: 400, nothing charged; a lookup by reference tells what was charged', async () => {
    const { bank, charge } = await open();
    const url = bank.url;
    expect((await fetch(`${url}/charges`, { method: 'POST', headers: { 'idempotency-key': 'x' }, body: '{oops' })).status).toBe(400);
    expect((await fetch(`${url}/charges`, { method: 'POST', body: JSON.stringify({ amount: 1 }) })).status).toBe(400);
    expect((await charge('y', -5)).status).toBe(400);
    expect(bank.ledger).toHaveLength(0);
    await charge('z', 42);
    const found = (await (await fetch(`${url}/charges?reference=z`)).json()) as { charges: { amount: number }[] };
    expect(found.charges.map((c) => c.amount)).toEqual([42]);
  });
});
