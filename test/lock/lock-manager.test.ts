import { inspect } from 'node:util';
import { threadId } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ErrorCode, type ErrorCode as Code } from '../../src/errors.js';
import { SharedArena } from '../../src/memory/arena.js';
import { ThreadRegistry } from '../../src/threads/registry.js';
import { Lock, LockManager, type LockManagerSnapshot, type LockRequestOptions } from '../../src/lock/lock-manager.js';
import * as records from '../../src/lock/lock-record.js';
import { EXCLUSIVE_IN, FIXTURE_MARK, GO, SECTIONS, SHARED_IN, VIOLATIONS, type Outcome } from '../../workers/fixtures/lock-manager.js';
import { Remote } from '../threads/remote.js';
import { expectCode, rejected, thrown } from '../helpers/errors.js';
import { forgedHandles } from '../helpers/handles.js';
import { deprecationsDuring } from '../helpers/deprecation.js';

/** Lets the event loop turn once (a callback that is async in earnest). */
const tick = () => new Promise((r) => setImmediate(r));
const start = () => Remote.start('lock-manager', { workerData: { mark: FIXTURE_MARK } });
const me = `thread-${threadId}`;

let a: Remote;
let b: Remote;
beforeAll(async () => {
  [a, b] = await Promise.all([start(), start()]);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

/**
 * A lock held in this thread until `release()` (the callback's promise
 * settles then); `whenGranted` resolves with what the callback received.
 */
function holdHere(lm: LockManager, name: string, options: LockRequestOptions = {}) {
  let release!: (v?: unknown) => void;
  let fail!: (e: unknown) => void;
  let lock: Lock | null | undefined;
  let onGrant!: (l: Lock | null) => void;
  const whenGranted = new Promise<Lock | null>((r) => (onGrant = r));
  const body = new Promise((resolve, reject) => ((release = resolve), (fail = reject)));
  const done = lm.request(name, options, (l) => ((lock = l), onGrant(l), body));
  done.catch(() => {}); // observed by the tests that care
  return {
    done,
    release,
    fail,
    whenGranted,
    get lock() {
      return lock;
    },
    get granted() {
      return lock !== undefined;
    },
  };
}

/** A Lock's attributes as plain data (they are getters on Lock.prototype). */
const attrs = (l: Lock | null | undefined) => (l ? { name: l.name, mode: l.mode, ownerDied: l.ownerDied } : l);

/** Waits (polling, no fixed sleep) until `predicate` holds. */
const until = (predicate: () => boolean | Promise<boolean>, timeout = 10_000) =>
  vi.waitFor(async () => expect(await predicate()).toBe(true), { timeout, interval: 5 });

const names = (s: LockManagerSnapshot) => ({
  held: s.held.map((i) => `${i.name}:${i.mode}:${i.clientId}`),
  pending: s.pending.map((i) => `${i.name}:${i.mode}:${i.clientId}`),
});

async function expectIdle(lm: LockManager): Promise<void> {
  expect(await lm.query()).toEqual({ held: [], pending: [] });
}

describe('LockManager in one thread (Web Locks semantics)', () => {
  it('runs the callback with the lock, after request() returns, and resolves with its result', async () => {
    const lm = new LockManager({ capacity: 8 });
    let seen: Lock | null = null;
    const p = lm.request('a', (lock) => ((seen = lock), 42));
    expect(seen).toBe(null); // not called inside request()
    expect(await p).toBe(42);
    expect(attrs(seen)).toEqual({ name: 'a', mode: 'exclusive', ownerDied: false });
    expect(seen).toBeInstanceOf(Lock);
    expect(await lm.request('a', { mode: 'shared' }, async (lock) => (await tick(), lock!.mode))).toBe('shared');
    expect(await lm.request('', (lock) => lock!.name)).toBe(''); // the empty name is a name
    expect(await lm.request('ключ 🔒', (lock) => lock!.name)).toBe('ключ 🔒');
    await expectIdle(lm);
  });

  it('a Lock has read-only name and mode (getters on its prototype) and cannot be made by hand', async () => {
    const lm = new LockManager({ capacity: 8 });
    const lock = (await lm.request('ro', (l) => l))!;
    expect(Object.keys(lock)).toEqual([]);
    expect(Object.prototype.toString.call(lock)).toBe('[object Lock]');
    expect(() => ((lock as { name: string }).name = 'other')).toThrow(TypeError); // modules are strict
    expect([lock.name, lock.mode]).toEqual(['ro', 'exclusive']);
    expect(() => new (Lock as unknown as new () => Lock)()).toThrow(TypeError);
  });

  it('exclusive requests are granted one at a time in FIFO order; query lists held and pending in order', async () => {
    const lm = new LockManager({ capacity: 8 });
    const order: number[] = [];
    const first = holdHere(lm, 'x');
    const rest = [1, 2, 3].map((i) => lm.request('x', () => void order.push(i)));
    await first.whenGranted;
    expect(names(await lm.query())).toEqual({ held: [`x:exclusive:${me}`], pending: [1, 2, 3].map(() => `x:exclusive:${me}`) });
    first.release();
    await Promise.all(rest);
    expect(order).toEqual([1, 2, 3]);
    await expectIdle(lm);
  });

  it('shared requests at the head are granted together; an exclusive waits for them all; a shared behind it waits too', async () => {
    const lm = new LockManager({ capacity: 8 });
    const s1 = holdHere(lm, 'r', { mode: 'shared' });
    const s2 = holdHere(lm, 'r', { mode: 'shared' });
    const x = holdHere(lm, 'r');
    const s3 = holdHere(lm, 'r', { mode: 'shared' });
    const s4 = holdHere(lm, 'r', { mode: 'shared' });
    await Promise.all([s1.whenGranted, s2.whenGranted]);
    expect(names(await lm.query())).toEqual({
      held: [`r:shared:${me}`, `r:shared:${me}`],
      pending: [`r:exclusive:${me}`, `r:shared:${me}`, `r:shared:${me}`],
    });
    s1.release();
    await s1.done;
    expect(names(await lm.query()).pending).toEqual([`r:exclusive:${me}`, `r:shared:${me}`, `r:shared:${me}`]); // s2 still holds
    s2.release();
    await x.whenGranted;
    expect(names(await lm.query())).toEqual({ held: [`r:exclusive:${me}`], pending: [`r:shared:${me}`, `r:shared:${me}`] });
    x.release();
    await Promise.all([s3.whenGranted, s4.whenGranted]);
    expect(names(await lm.query()).held).toEqual([`r:shared:${me}`, `r:shared:${me}`]); // granted together
    s3.release();
    s4.release();
    await Promise.all([s1.done, s2.done, x.done, s3.done, s4.done]);
    await expectIdle(lm);
  });

  it('ifAvailable: the lock when grantable at once, null otherwise (also when only the queue is in the way)', async () => {
    const lm = new LockManager({ capacity: 8 });
    expect(attrs(await lm.request('i', { ifAvailable: true }, (l) => l))).toEqual({ name: 'i', mode: 'exclusive', ownerDied: false });
    const s = holdHere(lm, 'i', { mode: 'shared' });
    await s.whenGranted;
    expect(await lm.request('i', { ifAvailable: true }, (l) => l)).toBe(null);
    expect(await lm.request('i', { mode: 'shared', ifAvailable: true }, (l) => l?.mode)).toBe('shared');
    const x = holdHere(lm, 'i'); // queued behind the shared holder (its request step is synchronous)
    // Compatible with the held set, but not at the head of the queue: not grantable.
    expect(await lm.request('i', { mode: 'shared', ifAvailable: true }, (l) => l)).toBe(null);
    expect(names(await lm.query()).pending).toEqual([`i:exclusive:${me}`]); // nothing was queued
    s.release();
    await x.whenGranted;
    x.release();
    await Promise.all([s.done, x.done]);
    await expectIdle(lm);
  });

  it("steal: the holder's request rejects with an AbortError DOMException at once, while its callback still runs; the stealer holds; the queue stays", async () => {
    const lm = new LockManager({ capacity: 8 });
    const victim = holdHere(lm, 's');
    const waiter = holdHere(lm, 's', { mode: 'shared' });
    await victim.whenGranted;
    const stealer = holdHere(lm, 's', { steal: true });
    const e = await rejected(victim.done);
    expect(e).toBeInstanceOf(DOMException);
    expect((e as DOMException).name).toBe('AbortError');
    expectCode(e, ErrorCode.ABORTED, /stolen/); // sabre's code rides along in its cause
    expect(attrs(await stealer.whenGranted)).toEqual({ name: 's', mode: 'exclusive', ownerDied: false });
    expect(names(await lm.query())).toEqual({ held: [`s:exclusive:${me}`], pending: [`s:shared:${me}`] });
    victim.release('late'); // settles after the steal: ignored, releases nothing
    await tick();
    expect(names(await lm.query())).toEqual({ held: [`s:exclusive:${me}`], pending: [`s:shared:${me}`] });
    stealer.release('ok');
    expect(await stealer.done).toBe('ok');
    await waiter.whenGranted;
    waiter.release();
    await waiter.done;
    await expectIdle(lm);
    // A steal of a free lock is an ordinary grant.
    expect(await lm.request('s', { steal: true }, (l) => l!.mode)).toBe('exclusive');
  });

  it('a stolen holder whose callback later throws still rejects with AbortError (no unhandled rejection)', async () => {
    const lm = new LockManager({ capacity: 8 });
    const victim = holdHere(lm, 't');
    await victim.whenGranted;
    await lm.request('t', { steal: true }, () => {});
    victim.fail(new Error('late failure'));
    expectCode(await rejected(victim.done), ErrorCode.ABORTED);
    await expectIdle(lm);
  });

  it("signal: aborting a queued request rejects it with the signal's reason and takes it out of the queue", async () => {
    const lm = new LockManager({ capacity: 8 });
    const h = holdHere(lm, 'g');
    const controller = new AbortController();
    const reason = new Error('user gave up');
    let ran = false;
    const aborted = lm.request('g', { signal: controller.signal }, () => (ran = true));
    const after = holdHere(lm, 'g', { mode: 'shared' });
    await h.whenGranted;
    expect(names(await lm.query()).pending).toEqual([`g:exclusive:${me}`, `g:shared:${me}`]);
    controller.abort(reason);
    expect(await rejected(aborted)).toBe(reason);
    expect(names(await lm.query()).pending).toEqual([`g:shared:${me}`]);
    h.release();
    await after.whenGranted;
    after.release();
    // An already aborted signal: its reason (here the default, an AbortError DOMException), nothing queued.
    const e = await rejected(lm.request('g', { signal: AbortSignal.abort() }, () => (ran = true)));
    expect([e instanceof DOMException, (e as DOMException).name]).toEqual([true, 'AbortError']);
    // An abort after the callback started changes nothing.
    const late = new AbortController();
    expect(await lm.request('g', { signal: late.signal }, async () => (late.abort(), await tick(), 'kept'))).toBe('kept');
    await Promise.all([h.done, after.done]);
    expect(ran).toBe(false);
    await expectIdle(lm);
  });

  it('signal: an abort after the grant, before the callback ran, releases the lock unused and rejects with the reason', async () => {
    const lm = new LockManager({ capacity: 8 });
    // Granted at once (the name is free); the abort comes before the callback's microtask.
    const c1 = new AbortController();
    let ran = false;
    const p1 = lm.request('ag', { signal: c1.signal }, () => (ran = true));
    const next = lm.request('ag', () => 'next'); // queued behind it
    c1.abort('gone');
    expect(await rejected(p1)).toBe('gone');
    expect(await next).toBe('next');
    // Granted by another's release (the queue moved) while the waiter had not yet looked.
    const h = holdHere(lm, 'ag');
    await h.whenGranted;
    const c2 = new AbortController();
    const p2 = lm.request('ag', { signal: c2.signal }, () => (ran = true));
    const behind = holdHere(lm, 'ag', { mode: 'shared' });
    h.release(); // the release grants p2's request; its waiter wakes later
    c2.abort('late');
    expect(await rejected(p2)).toBe('late');
    await behind.whenGranted; // the unused lock was released: the queue moved on
    behind.release();
    await Promise.all([h.done, behind.done]);
    expect(ran).toBe(false);
    await expectIdle(lm);
  });

  it('timeout: a request not granted in time rejects with TimeoutError and leaves the queue; the queue behind it moves on', async () => {
    const lm = new LockManager({ capacity: 8 });
    const s = holdHere(lm, 'w', { mode: 'shared' });
    await s.whenGranted;
    const t0 = performance.now();
    const timedOut = lm.request('w', { timeoutMs: 40 }, () => 'never');
    const behind = holdHere(lm, 'w', { mode: 'shared' }); // waits behind the exclusive request
    expect(names(await lm.query()).pending).toEqual([`w:exclusive:${me}`, `w:shared:${me}`]);
    const e = expectCode(await rejected(timedOut), ErrorCode.TIMEOUT, /40 ms/);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(39); // never early (a lower bound only)
    expect((e as { details: unknown }).details).toEqual({ timeoutMs: 40 });
    await behind.whenGranted; // the exclusive request's withdrawal granted the shared one behind it
    expect(await lm.request('w', { mode: 'shared', timeoutMs: 0 }, () => 'shared now')).toBe('shared now');
    expectCode(await rejected(lm.request('w', { timeoutMs: 0 }, () => 1)), ErrorCode.TIMEOUT);
    s.release();
    behind.release();
    await Promise.all([s.done, behind.done]);
    expect(await lm.request('w', { timeoutMs: 0 }, () => 'free')).toBe('free');
    await expectIdle(lm);
  });

  it('a callback that throws or rejects: the request rejects with its error and the lock is released', async () => {
    const lm = new LockManager({ capacity: 8 });
    expect(
      await rejected(
        lm.request('e', () => {
          throw new Error('sync');
        }),
      ),
    ).toHaveProperty('message', 'sync');
    expect(
      await rejected(
        lm.request('e', async () => {
          throw new Error('async');
        }),
      ),
    ).toHaveProperty('message', 'async');
    expect(
      await rejected(
        lm.request('e', { ifAvailable: true }, () => {
          throw new Error('null lock');
        }),
      ),
    ).toHaveProperty('message', 'null lock');
    expect(
      await rejected(
        lm.request('e', () => ({
          then: () => {
            throw new Error('bad thenable');
          },
        })),
      ),
    ).toHaveProperty('message', 'bad thenable');
    const getter = {
      get then(): never {
        throw new Error('then getter');
      },
    };
    expect(await rejected(lm.request('e', () => getter))).toHaveProperty('message', 'then getter');
    await expectIdle(lm);
    expect(await lm.request('e', { ifAvailable: true }, (l) => l !== null)).toBe(true);
  });

  it('requests of different names are independent; a callback may request other names', async () => {
    const lm = new LockManager({ capacity: 8 });
    const result = await lm.request('outer', () => lm.request('inner', { mode: 'shared' }, async () => names(await lm.query()).held));
    expect(result).toEqual([`outer:exclusive:${me}`, `inner:shared:${me}`]); // grant order
    await expectIdle(lm);
  });

  it('query lists held locks in grant order and pending requests in request order, across names', async () => {
    const lm = new LockManager({ capacity: 8 });
    const hb = holdHere(lm, 'b');
    const ha = holdHere(lm, 'a');
    const hc = holdHere(lm, 'c', { mode: 'shared' });
    await Promise.all([hb.whenGranted, ha.whenGranted, hc.whenGranted]);
    const waits = [holdHere(lm, 'a', { mode: 'shared' }), holdHere(lm, 'c'), holdHere(lm, 'b'), holdHere(lm, 'a')];
    expect(names(await lm.query())).toEqual({
      held: [`b:exclusive:${me}`, `a:exclusive:${me}`, `c:shared:${me}`],
      pending: [`a:shared:${me}`, `c:exclusive:${me}`, `b:exclusive:${me}`, `a:exclusive:${me}`],
    });
    hc.release();
    await waits[1]!.whenGranted; // 'c' exclusive, granted last
    expect(names(await lm.query()).held).toEqual([`b:exclusive:${me}`, `a:exclusive:${me}`, `c:exclusive:${me}`]);
    ha.release();
    await waits[0]!.whenGranted;
    expect(names(await lm.query())).toEqual({
      held: [`b:exclusive:${me}`, `c:exclusive:${me}`, `a:shared:${me}`],
      pending: [`b:exclusive:${me}`, `a:exclusive:${me}`],
    });
    for (const h of [hb, ...waits]) h.release();
    await Promise.all([ha.done, hb.done, hc.done, ...waits.map((w) => w.done)]);
    await expectIdle(lm);
  });

  it('names are UTF-16 code units: lone surrogates are names of their own; maxKeyBytes counts 2 bytes per code unit', async () => {
    const lm = new LockManager({ capacity: 8, maxKeyBytes: 8 });
    const lone = holdHere(lm, '\uD800');
    expect((await lone.whenGranted)!.name).toBe('\uD800');
    // UTF-8 would turn both into U+FFFD: here they are different locks.
    expect(await lm.request('\uFFFD', { ifAvailable: true }, (l) => l?.name)).toBe('\uFFFD');
    expect(await lm.request('\uDC00', { ifAvailable: true }, (l) => l?.name)).toBe('\uDC00');
    expect(await lm.request('\uD800', { ifAvailable: true }, (l) => l)).toBe(null);
    expect(names(await lm.query()).held).toEqual([`\uD800:exclusive:${me}`]);
    lone.release();
    await lone.done;
    expect(await lm.request('€€€€', (l) => l!.name)).toBe('€€€€'); // 4 code units, 8 bytes (12 in UTF-8)
    expectCode(await rejected(lm.request('abcde', () => 1)), ErrorCode.INVALID_ARG, /5 UTF-16 code units \(10 bytes\)/);
    await expectIdle(lm);
  });

  it('capacity counts names with requests: a new name finds room once others are idle again', async () => {
    const lm = new LockManager({ capacity: 2 });
    const h1 = holdHere(lm, 'n1');
    const h2 = holdHere(lm, 'n2');
    await Promise.all([h1.whenGranted, h2.whenGranted]);
    expectCode(await rejected(lm.request('n3', () => 1)), ErrorCode.CAPACITY, /all 2 names/);
    expect(await lm.request('n1', { ifAvailable: true }, (l) => l)).toBe(null); // names in use still work
    h1.release();
    await h1.done;
    expect(await lm.request('n3', () => 'room')).toBe('room'); // n1's idle record made room
    h2.release();
    await h2.done;
    for (const n of ['n4', 'n5', 'n6', 'n7']) expect(await lm.request(n, () => n)).toBe(n);
    await expectIdle(lm);
  });

  it('maxRequestsPerName bounds the held and queued requests of one name', async () => {
    const lm = new LockManager({ capacity: 4, maxRequestsPerName: 3 });
    const hs = [holdHere(lm, 'q', { mode: 'shared' }), holdHere(lm, 'q', { mode: 'shared' }), holdHere(lm, 'q')];
    expectCode(await rejected(lm.request('q', { mode: 'shared' }, () => 1)), ErrorCode.CAPACITY, /maxRequestsPerName/);
    expect(await lm.request('q', { mode: 'shared', ifAvailable: true }, (l) => l)).toBe(null); // adds nothing, so no refusal
    await Promise.all([hs[0]!.whenGranted, hs[1]!.whenGranted]);
    // A steal makes room for itself: it drops the holders.
    expect(await lm.request('q', { steal: true }, () => 'stole')).toBe('stole');
    expectCode(await rejected(hs[0]!.done), ErrorCode.ABORTED);
    expectCode(await rejected(hs[1]!.done), ErrorCode.ABORTED);
    await hs[2]!.whenGranted;
    for (const h of hs) h.release();
    await hs[2]!.done;
    await expectIdle(lm);
  });

  it('lives in an arena, re-opens from its handle, and reports its sizes', async () => {
    const options = { capacity: 16, maxKeyBytes: 32, maxRequestsPerName: 8 };
    const arena = new SharedArena({ byteLength: LockManager.byteLength(options) + 1024 });
    const lm = new LockManager({ ...options, arena });
    expect(lm.handle.byteLength).toBe(LockManager.byteLength(options));
    expect(lm.handle.buffer).toBe(arena.handle.buffer);
    expect([lm.capacity, lm.maxKeyBytes, lm.maxRequestsPerName]).toEqual([16, 32, 8]);
    const again = LockManager.from(lm.handle);
    const h = holdHere(lm, 'k');
    await h.whenGranted;
    expect(await again.request('k', { ifAvailable: true }, (l) => l)).toBe(null);
    expect(names(await again.query()).held).toEqual([`k:exclusive:${me}`]);
    h.release();
    await h.done;
    expect(LockManager.byteLength({ capacity: 16 })).toBe(new LockManager({ capacity: 16 }).handle.byteLength);
  });
});

describe('lock records (the grant rules, without threads)', () => {
  const e = (id: number, shared = false, thread = 1): records.LockEntry => ({ thread, id, flags: shared ? records.SHARED : 0, at: id });
  const ask = { ifAvailable: false, steal: false };
  const flagsOf = (r: records.LockRecord | undefined, id: number) => r!.held.find((x) => x.id === id)!.flags;
  const pending = (r: records.LockRecord | undefined) => r!.flags & records.OWNER_DIED_PENDING;

  it('after every step the head of the queue is not grantable', () => {
    let r: records.LockRecord | undefined;
    const steps: records.RequestStep[] = [];
    for (const [id, shared] of [
      [1, true],
      [2, true],
      [3, false],
      [4, true],
      [5, true],
      [6, false],
    ] as const) {
      const step = records.request(r, e(id, shared), ask, 16, 'n');
      steps.push(step);
      r = step.next;
    }
    expect(steps.map((s) => s.outcome)).toEqual([
      records.GRANTED,
      records.GRANTED,
      records.QUEUED,
      records.QUEUED,
      records.QUEUED,
      records.QUEUED,
    ]);
    const heldIds = () => r!.held.map((x) => x.id);
    r = records.release(r, 1, 1, 10).next;
    expect(heldIds()).toEqual([2]);
    r = records.release(r, 1, 2, 11).next;
    expect(heldIds()).toEqual([3]);
    r = records.release(r, 1, 3, 12).next;
    expect(heldIds()).toEqual([4, 5]);
    expect(r!.held.map((x) => x.at)).toEqual([12, 12]); // stamped with their grant
    r = records.withdraw(r, 1, 6, 13).next; // the exclusive at the tail leaves
    r = records.release(r, 1, 4, 14).next;
    r = records.release(r, 1, 5, 15).next;
    expect(records.isIdle(r)).toBe(true);
  });

  it('a grant by another step is UNSEEN until its thread sees it; a grant in the request step is seen', () => {
    let r = records.request(undefined, e(1), ask, 16, 'n').next;
    expect(flagsOf(r, 1) & records.UNSEEN).toBe(0);
    r = records.request(r, e(2), ask, 16, 'n').next;
    r = records.release(r, 1, 1, 5).next;
    expect(flagsOf(r, 2) & records.UNSEEN).toBe(records.UNSEEN);
    const seen = records.see(r, 1, 2);
    expect([seen.found, flagsOf(seen.next, 2) & records.UNSEEN]).toEqual([true, 0]);
    expect(records.see(seen.next, 1, 2).next).toBe(seen.next); // nothing to change: the same record
    expect(records.see(seen.next, 1, 9).found).toBe(false);
  });

  it('a dead holder that had seen its grant sets the owner-died flag, which the next grant (the whole shared group) consumes', () => {
    let r = records.request(undefined, e(1, false, 7), ask, 16, 'n').next;
    r = records.request(r, e(2, true), ask, 16, 'n').next;
    r = records.request(r, e(3, true), ask, 16, 'n').next;
    r = records.removeDead(r, new Set([7]), 20);
    expect(r!.held.map((x) => [x.id, (x.flags & records.GRANTED_OWNER_DIED) !== 0])).toEqual([
      [2, true],
      [3, true],
    ]);
    expect(pending(r)).toBe(0);
    r = records.release(records.release(r, 1, 2, 21).next, 1, 3, 22).next;
    const next = records.request(r, e(4), ask, 16, 'n');
    expect(next.entry.flags & records.GRANTED_OWNER_DIED).toBe(0);
    // With nobody to take it, the flag keeps the record until the next grant.
    const died = records.removeDead(records.request(undefined, e(9, false, 7), ask, 16, 'n').next, new Set([7]), 30);
    expect(records.isIdle(died)).toBe(false);
    expect(records.request(died, e(5), ask, 16, 'n').entry.flags & records.GRANTED_OWNER_DIED).toBe(records.GRANTED_OWNER_DIED);
  });

  it('a thread that dies queued reports no death, even when the queue granted it before its removal', () => {
    let r = records.request(undefined, e(1), ask, 16, 'n').next;
    r = records.request(r, e(2, false, 7), ask, 16, 'n').next; // thread 7 waits
    r = records.release(r, 1, 1, 5).next; // granted to 7, which never sees it (it is dead)
    r = records.removeDead(r, new Set([7]), 6);
    expect(records.isIdle(r)).toBe(true);
    expect(records.request(r, e(3), ask, 16, 'n').entry.flags & records.GRANTED_OWNER_DIED).toBe(0);
    // Only queued: it simply leaves.
    let q = records.request(undefined, e(1), ask, 16, 'n').next;
    q = records.request(q, e(2, false, 7), ask, 16, 'n').next;
    q = records.removeDead(q, new Set([7]), 6);
    expect([pending(q), q!.queue.length]).toEqual([0, 0]);
  });

  it('a death report granted to a request that never used it passes on (dead unseen, unused release, steal)', () => {
    // The holder (thread 7) dies; the report goes to thread 8's queued request, which is also dead and never saw it.
    let r = records.request(undefined, e(1, false, 7), ask, 16, 'n').next;
    r = records.request(r, e(2, false, 8), ask, 16, 'n').next;
    r = records.removeDead(r, new Set([7]), 5);
    expect(flagsOf(r, 2) & (records.UNSEEN | records.GRANTED_OWNER_DIED)).toBe(records.UNSEEN | records.GRANTED_OWNER_DIED);
    r = records.removeDead(r, new Set([8]), 6);
    expect(pending(r)).toBe(records.OWNER_DIED_PENDING);
    // Granted with the report, released unused (its signal aborted before the callback): the report passes on.
    const granted = records.request(r, e(3), ask, 16, 'n');
    expect(granted.entry.flags & records.GRANTED_OWNER_DIED).toBe(records.GRANTED_OWNER_DIED);
    const unused = records.release(granted.next, 1, 3, 7, true).next;
    expect(pending(unused)).toBe(records.OWNER_DIED_PENDING);
    expect(pending(records.release(records.request(unused, e(4), ask, 16, 'n').next, 1, 4, 8).next)).toBe(0); // a used release consumes it
    // A steal that drops an unseen holder carrying a report takes the report itself.
    let s = records.request(undefined, e(1, false, 7), ask, 16, 'n').next;
    s = records.request(s, e(2, false, 8), ask, 16, 'n').next;
    s = records.removeDead(s, new Set([7]), 5);
    const stolen = records.request(s, e(3), { ifAvailable: false, steal: true }, 16, 'n');
    expect(stolen.entry.flags & records.GRANTED_OWNER_DIED).toBe(records.GRANTED_OWNER_DIED);
  });

  it('the codec round-trips records', () => {
    const r: records.LockRecord = {
      flags: 1,
      held: [
        { thread: 0, id: 0xffffffff, flags: 7, at: 123_456.789_012 },
        { thread: 2 ** 31 - 1, id: 1, flags: 1, at: 0 },
      ],
      queue: [{ thread: 5, id: 77, flags: 0, at: 2 ** 40 + 0.5 }],
    };
    expect(records.recordCodec.decode(records.recordCodec.encode(r))).toEqual(r);
    expect(records.recordCodec.encodeInto!(r, new Uint8Array(records.recordBytes(2)))).toBe(-1);
  });
});

describe('LockManager across threads', () => {
  it("a worker's exclusive lock makes main wait; query names the worker; main gets it when the worker releases", async () => {
    const lm = new LockManager({ capacity: 8 });
    expect(await a.call('hold', { lm: lm.handle, name: 'm', key: 'a1' })).toEqual({ ownerDied: false, granted: true });
    const mine = holdHere(lm, 'm');
    expect(names(await lm.query())).toEqual({ held: [`m:exclusive:thread-${a.threadId}`], pending: [`m:exclusive:${me}`] });
    expect(await b.call('request', { lm: lm.handle, name: 'm', options: { ifAvailable: true } })).toEqual({
      granted: false,
      ownerDied: null,
    });
    expect(mine.granted).toBe(false);
    expect(await a.call<Outcome>('release', { key: 'a1', value: 'done' })).toEqual({ ok: true, value: 'done' });
    await mine.whenGranted;
    mine.release();
    await mine.done;
    await expectIdle(lm);
  });

  it('shared holders of several threads overlap; an exclusive request waits for all of them', async () => {
    const lm = new LockManager({ capacity: 8 });
    await a.call('hold', { lm: lm.handle, name: 'sh', key: 'a2', options: { mode: 'shared' } });
    await b.call('hold', { lm: lm.handle, name: 'sh', key: 'b2', options: { mode: 'shared' } });
    const s = holdHere(lm, 'sh', { mode: 'shared' });
    await s.whenGranted;
    s.release();
    await s.done;
    const x = holdHere(lm, 'sh');
    const waited = b.call('request', { lm: lm.handle, name: 'sh', options: { mode: 'shared', timeoutMs: 50 } });
    expectCode(await rejected(waited), ErrorCode.TIMEOUT); // a shared request behind the waiting exclusive one waits
    await a.call('release', { key: 'a2' });
    expect(names(await lm.query())).toEqual({ held: [`sh:shared:thread-${b.threadId}`], pending: [`sh:exclusive:${me}`] });
    await b.call('release', { key: 'b2' });
    await x.whenGranted;
    x.release();
    await x.done;
    await expectIdle(lm);
  });

  it('query lists held locks in grant order and pending requests in request order, across threads and names', async () => {
    const lm = new LockManager({ capacity: 8 });
    const mine = holdHere(lm, 'p2');
    await mine.whenGranted;
    await a.call('hold', { lm: lm.handle, name: 'p1', key: 'a5' });
    await b.call('hold', { lm: lm.handle, name: 'p3', key: 'b5', options: { mode: 'shared' } });
    const aWaits = a.call('hold', { lm: lm.handle, name: 'p2', key: 'a6', options: { mode: 'shared' } });
    await until(async () => (await lm.query()).pending.length === 1);
    const mineWaits = holdHere(lm, 'p1', { mode: 'shared' });
    const bWaits = b.call('hold', { lm: lm.handle, name: 'p1', key: 'b6' });
    await until(async () => (await lm.query()).pending.length === 3);
    const [ta, tb] = [`thread-${a.threadId}`, `thread-${b.threadId}`];
    expect(names(await lm.query())).toEqual({
      held: [`p2:exclusive:${me}`, `p1:exclusive:${ta}`, `p3:shared:${tb}`],
      pending: [`p2:shared:${ta}`, `p1:shared:${me}`, `p1:exclusive:${tb}`],
    });
    mine.release();
    await aWaits;
    expect(names(await lm.query()).held).toEqual([`p1:exclusive:${ta}`, `p3:shared:${tb}`, `p2:shared:${ta}`]);
    await a.call('release', { key: 'a5' });
    await mineWaits.whenGranted;
    mineWaits.release();
    await Promise.all([mine.done, mineWaits.done]);
    await bWaits;
    for (const [w, key] of [
      [a, 'a6'],
      [b, 'b5'],
      [b, 'b6'],
    ] as const)
      await w.call('release', { key });
    await expectIdle(lm);
  });

  it('steal from a worker: its request rejects with AbortError while its callback still runs', async () => {
    const lm = new LockManager({ capacity: 8 });
    await a.call('hold', { lm: lm.handle, name: 'st', key: 'a3' });
    expect(await lm.request('st', { steal: true }, (l) => l!.mode)).toBe('exclusive');
    const outcome = await a.call<Outcome>('outcome', { key: 'a3' }); // the callback has not ended
    expect(outcome).toMatchObject({ ok: false, code: ErrorCode.ABORTED });
    expect(await a.call<Outcome>('release', { key: 'a3' })).toMatchObject({ ok: false, code: ErrorCode.ABORTED });
    await expectIdle(lm);
  });

  it('steal from a worker blocked in a synchronous callback: it learns when the callback returns', async () => {
    const lm = new LockManager({ capacity: 8 });
    const cell = new Int32Array(new SharedArrayBuffer(32));
    const outcome = a.call<Outcome>('holdSync', { lm: lm.handle, name: 'sy', cell });
    await until(async () => (await lm.query()).held.length === 1);
    expect(await lm.request('sy', { steal: true }, () => 'mine')).toBe('mine');
    Atomics.store(cell, GO, 1);
    Atomics.notify(cell, GO);
    expect(await outcome).toMatchObject({ ok: false, code: ErrorCode.ABORTED });
    await expectIdle(lm);
  });

  it('timeout and abort in a worker while main holds', async () => {
    const lm = new LockManager({ capacity: 8 });
    const h = holdHere(lm, 'to');
    await h.whenGranted;
    expectCode(await rejected(a.call('request', { lm: lm.handle, name: 'to', options: { timeoutMs: 30 } })), ErrorCode.TIMEOUT);
    // AbortSignal.timeout's reason is a "TimeoutError" DOMException: the request rejects with it.
    expect(await rejected(a.call('request', { lm: lm.handle, name: 'to', options: { abortAfterMs: 30 } }))).toHaveProperty(
      'message',
      expect.stringMatching(/^TimeoutError: /),
    );
    expect(names(await lm.query())).toEqual({ held: [`to:exclusive:${me}`], pending: [] });
    h.release();
    await h.done;
    await expectIdle(lm);
  });

  it('exclusion holds across threads with mixed modes and async sections (2 workers and main)', async () => {
    const lm = new LockManager({ capacity: 8 });
    const cell = new Int32Array(new SharedArrayBuffer(32));
    const times = 300;
    await Promise.all([
      a.call('occupy', { lm: lm.handle, name: 'occ', cell, times, sharedShare: 0.5 }),
      b.call('occupy', { lm: lm.handle, name: 'occ', cell, times, sharedShare: 0.5 }),
      (async () => {
        for (let i = 0; i < 100; i++) {
          await lm.request('occ', async () => {
            if (Atomics.add(cell, EXCLUSIVE_IN, 1) !== 0 || Atomics.load(cell, SHARED_IN) !== 0) Atomics.add(cell, VIOLATIONS, 1);
            await tick();
            Atomics.sub(cell, EXCLUSIVE_IN, 1);
            Atomics.add(cell, SECTIONS, 1);
          });
        }
      })(),
    ]);
    expect(Atomics.load(cell, SECTIONS)).toBe(2 * times + 100);
    expect(Atomics.load(cell, VIOLATIONS)).toBe(0);
    await expectIdle(lm);
  });
});

/** The table key of a name, as the manager stores it (UTF-16 code units). */
const keyOf = (name: string) => new Uint8Array(Buffer.from(name, 'utf16le'));
/** Plants `record` under `name` through the same table the manager uses (white-box). */
const plant = (lm: LockManager, name: string, record: records.LockRecord) =>
  (lm as unknown as { table: { set(k: Uint8Array, v: records.LockRecord): void } }).table.set(keyOf(name), record);

describe('LockManager owner death', () => {
  it('a worker terminated holding the lock: main, waiting, gets it with ownerDied: true', async () => {
    const lm = new LockManager({ capacity: 8 });
    const w = await start();
    await w.call('hold', { lm: lm.handle, name: 'd' });
    const waiting = lm.request('d', { timeoutMs: 5000 }, (l) => attrs(l)); // queued at once (the request step is synchronous)
    void w.worker.terminate();
    expect(await waiting).toEqual({ name: 'd', mode: 'exclusive', ownerDied: true });
    expect(await lm.request('d', (l) => l!.ownerDied)).toBe(false); // reported once, to the next holder
    await expectIdle(lm);
  });

  it('a worker that exits holding a shared lock, with nobody waiting: the next request notices and reports it', async () => {
    const lm = new LockManager({ capacity: 8 });
    const w = await start();
    const exited = new Promise((r) => w.worker.once('exit', r));
    w.send('holdThenExit', { lm: lm.handle, name: 'e', options: { mode: 'shared' }, code: 0 });
    await exited;
    expect(attrs(await lm.request('e', { ifAvailable: true }, (l) => l))).toEqual({ name: 'e', mode: 'exclusive', ownerDied: true });
    expect(await b.call('request', { lm: lm.handle, name: 'e' })).toEqual({ granted: true, ownerDied: false });
    await expectIdle(lm);
  });

  it('the whole group of shared requests granted after a death gets ownerDied: true', async () => {
    const lm = new LockManager({ capacity: 8 });
    const w = await start();
    await w.call('hold', { lm: lm.handle, name: 'g' });
    const group = [
      lm.request('g', { mode: 'shared' }, (l) => l!.ownerDied),
      b.call('request', { lm: lm.handle, name: 'g', options: { mode: 'shared' } }),
    ];
    // Both queued before the death (else the first granted would join no group and use up the flag).
    await until(async () => (await lm.query()).pending.length === 2);
    await w.stop();
    expect(await Promise.all(group)).toEqual([true, { granted: true, ownerDied: true }]);
    await expectIdle(lm);
  });

  it('a worker that dies queued leaves the queue (query removes it; so does any waiter) without reporting a death', async () => {
    const lm = new LockManager({ capacity: 8 });
    const w = await start();
    const h = holdHere(lm, 'q');
    await h.whenGranted;
    void w.call('hold', { lm: lm.handle, name: 'q' }).catch(() => {});
    await until(async () => (await lm.query()).pending.length === 1);
    await w.stop();
    expect(await lm.query()).toEqual({ held: [{ name: 'q', mode: 'exclusive', clientId: me }], pending: [] });
    h.release();
    await h.done;
    expect(attrs(await lm.request('q', { ifAvailable: true }, (l) => l))).toEqual({ name: 'q', mode: 'exclusive', ownerDied: false });
    await expectIdle(lm);
  });

  it('a worker that dies queued and is granted after its death (before anyone removed it) reports no death', async () => {
    const lm = new LockManager({ capacity: 8 });
    const w = await start();
    const h = holdHere(lm, 'qg');
    await h.whenGranted;
    void w.call('hold', { lm: lm.handle, name: 'qg' }).catch(() => {});
    await until(async () => (await lm.query()).pending.length === 1);
    await w.stop();
    h.release(); // the release grants the dead worker's request: it never sees it
    await h.done;
    expect(await lm.request('qg', { timeoutMs: 5000 }, (l) => l!.ownerDied)).toBe(false);
    await expectIdle(lm);
  });

  it('recovery latency, terminate() → a waiting request is granted (5 trials)', async () => {
    const latencies: number[] = [];
    for (let trial = 0; trial < 5; trial++) {
      const lm = new LockManager({ capacity: 8 });
      const w = await start();
      await w.call('hold', { lm: lm.handle, name: 'lat' });
      let t0 = 0;
      const waiting = lm.request('lat', { timeoutMs: 5000 }, (l) => (latencies.push(performance.now() - t0), l!.ownerDied));
      t0 = performance.now();
      void w.worker.terminate();
      expect(await waiting).toBe(true);
    }
    console.log(
      `LockManager owner-death recovery (terminate → waiting request granted), ms: ${latencies.map((l) => l.toFixed(1)).join(' ')}`,
    );
    expect(Math.max(...latencies)).toBeLessThan(2000); // a liveness bound, not a speed claim
  });

  it('a dead thread named in a record (white-box: never started, proved dead) is removed by the next request', async () => {
    const lm = new LockManager({ capacity: 8 });
    const ghost = 900_201;
    ThreadRegistry.current.markDead(ghost);
    // A holder that had seen its grant: its death is reported.
    plant(lm, 'ghost', { flags: 0, held: [{ thread: ghost, id: 1, flags: 0, at: 0 }], queue: [] });
    expect(await lm.request('ghost', { timeoutMs: 1000 }, (l) => l!.ownerDied)).toBe(true);
    // A holder granted by the queue that never saw it: not reported.
    plant(lm, 'ghost', { flags: 0, held: [{ thread: ghost, id: 2, flags: records.UNSEEN, at: 0 }], queue: [] });
    expect(await lm.request('ghost', { timeoutMs: 1000 }, (l) => l!.ownerDied)).toBe(false);
    await expectIdle(lm);
  });
});

/*
 * Misuse table (as Go's misuseTests): each case provokes one misuse and must
 * fail with its code; afterwards nothing is held or pending and every thread
 * can still take the lock in both modes.
 */
interface MisuseCase {
  readonly name: string;
  readonly code: Code;
  /** The spec's error, where the spec names one: its class (TypeError) or DOMException name. */
  readonly spec?: 'TypeError' | 'NotSupportedError';
  misuse(lm: LockManager): Promise<unknown>;
  cleanup?(lm: LockManager): Promise<void> | void;
}

const show = (v: unknown) =>
  typeof v === 'number' || v === undefined
    ? String(v)
    : typeof v === 'string'
      ? JSON.stringify(v)
      : v === null
        ? 'null'
        : typeof v === 'object'
          ? JSON.stringify(v)
          : inspect(v);
const cb = () => 'ran';
const req = (lm: LockManager, ...args: unknown[]) => rejected((lm.request as (...a: unknown[]) => Promise<unknown>)(...args));
const MAX_NAME = 32,
  MAX_REQUESTS = 4;

/** Holds `n` shared requests of 'full' in this thread until cleanup. */
let fill: ReturnType<typeof holdHere>[] = [];
const releaseFill = async () => {
  for (const h of fill) h.release();
  await Promise.all(fill.map((h) => h.done));
  fill = [];
};

const misuseCases: MisuseCase[] = [
  ...([0, -1, 1.5, NaN, 'x', undefined, 2 ** 25] as const).map((bad): MisuseCase => ({
    name: `new LockManager({ capacity: ${show(bad)} })`,
    code: ErrorCode.INVALID_ARG,
    misuse: async () => thrown(() => new LockManager({ capacity: bad as number })),
  })),
  ...([0, -1, 'x', 70_000] as const).map((bad): MisuseCase => ({
    name: `new LockManager({ maxKeyBytes: ${show(bad)} })`,
    code: ErrorCode.INVALID_ARG,
    misuse: async () => thrown(() => new LockManager({ capacity: 1, maxKeyBytes: bad as number })),
  })),
  ...([0, 2.5, 4097] as const).map((bad): MisuseCase => ({
    name: `new LockManager({ maxRequestsPerName: ${show(bad)} })`,
    code: ErrorCode.INVALID_ARG,
    misuse: async () => thrown(() => new LockManager({ capacity: 1, maxRequestsPerName: bad })),
  })),
  { name: 'new LockManager(null)', code: ErrorCode.INVALID_ARG, misuse: async () => thrown(() => new LockManager(null as never)) },
  {
    name: 'LockManager.byteLength({ capacity: 0 })',
    code: ErrorCode.INVALID_ARG,
    misuse: async () => thrown(() => LockManager.byteLength({ capacity: 0 })),
  },
  // The spec's errors (TypeError from the IDL conversions, NotSupportedError from its checks) carry sabre's code in their cause.
  { name: 'request(Symbol(), cb)', code: ErrorCode.INVALID_ARG, spec: 'TypeError', misuse: (lm) => req(lm, Symbol('s'), cb) },
  {
    name: 'request() and request(name): fewer than 2 arguments',
    code: ErrorCode.INVALID_ARG,
    spec: 'TypeError',
    misuse: async (lm) => (await req(lm)) && req(lm, 'n'),
  },
  {
    name: "request('-reserved', cb) (names starting with '-')",
    code: ErrorCode.INVALID_ARG,
    spec: 'NotSupportedError',
    misuse: (lm) => req(lm, '-reserved', cb),
  },
  {
    name: `request of a name of ${MAX_NAME / 2 + 1} code units (${MAX_NAME + 2} bytes in UTF-16)`,
    code: ErrorCode.INVALID_ARG,
    misuse: (lm) => req(lm, 'x'.repeat(MAX_NAME / 2 + 1), cb),
  },
  ...([undefined, 42, 'cb', {}] as const).flatMap((bad): MisuseCase[] => [
    { name: `request('n', ${show(bad)})`, code: ErrorCode.INVALID_ARG, spec: 'TypeError', misuse: (lm) => req(lm, 'n', bad) },
    { name: `request('n', {}, ${show(bad)})`, code: ErrorCode.INVALID_ARG, spec: 'TypeError', misuse: (lm) => req(lm, 'n', {}, bad) },
  ]),
  ...(['x', 42, true] as const).map((bad): MisuseCase => ({
    name: `request('n', ${show(bad)}, cb)`,
    code: ErrorCode.INVALID_ARG,
    spec: 'TypeError',
    misuse: (lm) => req(lm, 'n', bad, cb),
  })),
  ...(
    [
      [{ mode: 'read' }, 'TypeError'],
      [{ mode: 'EXCLUSIVE' }, 'TypeError'],
      [{ mode: null }, 'TypeError'],
      [{ signal: {} }, 'TypeError'],
      [{ signal: null }, 'TypeError'],
      [{ timeoutMs: -1 }, undefined],
      [{ timeoutMs: NaN }, undefined],
      [{ timeoutMs: '5' }, undefined],
      [{ steal: true, ifAvailable: true }, 'NotSupportedError'],
      [{ steal: true, mode: 'shared' }, 'NotSupportedError'],
      [{ signal: new AbortController().signal, steal: true }, 'NotSupportedError'],
      [{ signal: new AbortController().signal, ifAvailable: true }, 'NotSupportedError'],
      [{ timeoutMs: 10, steal: true }, undefined],
      [{ timeoutMs: 10, ifAvailable: true }, undefined],
      [{ ifAvaliable: true }, 'TypeError'],
      [{ timout: 10 }, 'TypeError'],
      [{ timeout: 10, timeoutMs: 10 }, 'TypeError'],
    ] as const
  ).map(([options, spec]): MisuseCase => ({
    name: `request('n', ${show(options)}, cb)`,
    code: ErrorCode.INVALID_ARG,
    spec,
    misuse: (lm) => req(lm, 'n', options, cb),
  })),
  {
    name: 'request of a bad name in a worker',
    code: ErrorCode.INVALID_ARG,
    misuse: (lm) => rejected(a.call('request', { lm: lm.handle, name: '-x' })),
  },
  {
    name: `request beyond maxRequestsPerName (${MAX_REQUESTS})`,
    code: ErrorCode.CAPACITY,
    misuse: async (lm) => {
      fill = Array.from({ length: MAX_REQUESTS }, () => holdHere(lm, 'full', { mode: 'shared' }));
      await Promise.all(fill.map((h) => h.whenGranted));
      return req(lm, 'full', { mode: 'shared' }, cb);
    },
    cleanup: releaseFill,
  },
  {
    name: 'request of a new name when every name is in use (capacity 2)',
    code: ErrorCode.CAPACITY,
    misuse: async (lm) => {
      fill = [holdHere(lm, 'c1'), holdHere(lm, 'c2')];
      await Promise.all(fill.map((h) => h.whenGranted));
      return req(lm, 'c3', cb);
    },
    cleanup: releaseFill,
  },
  {
    name: 'request of a new name in a worker when every name is in use',
    code: ErrorCode.CAPACITY,
    misuse: async (lm) => {
      fill = [holdHere(lm, 'c1'), holdHere(lm, 'c2')];
      await Promise.all(fill.map((h) => h.whenGranted));
      return rejected(b.call('request', { lm: lm.handle, name: 'c3' }));
    },
    cleanup: releaseFill,
  },
  ...forgedHandles<LockManager['handle']>('sabre.LeaseLock', [
    ['other capacity', (h) => ({ ...h, options: { ...h.options, capacity: 3 } })],
    ['other maxKeyBytes', (h) => ({ ...h, options: { ...h.options, maxKeyBytes: 64 } })],
    ['other maxRequestsPerName', (h) => ({ ...h, options: { ...h.options, maxRequestsPerName: 5 } })],
    ['bad capacity', (h) => ({ ...h, options: { ...h.options, capacity: -1 } })],
    ['an extra option', (h) => ({ ...h, options: { ...h.options, spin: 1 } })],
  ]).map(([what, forge]): MisuseCase => ({
    name: `LockManager.from of a handle with ${what}`,
    code: ErrorCode.HANDLE,
    misuse: async (lm) => thrown(() => LockManager.from(forge(lm.handle) as LockManager['handle'])),
  })),
  {
    name: 'a forged handle sent to a worker',
    code: ErrorCode.HANDLE,
    misuse: (lm) => rejected(a.call('request', { lm: { ...lm.handle, version: 9 }, name: 'n' })),
  },
];

describe('LockManager misuse', () => {
  const lm = new LockManager({ capacity: 2, maxKeyBytes: MAX_NAME, maxRequestsPerName: MAX_REQUESTS });
  it.each(misuseCases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const error = await c.misuse(lm);
    try {
      expectCode(error, c.code);
      if (c.spec === 'TypeError') expect(error).toBeInstanceOf(TypeError);
      if (c.spec === 'NotSupportedError')
        expect([error instanceof DOMException, (error as DOMException).name]).toEqual([true, 'NotSupportedError']);
    } finally {
      await c.cleanup?.(lm);
    }
    // Nothing was lost or left behind: nothing held or pending, and every thread can take the lock in both modes.
    await expectIdle(lm);
    expect(await lm.request('n', { ifAvailable: true }, (l) => l?.mode)).toBe('exclusive');
    expect(await lm.request('n', { mode: 'shared', timeoutMs: 1000 }, (l) => l?.mode)).toBe('shared');
    expect(await a.call('request', { lm: lm.handle, name: 'n', options: { timeoutMs: 5000 } })).toEqual({
      granted: true,
      ownerDied: false,
    });
    expect(await b.call('request', { lm: lm.handle, name: 'n', options: { mode: 'shared', timeoutMs: 5000 } })).toEqual({
      granted: true,
      ownerDied: false,
    });
    await expectIdle(lm);
  });
});

describe('LockManager: deprecated names', () => {
  it('maxNameBytes (option and property) is maxKeyBytes', async () => {
    const codes = await deprecationsDuring(() => {
      const lm = new LockManager({ capacity: 4, maxNameBytes: 16 });
      expect([lm.maxKeyBytes, lm.maxNameBytes]).toEqual([16, 16]);
      expect(lm.handle.byteLength).toBe(LockManager.byteLength({ capacity: 4, maxKeyBytes: 16 }));
    });
    expect(codes).toEqual(['SABRE_DEP_MAX_KEY_BYTES']);
  });

  it("request's timeout option is timeoutMs: it still times out, and warns once", async () => {
    const lm = new LockManager({ capacity: 4 });
    let release!: () => void;
    const held = lm.request('t', () => new Promise<void>((r) => (release = r)));
    const codes = await deprecationsDuring(async () => {
      expectCode(await rejected(lm.request('t', { timeout: 0 } as never, () => 'never')), ErrorCode.TIMEOUT);
      expectCode(await rejected(lm.request('t', { timeout: 1 } as never, () => 'never')), ErrorCode.TIMEOUT);
    });
    release();
    await held;
    expect(codes).toEqual(['SABRE_DEP_TIMEOUT']);
  });
});
