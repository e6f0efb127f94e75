import { afterEach, describe, expect, it, vi } from 'vitest';
import { LeaseLock, type LeaseLockHandle } from '../../src/lock/lease-lock.js';
import { FencedResource, type FencedResourceHandle } from '../../src/lock/fenced-resource.js';
import { ManualClock, systemClock } from '../../src/clock.js';
import { ErrorCode } from '../../src/errors.js';
import { resetDeprecationsForTesting } from '../../src/options/deprecate.js';
import { expectCode, rejected, thrown } from '../helpers/errors.js';
import { forgedHandles } from '../helpers/handles.js';
import { Remote } from '../threads/remote.js';
import { nextTurn } from '../helpers/wait.js';

const manual = () => {
  const clock = new ManualClock({ startMs: 1000 });
  return { clock, lock: new LeaseLock({ capacity: 8, clock }) };
};

const remotes: Remote[] = [];
afterEach(async () => {
  await Promise.all(remotes.splice(0).map((r) => r.stop()));
});
const worker = async (): Promise<Remote> => {
  const r = await Remote.start('lease');
  remotes.push(r);
  return r;
};

describe('LeaseLock', () => {
  it('one live lease per resource; release frees it; tokens increase', () => {
    const { lock } = manual();
    const a = lock.acquire('r', { ttlMs: 100 })!;
    expect(a).not.toBeNull();
    expect(a.expiresAt).toBe(1100);
    expect(a.isValid).toBe(true);
    expect(lock.acquire('r', { ttlMs: 100 })).toBeNull();
    expect(lock.holder('r')).toEqual({ threadId: expect.any(Number), fencingToken: a.fencingToken, expiresAt: 1100 });
    const other = lock.acquire('other', { ttlMs: 100 })!;
    a.release();
    expect(a.isValid).toBe(false);
    expect(lock.holder('r')).toBeUndefined();
    const b = lock.acquire('r', { ttlMs: 100 })!;
    expect(b.fencingToken).toBeGreaterThan(a.fencingToken);
    expect(b.fencingToken).toBeGreaterThan(other.fencingToken);
    expect(b.previousHolderDied).toBe(false);
  });

  it('an expired lease is free for the next acquirer, with no cleanup; the old holder can neither renew nor release', () => {
    const { clock, lock } = manual();
    const a = lock.acquire('r', { ttlMs: 100 })!;
    clock.advance(99);
    expect(lock.acquire('r', { ttlMs: 100 })).toBeNull();
    clock.advance(1); // exactly at expiresAt: lapsed
    expect(a.isValid).toBe(false);
    expectCode(() => a.renew(), ErrorCode.NOT_OWNER, /expired at 1100 ms \(the clock reads 1100 ms\)/);
    const b = lock.acquire('r', { ttlMs: 100 })!;
    expect(b.fencingToken).toBeGreaterThan(a.fencingToken);
    expectCode(() => a.release(), ErrorCode.NOT_OWNER, new RegExp(`now leased with token ${b.fencingToken}`));
    expectCode(() => a.renew(), ErrorCode.NOT_OWNER, /no longer held/);
    expect(b.isValid).toBe(true); // the old holder's errors changed nothing
    b.release();
  });

  it('renew extends from now, with the original or a new TTL', () => {
    const { clock, lock } = manual();
    const a = lock.acquire('r', { ttlMs: 100 })!;
    clock.advance(80);
    a.renew();
    expect(a.expiresAt).toBe(1180);
    clock.advance(50);
    a.renew(500);
    expect(a.expiresAt).toBe(1630);
    expect(lock.acquire('r', { ttlMs: 1 })).toBeNull();
  });

  it('release twice, or renew after release, is NotOwnerError; `using` releases once and ignores a lapsed lease', () => {
    const { clock, lock } = manual();
    const a = lock.acquire('r', { ttlMs: 100 })!;
    a.release();
    expectCode(() => a.release(), ErrorCode.NOT_OWNER, /already released/);
    expectCode(() => a.renew(), ErrorCode.NOT_OWNER, /already released/);
    {
      using b = lock.acquire('r', { ttlMs: 100 })!;
      expect(b.isValid).toBe(true);
    }
    expect(lock.holder('r')).toBeUndefined();
    {
      using c = lock.acquire('r', { ttlMs: 100 })!;
      clock.advance(200);
      expect(c.isValid).toBe(false);
    } // lapsed: disposing it does not throw
    expect(lock.acquire('r', { ttlMs: 100 })).not.toBeNull();
  });

  it('a lease is a guard: `using` and `await using` release it, and a null lease (the resource was held) is skipped', async () => {
    const { lock } = manual();
    {
      using held = lock.acquire('r', { ttlMs: 100 });
      expect(held).not.toBeNull();
      {
        using none = lock.acquire('r', { ttlMs: 100 }); // held: null, which `using` accepts
        expect(none).toBeNull();
      }
      expect(held!.isValid).toBe(true);
    }
    expect(lock.holder('r')).toBeUndefined();
    {
      await using viaAsync = await lock.acquireAsync('r', { ttlMs: 100, timeoutMs: 0 });
      expect(lock.holder('r')?.fencingToken).toBe(viaAsync!.fencingToken);
      await using none = await lock.acquireAsync('r', { ttlMs: 100, timeoutMs: 0 });
      expect(none).toBeNull();
    }
    expect(lock.holder('r')).toBeUndefined();
    const lease = lock.acquire('r', { ttlMs: 100 })!;
    lease.release();
    await lease[Symbol.asyncDispose](); // released already: nothing to do, nothing thrown
    expect(lock.acquire('r', { ttlMs: 100 })).not.toBeNull();
  });

  it('acquireAsync waits for a release, then for an expiry; resolves null at its timeout; rejects on abort', async () => {
    const lock = new LeaseLock({ capacity: 8 });
    const a = lock.acquire('r', { ttlMs: 10_000 })!;
    void nextTurn().then(() => a.release()); // once the acquireAsync below waits
    const b = await lock.acquireAsync('r', { ttlMs: 60 });
    expect(b!.fencingToken).toBeGreaterThan(a.fencingToken);
    const bExpiresAt = b!.expiresAt;
    const c = await lock.acquireAsync('r', { ttlMs: 10_000 }); // b lapses after 60 ms
    expect(c).not.toBeNull();
    expect(systemClock.now()).toBeGreaterThanOrEqual(bExpiresAt); // granted only once b had lapsed
    expect(await lock.acquireAsync('r', { ttlMs: 100, timeoutMs: 20 })).toBeNull();
    const controller = new AbortController();
    void nextTurn().then(() => controller.abort()); // once the acquireAsync below waits
    expectCode(await rejected(lock.acquireAsync('r', { ttlMs: 100, signal: controller.signal })), ErrorCode.ABORTED);
    c!.release();
  });

  it('sync acquire with a timeout waits for a release by another thread', async () => {
    const lock = new LeaseLock({ capacity: 8 });
    const w = await worker();
    const token = await w.call<number>('acquire', { lock: lock.handle, resource: 'r', ttlMs: 10_000 });
    expect(lock.acquire('r', { ttlMs: 100 })).toBeNull();
    // The request is posted at once; main then blocks in acquire until the worker's release wakes it.
    const released = w.call('release', { token });
    const lease = lock.acquire('r', { ttlMs: 100, timeoutMs: 2000 });
    await released;
    expect(lease).not.toBeNull();
    expect(lease!.fencingToken).toBeGreaterThan(token);
  });

  it('a holder thread that dies frees its lease at once, and the next holder is told', async () => {
    const lock = new LeaseLock({ capacity: 8 });
    const w = await worker();
    await w.call('acquire', { lock: lock.handle, resource: 'r', ttlMs: 60_000 });
    expect(lock.acquire('r', { ttlMs: 100 })).toBeNull();
    const waiting = lock.acquireAsync('r', { ttlMs: 100, timeoutMs: 5000 });
    const stopped = systemClock.now();
    await w.stop();
    const lease = await waiting;
    expect(lease).not.toBeNull();
    expect(lease!.previousHolderDied).toBe(true);
    expect(systemClock.now() - stopped).toBeLessThan(1000);
  });

  it('reopens from its handle with its ManualClock, in another thread', async () => {
    const { clock, lock } = manual();
    const again = LeaseLock.from(structuredClone(lock.handle));
    const a = again.acquire('r', { ttlMs: 100 })!;
    expect(lock.acquire('r', { ttlMs: 100 })).toBeNull();
    const w = await worker();
    expect(await w.call('acquire', { lock: lock.handle, resource: 'r', ttlMs: 100 })).toBeNull();
    clock.advance(100);
    expect(await w.call<number>('acquire', { lock: lock.handle, resource: 'r', ttlMs: 100 })).toBeGreaterThan(a.fencingToken);
  });

  it('expired leases make room when the table is full; live ones do not', () => {
    const clock = new ManualClock();
    const lock = new LeaseLock({ capacity: 4, clock });
    for (let i = 0; i < 4; i++) lock.acquire(`r${i}`, { ttlMs: 10 * (i + 1) });
    expectCode(() => lock.acquire('new', { ttlMs: 10 }), ErrorCode.CAPACITY, /all 4 leases are live/);
    clock.advance(10); // r0 lapses
    expect(lock.acquire('new', { ttlMs: 100 })).not.toBeNull();
    expect(lock.holder('r1')).toBeDefined();
  });

  describe('misuse: a typed error, and nothing held is lost', () => {
    it.each([
      ['a zero TTL', { ttlMs: 0 }, ErrorCode.INVALID_ARG, /ttlMs must be a finite number of milliseconds > 0, got 0/],
      ['a negative TTL', { ttlMs: -5 }, ErrorCode.INVALID_ARG, /got -5/],
      ['a NaN TTL', { ttlMs: NaN }, ErrorCode.INVALID_ARG, /got NaN/],
      ['an infinite TTL', { ttlMs: Infinity }, ErrorCode.INVALID_ARG, /got Infinity/],
      ['no options', undefined, ErrorCode.INVALID_ARG, /ttlMs/],
      [
        'a negative timeoutMs',
        { ttlMs: 10, timeoutMs: -1 },
        ErrorCode.INVALID_ARG,
        /timeoutMs must be a number of milliseconds >= 0 \(or Infinity\), got -1/,
      ],
      [
        'a misspelled option',
        { ttlMs: 10, timeoutMS: 5 },
        ErrorCode.INVALID_ARG,
        /leaseLock\.acquire\(resource, options\): unknown option "timeoutMS"; did you mean "timeoutMs"\?/,
      ],
      ['a misspelled TTL', { ttl: 10 }, ErrorCode.INVALID_ARG, /unknown option "ttl"; did you mean "ttlMs"\?/],
      [
        'a signal (only acquireAsync takes one)',
        { ttlMs: 10, signal: new AbortController().signal },
        ErrorCode.INVALID_ARG,
        /unknown option "signal" \(the options are "ttlMs", "timeoutMs"\)/,
      ],
    ])('acquire with %s', (_n, options, code, message) => {
      const { lock } = manual();
      const held = lock.acquire('held', { ttlMs: 100 })!;
      expectCode(() => lock.acquire('r', options as never), code, message);
      expect(lock.holder('r')).toBeUndefined();
      expect(held.isValid).toBe(true);
      expect(lock.acquire('r', { ttlMs: 10 })).not.toBeNull();
    });

    it('acquireAsync refuses bad options with a rejected promise, naming the option', async () => {
      const { lock } = manual();
      expectCode(
        await rejected(lock.acquireAsync('r', { ttlMs: 10, signl: new AbortController().signal } as never)),
        ErrorCode.INVALID_ARG,
        /leaseLock\.acquireAsync\(resource, options\): unknown option "signl"; did you mean "signal"\?/,
      );
      expectCode(
        await rejected(lock.acquireAsync('r', { ttlMs: 10, signal: {} as never })),
        ErrorCode.INVALID_ARG,
        /signal must be an AbortSignal/,
      );
      expectCode(await rejected(lock.acquireAsync('r', { ttlMs: 10, timeoutMs: NaN })), ErrorCode.INVALID_ARG, /timeoutMs .*got NaN/);
      expect(lock.holder('r')).toBeUndefined();
    });

    it('a resource name too long, or not a string or bytes', () => {
      const lock = new LeaseLock({ capacity: 4, maxKeyBytes: 8 });
      expectCode(() => lock.acquire('x'.repeat(9), { ttlMs: 10 }), ErrorCode.INVALID_ARG, /key is too long: 9 bytes/);
      expectCode(() => lock.acquire(7 as never, { ttlMs: 10 }), ErrorCode.INVALID_ARG, /string or a Uint8Array/);
      expect(lock.acquire('x'.repeat(8), { ttlMs: 10 })).not.toBeNull();
    });

    it('renew with a bad TTL leaves the lease as it was', () => {
      const { lock } = manual();
      const a = lock.acquire('r', { ttlMs: 100 })!;
      expectCode(() => a.renew(-1), ErrorCode.INVALID_ARG, /ttlMs must be a finite number of milliseconds > 0, got -1/);
      expectCode(
        () => a.renew({ ttlMs: 10 } as never),
        ErrorCode.INVALID_ARG,
        /ttlMs must be a finite number of milliseconds > 0, got an object/,
      );
      expect(a.expiresAt).toBe(1100);
      expect(a.isValid).toBe(true);
    });

    it.each([
      ['capacity 0', { capacity: 0 }, /capacity/],
      ['a clock that cannot be shared', { capacity: 4, clock: { now: () => 0 } }, /systemClock or a ManualClock/],
      ['maxKeyBytes 0', { capacity: 4, maxKeyBytes: 0 }, /maxKeyBytes must be an integer in \[1, 65535\], got 0/],
      [
        'a misspelled option',
        { capacity: 4, maxKeyByte: 8 },
        /new LeaseLock\(options\): unknown option "maxKeyByte"; did you mean "maxKeyBytes"\?/,
      ],
      [
        'the old and the new key limit together',
        { capacity: 4, maxKeyBytes: 8, maxResourceBytes: 8 },
        /"maxResourceBytes" is the old name of "maxKeyBytes"/,
      ],
    ])('the constructor refuses %s', (_n, o, message) => {
      expectCode(() => new LeaseLock(o), ErrorCode.INVALID_ARG, message);
    });

    it.each(
      forgedHandles<LeaseLockHandle>('sabre.Mutex', [
        ['other options', (h) => ({ ...h, options: { ...h.options, capacity: 9 } })],
        ['a forged clock', (h) => ({ ...h, options: { ...h.options, clock: { kind: 'sabre.ManualClock' } } })],
        [
          'the old key-limit name',
          (h) => ({ ...h, options: { capacity: h.options.capacity, maxResourceBytes: h.options.maxKeyBytes, clock: h.options.clock } }),
        ],
      ]),
    )('from() refuses %s', (_n, forge) => {
      const { lock } = manual();
      expectCode(
        thrown(() => LeaseLock.from(forge(lock.handle) as LeaseLockHandle)),
        ErrorCode.HANDLE,
      );
    });
  });
});

