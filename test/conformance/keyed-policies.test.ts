/**
 * The keyed policies' contract, written once and run on every backend:
 * shared memory and Redis (through both clients). The same calls give the
 * same answers; only time differs (Redis decides on the server's clock), so
 * the timed cases use real time with margins.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlreadyVotedError, CircuitOpenError, InvalidArgumentError, NotOwnerError } from '../../src/errors.js';
import { IdempotencyStore } from '../../src/store/idempotency-store.js';
import { redis, sharedMemory, type Backend } from './backends.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fp = IdempotencyStore.fingerprint({ method: 'POST', path: '/charges', body: '{"amount":5}' });
const otherFp = IdempotencyStore.fingerprint({ method: 'POST', path: '/charges', body: '{"amount":6}' });

const BACKENDS: [string, () => Promise<Backend>][] = [
  ['shared memory', async () => sharedMemory()],
  ['redis (ioredis RESP3)', () => redis('ioredis RESP3')],
  ['redis (node-redis RESP2)', () => redis('node-redis RESP2')],
];

describe.each(BACKENDS)('%s', (_, make) => {
  let be: Backend;
  beforeAll(async () => {
    be = await make();
  });
  afterAll(async () => be.close());

  describe('TokenBucket', () => {
    it('allows the burst, then refuses with the wait for one token; peek takes nothing', async () => {
      const b = be.bucket({ burst: 3, refillPerSecond: 2 });
      expect((await b.peek('k')).allowed).toBe(true);
      const ds = [await b.check('k'), await b.check('k', 2), await b.check('k')];
      expect(ds.map((d) => [d.allowed, d.remaining, d.limit])).toEqual([
        [true, 2, 3],
        [true, 0, 3],
        [false, 0, 3],
      ]);
      expect(ds[2]!.retryAfterMs).toBeGreaterThan(350);
      expect(ds[2]!.retryAfterMs).toBeLessThanOrEqual(500);
      expect(ds[1]!.resetMs).toBeGreaterThan(1400);
      expect(ds[1]!.resetMs).toBeLessThanOrEqual(1500);
      expect(await b.tryAcquire('other')).toBe(true); // keys are apart
    });

    it('refills at the rate', async () => {
      const b = be.bucket({ burst: 2, refillPerSecond: 20 });
      expect(await b.tryAcquire('k', 2)).toBe(true);
      expect(await b.tryAcquire('k')).toBe(false);
      await sleep(60);
      expect(await b.tryAcquire('k')).toBe(true);
      expect(await b.tryAcquire('k')).toBe(false);
    });

    it('refuses a cost outside [1, burst] and a bad key with InvalidArgumentError', async () => {
      const b = be.bucket({ burst: 3, refillPerSecond: 1 });
      for (const n of [0, 4, 1.5, Number.NaN]) await expect(b.check('k', n)).rejects.toThrow(InvalidArgumentError);
      await expect(b.check('x'.repeat(300))).rejects.toThrow(/too long/);
      await expect(b.check('k\uD800')).rejects.toThrow(InvalidArgumentError);
    });
  });

  describe.each(['exact', 'approximate'] as const)('SlidingWindow (%s)', (mode) => {
    it('allows the limit per window, then refuses until the window moves', async () => {
      const w = be.window({ limit: 3, windowMs: 200, mode });
      const ds = [];
      for (let i = 0; i < 4; i++) ds.push(await w.check('k'));
      expect(ds.map((d) => d.allowed)).toEqual([true, true, true, false]);
      expect(ds.map((d) => d.remaining)).toEqual([2, 1, 0, 0]);
      expect(ds[3]!.retryAfterMs).toBeGreaterThan(0);
      expect(ds[3]!.retryAfterMs).toBeLessThanOrEqual(400);
      await sleep(ds[3]!.retryAfterMs + 30);
      expect(await w.tryAcquire('k')).toBe(true);
    });

    it('takes a cost of n as n requests; peek takes nothing', async () => {
      const w = be.window({ limit: 5, windowMs: 10_000, mode });
      expect((await w.peek('k', 5)).allowed).toBe(true);
      expect((await w.check('k', 4)).remaining).toBe(1);
      expect((await w.check('k', 2)).allowed).toBe(false);
      expect((await w.check('k', 1)).allowed).toBe(true);
      await expect(w.check('k', 6)).rejects.toThrow(InvalidArgumentError);
    });
  });

  describe('IdempotencyStore', () => {
    it('new, in-flight, replay, mismatch; a finished token is refused', async () => {
      const s = be.store({ leaseMs: 5_000 });
      const b = await s.begin('k', fp);
      if (b.status !== 'new') throw new Error(b.status);
      expect(b.recovered).toBe(false);
      expect((await s.begin('k', fp)).status).toBe('in-flight');
      const response = { status: 201, headers: { 'content-type': 'application/json' }, body: '{"id":"ch_1"}' };
      await s.complete(b.token, response);
      expect(await s.begin('k', fp)).toEqual({ status: 'replay', response });
      expect(await s.begin('k', otherFp)).toEqual({ status: 'mismatch' });
      await expect(s.complete(b.token, response)).rejects.toThrow(NotOwnerError);
      await expect(s.abort(b.token)).rejects.toThrow(NotOwnerError);
    });

    it('abort lets a retry run; a lapsed lease is taken over, recovered, and its late complete refused', async () => {
      const s = be.store({ leaseMs: 60 });
      const a = await s.begin('k', fp);
      if (a.status !== 'new') throw new Error(a.status);
      await s.abort(a.token);
      const b = await s.begin('k', fp);
      if (b.status !== 'new') throw new Error(b.status);
      expect(b.token.attempt).toBeGreaterThan(a.token.attempt);
      expect(b.recovered).toBe(false);
      await sleep(100);
      const c = await s.begin('k', fp);
      if (c.status !== 'new') throw new Error(c.status);
      expect(c.recovered).toBe(true);
      expect(c.token.attempt).toBeGreaterThan(b.token.attempt);
      await expect(s.complete(b.token, { status: 201 })).rejects.toThrow(NotOwnerError);
      await s.complete(c.token, { status: 201 });
    });

    it('refuses a bad key, fingerprint or response, storing nothing', async () => {
      const s = be.store({ leaseMs: 5_000 });
      await expect(s.begin('', fp)).rejects.toThrow(InvalidArgumentError);
      await expect(s.begin('k', 'x'.repeat(200))).rejects.toThrow(InvalidArgumentError);
      const b = await s.begin('k', fp);
      if (b.status !== 'new') throw new Error(b.status);
      await expect(s.complete(b.token, { status: 99 })).rejects.toThrow(InvalidArgumentError);
      expect((await s.begin('k', fp)).status).toBe('in-flight'); // still held
    });
  });

  describe('VoteRegistry', () => {
    it('one vote per user and poll; a change moves the tally; retract takes it back', async () => {
      const v = be.votes({ choices: ['yes', 'no'] });
      expect(await v.vote('p', 'u1', 'yes')).toEqual({ accepted: true, previous: null });
      await expect(v.vote('p', 'u1', 'no')).rejects.toThrow(AlreadyVotedError);
      expect(await v.vote('p', 'u2', 'yes')).toEqual({ accepted: true, previous: null });
      expect(await v.tally('p')).toEqual({ yes: 2, no: 0 });
      expect(await v.vote('p', 'u1', 'no', { allowChange: true })).toEqual({ accepted: true, previous: 'yes' });
      expect(await v.tally('p')).toEqual({ yes: 1, no: 1 });
      expect(await v.ballot('p', 'u1')).toBe('no');
      expect(await v.retract('p', 'u1')).toBe('no');
      expect(await v.retract('p', 'u1')).toBe(null);
      expect(await v.ballot('p', 'u1')).toBe(null);
      expect(await v.tally('p')).toEqual({ yes: 1, no: 0 });
      expect(await v.tally('empty')).toEqual({ yes: 0, no: 0 });
      await expect(v.vote('p', 'u3', 'maybe')).rejects.toThrow(InvalidArgumentError);
    });
  });

  describe('OnceRegistry', () => {
    it('claim once, maxUses, release; claimWithin once per window', async () => {
      const r = be.once();
      expect(await r.claim('like')).toMatchObject({ claimed: true, uses: 1, retryAfterMs: 0 });
      expect(await r.claim('like')).toMatchObject({ claimed: false, uses: 1, retryAfterMs: Infinity });
      expect(await r.release('like')).toBe(true);
      expect(await r.release('like')).toBe(false);
      const coupons = [];
      for (let i = 0; i < 4; i++) coupons.push((await r.claim('SPRING', { maxUses: 3 })).claimed);
      expect(coupons).toEqual([true, true, true, false]);
      expect(await r.uses('SPRING')).toBe(3);
      expect((await r.claimWithin('daily', 100)).claimed).toBe(true);
      const again = await r.claimWithin('daily', 100);
      expect(again.claimed).toBe(false);
      expect(again.retryAfterMs).toBeGreaterThan(0);
      expect(again.retryAfterMs).toBeLessThanOrEqual(100);
      await sleep(again.retryAfterMs + 20);
      expect(await r.claimWithin('daily', 100)).toMatchObject({ claimed: true, uses: 2 });
    });
  });

  describe('LeaseLock', () => {
    it('one live lease per resource; tokens grow; an expired lease is taken over and cannot renew or release', async () => {
      const l = be.leases();
      const a = await l.acquire('invoice', 80);
      expect(a).not.toBeNull();
      expect(await l.acquire('invoice', 80)).toBeNull();
      const other = await l.acquire('report', 80);
      expect(other).not.toBeNull();
      await sleep(120);
      const b = await l.acquire('invoice', 5_000);
      expect(b!.fencingToken).toBeGreaterThan(a!.fencingToken);
      await expect(a!.renew()).rejects.toThrow(NotOwnerError);
      await expect(a!.release()).rejects.toThrow(NotOwnerError);
      await b!.renew(5_000);
      await b!.release();
      await expect(b!.release()).rejects.toThrow(NotOwnerError);
      const c = await l.acquire('invoice', 5_000);
      expect(c!.fencingToken).toBeGreaterThan(b!.fencingToken);
      const waited = l.acquire('invoice', 5_000, 2_000);
      await sleep(30);
      await c!.release();
      expect((await waited)!.fencingToken).toBeGreaterThan(c!.fencingToken);
    });
  });

  describe('CircuitBreaker', () => {
    it('opens after the threshold, refuses with the wait, lets one probe through, closes on its success', async () => {
      const b = be.breaker({ failureThreshold: 2, resetTimeoutMs: 100 });
      const fail = () => b.execute(() => Promise.reject(new Error('down')));
      await expect(fail()).rejects.toThrow('down');
      expect(await b.state()).toBe('CLOSED');
      await expect(fail()).rejects.toThrow('down');
      expect(await b.state()).toBe('OPEN');
      const refused = await b.execute(() => 'ran').catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(CircuitOpenError);
      expect((refused as CircuitOpenError).retryAfterMs).toBeGreaterThan(0);
      expect((refused as CircuitOpenError).retryAfterMs).toBeLessThanOrEqual(100);
      await sleep(130);
      let release!: () => void;
      const probe = b.execute((call) => new Promise<boolean>((r) => (release = () => r(call.probe))));
      await sleep(20);
      await expect(b.execute(() => 'second probe')).rejects.toThrow(CircuitOpenError);
      expect(await b.state()).toBe('HALF_OPEN');
      release();
      expect(await probe).toBe(true);
      expect(await b.state()).toBe('CLOSED');
      expect(await b.execute(() => 'ok')).toBe('ok');
    });

    it('a failed probe reopens it; a success resets the failures in a row', async () => {
      const b = be.breaker({ failureThreshold: 2, resetTimeoutMs: 60 });
      await expect(b.execute(() => Promise.reject(new Error('x')))).rejects.toThrow('x');
      await b.execute(() => 'ok');
      await expect(b.execute(() => Promise.reject(new Error('x')))).rejects.toThrow('x');
      expect(await b.state()).toBe('CLOSED');
      await expect(b.execute(() => Promise.reject(new Error('x')))).rejects.toThrow('x');
      expect(await b.state()).toBe('OPEN');
      await sleep(90);
      await expect(b.execute(() => Promise.reject(new Error('probe')))).rejects.toThrow('probe');
      expect(await b.state()).toBe('OPEN');
    });
  });
});
