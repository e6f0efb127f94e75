import { threadId } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, type ErrorCode as Code } from '../../src/errors.js';
import { RWLock, RWLockGuard } from '../../src/sync/rwlock.js';
import { SharedArena } from '../../src/memory/arena.js';
import { reopen } from '../../src/integrations/kinds.js';
import { INSIDE, MAX_INSIDE, FIXTURE_MARK, VIOLATIONS, WRITERS_INSIDE } from '../../workers/fixtures/rwlock-condition.js';
import { Remote } from '../threads/remote.js';
import { expectCode, rejected, thrown } from '../helpers/errors.js';
import { forgedHandles } from '../helpers/handles.js';
import { nextTurn, until } from '../helpers/wait.js';

const cell = () => new Int32Array(new SharedArrayBuffer(32));

let a: Remote;
let b: Remote;
beforeAll(async () => {
  [a, b] = await Promise.all([
    Remote.start('rwlock-condition', { workerData: { mark: FIXTURE_MARK } }),
    Remote.start('rwlock-condition', { workerData: { mark: FIXTURE_MARK } }),
  ]);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
});

/** The lock is free in every mode and healthy. */
function expectFree(l: RWLock): void {
  expect(l.isWriteLocked).toBe(false);
  expect(l.isWriterWaiting).toBe(false);
  expect(l.readerCount).toBe(0);
  expect(l.isPoisoned).toBe(false);
}

