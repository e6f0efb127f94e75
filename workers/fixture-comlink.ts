/**
 * Test fixture: a Comlink-exposed API that takes and returns sabre primitives
 * and throws sabre errors, so the main thread can check both directions.
 */
import { parentPort, threadId } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { ManualClock } from '../src/clock.js';
import { CircuitOpenError, OwnerDiedError } from '../src/errors.js';
import { registerComlinkHandlers } from '../src/integrations/comlink.js';
import { registerKind } from '../src/integrations/kinds.js';
import { SharedArena } from '../src/memory/arena.js';
import { Mutex } from '../src/sync/mutex.js';
import { Secret, Tally } from './fixture-tally.js';

registerComlinkHandlers(Comlink, [Tally]);
registerKind(Secret);

const api = {
  threadId: () => threadId,
  /** The class name of what arrived (proves it arrived live, not as a plain object). */
  className: (v: unknown) => (typeof v === 'object' && v !== null ? v.constructor.name : typeof v),
  lock: (m: Mutex) => m.lock(1000),
  unlock: (m: Mutex) => m.unlock(),
  echo: (v: Mutex) => v,
  newMutex: () => new Mutex(),
  newLockedMutex: () => {
    const m = new Mutex();
    m.lock();
    return m;
  },
  newArena: (byteLength: number) => new SharedArena({ byteLength }),
  newClock: (startMs: number) => new ManualClock({ startMs }),
  advance: (clock: ManualClock, ms: number) => clock.advance(ms),
  tallyAdd: (t: Tally, n: number) => t.add(n),
  newTally: () => new Tally(),
  newSecret: () => new Secret(),
  throwCircuitOpen: () => {
    throw new CircuitOpenError('breaker open', { retryAfterMs: 2500 });
  },
  throwOwnerDied: async () => {
    throw new OwnerDiedError('holder died', { ownerThreadId: 12 });
  },
  throwPlain: () => {
    throw new TypeError('plain failure');
  },
  throwString: () => {
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- a non-Error on purpose: the test checks how one crosses
    throw 'just a string';
  },
};
export type ComlinkFixtureApi = typeof api;

Comlink.expose(api, nodeEndpoint(parentPort!));
