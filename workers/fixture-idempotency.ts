/**
 * Test fixture: a worker that begins, completes and aborts idempotent
 * requests when asked (driven by test/store/idempotency-store.test.ts through
 * test/threads/remote.ts).
 *
 * - 'begin', 'complete', 'abort': one call each, on the store of `store`;
 * - 'race': `begin` on every key of `keys` in turn (after a start line shared
 *   with the other racers), completing each 'new' at once; returns how many
 *   were 'new';
 * - 'beginAndHang': `begin`, publish the token's attempt in the first 8
 *   bytes of `signals` (a BigInt64), then block forever in the middle of the
 *   request (until terminated).
 */
import { parentPort, threadId } from 'node:worker_threads';
import {
  IdempotencyStore,
  type IdempotencyResponse,
  type IdempotencyStoreHandle,
  type IdempotencyToken,
} from '../src/store/idempotency-store.js';
import { startLine } from './start-line.js';

interface Arg {
  store: IdempotencyStoreHandle;
  key: string;
  fingerprint: string;
  token: IdempotencyToken;
  response: IdempotencyResponse;
  keys: string[];
  start: Int32Array;
  parties: number;
  signals: SharedArrayBuffer;
}

const ops: Record<string, (arg: Arg) => unknown> = {
  threadId: () => threadId,
  begin: ({ store, key, fingerprint }) => IdempotencyStore.from(store).begin(key, fingerprint),
  complete: ({ store, token, response }) => IdempotencyStore.from(store).complete(token, response),
  abort: ({ store, token }) => IdempotencyStore.from(store).abort(token),
  race: ({ store, keys, fingerprint, start, parties }) => {
    const s = IdempotencyStore.from(store);
    startLine(start, parties);
    let fresh = 0;
    for (const key of keys) {
      const b = s.begin(key, fingerprint);
      if (b.status !== 'new') continue;
      fresh++;
      s.complete(b.token, { status: 201, body: `${key} by ${threadId}` });
    }
    return fresh;
  },
  beginAndHang: ({ store, key, fingerprint, signals }) => {
    const b = IdempotencyStore.from(store).begin(key, fingerprint);
    if (b.status !== 'new') return b;
    Atomics.store(new BigInt64Array(signals, 0, 1), 0, BigInt(b.token.attempt));
    const forever = new Int32Array(signals, 8, 1);
    for (;;) Atomics.wait(forever, 0, 0); // mid-request, until terminated
  },
};

async function answer(request: { id: number; op: string; arg: Arg }): Promise<void> {
  try {
    const op = ops[request.op];
    if (op === undefined) throw new TypeError(`fixture-idempotency: unknown op ${request.op}`);
    const value = await op(request.arg);
    parentPort!.postMessage({ id: request.id, ok: true, value });
  } catch (error) {
    parentPort!.postMessage({ id: request.id, ok: false, error });
  }
}
// Not awaited: answer() replies to every request, its errors included.
parentPort!.on('message', (request: { id: number; op: string; arg: Arg }) => void answer(request));
parentPort!.postMessage({ ready: true, threadId });