describe('RWLock behaviour', () => {
  it('reads share and nest in one thread; the write lock excludes; downgrade works', () => {
    const l = new RWLock();
    expectFree(l);
    l.readLock();
    expect(l.tryReadLock()).toBe(true); // reentrant
    expect(l.readHoldCount).toBe(2);
    expect(l.readerCount).toBe(2);
    expect(l.tryWriteLock()).toBe(false);
    l.readUnlock();
    l.readUnlock();
    expect(l.readHoldCount).toBe(0);
    expect(l.tryWriteLock()).toBe(true);
    expect(l.isWriteLocked).toBe(true);
    expect(l.writerThreadId).toBe(threadId);
    expect(l.tryWriteLock()).toBe(false);
    // Downgrade: a writer may read, then release the write lock and keep reading.
    l.readLock();
    l.writeUnlock();
    expect(l.isWriteLocked).toBe(false);
    expect(l.readHoldCount).toBe(1);
    l.readUnlock();
    expectFree(l);
  });

  it('readers of different threads share; a writer waits for them and times out', async () => {
    const l = new RWLock();
    await a.call('readLock', { lock: l.handle });
    expect(l.tryReadLock()).toBe(true);
    expect(l.readerCount).toBe(2);
    l.readUnlock();
    expect(l.tryWriteLock()).toBe(false);
    expectCode(
      thrown(() => l.writeLock(0)),
      ErrorCode.TIMEOUT,
    );
    expectCode(
      thrown(() => l.writeLock(30)),
      ErrorCode.TIMEOUT,
    );
    expectCode(await rejected(l.writeLockAsync({ timeoutMs: 30 })), ErrorCode.TIMEOUT);
    expectCode(await rejected(b.call('writeLock', { lock: l.handle, options: 30 })), ErrorCode.TIMEOUT);
    // A writer that gave up withdrew: readers are let in again.
    expect(l.isWriterWaiting).toBe(false);
    expect(l.tryReadLock()).toBe(true);
    l.readUnlock();
    await a.call('readUnlock', { lock: l.handle });
    l.writeLock(1000);
    l.writeUnlock();
    expectFree(l);
  });

  it('a writer of another thread excludes readers and writers until it unlocks', async () => {
    const l = new RWLock();
    await a.call('writeLock', { lock: l.handle });
    expect(l.isWriteLocked).toBe(true);
    expect(l.writerThreadId).toBe(a.threadId);
    expect(l.tryReadLock()).toBe(false);
    expect(l.tryWriteLock()).toBe(false);
    expectCode(
      thrown(() => l.readLock(30)),
      ErrorCode.TIMEOUT,
    );
    expectCode(await rejected(l.readLockAsync({ timeoutMs: 30 })), ErrorCode.TIMEOUT);
    expectCode(await rejected(b.call('readLock', { lock: l.handle, options: 30 })), ErrorCode.TIMEOUT);
    let got = false;
    const reading = l.readLockAsync({ timeoutMs: 10_000 }).then(() => (got = true));
    await until(() => l.hasParkedWaiters, { what: 'the reader waits' });
    expect(got).toBe(false);
    await a.call('writeUnlock', { lock: l.handle });
    await reading;
    expect(l.readHoldCount).toBe(1);
    l.readUnlock();
    expectFree(l);
  });

  it('a waiting writer blocks new readers (writers are not starved), and gets in when the old readers leave', async () => {
    const l = new RWLock();
    await a.call('readLock', { lock: l.handle });
    const writing = b.call('writeLock', { lock: l.handle, options: 10_000 });
    await until(() => l.isWriterWaiting);
    expect(l.writerThreadId).toBe(b.threadId);
    // New readers, sync and async, in this thread and another, wait behind it.
    expect(l.tryReadLock()).toBe(false);
    expectCode(
      thrown(() => l.readLock(30)),
      ErrorCode.TIMEOUT,
    );
    let read = false;
    const reading = l.readLockAsync({ timeoutMs: 10_000 }).then(() => (read = true));
    await until(() => l.hasParkedWaiters, { what: 'the reader waits' });
    expect(read).toBe(false);
    // ...but the reader inside may re-enter (reentrant) and leave.
    await a.call('readUnlock', { lock: l.handle });
    await writing;
    expect(l.isWriteLocked).toBe(true);
    expect(read).toBe(false);
    await b.call('writeUnlock', { lock: l.handle });
    await reading;
    l.readUnlock();
    expectFree(l);
  });

  it('a reader inside may re-enter while a writer waits (read holds are per thread)', async () => {
    const l = new RWLock();
    l.readLock();
    const writing = a.call('writeLock', { lock: l.handle, options: 10_000 });
    await until(() => l.isWriterWaiting);
    l.readLock(1000); // would deadlock if the waiting writer shut this thread out
    l.readUnlock();
    l.readUnlock();
    await writing;
    await a.call('writeUnlock', { lock: l.handle });
    expectFree(l);
  });

  it('aborting a waiting writeLockAsync withdraws it: readers get in again; an aborted readLockAsync rejects', async () => {
    const l = new RWLock();
    await a.call('readLock', { lock: l.handle });
    const controller = new AbortController();
    const writing = l.writeLockAsync({ signal: controller.signal });
    await until(() => l.isWriterWaiting);
    expect(await b.call('tryReadLock', { lock: l.handle })).toBe(false);
    controller.abort();
    expectCode(await rejected(writing), ErrorCode.ABORTED);
    expect(l.isWriterWaiting).toBe(false);
    expect(await b.call('tryReadLock', { lock: l.handle })).toBe(true);
    await b.call('readUnlock', { lock: l.handle });
    await a.call('readUnlock', { lock: l.handle });
    await a.call('writeLock', { lock: l.handle });
    expectCode(await rejected(l.readLockAsync({ signal: AbortSignal.abort() })), ErrorCode.ABORTED);
    const c2 = new AbortController();
    const reading = l.readLockAsync({ signal: c2.signal });
    await until(() => l.hasParkedWaiters, { what: 'the reader waits' });
    c2.abort();
    expectCode(await rejected(reading), ErrorCode.ABORTED);
    expect(l.readHoldCount).toBe(0);
    await a.call('writeUnlock', { lock: l.handle });
    expectFree(l);
  });

  it('guards release with using / await using, also when the scope throws', async () => {
    const l = new RWLock();
    {
      using guard = l.acquireRead();
      expect(guard).toBeInstanceOf(RWLockGuard);
      expect(guard.mode).toBe('read');
      expect(l.readHoldCount).toBe(1);
    }
    expect(l.readHoldCount).toBe(0);
    {
      using _w = l.acquireWrite(1000);
      expect(l.isWriteLocked).toBe(true);
    }
    expect(l.isWriteLocked).toBe(false);
    expect(
      thrown(() => {
        using _w = l.acquireWrite();
        throw new Error('inside');
      }),
    ).toHaveProperty('message', 'inside');
    {
      await using _r = await l.acquireReadAsync();
      await using _r2 = await l.acquireReadAsync({ timeoutMs: 1000 });
      expect(l.readHoldCount).toBe(2);
    }
    {
      await using _w = await l.acquireWriteAsync();
      expect(l.isWriteLocked).toBe(true);
    }
    const g = l.acquireWrite();
    g.release();
    g.release(); // once
    expectFree(l);
  });

  it('runRead runs sections together, runWrite one at a time; both release after a throw', async () => {
    const l = new RWLock();
    let readers = 0,
      maxReaders = 0,
      writers = 0,
      maxWriters = 0;
    const read = async () => {
      readers++;
      maxReaders = Math.max(maxReaders, readers);
      await nextTurn(); // spans a macrotask: other sections could enter meanwhile
      readers--;
      return 'r';
    };
    const write = async () => {
      writers++;
      maxWriters = Math.max(maxWriters, writers);
      if (readers !== 0) throw new Error('a writer ran beside readers');
      await nextTurn();
      writers--;
      return 'w';
    };
    expect(await l.runRead(() => 'sync')).toBe('sync');
    expect(await l.runWrite(() => 'sync')).toBe('sync');
    const results = await Promise.all([l.runRead(read), l.runRead(read), l.runRead(read)]);
    expect(results).toEqual(['r', 'r', 'r']);
    expect(maxReaders).toBe(3);
    expect(await Promise.all([l.runWrite(write), l.runWrite(write), l.runWrite(write)])).toEqual(['w', 'w', 'w']);
    expect(maxWriters).toBe(1);
    expect(
      await rejected(
        l.runRead(() => {
          throw new Error('r');
        }),
      ),
    ).toHaveProperty('message', 'r');
    expect(
      await rejected(
        l.runWrite(async () => {
          throw new Error('w');
        }),
      ),
    ).toHaveProperty('message', 'w');
    expectCode(await rejected(l.runRead(42 as unknown as () => number)), ErrorCode.INVALID_ARG);
    expectFree(l);
    // While a worker writes, runRead waits for it.
    await a.call('writeLock', { lock: l.handle });
    let ran = false;
    const p = l.runRead(() => (ran = true));
    await until(() => l.hasParkedWaiters, { what: 'runRead waits' });
    expect(ran).toBe(false);
    await a.call('writeUnlock', { lock: l.handle });
    await p;
    expect(ran).toBe(true);
    expectFree(l);
  });

  it('runRead and runWrite never call fn inside the call, free lock or not (no Zalgo)', async () => {
    const l = new RWLock();
    const log: string[] = [];
    const read = l.runRead(() => log.push('read'));
    expect(l.readHoldCount).toBe(1); // taken now...
    log.push('returned');
    expect(log).toEqual(['returned']); // ...fn later
    await read;
    const write = l.runWrite(() => log.push('write'));
    expect(l.isWriteLocked).toBe(true);
    log.push('returned again');
    expect(log).toEqual(['returned', 'read', 'returned again']);
    await write;
    expect(log).toEqual(['returned', 'read', 'returned again', 'write']);
    expectFree(l);
  });

  it('lives in an arena, re-opens from its handle, and reports its size', () => {
    const arena = new SharedArena({ byteLength: 64 * 1024 });
    const l = new RWLock({ arena, maxThreads: 8 });
    expect(RWLock.byteLength({ maxThreads: 8 })).toBe(l.handle.byteLength);
    expect(RWLock.byteLength()).toBeGreaterThan(64 * 128);
    const again = RWLock.from(l.handle);
    again.readLock();
    expect(l.readHoldCount).toBe(1); // one slot per thread, whichever instance claimed it
    l.readUnlock();
    expectFree(again);
    expect(reopen(l.handle)).toBeInstanceOf(RWLock); // registered: crosses Comlink and Piscina as a live lock
  });

  it('real workers: readers overlap, and a writer excludes them', async () => {
    const l = new RWLock();
    const shared = cell();
    // Each reader's first section stays (up to 5 s) until both are inside: the
    // overlap then proves the lock shares, whichever worker got its request late.
    const reads = { lock: l.handle, cell: shared, times: 25, ms: 10, meet: 2 };
    await Promise.all([a.call('reads', reads), b.call('reads', reads)]);
    expect(shared[MAX_INSIDE]).toBeGreaterThanOrEqual(2);
    expect(shared[VIOLATIONS]).toBe(0);
    const mixed = cell();
    await Promise.all([
      a.call('reads', { lock: l.handle, cell: mixed, times: 3000, ms: 0 }),
      b.call('writes', { lock: l.handle, cell: mixed, times: 1000, ms: 0 }),
    ]);
    expect(mixed[VIOLATIONS]).toBe(0);
    expect(mixed[INSIDE]).toBe(0);
    expect(mixed[WRITERS_INSIDE]).toBe(0);
    expectFree(l);
  });

  it("CapacityError when more threads read than maxThreads; a dead reader's slot is reused", async () => {
    const l = new RWLock({ maxThreads: 1 });
    const w = await Remote.start('rwlock-condition', { workerData: { mark: FIXTURE_MARK } });
    await w.call('readLock', { lock: l.handle });
    expectCode(
      thrown(() => l.readLock()),
      ErrorCode.CAPACITY,
    );
    await w.stop();
    l.readLock(1000); // the dead worker's slot is reclaimed (and its read hold returned)
    l.readUnlock();
    expectFree(l);
  });
});

