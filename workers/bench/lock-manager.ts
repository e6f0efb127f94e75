/**
 * The LockManager benchmark's worker (`bench/lock-manager.ts`): the same
 * protocol as `workers/bench/thread.ts` (see `bench/lib/control.ts`), with its
 * own task kinds, so that `BenchThreads` can drive it. Each loop requests one
 * lock name with a synchronous callback until STOP:
 *   - `lockManager`: sabre's `LockManager.request` (shared by all threads);
 *   - `nodeLocks`: Node's own Web Locks (`worker_threads.locks`, Node 24.5+).
 */
import { serveBench } from './serve.js';
import * as workerThreads from 'node:worker_threads';
import { LockManager, type LockManagerHandle } from '../../src/lock/lock-manager.js';
import { GO, READY, STOP, countWord } from '../../bench/lib/control.js';

export type LockTask =
  | { readonly kind: 'lockManager'; readonly handle: LockManagerHandle; readonly name: string; readonly data: SharedArrayBuffer }
  | { readonly kind: 'nodeLocks'; readonly name: string; readonly data: SharedArrayBuffer };

/** What Node's Web Locks look like, where it has them. */
export interface WebLocks {
  request<T>(name: string, callback: (lock: unknown) => T | PromiseLike<T>): Promise<T>;
}
/** Node's own Web Locks (Node 24.5+), or undefined. */
export const nodeLocks = (workerThreads as unknown as { locks?: WebLocks }).locks;

function barrier(ctl: Int32Array): void {
  Atomics.add(ctl, READY, 1);
  Atomics.notify(ctl, READY);
  while (Atomics.load(ctl, GO) === 0) Atomics.wait(ctl, GO, 0, 50);
}

// Two loops, not one over an interface: each call site stays monomorphic.
async function sabreLoop(ctl: Int32Array, count: number, locks: LockManager, name: string, data: Int32Array): Promise<number> {
  let ops = 0;
  const bump = (): number => (data[0] = data[0]! + 1);
  while (Atomics.load(ctl, STOP) === 0) {
    await locks.request(name, bump);
    ctl[count] = ++ops;
  }
  return ops;
}

async function nodeLoop(ctl: Int32Array, count: number, locks: WebLocks, name: string, data: Int32Array): Promise<number> {
  let ops = 0;
  const bump = (): number => (data[0] = data[0]! + 1);
  while (Atomics.load(ctl, STOP) === 0) {
    await locks.request(name, bump);
    ctl[count] = ++ops;
  }
  return ops;
}

async function run({ task, control, slot }: { task: LockTask; control: SharedArrayBuffer; slot: number }): Promise<number> {
  const ctl = new Int32Array(control);
  const data = new Int32Array(task.data);
  if (task.kind === 'lockManager') {
    const locks = LockManager.from(task.handle);
    barrier(ctl);
    return sabreLoop(ctl, countWord(slot), locks, task.name, data);
  }
  if (nodeLocks === undefined) throw new Error(`Node ${process.version} has no worker_threads.locks`);
  barrier(ctl);
  return nodeLoop(ctl, countWord(slot), nodeLocks, task.name, data);
}

serveBench(run);
