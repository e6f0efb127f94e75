/**
 * Test helper (not a test): a worker running the counter fixture's ops
 * (`workers/fixtures/counters.ts`), called with typed positional arguments.
 */
import type { VersionedCellHandle } from '../../src/atomic/versioned-cell.js';
import { COUNTERS_ROLE, type CounterOps } from '../../workers/fixtures/counters.js';
import { Remote } from '../threads/remote.js';
import { until } from '../helpers/wait.js';

export class CounterWorker {
  private constructor(private readonly remote: Remote) {}

  static async start(): Promise<CounterWorker> {
    return new CounterWorker(await Remote.start('counters', { workerData: { role: COUNTERS_ROLE } }));
  }

  get threadId(): number {
    return this.remote.threadId;
  }

  call<K extends keyof CounterOps>(op: K, ...args: Parameters<CounterOps[K]>): Promise<ReturnType<CounterOps[K]>> {
    return this.remote.call(op, args);
  }

  /** Starts `abandonWrite` and resolves once the worker holds the claim (it then blocks forever). */
  async abandonWrite(handle: VersionedCellHandle, expectedVersion: number): Promise<void> {
    const claimed = new Int32Array(new SharedArrayBuffer(4));
    const never = this.call('abandonWrite', handle, expectedVersion, claimed);
    never.catch(() => {}); // it never answers; the worker's end rejects it
    await until(() => Atomics.load(claimed, 0) === 1, { what: 'the worker claimed the cell' });
  }

  stop(): Promise<void> {
    return this.remote.stop();
  }
}
