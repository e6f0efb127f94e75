/**
 * Test helper (not a test): drives `workers/fixture-sync.ts`, a worker that
 * runs Semaphore, Latch and Once operations on request.
 */
import type { Worker } from 'node:worker_threads';
import { SabreError } from '../../src/errors.js';
import { spawnWorker } from '../../src/threads/spawn.js';

const FIXTURE = new URL('../../workers/fixture-sync.ts', import.meta.url);

type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: unknown };

export class SyncRemote {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  private exited = false;

  private constructor(readonly worker: Worker, readonly threadId: number) {
    worker.on('message', (m: Reply) => {
      const p = this.pending.get(m.id);
      if (p === undefined) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(SabreError.from(m.error));
    });
    worker.on('error', () => {}); // a fixture that throws is seen through its rejected calls
    worker.once('exit', (code) => {
      this.exited = true;
      for (const p of this.pending.values()) p.reject(new Error(`worker ${threadId} exited (code ${code})`));
      this.pending.clear();
    });
  }

  /** Starts a fixture worker and waits until it listens. */
  static async start(): Promise<SyncRemote> {
    const worker = spawnWorker(FIXTURE);
    const threadId = worker.threadId;
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number) => reject(new Error(`fixture exited with code ${code} before it was ready`));
      worker.once('exit', onExit);
      worker.once('message', (m: { ready?: boolean }) => {
        worker.off('exit', onExit);
        if (m.ready) resolve();
        else reject(new Error('unexpected first message'));
      });
    });
    return new SyncRemote(worker, threadId);
  }

  /** Runs `op` in the worker; rejects with the (rebuilt) error it threw. */
  call<T = unknown>(op: string, arg: Record<string, unknown> = {}): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`worker ${this.threadId} has exited`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, op, arg });
    });
  }

  /** Sends `op` without waiting for a reply (e.g. `exit`). */
  send(op: string, arg: Record<string, unknown> = {}): void {
    this.worker.postMessage({ id: 0, op, arg });
  }

  async stop(): Promise<void> {
    if (!this.exited) await this.worker.terminate();
  }
}
