import { threadId } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { afterAll, describe, expect, it } from 'vitest';
import type { EchoRequest } from '../../workers/fixtures/echo.js';
import { BOOTSTRAP, tsTask } from '../../workers/ts-task.js';

const echo = tsTask<EchoRequest>(new URL('../../workers/fixtures/echo.ts', import.meta.url));
import { ThreadRegistry } from '../../src/threads/registry.js';
import { isTypeScript, sibling, spawnWorker } from '../../src/threads/spawn.js';
import { watchPool, watchWorker } from '../../src/threads/watch.js';
import { Remote } from './remote.js';
import { Worker } from 'node:worker_threads';
import { ErrorCode } from '../../src/errors.js';
import { expectCode } from '../helpers/errors.js';
import { elapse, until } from '../helpers/wait.js';

const registry = ThreadRegistry.current;
const started: Remote[] = [];
async function start(): Promise<Remote> {
  const w = await Remote.start();
  started.push(w);
  return w;
}
afterAll(() => Promise.all(started.map((w) => w.stop())));

describe('ThreadRegistry', () => {
  it('the main thread and the calling thread are alive; so is an id it has never heard of', () => {
    expect(registry.isAlive(0)).toBe(true);
    expect(registry.isAlive(threadId)).toBe(true);
    expect(registry.isAlive(987_654)).toBe(true);
    expect(registry.isAlive(2 ** 21)).toBe(true); // beyond the dead-bit map
    expect(ThreadRegistry.current).toBe(registry);
  });

  it('a live worker is alive, seen from main and from another worker, and sees itself and main alive', async () => {
    const [a, b] = await Promise.all([start(), start()]);
    expect(registry.isAlive(a.threadId)).toBe(true);
    expect(await a.call('isAlive', { id: a.threadId })).toBe(true);
    expect(await a.call('isAlive', { id: 0 })).toBe(true);
    expect(await a.call('isAlive', { id: b.threadId })).toBe(true);
  });

  it('a terminated worker is reported dead within 5 s, in main and in a worker that did not start it', async () => {
    const [victim, observer] = await Promise.all([start(), start()]);
    const id = victim.threadId;
    await victim.worker.terminate();
    await until(() => !registry.isAlive(id));
    let seen = true;
    for (let i = 0; i < 100 && seen; i++) seen = await observer.call<boolean>('isAlive', { id });
    expect(seen).toBe(false);
    expect(registry.isAlive(id)).toBe(false); // and it stays dead
  });

  it('a worker that calls process.exit is reported dead, without main polling first', async () => {
    const w = await start();
    const deaths = registry.deaths;
    w.send('exit', { code: 0 });
    // The 'exit' event alone (no isAlive call) records the death.
    await until(() => registry.deaths > deaths);
    expect(registry.isAlive(w.threadId)).toBe(false);
  });

  it('onDeath listeners are called once per death, and unsubscribe', async () => {
    const w = await start();
    const calls: number[] = [];
    const other: number[] = [];
    const off = registry.onDeath((id) => calls.push(id));
    const offOther = registry.onDeath((id) => other.push(id));
    offOther();
    await w.worker.terminate();
    await until(() => calls.includes(w.threadId));
    // Every later sighting of the same death is not news.
    registry.markDead(w.threadId);
    expect(registry.isAlive(w.threadId)).toBe(false);
    await elapse(50); // a window for a duplicate call to show up: a slow machine only lengthens it
    expect(calls.filter((id) => id === w.threadId)).toHaveLength(1);
    expect(other).toEqual([]);
    off();
  });

  it('markDead records a death once and ignores the main and the calling thread', () => {
    const deaths = registry.deaths;
    const calls: number[] = [];
    const off = registry.onDeath((id) => calls.push(id));
    registry.markDead(0);
    registry.markDead(threadId);
    expect(registry.isAlive(0)).toBe(true);
    const ghost = 900_001;
    registry.markDead(ghost);
    registry.markDead(ghost);
    off();
    expect(registry.isAlive(ghost)).toBe(false);
    expect(calls).toEqual([ghost]);
    expect(registry.deaths).toBe(deaths + 1);
  });
});

describe('spawnWorker, sibling, watchWorker', () => {
  it('spawnWorker starts a .ts worker with workerData untouched, already watched', async () => {
    const url = new URL('../../workers/fixtures/remote.ts', import.meta.url);
    expect(isTypeScript(url)).toBe(true);
    const w = spawnWorker(url, { workerData: { unused: new SharedArrayBuffer(8) } });
    const id = w.threadId;
    const ready = await new Promise<{ ready: boolean; threadId: number }>((resolve) => w.once('message', resolve));
    expect(ready).toEqual({ ready: true, threadId: id });
    expect(watchWorker(w)).toBe(w); // idempotent
    const calls: number[] = [];
    const off = registry.onDeath((d) => calls.push(d));
    await w.terminate();
    await until(() => calls.includes(id));
    off();
    expect(watchWorker(w)).toBe(w); // still idempotent after the exit (it was watched before)
  });

  it('watchWorker refuses what it cannot watch with a typed error', async () => {
    expectCode(() => watchWorker({} as never), ErrorCode.INVALID_ARG, /worker must be a worker_threads Worker, got an object/);
    expectCode(() => watchWorker(null as never), ErrorCode.INVALID_ARG, /got null/);
    // A worker never watched that has exited: its threadId is -1 from then on.
    const w = new Worker('process.exit(0)', { eval: true });
    await new Promise((r) => w.once('exit', r));
    expect(w.threadId).toBe(-1);
    const unwatched = Object.create(w) as Worker; // same threadId, not the watched object
    expectCode(() => watchWorker(unwatched), ErrorCode.INVALID_ARG, /already exited/);
  });

  it('sibling and isTypeScript follow the extension of the base module', () => {
    expect(sibling('file:///app/src/a.ts', 'worker').href).toBe('file:///app/src/worker.ts');
    expect(sibling('file:///app/dist/a.js', 'worker').href).toBe('file:///app/dist/worker.js');
    expect(sibling('file:///app/src/a.mts', '../workers/w').href).toBe('file:///app/workers/w.ts');
    expect(isTypeScript('file:///x/y.js')).toBe(false);
  });
});

describe('watchPool', () => {
  let pool: Piscina | undefined;
  afterAll(() => pool?.destroy());

  it('watches a Piscina pool: a task thread that exits is recorded dead from its real exit', async () => {
    pool = new Piscina({
      filename: BOOTSTRAP,
      atomics: 'async',
      minThreads: 1,
      maxThreads: 1,
    });
    const { threadId: first } = (await pool.run(echo({ op: 'threadId' }))) as { threadId: number };
    expect(watchPool(pool)).toBe(pool);
    expect(pool.threads.map((t) => t.threadId)).toContain(first);
    expect(registry.isAlive(first)).toBe(true);
    const calls: number[] = [];
    const off = registry.onDeath((id) => calls.push(id));
    await expect(pool.run(echo({ op: 'exit', code: 1 }))).rejects.toThrow();
    await until(() => calls.includes(first));
    off();
    expect(registry.isAlive(first)).toBe(false);
    // The pool replaced the thread; the new one is alive and watched.
    const { threadId: second } = (await pool.run(echo({ op: 'threadId' }))) as { threadId: number };
    expect(second).not.toBe(first);
    expect(registry.isAlive(second)).toBe(true);
  });
});
