/**
 * The message loop of every benchmark thread (the other end is
 * `bench/lib/threads.ts`): each task message is run and answered with
 * `{ ops }`, the operations counted, or `{ error }`, its stack.
 */
import { parentPort } from 'node:worker_threads';
import type { TaskReply } from '../../bench/lib/control.js';

/**
 * Serves `run` to the parent thread. `isTask` picks the messages that are
 * tasks, when the thread also takes others (a port to connect).
 */
export function serveBench<M>(run: (message: M) => number | Promise<number>, isTask: (message: M) => boolean = () => true): void {
  const reply = (r: TaskReply): void => parentPort!.postMessage(r);
  parentPort?.on('message', (message: M) => {
    if (!isTask(message)) return;
    new Promise<number>((resolve) => resolve(run(message))).then(
      (ops) => reply({ ops }),
      (e: unknown) => reply({ error: e instanceof Error ? (e.stack ?? e.message) : String(e) }),
    );
  });
}