/*
 * Misuse table: each case provokes one misuse and must fail with its code;
 * afterwards the lock must be free, unpoisoned and usable by every thread.
 */
interface MisuseCase {
  readonly name: string;
  readonly code: Code;
  misuse(l: RWLock): Promise<unknown>;
  cleanup?(l: RWLock): Promise<void> | void;
}
const handleOf = (l: RWLock) => ({ lock: l.handle });

const misuseCases: MisuseCase[] = [
  { name: 'readUnlock without a read lock (main)', code: ErrorCode.NOT_OWNER, misuse: async (l) => thrown(() => l.readUnlock()) },
  {
    name: 'readUnlock without a read lock (worker)',
    code: ErrorCode.NOT_OWNER,
    misuse: (l) => rejected(a.call('readUnlock', handleOf(l))),
  },
  {
    name: 'readUnlock by a worker while main reads',
    code: ErrorCode.NOT_OWNER,
    misuse: async (l) => (l.readLock(), rejected(a.call('readUnlock', handleOf(l)))),
    cleanup: (l) => l.readUnlock(),
  },
  {
    name: 'readUnlock while holding only the write lock',
    code: ErrorCode.NOT_OWNER,
    misuse: async (l) => (l.writeLock(), thrown(() => l.readUnlock())),
    cleanup: (l) => l.writeUnlock(),
  },
  { name: 'writeUnlock of an unlocked RWLock', code: ErrorCode.NOT_OWNER, misuse: async (l) => thrown(() => l.writeUnlock()) },
  {
    name: 'writeUnlock by main while a worker writes',
    code: ErrorCode.NOT_OWNER,
    misuse: async (l) => (await a.call('writeLock', handleOf(l)), thrown(() => l.writeUnlock())),
    cleanup: async (l) => {
      await a.call('writeUnlock', handleOf(l));
    },
  },
  {
    name: 'writeUnlock by a worker while main writes',
    code: ErrorCode.NOT_OWNER,
    misuse: async (l) => (l.writeLock(), rejected(a.call('writeUnlock', handleOf(l)))),
    cleanup: (l) => l.writeUnlock(),
  },
  {
    name: 'writeUnlock while holding only a read lock',
    code: ErrorCode.NOT_OWNER,
    misuse: async (l) => (l.readLock(), thrown(() => l.writeUnlock())),
    cleanup: (l) => l.readUnlock(),
  },
  {
    name: 'writeLock by the writer',
    code: ErrorCode.DEADLOCK,
    misuse: async (l) => (l.writeLock(), thrown(() => l.writeLock())),
    cleanup: (l) => l.writeUnlock(),
  },
  {
    name: 'writeLock by the writer, with a timeout, in a worker',
    code: ErrorCode.DEADLOCK,
    misuse: async (l) => (await a.call('writeLock', handleOf(l)), rejected(a.call('writeLock', { lock: l.handle, options: 50 }))),
    cleanup: async (l) => {
      await a.call('writeUnlock', handleOf(l));
    },
  },
  {
    name: 'writeLock by a reader (upgrade), lock free otherwise',
    code: ErrorCode.DEADLOCK,
    misuse: async (l) => (l.readLock(), thrown(() => l.writeLock())),
    cleanup: (l) => l.readUnlock(),
  },
  {
    name: 'writeLock by a reader (upgrade) while another thread reads too',
    code: ErrorCode.DEADLOCK,
    misuse: async (l) => (await a.call('readLock', handleOf(l)), l.readLock(), thrown(() => l.writeLock(1000))),
    cleanup: async (l) => {
      l.readUnlock();
      await a.call('readUnlock', handleOf(l));
    },
  },
  {
    name: 'writeLock by a reader (upgrade) while another thread writes',
    code: ErrorCode.DEADLOCK,
    misuse: async (l) => {
      l.readLock();
      const waiting = a.call('writeLock', { lock: l.handle, options: 10_000 });
      await until(() => l.isWriterWaiting);
      const e = thrown(() => l.writeLock(1000));
      l.readUnlock();
      await waiting;
      return e;
    },
    cleanup: async (l) => {
      await a.call('writeUnlock', handleOf(l));
    },
  },
  {
    name: 'writeLock by a reader (upgrade), in a worker',
    code: ErrorCode.DEADLOCK,
    misuse: async (l) => (await a.call('readLock', handleOf(l)), rejected(a.call('writeLock', handleOf(l)))),
    cleanup: async (l) => {
      await a.call('readUnlock', handleOf(l));
    },
  },
  ...([NaN, -1, -Infinity, 'x', { timeoutMs: NaN }, { timeoutMs: -5 }, { timout: 1 }, null] as const).flatMap((bad): MisuseCase[] => [
    {
      name: `readLock(${JSON.stringify(bad)}) while a worker writes`,
      code: ErrorCode.INVALID_ARG,
      misuse: async (l) => (await a.call('writeLock', handleOf(l)), thrown(() => l.readLock(bad as unknown as number))),
      cleanup: async (l) => {
        await a.call('writeUnlock', handleOf(l));
      },
    },
    {
      name: `writeLock(${JSON.stringify(bad)}) on a free lock`,
      code: ErrorCode.INVALID_ARG,
      misuse: async (l) => thrown(() => l.writeLock(bad as unknown as number)),
    },
  ]),
  ...([NaN, -1, 'x'] as const).map((bad): MisuseCase => ({
    name: `readLockAsync / writeLockAsync / runRead({ timeoutMs: ${JSON.stringify(bad)} })`,
    code: ErrorCode.INVALID_ARG,
    misuse: async (l) => {
      const options = { timeoutMs: bad as unknown as number };
      expectCode(await rejected(l.writeLockAsync(options)), ErrorCode.INVALID_ARG);
      expectCode(await rejected(l.runRead(() => 1, options)), ErrorCode.INVALID_ARG);
      return rejected(l.readLockAsync(options));
    },
  })),
  ...([0, -1, 1.5, 5000, 'x'] as const).map((bad): MisuseCase => ({
    name: `new RWLock({ maxThreads: ${JSON.stringify(bad)} })`,
    code: ErrorCode.INVALID_ARG,
    misuse: async () => thrown(() => new RWLock({ maxThreads: bad as unknown as number })),
  })),
  ...forgedHandles<RWLock['handle']>('sabre.Mutex', [
    ['other options', (h) => ({ ...h, options: { maxThreads: 8 } })],
    ['extra options', (h) => ({ ...h, options: { ...h.options, spin: 1 } })],
  ]).map(([what, forge]): MisuseCase => ({
    name: `RWLock.from of a handle with ${what}`,
    code: ErrorCode.HANDLE,
    misuse: async (l) => thrown(() => RWLock.from(forge(l.handle) as RWLock['handle'])),
  })),
];

