/**
 * A flaky "bank" for the payments API and its load test: an HTTP server on
 * 127.0.0.1 that keeps its own ledger and fails the ways real payment
 * providers fail.
 *
 *   POST /charges           Idempotency-Key: <reference>, body { "amount": n }
 *                           201 { id, reference, amount }: charged
 *                           200 the same, when `dedupe` is on and the
 *                               reference was charged before (Stripe's way)
 *   GET  /charges?reference=<key>
 *                           { charges: [...] }: what was charged under a
 *                           reference (how an API that lost track of a
 *                           request finds out what it did)
 *
 * Faults (`faults`, changed at any time): `down` refuses before charging
 * (503: the call never started), `failBefore` does so for a share of the
 * calls, `failAfter` charges and then answers 503 (the call happened, and
 * the caller is told it failed: what a retry must not repeat), `stallMs`
 * charges at once and answers that much later (a caller's timeout then
 * leaves a charge behind). With `dedupe` off, a second charge under one
 * reference is a second charge: the ledger shows it.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { seededRandom } from '../../src/testing/random.js';

export interface BankFaults {
  /** Refuse every charge before doing it (503). */
  down: boolean;
  /** The share of charges refused before they are done (503). */
  failBefore: number;
  /** The share of charges done and then answered 503. */
  failAfter: number;
  /** How long a charge's answer waits after the charge (ms). */
  stallMs: number;
  /** Answer a reference charged before with that charge instead of charging again. */
  dedupe: boolean;
}

export interface Charge {
  readonly id: string;
  readonly reference: string;
  readonly amount: number;
}

export class Bank {
  readonly faults: BankFaults = { down: false, failBefore: 0, failAfter: 0, stallMs: 0, dedupe: false };
  /** Every charge made, in order: the books the load test checks. */
  readonly ledger: Charge[] = [];
  private readonly byReference = new Map<string, Charge[]>();
  private readonly server: Server;
  private readonly random: () => number;
  private base = '';

  constructor(seed = 1) {
    this.random = seededRandom(seed); // the same faults for the same seed
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  /** Listens on 127.0.0.1 (a free port); resolves to the bank's base URL. */
  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.base;
  }

  /** The base URL, once started. */
  get url(): string {
    return this.base;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  /** The charges made under `reference`. */
  chargesOf(reference: string): readonly Charge[] {
    return this.byReference.get(reference) ?? [];
  }

  /** References charged more than once. */
  chargedTwice(): string[] {
    return [...this.byReference].filter(([, charges]) => charges.length > 1).map(([reference]) => reference);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://bank');
    if (req.method === 'GET' && url.pathname === '/charges') {
      const reference = url.searchParams.get('reference') ?? '';
      json(res, 200, { charges: this.chargesOf(reference) });
      return;
    }
    if (req.method !== 'POST' || url.pathname !== '/charges') {
      json(res, 404, { error: 'no such route' });
      return;
    }
    const body = await text(req);
    const reference = req.headers['idempotency-key'];
    let amount: unknown;
    try {
      amount = (JSON.parse(body) as { amount?: unknown } | null)?.amount;
    } catch {
      json(res, 400, { error: 'the body must be JSON' });
      return;
    }
    if (typeof reference !== 'string' || reference === '' || typeof amount !== 'number' || !Number.isInteger(amount) || amount <= 0) {
      json(res, 400, { error: 'a charge needs an Idempotency-Key and an integer amount > 0' });
      return;
    }
    const f = this.faults;
    if (f.down || this.random() < f.failBefore) {
      json(res, 503, { error: 'the bank is unavailable' });
      return;
    }
    const earlier = this.byReference.get(reference);
    if (f.dedupe && earlier !== undefined) {
      json(res, 200, earlier[0]);
      return;
    }
    const charge: Charge = { id: `ch_${this.ledger.length + 1}`, reference, amount };
    this.ledger.push(charge);
    this.byReference.set(reference, [...(earlier ?? []), charge]);
    if (f.stallMs > 0) await sleep(f.stallMs);
    if (this.random() < f.failAfter) {
      json(res, 503, { error: 'the bank is unavailable' });
      return;
    }
    json(res, 201, charge);
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed) return; // the caller gave up (its timeout): the charge stands
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function text(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
