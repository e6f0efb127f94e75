/**
 * Test fixture: a worker that takes, renews and releases leases when asked
 * (driven by test/lock/lease-lock.test.ts through test/threads/remote.ts).
 * Leases it takes stay in this thread, by fencing token, until released.
 */
import { parentPort, threadId } from 'node:worker_threads';
import { LeaseLock, type Lease, type LeaseLockHandle } from '../src/lock/lease-lock.js';

interface Arg {
  lock: LeaseLockHandle;
  resource: string;
  ttlMs: number;
  timeoutMs?: number;
  token: number;
}

const held = new Map<number, Lease>();
const keep = (lease: Lease | null): number | null => {
  if (lease === null) return null;
  held.set(lease.fencingToken, lease);
  return lease.fencingToken;
};

const ops: Record<string, (arg: Arg) => unknown> = {
  acquire: ({ lock, resource, ttlMs, timeoutMs }) => keep(LeaseLock.from(lock).acquire(resource, { ttlMs, timeoutMs })),
  acquireAsync: async ({ lock, resource, ttlMs, timeoutMs }) =>
    keep(await LeaseLock.from(lock).acquireAsync(resource, { ttlMs, timeoutMs })),
  release: ({ token }) => held.get(token)!.release(),
};

async function answer(request: { id: number; op: string; arg: Arg }): Promise<void> {
  try {
    const op = ops[request.op];
    if (op === undefined) throw new TypeError(`fixture-lease: unknown op ${request.op}`);
    const value = await op(request.arg);
    parentPort!.postMessage({ id: request.id, ok: true, value });
  } catch (error) {
    parentPort!.postMessage({ id: request.id, ok: false, error });
  }
}
// Not awaited: answer() replies to every request, its errors included.
parentPort!.on('message', (request: { id: number; op: string; arg: Arg }) => void answer(request));
parentPort!.postMessage({ ready: true, threadId });