describe('LeaseLock deprecated names', () => {
  afterEach(() => {
    vi.restoreAllMocks();
    resetDeprecationsForTesting();
  });
  const warnings = () => vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
  const codes = (warn: ReturnType<typeof warnings>) => warn.mock.calls.map((c) => c[1]?.code);

  it('maxResourceBytes still sets maxKeyBytes, the same lock as with the new name, and warns once (SABRE_DEP_MAX_KEY_BYTES)', () => {
    const warn = warnings();
    const old = new LeaseLock({ capacity: 4, maxResourceBytes: 8 });
    const again = new LeaseLock({ capacity: 4, maxResourceBytes: 8 });
    const renamed = new LeaseLock({ capacity: 4, maxKeyBytes: 8 });
    expect(old.handle.options).toEqual(renamed.handle.options);
    expect(again.handle.byteLength).toBe(renamed.handle.byteLength);
    expect(LeaseLock.byteLength({ capacity: 4, maxResourceBytes: 8 })).toBe(LeaseLock.byteLength({ capacity: 4, maxKeyBytes: 8 }));
    expectCode(() => old.acquire('x'.repeat(9), { ttlMs: 10 }), ErrorCode.INVALID_ARG, /key is too long: 9 bytes/);
    expect(old.acquire('x'.repeat(8), { ttlMs: 10 })).not.toBeNull();
    expect(codes(warn)).toEqual(['SABRE_DEP_MAX_KEY_BYTES']);
    expect(String(warn.mock.calls[0]![0])).toMatch(/maxKeyBytes.*new LeaseLock\(options\)/);
  });

  it('acquire and acquireAsync still take `timeout`, with the same result as `timeoutMs`, and warn once (SABRE_DEP_TIMEOUT)', async () => {
    const warn = warnings();
    const { lock } = manual();
    const held = lock.acquire('r', { ttlMs: 100, timeout: 0 })!;
    expect(held).not.toBeNull();
    expect(lock.acquire('r', { ttlMs: 100, timeout: 0 })).toBeNull();
    expect(lock.acquire('r', { ttlMs: 100, timeout: 1 })).toBeNull(); // waited 1 ms, as timeoutMs: 1 does
    expect(await lock.acquireAsync('r', { ttlMs: 100, timeout: 1 })).toBeNull();
    expectCode(
      () => lock.acquire('r', { ttlMs: 100, timeout: 1, timeoutMs: 1 }),
      ErrorCode.INVALID_ARG,
      /"timeout" is the old name of "timeoutMs"; give only "timeoutMs"/,
    );
    held.release();
    expect(await lock.acquireAsync('r', { ttlMs: 100, timeout: 1000 })).not.toBeNull();
    expect(codes(warn)).toEqual(['SABRE_DEP_TIMEOUT']);
  });
});

