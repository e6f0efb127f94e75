/**
 * A worker that hammers sabre's counters and versioned cells on request, for
 * tests that need real threads. Started with `CounterWorker.start()`, it
 * answers `{ id, op, args }` messages with `{ id, ok, value | error }`.
 *
 * Every hammering op first waits on a shared `gate` word, so that the main
 * thread can release several workers at once (contention, not a relay).
 *
 * Imported in the main thread, this module only exports the client: it serves
 * only when started as a worker with `workerData.role === ROLE`.
 */
import { parentPort, threadId, workerData, type Worker } from 'node:worker_threads';
import { AtomicCounter, type AtomicCounterHandle } from '../src/atomic/counter.js';
import { StripedCounter, type StripedCounterHandle } from '../src/atomic/striped-counter.js';
import { VersionedCell, type VersionedCellHandle } from '../src/atomic/versioned-cell.js';
import type { CodecName } from '../src/memory/codec.js';
import { SabreError } from '../src/errors.js';
import { spawnWorker } from '../src/threads/spawn.js';

const ROLE = 'sabre.test.counters';

/** The value the cell tests store: `count` equals the version, `pad` varies the length. */
export interface Tally {
  count: number;
  pad: string;
  by: number[];
}
export function tallyAt(count: number, by: number[] = []): Tally {
  return { count, pad: 'x'.repeat((count * 7) % 61), by };
}

function waitGate(gate: Int32Array): void {
  while (Atomics.load(gate, 0) === 0) Atomics.wait(gate, 0, 0, 50);
}

const ops = {
  ping(): number {
    return threadId;
  },

  /** n rounds of increment, add(2), decrement, plus n/10 CAS-loop increments: +2.1n in all. */
  atomic(handle: AtomicCounterHandle, n: number, gate: Int32Array): number {
    const c = AtomicCounter.from(handle);
    const two = c.bits === 64 ? 2n : 2;
    waitGate(gate);
    for (let i = 0; i < n; i++) {
      c.increment();
      c.add(two);
      c.decrement();
    }
    let casRetries = 0;
    for (let i = 0; i < n / 10; i++) {
      for (;;) {
        const v = c.get();
        const next = c.bits === 64 ? BigInt.asIntN(64, (v as bigint) + 1n) : ((v as number) + 1) | 0;
        if (c.compareAndSet(v, next)) break;
        casRetries++;
      }
    }
    return casRetries;
  },

  /** n adds cycling through `deltas`; returns this thread's total (a string: exact bigint). */
  striped(handle: StripedCounterHandle, n: number, deltas: number[], gate: Int32Array): string {
    const c = StripedCounter.from(handle);
    let total = 0n;
    waitGate(gate);
    for (let i = 0; i < n; i++) {
      const d = deltas[i % deltas.length]!;
      c.add(d);
      total += BigInt(d);
    }
    return String(total);
  },

  /** n `update`s that advance the tally by one; returns the attempts they took. */
  cellIncrement(handle: VersionedCellHandle, n: number, codec: CodecName, gate: Int32Array): number {
    const cell = VersionedCell.from<Tally>(handle, { codec });
    waitGate(gate);
    let attempts = 0;
    for (let i = 0; i < n; i++) {
      const r = cell.update(
        (t, version) => {
          if (t.count !== version) throw new Error(`torn or stale read: count ${t.count} at version ${version}`);
          return tallyAt(t.count + 1, [...t.by.slice(-3), threadId]);
        },
        { retries: Infinity },
      );
      attempts += r.attempts;
    }
    return attempts;
  },

  /** Reads until `stop` is set; checks every read is whole (count = version, pad matches). */
  cellReadUntil(handle: VersionedCellHandle, codec: CodecName, gate: Int32Array, stop: Int32Array): number {
    const cell = VersionedCell.from<Tally>(handle, { codec });
    waitGate(gate);
    let reads = 0;
    let last = -1;
    while (Atomics.load(stop, 0) === 0 || reads === 0) {
      const { value, version } = cell.read();
      const want = tallyAt(version);
      if (value.count !== version || value.pad !== want.pad) throw new Error(`torn read at version ${version}: ${JSON.stringify(value)}`);
      if (version < last) throw new Error(`version went back from ${last} to ${version}`);
      last = version;
      reads++;
    }
    return reads;
  },

  /** Opens handles that crossed a thread boundary, reports what it sees, and adds one to each. */
  reopen(h: { a32: AtomicCounterHandle<32>; a64: AtomicCounterHandle<64>; striped: StripedCounterHandle; cell: VersionedCellHandle }): {
    a32: number;
    a64: bigint;
    striped: number;
    cell: { value: unknown; version: number };
  } {
    const a32 = AtomicCounter.from(h.a32);
    const a64 = AtomicCounter.from(h.a64);
    const striped = StripedCounter.from(h.striped);
    const cell = VersionedCell.from<string>(h.cell, { codec: 'string' });
    const seen = { a32: a32.get(), a64: a64.get(), striped: striped.sum(), cell: cell.read() };
    a32.increment();
    a64.increment();
    striped.increment();
    cell.write(`${seen.cell.value}+worker`, seen.cell.version);
    return seen;
  },

  /** Claims the cell for a write, scribbles, replies, then blocks forever (until terminated). */
  abandonWrite(handle: VersionedCellHandle, expectedVersion: number): void {
    const cell = VersionedCell.from(handle);
    cell._abandonWriteForTesting(expectedVersion);
    parentPort!.postMessage({ id: -1, ok: true, value: 'claimed' });
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // never returns
  },
};
type Ops = typeof ops;

