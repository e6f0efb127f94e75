/**
 * The benchmark worker: runs one timed task at a time for `bench/` (see
 * `bench/lib/control.ts` for the protocol), kept warm across rounds so that
 * no measurement includes a worker start.
 *
 * Each task kind has its own loop function, so that every loop stays
 * monomorphic and none pays for another's type feedback.
 */
import { serveBench } from './serve.js';
import { Mutex } from '../../src/sync/mutex.js';
import { RWLock } from '../../src/sync/rwlock.js';
import { StripedCounter } from '../../src/atomic/striped-counter.js';
import { SharedHashTable } from '../../src/table/shared-hash-table.js';
import { DrepperMutex } from '../../bench/peers/drepper-mutex.js';
import { setBackoffMode } from '../../bench/lib/backoff-switch.js';
import { GO, READY, STOP, countWord, type TaskMessage } from '../../bench/lib/control.js';

function barrier(ctl: Int32Array): void {
  Atomics.add(ctl, READY, 1);
  Atomics.notify(ctl, READY);
  while (Atomics.load(ctl, GO) === 0) Atomics.wait(ctl, GO, 0, 50);
}

// mutexLoop and drepperLoop are the same loop on purpose: one loop shared by
// both classes would make its lock()/unlock() call sites polymorphic and slow
// down whichever mutex V8 saw second; separate loops keep each monomorphic.
function mutexLoop(ctl: Int32Array, count: number, mutex: Mutex, data: Int32Array): number {
  let ops = 0;
  while (Atomics.load(ctl, STOP) === 0) {
    mutex.lock();
    data[0] = data[0]! + 1;
    mutex.unlock();
    ctl[count] = ++ops;
  }
  return ops;
}

function drepperLoop(ctl: Int32Array, count: number, mutex: DrepperMutex, data: Int32Array): number {
  let ops = 0;
  while (Atomics.load(ctl, STOP) === 0) {
    mutex.lock();
    data[0] = data[0]! + 1;
    mutex.unlock();
    ctl[count] = ++ops;
  }
  return ops;
}

async function runExclusiveLoop(ctl: Int32Array, count: number, mutex: Mutex, data: Int32Array): Promise<number> {
  let ops = 0;
  const bump = (): number => (data[0] = data[0]! + 1);
  while (Atomics.load(ctl, STOP) === 0) {
    await mutex.runExclusive(bump);
    ctl[count] = ++ops;
  }
  return ops;
}

function stripedLoop(ctl: Int32Array, count: number, counter: StripedCounter): number {
  let ops = 0;
  while (Atomics.load(ctl, STOP) === 0) {
    counter.increment();
    ctl[count] = ++ops;
  }
  return ops;
}

function addLoop(ctl: Int32Array, count: number, cells: Int32Array, index: number): number {
  let ops = 0;
  while (Atomics.load(ctl, STOP) === 0) {
    Atomics.add(cells, index, 1);
    ctl[count] = ++ops;
  }
  return ops;
}

/** The read-mostly section: every word must hold the same value (a writer sets them all under the lock). */
function readSection(data: Int32Array): void {
  const v = data[0]!;
  for (let i = 1; i < 8; i++) if (data[i] !== v) throw new Error(`torn read under the lock: ${data[i]} != ${v}`);
}
function writeSection(data: Int32Array): void {
  const v = data[0]! + 1;
  for (let i = 0; i < 8; i++) data[i] = v;
}

// readMostlyRw and readMostlyMutex are separate for the same reason as the mutex loops above.
function readMostlyRw(ctl: Int32Array, count: number, lock: RWLock, data: Int32Array, writeEvery: number): number {
  let ops = 0;
  while (Atomics.load(ctl, STOP) === 0) {
    if (ops % writeEvery === writeEvery - 1) {
      lock.writeLock();
      writeSection(data);
      lock.writeUnlock();
    } else {
      lock.readLock();
      readSection(data);
      lock.readUnlock();
    }
    ctl[count] = ++ops;
  }
  return ops;
}
function readMostlyMutex(ctl: Int32Array, count: number, lock: Mutex, data: Int32Array, writeEvery: number): number {
  let ops = 0;
  while (Atomics.load(ctl, STOP) === 0) {
    lock.lock();
    if (ops % writeEvery === writeEvery - 1) writeSection(data);
    else readSection(data);
    lock.unlock();
    ctl[count] = ++ops;
  }
  return ops;
}

function tableLoop(ctl: Int32Array, count: number, table: SharedHashTable<string>, keys: string[], writeEvery: number): number {
  let ops = 0;
  while (Atomics.load(ctl, STOP) === 0) {
    const key = keys[ops % keys.length]!;
    if (ops % writeEvery === writeEvery - 1) table.set(key, 'value');
    else if (table.get(key) === undefined) throw new Error(`bench table lost ${key}`);
    ctl[count] = ++ops;
  }
  return ops;
}

async function run({ task, control, slot }: TaskMessage): Promise<number> {
  const ctl = new Int32Array(control);
  const count = countWord(slot);
  switch (task.kind) {
    case 'mutex': {
      const mutex = Mutex.from(task.handle);
      const data = new Int32Array(task.data);
      setBackoffMode(task.backoff);
      try {
        barrier(ctl);
        return mutexLoop(ctl, count, mutex, data);
      } finally {
        setBackoffMode('default');
      }
    }
    case 'drepper': {
      const mutex = new DrepperMutex(new Int32Array(task.lock));
      const data = new Int32Array(task.data);
      barrier(ctl);
      return drepperLoop(ctl, count, mutex, data);
    }
    case 'runExclusive': {
      const mutex = Mutex.from(task.handle);
      const data = new Int32Array(task.data);
      barrier(ctl);
      return runExclusiveLoop(ctl, count, mutex, data);
    }
    case 'striped': {
      const counter = StripedCounter.from(task.handle);
      barrier(ctl);
      return stripedLoop(ctl, count, counter);
    }
    case 'readMostly': {
      const data = new Int32Array(task.data);
      if ('rw' in task.lock) {
        const lock = RWLock.from(task.lock.rw);
        barrier(ctl);
        return readMostlyRw(ctl, count, lock, data, task.writeEvery);
      }
      const lock = Mutex.from(task.lock.mutex);
      barrier(ctl);
      return readMostlyMutex(ctl, count, lock, data, task.writeEvery);
    }
    case 'table': {
      const table = SharedHashTable.from<string>(task.handle);
      const keys = Array.from({ length: task.keys }, (_, i) => `${task.prefix}${i}`);
      barrier(ctl);
      return tableLoop(ctl, count, table, keys, task.writeEvery);
    }
    case 'add': {
      const cells = new Int32Array(task.cells);
      barrier(ctl);
      return addLoop(ctl, count, cells, task.index);
    }
  }
}

serveBench(run);
