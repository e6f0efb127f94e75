/**
 * Test helper (not a test): drives a fixture worker (`workers/fixtures/*.ts`)
 * that runs operations on sabre primitives on request: it posts
 * `{ ready: true }` once listening, then answers each `{ id, op, arg }` with
 * `{ id, ok, value | error }`. `workers/fixtures/remote.ts` is the default one.
 */
import type { Worker, WorkerOptions } from 'node:worker_threads';
import { SabreError } from '../../src/errors.js';
import { spawnWorker } from '../../src/threads/spawn.js';

type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: unknown };

export class Remote {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  private exited = false;

  private constructor(
    readonly worker: Worker,
    readonly threadId: number,
  ) {
    worker.on('message', (m: Reply) => {
      const p = this.pending.get(m.id);
      if (p === undefined) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.value);
      else p.reject(SabreError.from(m.error));
    });
    worker.once('exit', (code) => {
      this.exited = true;
      for (const p of this.pending.values()) p.reject(new Error(`worker ${threadId} exited (code ${code})`));
      this.pending.clear();
    });
  }

  /** Starts the fixture worker `workers/fixtures/<fixture>.ts` and waits until it listens. */
  static async start(fixture = 'remote', options: WorkerOptions = {}): Promise<Remote> {
    const worker = spawnWorker(new URL(`../../workers/fixtures/${fixture}.ts`, import.meta.url), options);
    const threadId = worker.threadId;
    let onError!: (e: unknown) => void, onExit!: (code: number) => void, onMessage!: (m: { ready?: boolean }) => void;
    try {
      await new Promise<void>((resolve, reject) => {
        onError = reject;
        onExit = (code) => reject(new Error(`fixture exited with code ${code} before it was ready`));
        onMessage = (m) => (m.ready ? resolve() : reject(new Error('unexpected first message')));
        worker.on('error', onError).on('exit', onExit).on('message', onMessage);
      });
    } finally {
      // Only this function's listeners: the registry's own 'exit' watcher stays.
      worker.off('error', onError).off('exit', onExit).off('message', onMessage);
    }
    worker.on('error', () => {}); // a fixture that throws is seen through its rejected calls
    return new Remote(worker, threadId);
  }

  /** Runs `op` in the worker; rejects with the (rebuilt) error it threw. */
  call<T = unknown>(op: string, arg: object = {}): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`worker ${this.threadId} has exited`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, op, arg });
    });
  }

  /** Sends `op` without waiting for a reply (e.g. `exit`). */
  send(op: string, arg: object = {}): void {
    this.worker.postMessage({ id: 0, op, arg });
  }

  async stop(): Promise<void> {
    if (!this.exited) await this.worker.terminate();
  }
}
