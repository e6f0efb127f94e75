/**
 * The payments API as a Hono app: what every server thread of
 * `examples/payments-api.ts` serves, over the state all of them share.
 *
 *   POST   /payments              charge a card once per Idempotency-Key
 *   GET    /payments/:id          a recorded payment
 *   PUT    /payments/:id/note     set its note     (idempotent by itself)
 *   DELETE /payments/:id/note     clear its note   (idempotent by itself)
 *   GET    /reports/:id           a report, built once per TTL for every thread (Cache)
 *   POST   /polls/:id/votes       one ballot per user: a second one is a 409 (VoteRegistry)
 *   POST   /bookings              no double booking (BookingTable)
 *   GET    /metrics               every thread's counts, for Prometheus
 *
 * Every route is rate limited per client (`rateLimit`: x-api-key, else the
 * address); POST /payments also goes through the bank's circuit breaker
 * (`circuitBreaker`, outermost, so a refusal while it is open leaves the
 * key untouched and retryable) and the `Idempotency-Key` store
 * (`idempotency`). Errors are RFC 9457 problem details.
 *
 * Why a payment is never charged twice, even by a bank that does not
 * deduplicate: the key's record makes a retry replay the first answer; a
 * call to the bank is retried only when it never reached it (`retry`'s
 * default); when the bank's answer is lost (a 503, a timeout) the handler
 * asks the bank what it charged under the key before it answers; and a
 * retry that takes over the key of a request that was cut off (its thread
 * died: `recovered`) asks the bank first too.
 */
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Registry } from 'prom-client';
import { ConflictError, ErrorCode, isSabreError, retry, SabreError, type CircuitOpenError } from '../../src/index.js';
import { circuitBreaker, idempotency, rateLimit, type IdempotencyEnv, type RateLimitEnv } from '../../src/integrations/hono/index.js';
import type { Payment, PaymentsShared } from './shared.js';

/** The CPU work of a request (a Piscina pool in the server; inline in a test). */
export interface PaymentsWork {
  score(card: string, amount: number): Promise<number>;
  report(id: string, payments: number): Promise<string>;
}

export interface PaymentsAppOptions {
  readonly shared: PaymentsShared;
  readonly bankUrl: string;
  readonly work: PaymentsWork;
  /** The largest request body, in bytes (default 16 KiB). */
  readonly maxBodyBytes?: number;
  /** How long a call to the bank may take (default 1 s). */
  readonly bankTimeoutMs?: number;
  /** The registry `GET /metrics` serves (none: no such route). */
  readonly metrics?: Registry;
  /**
   * Which failed bank calls are sent again: `'never-started'` (the default:
   * only what never reached the bank) or `'any-failure'`, what a naive
   * client does. The load test runs the second as the unsafe twin its
   * ledger check must catch: with a bank that does not deduplicate, it
   * charges twice.
   */
  readonly retryOn?: 'never-started' | 'any-failure';
}

type Env = IdempotencyEnv & RateLimitEnv;

/** A request that cannot be served as sent: thrown, so the idempotency key stays retryable (Stripe saves no result for it). */
export class HttpProblem extends Error {
  constructor(
    readonly status: 400 | 402 | 404 | 409 | 413 | 422 | 502 | 503,
    readonly title: string,
    readonly detail: string,
    readonly retryAfterMs?: number,
  ) {
    super(detail);
  }
}

const CURRENCIES = new Set(['EUR', 'USD', 'GBP', 'JPY']);
/** Above this score a payment is declined as fraud (a 402, recorded: the same request is declined again). */
const DECLINE_ABOVE = 0.995;

interface BankCharge {
  readonly id: string;
  readonly reference: string;
  readonly amount: number;
}

function problem(c: Context, status: number, title: string, detail: string, retryAfterMs?: number): Response {
  const headers: Record<string, string> = { 'content-type': 'application/problem+json' };
  if (retryAfterMs !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
  return c.body(JSON.stringify({ type: 'about:blank', title, status, detail }), status as 400, headers);
}

/** The JSON object of a request's body, or a 400. */
async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new HttpProblem(400, 'Bad Request', 'the body must be a JSON object');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new HttpProblem(400, 'Bad Request', 'the body must be a JSON object');
  return body as Record<string, unknown>;
}

