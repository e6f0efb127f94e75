/** Claims this thread's slot in a ThreadSlots table passed in workerData and posts its index. */
import { parentPort, workerData } from 'node:worker_threads';
import { ThreadSlots, type ThreadSlotsLayout } from '../src/threads/thread-slots.js';

const { buffer, layout } = workerData as { buffer: SharedArrayBuffer; layout: ThreadSlotsLayout };
parentPort!.postMessage(new ThreadSlots(new Int32Array(buffer), layout).mine(() => {}));