if (parentPort !== null && (workerData as { role?: unknown } | null)?.role === ROLE) {
  const port = parentPort;
  port.on('message', ({ id, op, args }: { id: number; op: keyof Ops; args: unknown[] }) => {
    try {
      const value = (ops[op] as (...a: unknown[]) => unknown)(...args);
      port.postMessage({ id, ok: true, value });
    } catch (error) {
      port.postMessage({ id, ok: false, error });
    }
  });
  port.postMessage({ ready: true });
}

type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: unknown };

/** The test side: one worker running `ops` on request. */
export class CounterWorker {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  private claimed: (() => void) | undefined;

  private constructor(
    readonly worker: Worker,
    readonly threadId: number,
  ) {
    worker.on('message', (m: Reply) => {
      if (m.id === -1) return this.claimed?.();
      const p = this.pending.get(m.id);
      if (p === undefined) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(SabreError.from(m.error));
    });
    worker.on('error', () => {}); // seen through rejected calls
    worker.once('exit', (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`worker ${threadId} exited (code ${code})`));
      this.pending.clear();
    });
  }

  static async start(): Promise<CounterWorker> {
    const worker = spawnWorker(new URL('./counters.ts', import.meta.url), { workerData: { role: ROLE } });
    const id = worker.threadId;
    await new Promise<void>((resolve, reject) => {
      worker.once('message', (m: { ready?: boolean }) => (m.ready ? resolve() : reject(new Error('unexpected first message'))));
      worker.once('error', reject);
    });
    return new CounterWorker(worker, id);
  }

  call<K extends keyof Ops>(op: K, ...args: Parameters<Ops[K]>): Promise<ReturnType<Ops[K]>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, op, args });
    });
  }

  /** Starts `abandonWrite` and resolves once the worker holds the claim (it then blocks forever). */
  abandonWrite(handle: VersionedCellHandle, expectedVersion: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.claimed = resolve;
      this.call('abandonWrite', handle, expectedVersion).catch(reject);
    });
  }

  async stop(): Promise<void> {
    await this.worker.terminate();
  }
}

/** A start gate: workers wait on it, `open()` releases them together. */
export function gate(): { word: Int32Array; open(): void } {
  const word = new Int32Array(new SharedArrayBuffer(4));
  return {
    word,
    open: () => {
      Atomics.store(word, 0, 1);
      Atomics.notify(word, 0);
    },
  };
}