function field<T>(body: Record<string, unknown>, name: string, ok: (v: unknown) => v is T, what: string): T {
  const v = body[name];
  if (!ok(v)) throw new HttpProblem(422, 'Unprocessable Content', `${name} must be ${what}`);
  return v;
}
const isAmount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 100_000_000;
const isCurrency = (v: unknown): v is string => typeof v === 'string' && CURRENCIES.has(v);
const isCard = (v: unknown): v is string => typeof v === 'string' && /^\d{12,19}$/.test(v);
const isName = (v: unknown): v is string => typeof v === 'string' && /^[\w.:-]{1,64}$/.test(v);
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

export function createPaymentsApp(o: PaymentsAppOptions): Hono<Env> {
  const { shared, bankUrl, work } = o;
  const bankTimeoutMs = o.bankTimeoutMs ?? 1_000;
  const app = new Hono<Env>();

  /** What the bank charged under `reference` (throws when the bank cannot be asked). */
  async function chargedUnder(reference: string): Promise<BankCharge | undefined> {
    const res = await fetch(`${bankUrl}/charges?reference=${encodeURIComponent(reference)}`, {
      signal: AbortSignal.timeout(bankTimeoutMs),
    });
    if (!res.ok) throw new Error(`the bank answered ${res.status} to a lookup`);
    return ((await res.json()) as { charges: BankCharge[] }).charges[0];
  }

  /**
   * Charges `amount` under `reference`. Retried only when the call never
   * reached the bank: the bank does not deduplicate, so a call that may have
   * charged is never sent again.
   */
  async function charge(reference: string, amount: number): Promise<BankCharge> {
    return retry(
      async ({ signal }) => {
        const res = await fetch(`${bankUrl}/charges`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': reference }, // the reference goes upstream
          body: JSON.stringify({ amount }),
          signal: signal === undefined ? AbortSignal.timeout(bankTimeoutMs) : AbortSignal.any([signal, AbortSignal.timeout(bankTimeoutMs)]),
        });
        if (res.status !== 201 && res.status !== 200) throw new Error(`the bank answered ${res.status}`);
        return (await res.json()) as BankCharge;
      },
      { retries: 2, baseMs: 20, maxMs: 200, ...(o.retryOn === 'any-failure' ? { retryOn: () => true } : {}) },
    );
  }

  function record(c: Context, ch: BankCharge, currency: string): Response {
    const payment: Payment = {
      id: `pay_${ch.id.slice(3)}`,
      amount: ch.amount,
      currency,
      charge: ch.id,
      reference: ch.reference,
      note: null,
    };
    shared.payments.set(payment.id, payment);
    c.header('location', `/payments/${payment.id}`);
    return c.json(payment, 201);
  }

  app.use('*', rateLimit({ limiter: shared.perClient, problemDetails: true }));
  app.use(
    '*',
    bodyLimit({
      maxSize: o.maxBodyBytes ?? 16 * 1024,
      onError: (c) => problem(c, 413, 'Content Too Large', `the body must be at most ${o.maxBodyBytes ?? 16 * 1024} bytes`),
    }),
  );
  app.use(
    '/payments',
    circuitBreaker({
      breaker: shared.bank,
      problemDetails: true,
      // A 5xx is a failure of the bank (a 4xx is the client's); a replay of a recorded failure did not call the bank.
      isFailure: (c) => c.res.status >= 500 && c.res.headers.get('idempotent-replayed') !== 'true',
    }),
  );
  app.use('/payments', idempotency({ store: shared.keys, problemDetails: true }));

  app.post('/payments', async (c) => {
    const body = await jsonBody(c);
    const amount = field(body, 'amount', isAmount, 'an integer number of cents in [1, 100000000]');
    const currency = field(body, 'currency', isCurrency, `one of ${[...CURRENCIES].join(', ')}`);
    const card = field(body, 'card', isCard, 'a card number of 12 to 19 digits');
    const { key, recovered } = c.var.idempotency;
    if (key === undefined) throw new HttpProblem(400, 'Bad Request', 'an Idempotency-Key header is required');
    if (recovered) {
      // The key's first request was cut off: it may have charged before it died.
      const earlier = await chargedUnder(key).catch(() => {
        throw new HttpProblem(503, 'Service Unavailable', 'the bank cannot be asked what an interrupted attempt did; retry later', 1000);
      });
      if (earlier !== undefined) return record(c, earlier, currency);
    }
    if ((await work.score(card, amount)) > DECLINE_ABOVE) {
      return problem(c, 402, 'Payment Required', 'the payment was declined by the fraud check');
    }
    let charged: BankCharge;
    try {
      charged = await charge(key, amount);
    } catch (e) {
      // The bank's answer was lost, or it refused: ask it what happened before answering.
      let earlier: BankCharge | undefined;
      try {
        earlier = await chargedUnder(key);
      } catch {
        // Not even that: the charge may or may not have happened. This answer is recorded, so no retry charges again.
        return problem(
          c,
          502,
          'Bad Gateway',
          'the bank did not answer; the payment may have been charged: ask support with this Idempotency-Key',
        );
      }
      if (earlier !== undefined) return record(c, earlier, currency);
      // Nothing was charged: thrown, so the key stays retryable and the client's retry charges.
      throw new HttpProblem(
        503,
        'Service Unavailable',
        `the bank is unavailable (${(e as Error).message}); nothing was charged, retry`,
        500,
      );
    }
    return record(c, charged, currency);
  });

  app.get('/payments/:id', (c) => {
    const p = shared.payments.get(c.req.param('id'));
    return p === undefined ? problem(c, 404, 'Not Found', 'no such payment') : c.json(p);
  });

  const setNote = (id: string, note: string | null): Payment | undefined =>
    shared.payments.compute(id, (p) => (p === undefined ? undefined : { ...p, note }));
  app.put('/payments/:id/note', async (c) => {
    const note = field(
      await jsonBody(c),
      'note',
      (v): v is string => typeof v === 'string' && v.length <= 200,
      'a string of at most 200 characters',
    );
    const p = setNote(c.req.param('id'), note);
    return p === undefined ? problem(c, 404, 'Not Found', 'no such payment') : c.json(p);
  });
  app.delete('/payments/:id/note', (c) => {
    const p = setNote(c.req.param('id'), null);
    return p === undefined ? problem(c, 404, 'Not Found', 'no such payment') : c.body(null, 204);
  });

  app.get('/reports/:id', async (c) => {
    const id = c.req.param('id');
    if (!isName(id)) throw new HttpProblem(400, 'Bad Request', 'a report id is 1 to 64 letters, digits, and . _ : -');
    return c.text(await shared.reports.getOrCompute(id, () => work.report(id, shared.payments.size)));
  });

  app.post('/polls/:id/votes', async (c) => {
    const body = await jsonBody(c);
    const user = field(body, 'user', isName, '1 to 64 letters, digits, and . _ : -');
    const choice = field(body, 'choice', (v): v is string => v === 'yes' || v === 'no', '"yes" or "no"');
    const poll = c.req.param('id');
    if (!isName(poll)) throw new HttpProblem(400, 'Bad Request', 'a poll id is 1 to 64 letters, digits, and . _ : -');
    shared.polls.vote(poll, user, choice); // a second ballot: AlreadyVotedError, a 409
    return c.json({ poll, user, choice, tally: shared.polls.tally(poll) }, 201);
  });

  app.post('/bookings', async (c) => {
    const body = await jsonBody(c);
    const resource = field(body, 'resource', isName, '1 to 64 letters, digits, and . _ : -');
    const holder = field(body, 'holder', isName, '1 to 64 letters, digits, and . _ : -');
    const start = field(body, 'start', isTime, 'a time in ms >= 0');
    const end = field(body, 'end', (v): v is number => isTime(v) && v > start, 'a time in ms after start');
    return c.json(shared.bookings.book(resource, start, end, holder), 201);
  });

  if (o.metrics !== undefined) {
    const registry = o.metrics;
    app.get('/metrics', async (c) => c.body(await registry.metrics(), 200, { 'content-type': registry.contentType }));
  }

  app.notFound((c) => problem(c, 404, 'Not Found', `no route for ${c.req.method} ${new URL(c.req.url).pathname}`));
  app.onError((e, c) => {
    if (e instanceof HttpProblem) return problem(c, e.status, e.title, e.detail, e.retryAfterMs);
    if (e instanceof ConflictError || isSabreError(e, ErrorCode.ALREADY_VOTED)) return problem(c, 409, 'Conflict', e.message);
    if (isSabreError(e, ErrorCode.CIRCUIT_OPEN)) {
      const { retryAfterMs } = SabreError.from(e) as CircuitOpenError;
      return problem(c, 503, 'Service Unavailable', 'the bank is failing: payments are refused for now', retryAfterMs);
    }
    if (isSabreError(e, ErrorCode.INVALID_ARG)) return problem(c, 422, 'Unprocessable Content', e.message);
    console.error(e);
    return problem(c, 500, 'Internal Server Error', 'the server failed; nothing of this request was recorded');
  });
  return app;
}
