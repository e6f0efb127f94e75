import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { CircuitOpenError, ErrorCode, isSabreError, NotOwnerError, OwnerDiedError, SabreError } from '../../src/errors.js';
import { COMLINK_HANDLER_NAME, registerComlinkHandlers, type ComlinkNamespace } from '../../src/integrations/comlink.js';
import { SharedArena } from '../../src/memory/arena.js';
import { Mutex } from '../../src/sync/mutex.js';
import { spawnWorker } from '../../src/threads/spawn.js';
import type { ComlinkFixtureApi } from '../../workers/fixtures/comlink.js';
import { Tally } from '../../workers/fixtures/tally.js';

// Comlink's own throw handler, before sabre wraps it (for the compatibility test).
const comlinkThrow = Comlink.transferHandlers.get('throw')!;
registerComlinkHandlers(Comlink, [Tally]);

let worker: Worker;
let api: Comlink.Remote<ComlinkFixtureApi>;
let workerThreadId: number;
beforeAll(async () => {
  worker = spawnWorker(new URL('../../workers/fixtures/comlink.ts', import.meta.url));
  workerThreadId = worker.threadId;
  api = Comlink.wrap<ComlinkFixtureApi>(nodeEndpoint(worker));
  expect(await api.threadId()).toBe(workerThreadId);
});
afterAll(async () => {
  api?.[Comlink.releaseProxy]();
  await worker?.terminate();
});

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

describe('primitives through Comlink', () => {
  it('arrive live as arguments', async () => {
    const m = new Mutex();
    expect(await api.className(m)).toBe('Mutex');
    expect(await api.className(new SharedArena({ byteLength: 256 }))).toBe('SharedArena');
    expect(await api.className(new ManualClock())).toBe('ManualClock');
    await api.lock(m);
    expect(m.ownerThreadId).toBe(workerThreadId);
    expect(m.tryLock()).toBe(false);
    await api.unlock(m);
    expect(m.isLocked).toBe(false);
  });

  it('arrive live as return values', async () => {
    const m = await api.newLockedMutex();
    expect(m).toBeInstanceOf(Mutex);
    expect(m.ownerThreadId).toBe(workerThreadId);
    await api.unlock(m);
    expect(m.tryLock()).toBe(true);
    m.unlock();
    const arena = await api.newArena(1024);
    expect(arena).toBeInstanceOf(SharedArena);
    expect(arena.allocate(100).byteOffset % 128).toBe(0);
    const clock = await api.newClock(10);
    expect(clock).toBeInstanceOf(ManualClock);
    clock.advance(5);
    expect(await api.advance(clock, 1)).toBe(16);
    expect(clock.now()).toBe(16);
  });

  it('make the round trip (argument out, return value back) over the same memory', async () => {
    const m = new Mutex();
    const back = await api.echo(m);
    expect(back).toBeInstanceOf(Mutex);
    expect(back).not.toBe(m);
    back.lock();
    expect(m.ownerThreadId).toBe(0);
    m.unlock();
  });

  it('a class added with registerKind (here through the primitives argument) travels too', async () => {
    const t = new Tally();
    expect(await api.tallyAdd(t, 3)).toBe(3);
    t.add(2);
    expect(await api.tallyAdd(t, 1)).toBe(6);
    const fromWorker = await api.newTally();
    expect(fromWorker).toBeInstanceOf(Tally);
    fromWorker.add(4);
    expect(await api.tallyAdd(fromWorker, 0)).toBe(4);
  });

  it('a kind this thread has not registered rejects the call with HandleError', async () => {
    const e = await rejection(api.newSecret());
    expect(isSabreError(e, ErrorCode.HANDLE)).toBe(true);
    expect((e as Error).message).toMatch(/test\.Secret.*registerKind/);
  });

  it('the SharedArrayBuffer is never put in the transfer list', () => {
    const handler = Comlink.transferHandlers.get(COMLINK_HANDLER_NAME)!;
    const m = new Mutex();
    expect(handler.canHandle(m)).toBe(true);
    const [wire, transfer] = handler.serialize(m);
    expect(wire).toBe(m.handle);
    expect(transfer).toEqual([]);
    // Look-alikes are not primitives: a plain object with a handle, a bare handle, a function.
    expect(handler.canHandle({ handle: m.handle })).toBe(false);
    expect(handler.canHandle(m.handle)).toBe(false);
    expect(handler.canHandle(() => {})).toBe(false);
    expect(handler.canHandle(null)).toBe(false);
  });
});

describe('errors through Comlink', () => {
  it('a SabreError thrown in the worker rejects with its class, code and details', async () => {
    const e = await rejection(api.throwCircuitOpen());
    expect(e).toBeInstanceOf(CircuitOpenError);
    expect(isSabreError(e, ErrorCode.CIRCUIT_OPEN)).toBe(true);
    expect((e as CircuitOpenError).retryAfterMs).toBe(2500);
    expect((e as Error).message).toBe('breaker open');
    const died = await rejection(api.throwOwnerDied());
    expect(died).toBeInstanceOf(OwnerDiedError);
    expect((died as OwnerDiedError).details).toEqual({ ownerThreadId: 12 });
  });

  it("an error from a primitive's misuse in the worker keeps its code", async () => {
    const e = await rejection(api.unlock(new Mutex()));
    expect(e).toBeInstanceOf(NotOwnerError);
  });

  it("other errors keep Comlink's own behaviour", async () => {
    const plain = await rejection(api.throwPlain());
    expect(plain).toBeInstanceOf(Error);
    expect(isSabreError(plain)).toBe(false);
    expect(plain).toMatchObject({ message: 'plain failure', name: 'TypeError' });
    expect(await rejection(api.throwString())).toBe('just a string');
  });

  it('an unwrapped Comlink on the other side still gets the code in cause', () => {
    const ns: ComlinkNamespace = { transferHandlers: new Map([['throw', comlinkThrow]]) };
    registerComlinkHandlers(ns);
    const [wire] = ns.transferHandlers.get('throw')!.serialize({ value: new CircuitOpenError('open', { retryAfterMs: 9 }) });
    let received: unknown;
    try {
      comlinkThrow.deserialize(wire);
    } catch (e) {
      received = e;
    }
    expect(isSabreError(received, ErrorCode.CIRCUIT_OPEN)).toBe(true);
    expect((SabreError.from(received) as CircuitOpenError).retryAfterMs).toBe(9);
  });

  it('registering again does not wrap twice', () => {
    const throwHandler = Comlink.transferHandlers.get('throw');
    const handler = Comlink.transferHandlers.get(COMLINK_HANDLER_NAME);
    registerComlinkHandlers(Comlink);
    expect(Comlink.transferHandlers.get('throw')).toBe(throwHandler);
    expect(Comlink.transferHandlers.get(COMLINK_HANDLER_NAME)).toBe(handler);
  });
});