describe('FencedResource (LeaseLock.guard)', () => {
  it('refuses a write whose token is older than the last writer’s, and keeps the newer value', () => {
    const { clock, lock } = manual();
    const data = LeaseLock.guard<{ balance: number }>({ capacity: 8, maxKeyBytes: 16, maxValueBytes: 64, codec: 'json' });
    const stalled = lock.acquire('acct', { ttlMs: 100 })!;
    data.write('acct', stalled.fencingToken, { balance: 100 });
    clock.advance(150); // the holder stalls past its TTL
    const next = lock.acquire('acct', { ttlMs: 100 })!;
    data.write('acct', next.fencingToken, { balance: 70 });
    data.write('acct', next.fencingToken, { balance: 60 }); // the same holder may write again
    const e = expectCode(
      () => data.write('acct', stalled.fencingToken, { balance: 0 }),
      ErrorCode.CONFLICT,
      new RegExp(`stale fencing token ${stalled.fencingToken} for "acct": a holder with token ${next.fencingToken} has written`),
    );
    expect(e).toBeDefined();
    expect(data.read('acct')).toEqual({ value: { balance: 60 }, token: next.fencingToken });
    expect(data.read('other')).toBeUndefined();
  });

  it('refuses a misspelled option, in the constructor and in from(handle, options), naming the option meant', () => {
    expectCode(
      () => new FencedResource({ capacity: 4, maxKeyBytes: 8, maxValueByte: 4 } as never),
      ErrorCode.INVALID_ARG,
      /new FencedResource\(options\): unknown option "maxValueByte"; did you mean "maxValueBytes"\?/,
    );
    expectCode(() => LeaseLock.guard({ capacity: 4, maxKeyBytes: 8 } as never), ErrorCode.INVALID_ARG, /maxValueBytes is required/);
    const data = new FencedResource<string>({ capacity: 4, maxKeyBytes: 8, maxValueBytes: 4, codec: 'string' });
    expectCode(
      () => FencedResource.from(data.handle, { codex: 'string' } as never),
      ErrorCode.INVALID_ARG,
      /FencedResource\.from\(handle, options\): unknown option "codex"; did you mean "codec"\?/,
    );
    expectCode(
      () => FencedResource.from(data.handle, { capacity: 4 } as never),
      ErrorCode.INVALID_ARG,
      /option "capacity" comes from the handle/,
    );
    expect(FencedResource.byteLength({ capacity: 4, maxKeyBytes: 8, maxValueBytes: 4 })).toBe(data.handle.byteLength);
  });

  it('reopens from its handle; refuses bad tokens and values without a change', () => {
    const data = new FencedResource<string>({ capacity: 4, maxKeyBytes: 8, maxValueBytes: 4, codec: 'string' });
    data.write('k', 3, 'abc');
    const again = FencedResource.from<string>(structuredClone<FencedResourceHandle>(data.handle));
    expect(again.read('k')).toEqual({ value: 'abc', token: 3 });
    expectCode(() => again.write('k', -1, 'x'), ErrorCode.INVALID_ARG, /token must be a fencing token/);
    expectCode(() => again.write('k', 1.5, 'x'), ErrorCode.INVALID_ARG);
    expectCode(() => again.write('k', 9, 'toolong'), ErrorCode.INVALID_ARG, /maxValueBytes \(4\)/);
    expectCode(() => again.write('k', 9, 42 as never), ErrorCode.INVALID_ARG, /'string' codec/);
    expect(data.read('k')).toEqual({ value: 'abc', token: 3 });
  });
});