describe('RWLock misuse', () => {
  const l = new RWLock();
  it.each(misuseCases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const error = await c.misuse(l);
    try {
      expectCode(error, c.code);
    } finally {
      await c.cleanup?.(l);
    }
    expectFree(l);
    await a.call('readWrite', { lock: l.handle, options: 5000 });
    await b.call('readWrite', { lock: l.handle, options: 5000 });
    l.readLock(5000);
    l.readUnlock();
    l.writeLock(5000);
    l.writeUnlock();
    expectFree(l);
  });
});

describe('RWLock owner death', () => {
  it('a reader terminated holding a read lock: its hold is returned, a blocked writer gets in, no poison', async () => {
    const l = new RWLock();
    const w = await Remote.start('rwlock-condition', { workerData: { mark: FIXTURE_MARK } });
    await w.call('readLock', { lock: l.handle });
    expect(l.readerCount).toBe(1);
    void w.worker.terminate();
    l.writeLock(5000); // main blocks: only the park slices can find the dead reader
    expect(l.isPoisoned).toBe(false);
    expect(l.readerCount).toBe(0);
    l.writeUnlock();
    expectFree(l);
  });

  it('a reader terminated while a worker writer already waits for it: the writer gets in', async () => {
    const l = new RWLock();
    const w = await Remote.start('rwlock-condition', { workerData: { mark: FIXTURE_MARK } });
    await w.call('readLock', { lock: l.handle });
    const writing = a.call('writeLock', { lock: l.handle, options: 5000 });
    await until(() => l.isWriterWaiting);
    await w.stop();
    await writing;
    expect(l.isWriteLocked).toBe(true);
    await a.call('writeUnlock', { lock: l.handle });
    expectFree(l);
  });

  it('a writer terminated holding the write lock poisons it: every acquisition throws until clearPoison', async () => {
    const l = new RWLock();
    const w = await Remote.start('rwlock-condition', { workerData: { mark: FIXTURE_MARK } });
    await w.call('writeLock', { lock: l.handle });
    void w.worker.terminate();
    expectCode(
      thrown(() => l.readLock(5000)),
      ErrorCode.OWNER_DIED,
    );
    expect(l.isPoisoned).toBe(true);
    expect(l.isWriteLocked).toBe(false);
    expectCode(
      thrown(() => l.tryReadLock()),
      ErrorCode.OWNER_DIED,
    );
    expectCode(
      thrown(() => l.tryWriteLock()),
      ErrorCode.OWNER_DIED,
    );
    expectCode(
      thrown(() => l.writeLock()),
      ErrorCode.OWNER_DIED,
    );
    expectCode(await rejected(l.readLockAsync()), ErrorCode.OWNER_DIED);
    expectCode(await rejected(l.writeLockAsync()), ErrorCode.OWNER_DIED);
    expectCode(await rejected(l.runRead(() => 1)), ErrorCode.OWNER_DIED);
    expectCode(await rejected(l.runWrite(() => 1)), ErrorCode.OWNER_DIED);
    expectCode(await rejected(a.call('readLock', { lock: l.handle, options: 1000 })), ErrorCode.OWNER_DIED);
    // ignorePoison acquires anyway; the poison stays.
    l.readLock({ ignorePoison: true });
    l.readUnlock();
    l.writeLock({ ignorePoison: true });
    l.writeUnlock();
    expect(await l.runWrite(() => 'ran', { ignorePoison: true })).toBe('ran');
    expect(l.tryReadLock({ ignorePoison: true })).toBe(true);
    l.readUnlock();
    expect(l.isPoisoned).toBe(true);
    l.clearPoison();
    expectFree(l);
    await a.call('readWrite', { lock: l.handle, options: 1000 });
  });

  it('a writer killed while it waited for readers (never held) leaves no poison: readers get in again', async () => {
    const l = new RWLock();
    l.readLock();
    const w = await Remote.start('rwlock-condition', { workerData: { mark: FIXTURE_MARK } });
    const writing = w.call('writeLock', { lock: l.handle, options: 10_000 }).catch(() => 'died');
    await until(() => l.isWriterWaiting);
    await w.stop();
    expect(await writing).toBe('died');
    expect(await a.call('tryReadLock', { lock: l.handle })).toBe(true); // finds the dead writer and clears it
    expect(l.isPoisoned).toBe(false);
    await a.call('readUnlock', { lock: l.handle });
    l.readUnlock();
    expectFree(l);
  });

  it('a writer that calls process.exit holding the lock: a worker blocked in readLock gets OwnerDiedError', async () => {
    const l = new RWLock();
    const w = await Remote.start('rwlock-condition', { workerData: { mark: FIXTURE_MARK } });
    await w.call('writeLock', { lock: l.handle });
    const reading = rejected(b.call('readLock', { lock: l.handle, options: 5000 }));
    await until(() => l.hasParkedWaiters, { what: 'the worker is blocked in readLock' });
    w.send('exit', { code: 3 });
    expectCode(await reading, ErrorCode.OWNER_DIED);
    l.clearPoison();
    expectFree(l);
  });

  it('recovery latency: terminate() of a reader → a blocked writeLock in main returns (10 trials)', async () => {
    const latencies: number[] = [];
    for (let trial = 0; trial < 10; trial++) {
      const l = new RWLock();
      const w = await Remote.start('rwlock-condition', { workerData: { mark: FIXTURE_MARK } });
      await w.call('readLock', { lock: l.handle });
      const t0 = performance.now();
      void w.worker.terminate();
      l.writeLock(5000);
      latencies.push(performance.now() - t0);
      l.writeUnlock();
    }
    const sorted = [...latencies].sort((x, y) => x - y);
    console.log(
      `rwlock dead-reader recovery (terminate → writeLock returns), ms: median ${((sorted[4]! + sorted[5]!) / 2).toFixed(1)}, max ${sorted[9]!.toFixed(1)}`,
    );
    expect(sorted[9]).toBeLessThan(2000); // a liveness bound, not a speed claim
  });
});
