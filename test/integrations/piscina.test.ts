import { Piscina } from 'piscina';
import { afterAll, assert, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { ErrorCode, isSabreError } from '../../src/errors.js';
import { fromTaskArgs, piscinaTask, toTaskArgs } from '../../src/integrations/piscina.js';
import { registerKind, registeredKinds, reopen } from '../../src/integrations/kinds.js';
import { SharedArena } from '../../src/memory/arena.js';
import { Mutex } from '../../src/sync/mutex.js';
import { AtomicCounter } from '../../src/atomic/counter.js';
import { StripedCounter } from '../../src/atomic/striped-counter.js';
import { VersionedCell } from '../../src/atomic/versioned-cell.js';
import { ThreadRegistry } from '../../src/threads/registry.js';
import type { EchoReply, EchoRequest } from '../../workers/fixtures/echo.js';
import { BOOTSTRAP, tsTask } from '../../workers/ts-task.js';

const echo = tsTask<EchoRequest>(new URL('../../workers/fixtures/echo.ts', import.meta.url));
import { Tally } from '../../workers/fixtures/tally.js';
import { thrown } from '../helpers/errors.js';

describe('toTaskArgs / fromTaskArgs', () => {
  it('turn primitives into handles and back, leaving other values alone', () => {
    const mutex = new Mutex();
    const arena = new SharedArena({ byteLength: 256 });
    const clock = new ManualClock({ startMs: 7 });
    const cell = new Int32Array(new SharedArrayBuffer(4));
    const args = toTaskArgs({ mutex, arena, clock, n: 3, s: 'x', cell, nested: { mutex: mutex.handle } });
    expect(args.mutex).toBe(mutex.handle);
    expect(args.arena).toBe(arena.handle);
    expect(args.clock).toBe(clock.handle);
    expect(args.n).toBe(3);
    expect(args.cell).toBe(cell);
    const live = fromTaskArgs<{
      mutex: Mutex;
      arena: SharedArena;
      clock: ManualClock;
      n: number;
      s: string;
      cell: Int32Array;
      nested: object;
    }>(structuredClone(args));
    expect(live.mutex).toBeInstanceOf(Mutex);
    expect(live.arena).toBeInstanceOf(SharedArena);
    expect(live.clock.now()).toBe(7);
    expect(live.s).toBe('x');
    expect(live.nested).toEqual({ mutex: mutex.handle }); // one level only
    mutex.lock();
    expect(live.mutex.isLocked).toBe(true);
    mutex.unlock();
  });

  it('carry the counters too, as live objects sharing their memory', () => {
    const counter = new AtomicCounter({ bits: 64 });
    const striped = new StripedCounter();
    const cell = new VersionedCell<{ n: number }>({ maxBytes: 64, codec: 'json', initial: { n: 1 } });
    const live = fromTaskArgs<{ counter: AtomicCounter<bigint>; striped: StripedCounter; cell: VersionedCell<{ n: number }> }>(
      structuredClone(toTaskArgs({ counter, striped, cell })),
    );
    live.counter.add(5n);
    live.striped.add(3);
    live.cell.write({ n: 2 }, live.cell.read().version);
    expect(counter.get()).toBe(5n);
    expect(striped.sum()).toBe(3);
    expect(cell.read().value).toEqual({ n: 2 });
  });

  it('refuse forged handles and kinds this thread has not registered', () => {
    const mutex = new Mutex();
    expect(
      isSabreError(
        thrown(() => fromTaskArgs({ mutex: { ...mutex.handle, version: 5 } })),
        ErrorCode.HANDLE,
      ),
    ).toBe(true);
    const unknown = { ...mutex.handle, kind: 'sabre.NotRegistered' };
    const e = thrown(() => fromTaskArgs({ unknown }));
    expect(isSabreError(e, ErrorCode.HANDLE)).toBe(true);
    expect((e as Error).message).toMatch(/sabre\.NotRegistered.*registerKind/);
    expect(
      isSabreError(
        thrown(() => toTaskArgs('x' as never)),
        ErrorCode.INVALID_ARG,
      ),
    ).toBe(true);
    expect(
      isSabreError(
        thrown(() => fromTaskArgs([] as never)),
        ErrorCode.INVALID_ARG,
      ),
    ).toBe(true);
  });

  it('piscinaTask names the .mjs bootstrap from TypeScript and the .js file from a build', () => {
    expect(piscinaTask('file:///app/test/x.test.ts', '../workers/echo.task')).toBe('file:///app/workers/echo.task.mjs');
    expect(piscinaTask('file:///app/dist/src/main.js', '../../workers/echo.task')).toBe('file:///app/workers/echo.task.js');
    expect(piscinaTask(new URL('file:///app/a.mts'), 'b')).toBe('file:///app/b.mjs');
  });
});

describe('the kind table', () => {
  it("holds sabre's classes and takes new ones with one call", () => {
    expect(registeredKinds()).toEqual(expect.arrayContaining(['sabre.Mutex', 'sabre.SharedArena', 'sabre.ManualClock']));
    registerKind(Tally);
    registerKind(Tally); // again: nothing
    expect(registeredKinds()).toContain('test.Tally');
    const t = new Tally();
    t.add(2);
    const back = reopen(structuredClone(t.handle));
    assert(back instanceof Tally);
    expect(back.value).toBe(2);
  });

  it('refuses a class without from, and a kind taken by another class', () => {
    class NoFrom {
      readonly handle = new Mutex().handle;
    }
    class Mutex2 extends Mutex {}
    expect(
      isSabreError(
        thrown(() => registerKind(NoFrom as never)),
        ErrorCode.INVALID_ARG,
      ),
    ).toBe(true);
    expect(
      isSabreError(
        thrown(() => registerKind(Mutex2, 'sabre.Mutex')),
        ErrorCode.INVALID_ARG,
      ),
    ).toBe(true);
    expect(
      isSabreError(
        thrown(() => registerKind(Mutex2, '')),
        ErrorCode.INVALID_ARG,
      ),
    ).toBe(true);
    expect(
      isSabreError(
        thrown(() => reopen({ kind: 5 })),
        ErrorCode.HANDLE,
      ),
    ).toBe(true);
  });
});

describe('a Piscina pool', () => {
  const pool = new Piscina({ filename: BOOTSTRAP, atomics: 'async', maxThreads: 1 });
  afterAll(() => pool.destroy());

  it('re-opens the primitives of its task arguments as live objects', async () => {
    const reply = (await pool.run(
      echo({
        op: 'describe',
        args: toTaskArgs({ mutex: new Mutex(), arena: new SharedArena({ byteLength: 256 }), clock: new ManualClock(), n: 3 }),
      }),
    )) as EchoReply;
    expect(reply.described).toEqual({ mutex: 'Mutex', arena: 'SharedArena', clock: 'ManualClock', n: 'number' });
    expect(reply.values).toEqual({ n: 3 });
  });

  it('a task thread that dies holding a mutex poisons it for the main thread', async () => {
    const mutex = new Mutex();
    const { threadId } = (await pool.run(echo({ op: 'lock', args: toTaskArgs({ mutex }) }))) as EchoReply;
    expect(mutex.ownerThreadId).toBe(threadId);
    expect(ThreadRegistry.current.isAlive(threadId)).toBe(true);
    const waiting = mutex.lockAsync({ timeoutMs: 5000 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    await pool.destroy();
    expect(isSabreError(await waiting, ErrorCode.OWNER_DIED)).toBe(true);
    expect(mutex.isPoisoned).toBe(true);
  });
});
