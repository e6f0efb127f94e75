// Smoke-test Comlink worker: plain JavaScript from the built package. With
// sabre's transfer handlers (sabre/comlink) registered here and in the
// caller, primitives arrive live and sabre errors keep their codes.
import { parentPort, threadId } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { OwnerDiedError } from 'sabre';
import { registerComlinkHandlers } from 'sabre/comlink';

registerComlinkHandlers(Comlink);

Comlink.expose(
  {
    threadId: () => threadId,
    /** Adds `n` to a live AtomicCounter and answers with the class that arrived. */
    add: (counter, n) => {
      counter.add(n);
      return counter.constructor.name;
    },
    /** Returns a primitive made here: the caller gets it live, over the same memory. */
    lockedMutex: (mutex) => {
      mutex.lock();
      return mutex;
    },
    ownerDied: () => {
      throw new OwnerDiedError('holder died', { ownerThreadId: 12 });
    },
  },
  nodeEndpoint(parentPort),
);
